package sessions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// MaxTouchInterval caps the touch interval (see Manager).
const MaxTouchInterval = configs.MaxTouchInterval

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
// # Local cache
//
// Over a store that is an Invalidator, the Manager keeps the sessions it loads in memory
// for a short while (WithLocalCache; by default configs.DefaultLocalCacheTTL, at most
// configs.DefaultLocalCacheSize sessions), keyed by the SHA-256 of the id. A hit costs no
// store round trip and, through LoadCookie, no allocation. The cache never outlives what
// it mirrors: every hit still applies both timeouts and the sliding expiry; a session that
// ends anywhere (Delete, DeleteUser, expiry, on any process sharing the store) is dropped
// when the store's feed reports it; and while the feed is not confirmed live, or its lease
// has run out (Invalidation.Until: a feed over a network link vouches for itself in short
// leases, so a link that stalls silently stops the cache within one), the cache is
// bypassed (every Load asks the store, so a store that is down fails closed), and it is
// emptied whenever the feed comes back. The feed is subscribed at the first Load.
//
// A Manager is safe for concurrent use.
type Manager struct {
	store       Store
	idle        time.Duration
	maxLifetime time.Duration
	touchEvery  time.Duration
	now         func() time.Time

	cacheTTL  time.Duration
	cacheSize int
	cache     *localCache // nil: no local cache

	feedStarted atomic.Bool
	feedMu      sync.Mutex
	feedCancel  func()
	closed      bool
}

// ManagerOption configures a Manager.
type ManagerOption func(*Manager)

// WithClock makes the Manager read the time from now instead of time.Now (for tests).
func WithClock(now func() time.Time) ManagerOption {
	return func(m *Manager) { m.now = now }
}

// WithLocalCache sets the local session cache (see Manager): a loaded session is kept at
// most ttl, at most maxEntries of them. ttl ≤ 0 or maxEntries ≤ 0 disables the cache. ttl
// is capped at half the touch interval: the store's LastSeen already lags the real last
// use by up to a touch interval, and a cached copy (which other processes may have touched
// since) lags by its age on top. Without this option the cache uses
// configs.DefaultLocalCacheTTL and configs.DefaultLocalCacheSize; the binary passes
// sessions.local_cache_ttl and sessions.local_cache_size.
func WithLocalCache(ttl time.Duration, maxEntries int) ManagerOption {
	return func(m *Manager) { m.cacheTTL, m.cacheSize = ttl, maxEntries }
}

// NewManager returns a Manager over store. idle and maxLifetime must be positive (the
// configuration loader guarantees it); NewManager panics otherwise. The local cache is on
// when store is an Invalidator (see Manager and WithLocalCache).
func NewManager(store Store, idle, maxLifetime time.Duration, opts ...ManagerOption) *Manager {
	if store == nil || idle <= 0 || maxLifetime <= 0 {
		panic(fmt.Sprintf("sessions: NewManager needs a store and positive timeouts (idle %v, max lifetime %v)", idle, maxLifetime))
	}
	m := &Manager{
		store:       store,
		idle:        idle,
		maxLifetime: maxLifetime,
		touchEvery:  configs.TouchInterval(idle),
		now:         time.Now,
		cacheTTL:    configs.DefaultLocalCacheTTL,
		cacheSize:   configs.DefaultLocalCacheSize,
	}
	for _, o := range opts {
		o(m)
	}
	m.cacheTTL = min(m.cacheTTL, m.touchEvery/2)
	if _, ok := store.(Invalidator); ok && m.cacheTTL > 0 && m.cacheSize > 0 {
		m.cache = newLocalCache(m.cacheTTL, m.cacheSize)
	}
	return m
}

// startFeed subscribes the cache to the store's invalidations, once.
func (m *Manager) startFeed() {
	m.feedMu.Lock()
	defer m.feedMu.Unlock()
	if m.feedStarted.Load() || m.closed {
		return
	}
	m.feedCancel = m.store.(Invalidator).Subscribe(m.cache.invalidate)
	m.feedStarted.Store(true)
}

// Close ends the Manager's subscription to the store's invalidations (the local cache is
// then bypassed). It does not close the store; closing the store ends the subscription too.
func (m *Manager) Close() {
	m.feedMu.Lock()
	defer m.feedMu.Unlock()
	m.closed = true
	m.feedStarted.Store(true) // loads no longer try to start it
	if m.feedCancel != nil {
		m.feedCancel()
		m.feedCancel = nil
	}
	if m.cache != nil {
		m.cache.invalidate(Invalidation{Kind: FeedDown})
	}
}

// LocalCacheTTL returns how long the local cache keeps a session; 0 when there is no
// local cache (disabled, or the store is not an Invalidator).
func (m *Manager) LocalCacheTTL() time.Duration {
	if m.cache == nil {
		return 0
	}
	return m.cacheTTL
}

// LocalCacheLive reports whether the local cache is in use now: there is one and the
// store's invalidation feed is confirmed live and within its lease (for readiness, metrics
// and tests).
func (m *Manager) LocalCacheLive() bool { return m.cache != nil && m.cache.usable() }

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

// WithHeaders stores the identity headers rendered at login with the session (a copy of h),
// and key, the fingerprint of the header configuration that rendered them.
func WithHeaders(key string, h []HeaderField) CreateOption {
	return func(s *Session) { s.HeadersKey, s.Headers = key, slices.Clone(h) }
}

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

// Load returns the live session of the cookie value id, a private copy the caller may
// change.
//
// Errors: ErrMalformedID for a cookie that is not a session id, ErrNotFound for an unknown
// or ended session (one past its idle or absolute timeout is deleted), and errors wrapping
// ErrUnavailable when the store cannot be reached — callers must then fail closed.
func (m *Manager) Load(ctx context.Context, id string) (*Session, error) {
	if !wellFormed(id) {
		return nil, ErrMalformedID
	}
	d := sha256.Sum256([]byte(id))
	s, shared, err := m.load(ctx, &d)
	if err != nil {
		return nil, err
	}
	if shared {
		s = s.Clone()
	}
	return s, nil
}

// LoadCookie is Load for the request hot path: the cookie value as fasthttp hands it over,
// and no allocation when the session is in the local cache.
//
// THE RETURNED SESSION IS SHARED AND READ-ONLY. It may be the local cache's own copy,
// handed to every concurrent request of that session: the caller must not modify it, nor
// any slice or map it holds (Claims.Groups, Claims.Attrs, Headers, …), and must not keep
// it beyond the request. Use Load, or Session.Clone, for a copy to change. id is not kept.
//
// The errors are Load's: ErrMalformedID, ErrNotFound, errors wrapping ErrUnavailable.
func (m *Manager) LoadCookie(ctx context.Context, id []byte) (*Session, error) {
	if !wellFormed(id) {
		return nil, ErrMalformedID
	}
	d := sha256.Sum256(id)
	s, _, err := m.load(ctx, &d)
	return s, err
}

// load returns the live session of the id whose digest is d; shared says that it is the
// local cache's copy (read-only).
func (m *Manager) load(ctx context.Context, d *digest) (s *Session, shared bool, err error) {
	c := m.cache
	var gen uint64
	if c != nil {
		if !m.feedStarted.Load() {
			m.startFeed()
		}
		now := m.now()
		if e := c.get(d, now); e != nil {
			s := e.s.Load()
			if now.Before(s.LastSeen.Add(m.idle)) && now.Before(s.Created.Add(m.maxLifetime)) {
				if now.Sub(s.LastSeen) < m.touchEvery || !e.touching.CompareAndSwap(false, true) {
					// Fresh, or another request is writing the sliding expiry back right now.
					return s, true, nil
				}
				return m.touchCached(ctx, d, e, s, now)
			}
			// Ended by the cached times, which may lag the store's (another process may have
			// touched it): the store decides.
			c.drop(d, e)
		}
		gen = c.gen.Load() // before the read: an event from now on keeps the result out
	}
	key := hex.EncodeToString(d[:])
	s, err = m.store.Get(ctx, key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, false, ErrNotFound
		}
		return nil, false, fmt.Errorf("sessions: load %s: %w", ShortKey(key), err)
	}
	now := m.now()
	if !now.Before(s.LastSeen.Add(m.idle)) || !now.Before(s.Created.Add(m.maxLifetime)) {
		// Ended; the store would drop it soon anyway, so a failed delete is not an error.
		_ = m.store.Delete(ctx, key)
		return nil, false, ErrNotFound
	}
	if now.Sub(s.LastSeen) >= m.touchEvery {
		s.LastSeen = now
		if err := m.store.Touch(ctx, key, now, m.Expires(s)); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, false, ErrNotFound // ended meanwhile (logout on another node)
			}
			return nil, false, fmt.Errorf("sessions: touch %s: %w", ShortKey(key), err)
		}
	}
	if c != nil && c.put(d, s, gen, now) {
		return s, true, nil
	}
	return s, false, nil
}

// touchCached writes the sliding expiry of the cached session s back to the store and
// caches a copy with the new LastSeen (s itself is shared and never modified). The caller
// won e.touching.
func (m *Manager) touchCached(ctx context.Context, d *digest, e *cacheEntry, s *Session, now time.Time) (*Session, bool, error) {
	defer e.touching.Store(false)
	ns := *s // shallow: its slices and maps are as read-only as s's
	ns.LastSeen = now
	key := hex.EncodeToString(d[:])
	if err := m.store.Touch(ctx, key, now, m.Expires(&ns)); err != nil {
		m.cache.drop(d, e)
		if errors.Is(err, ErrNotFound) {
			return nil, false, ErrNotFound // ended meanwhile (logout on another node)
		}
		return nil, false, fmt.Errorf("sessions: touch %s: %w", ShortKey(key), err)
	}
	e.s.Store(&ns)
	return &ns, true, nil
}

// Destroy ends the session of the cookie value id (logout). Ending an unknown session is
// not an error; a malformed id gives ErrMalformedID.
func (m *Manager) Destroy(ctx context.Context, id string) error {
	id, err := ParseID(id)
	if err != nil {
		return err
	}
	key := Key(id)
	err = m.store.Delete(ctx, key)
	if m.cache != nil {
		// The store reports its own deletes before returning; this covers one that does not.
		m.cache.invalidate(Invalidation{Kind: InvalidateKey, Key: key})
	}
	if err != nil {
		return fmt.Errorf("sessions: destroy %s: %w", ShortKey(key), err)
	}
	return nil
}

// DestroyUser ends every session of login (claims.Set.Login, matched exactly) and reports
// how many live sessions there were.
func (m *Manager) DestroyUser(ctx context.Context, login string) (int, error) {
	n, err := m.store.DeleteUser(ctx, login)
	if m.cache != nil {
		m.cache.invalidate(Invalidation{Kind: InvalidateUser, Login: login})
	}
	if err != nil {
		return n, fmt.Errorf("sessions: destroy sessions of user: %w", err)
	}
	return n, nil
}
