package sessions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
)

// MaxTouchInterval caps the touch interval (see Manager).
const MaxTouchInterval = time.Minute

// Manager applies the session policy on top of a Store: fresh ids at login, the idle
// (SessionMaxIdleTime) and absolute (SessionMaxTime) timeouts, and sliding idle expiry.
//
// Sliding expiry does not write on every request: Load calls Store.Touch only when the
// stored LastSeen is at least TouchInterval old (idle/10, at most MaxTouchInterval). The
// stored LastSeen therefore lags the real last use by less than TouchInterval, and the
// effective idle timeout lies in (idle − TouchInterval, idle]: a session never outlives
// its idle timeout, it may end up to TouchInterval (at most 10 %, at most one minute)
// early. The absolute timeout is exact.
//
// A Manager is safe for concurrent use.
type Manager struct {
	store       Store
	idle        time.Duration
	maxLifetime time.Duration
	touchEvery  time.Duration
	now         func() time.Time
}

// ManagerOption configures a Manager.
type ManagerOption func(*Manager)

// WithClock makes the Manager read the time from now instead of time.Now (for tests).
func WithClock(now func() time.Time) ManagerOption {
	return func(m *Manager) { m.now = now }
}

// NewManager returns a Manager over store. idle and maxLifetime must be positive (the
// configuration loader guarantees it); NewManager panics otherwise.
func NewManager(store Store, idle, maxLifetime time.Duration, opts ...ManagerOption) *Manager {
	if store == nil || idle <= 0 || maxLifetime <= 0 {
		panic(fmt.Sprintf("sessions: NewManager needs a store and positive timeouts (idle %v, max lifetime %v)", idle, maxLifetime))
	}
	m := &Manager{
		store:       store,
		idle:        idle,
		maxLifetime: maxLifetime,
		touchEvery:  min(idle/10, MaxTouchInterval),
		now:         time.Now,
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Store returns the underlying store (for readiness checks and Close).
func (m *Manager) Store() Store { return m.store }

// IdleTimeout returns the idle timeout.
func (m *Manager) IdleTimeout() time.Duration { return m.idle }

// MaxLifetime returns the absolute timeout.
func (m *Manager) MaxLifetime() time.Duration { return m.maxLifetime }

// TouchInterval returns how stale LastSeen may become before Load writes it back.
func (m *Manager) TouchInterval() time.Duration { return m.touchEvery }

// Expires returns when s ends if it is not used again: the earlier of LastSeen+idle and
// Created+maxLifetime. It is the expiry handed to the store.
func (m *Manager) Expires(s *Session) time.Time {
	idle := s.LastSeen.Add(m.idle)
	hard := s.Created.Add(m.maxLifetime)
	if hard.Before(idle) {
		return hard
	}
	return idle
}

// CreateOption sets more of a new session.
type CreateOption func(*Session)

// WithIDToken keeps an OIDC login's ID token in the session (for provider logout).
func WithIDToken(raw string) CreateOption { return func(s *Session) { s.IDToken = raw } }

// Create starts a session for c and returns its id (the cookie value) and the session. The
// id is always new: a pre-login id is never reused (session fixation). It also creates the
// session's CSRF token. remoteAddr is kept for audit.
func (m *Manager) Create(ctx context.Context, c claims.Set, remoteAddr string, opts ...CreateOption) (string, *Session, error) {
	if c.Login == "" {
		return "", nil, errors.New("sessions: create: empty login")
	}
	id, err := NewID()
	if err != nil {
		return "", nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	now := m.now()
	s := &Session{
		Claims:     c,
		CSRF:       csrf,
		Created:    now,
		LastSeen:   now,
		RemoteAddr: remoteAddr,
	}
	for _, o := range opts {
		o(s)
	}
	key := Key(id)
	if err := m.store.Save(ctx, key, s, m.Expires(s)); err != nil {
		return "", nil, fmt.Errorf("sessions: create %s: %w", ShortKey(key), err)
	}
	return id, s, nil
}

// Load returns the live session of the cookie value id.
//
// Errors: ErrMalformedID for a cookie that is not a session id, ErrNotFound for an unknown
// or ended session (one past its idle or absolute timeout is deleted), and errors wrapping
// ErrUnavailable when the store cannot be reached — callers must then fail closed.
func (m *Manager) Load(ctx context.Context, id string) (*Session, error) {
	id, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	key := Key(id)
	s, err := m.store.Get(ctx, key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("sessions: load %s: %w", ShortKey(key), err)
	}
	now := m.now()
	if !now.Before(s.LastSeen.Add(m.idle)) || !now.Before(s.Created.Add(m.maxLifetime)) {
		// Ended; the store would drop it soon anyway, so a failed delete is not an error.
		_ = m.store.Delete(ctx, key)
		return nil, ErrNotFound
	}
	if now.Sub(s.LastSeen) >= m.touchEvery {
		s.LastSeen = now
		if err := m.store.Touch(ctx, key, now, m.Expires(s)); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, ErrNotFound // ended meanwhile (logout on another node)
			}
			return nil, fmt.Errorf("sessions: touch %s: %w", ShortKey(key), err)
		}
	}
	return s, nil
}

// Destroy ends the session of the cookie value id (logout). Ending an unknown session is
// not an error; a malformed id gives ErrMalformedID.
func (m *Manager) Destroy(ctx context.Context, id string) error {
	id, err := ParseID(id)
	if err != nil {
		return err
	}
	key := Key(id)
	if err := m.store.Delete(ctx, key); err != nil {
		return fmt.Errorf("sessions: destroy %s: %w", ShortKey(key), err)
	}
	return nil
}

// DestroyUser ends every session of login (claims.Set.Login, matched exactly) and reports
// how many live sessions there were.
func (m *Manager) DestroyUser(ctx context.Context, login string) (int, error) {
	n, err := m.store.DeleteUser(ctx, login)
	if err != nil {
		return n, fmt.Errorf("sessions: destroy sessions of user: %w", err)
	}
	return n, nil
}
