// Package memory is the in-process session store: a map behind a RWMutex with a per-login
// index, expiry honoured on every read and a bounded background sweeper. Sessions live
// only as long as the process; use sessions/redis to share them between gatehouse nodes.
//
// It is a sessions.Invalidator: its feed is in-process, so it is always live, and every
// ended session (Delete, DeleteUser, a swept expiry, an overwriting Save) is reported before
// the call that ended it returns.
//
// Importing the package registers it with sessions.Open as "memory".
package memory

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

func init() {
	sessions.Register("memory", func(configs.Sessions) (sessions.Store, error) { return New(), nil })
}

// Defaults of the sweeper.
const (
	// DefaultSweepInterval is how often the sweeper looks for expired sessions.
	DefaultSweepInterval = time.Minute
	// sweepSample bounds how many sessions one sweep round looks at under one lock.
	sweepSample = 1024
	// sweepRounds bounds the rounds of one Sweep.
	sweepRounds = 64
)

type entry struct {
	s       sessions.Session // owned by the store; never handed out
	expires time.Time
}

// Store is an in-memory sessions.Store. The zero value is not usable; call New.
type Store struct {
	now func() time.Time

	mu      sync.RWMutex
	entries map[string]*entry
	byLogin map[string]map[string]struct{} // login → keys
	secrets map[string][]byte              // SharedSecret values

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	subMu   sync.Mutex // held while calling subscribers: one call at a time
	subNext int
	subs    map[int]func(sessions.Invalidation)
}

// Option configures a Store.
type Option func(*Store, *time.Duration)

// WithClock makes the store read the time from now (for tests).
func WithClock(now func() time.Time) Option {
	return func(s *Store, _ *time.Duration) { s.now = now }
}

// WithSweepInterval sets how often expired sessions are removed; d ≤ 0 disables the
// sweeper (expired sessions stay invisible but keep their memory until overwritten).
func WithSweepInterval(d time.Duration) Option {
	return func(_ *Store, iv *time.Duration) { *iv = d }
}

// New returns an empty store and starts its sweeper; Close stops it.
func New(opts ...Option) *Store {
	s := &Store{
		now:     time.Now,
		entries: make(map[string]*entry),
		byLogin: make(map[string]map[string]struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	interval := DefaultSweepInterval
	for _, o := range opts {
		o(s, &interval)
	}
	if interval > 0 {
		go s.sweeper(interval)
	} else {
		close(s.done)
	}
	return s
}

var (
	_ sessions.Store       = (*Store)(nil)
	_ sessions.Invalidator = (*Store)(nil)
)

// clone deep-copies a session so that no slice or map is shared with the caller.
func clone(in *sessions.Session) sessions.Session { return *in.Clone() }

// Subscribe implements sessions.Invalidator. The feed is live at once (fn gets FeedLive
// before Subscribe returns) and stays live.
func (s *Store) Subscribe(fn func(sessions.Invalidation)) (cancel func()) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.subs == nil {
		s.subs = make(map[int]func(sessions.Invalidation))
	}
	id := s.subNext
	s.subNext++
	s.subs[id] = fn
	fn(sessions.Invalidation{Kind: sessions.FeedLive})
	return func() {
		s.subMu.Lock()
		delete(s.subs, id)
		s.subMu.Unlock()
	}
}

// notify hands evs to every subscriber; s.mu must not be held (a subscriber may be slow).
func (s *Store) notify(evs ...sessions.Invalidation) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for _, fn := range s.subs {
		for _, ev := range evs {
			fn(ev)
		}
	}
}

func keyEnded(key string) sessions.Invalidation {
	return sessions.Invalidation{Kind: sessions.InvalidateKey, Key: key}
}

// Get returns a copy of the session under key, or sessions.ErrNotFound (also once it has
// expired).
func (s *Store) Get(_ context.Context, key string) (*sessions.Session, error) {
	now := s.now()
	s.mu.RLock()
	e, ok := s.entries[key]
	if !ok || !now.Before(e.expires) {
		s.mu.RUnlock()
		return nil, sessions.ErrNotFound
	}
	out := clone(&e.s)
	s.mu.RUnlock()
	return &out, nil
}

// Save stores a copy of sess under key until expires.
func (s *Store) Save(_ context.Context, key string, sess *sessions.Session, expires time.Time) error {
	e := &entry{s: clone(sess), expires: expires}
	s.mu.Lock()
	old, replaced := s.entries[key]
	if replaced {
		s.unindex(old.s.Claims.Login, key)
	}
	s.entries[key] = e
	login := e.s.Claims.Login
	set := s.byLogin[login]
	if set == nil {
		set = make(map[string]struct{})
		s.byLogin[login] = set
	}
	set[key] = struct{}{}
	s.mu.Unlock()
	if replaced {
		s.notify(keyEnded(key))
	}
	return nil
}

// Touch sets the session's LastSeen and expiry; a missing or expired session gives
// sessions.ErrNotFound.
func (s *Store) Touch(_ context.Context, key string, lastSeen, expires time.Time) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || !now.Before(e.expires) {
		return sessions.ErrNotFound
	}
	e.s.LastSeen = lastSeen
	e.expires = expires
	return nil
}

// Delete removes the session under key, if any.
func (s *Store) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	removed := s.remove(key)
	s.mu.Unlock()
	if removed {
		s.notify(keyEnded(key))
	}
	return nil
}

// DeleteUser removes every session of login and reports how many had not expired.
func (s *Store) DeleteUser(_ context.Context, login string) (int, error) {
	now := s.now()
	s.mu.Lock()
	n := 0
	keys := s.byLogin[login]
	for key := range keys {
		if now.Before(s.entries[key].expires) {
			n++
		}
		delete(s.entries, key)
	}
	delete(s.byLogin, login)
	s.mu.Unlock()
	if len(keys) > 0 {
		s.notify(sessions.Invalidation{Kind: sessions.InvalidateUser, Login: login})
	}
	return n, nil
}

// Ping always succeeds (after Close too: the map is still there).
func (s *Store) Ping(context.Context) error { return nil }

// Close stops the sweeper. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// Len reports how many sessions are held, expired ones not yet swept included.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// remove deletes key and its index entry and reports whether there was one; s.mu must be
// held for writing.
func (s *Store) remove(key string) bool {
	e, ok := s.entries[key]
	if !ok {
		return false
	}
	delete(s.entries, key)
	s.unindex(e.s.Claims.Login, key)
	return true
}

// unindex drops key from login's index; s.mu must be held for writing.
func (s *Store) unindex(login, key string) {
	set := s.byLogin[login]
	delete(set, key)
	if len(set) == 0 {
		delete(s.byLogin, login)
	}
}

func (s *Store) sweeper(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep removes expired sessions and reports how many. Its work is bounded the way Redis
// expires keys: a round samples at most 1024 sessions under the read lock and removes the
// expired ones under the write lock, so no lock is held for longer than one sample. Rounds
// repeat while more than a quarter of a sample had expired, at most 64 per Sweep. Small
// stores (up to 1024 sessions) are swept completely in one round; in larger ones expired
// sessions that were not sampled are invisible to Get and go in a later Sweep.
func (s *Store) Sweep() int {
	total := 0
	for range sweepRounds {
		now := s.now()
		expired := make([]string, 0, 16)
		sampled := 0
		s.mu.RLock()
		for key, e := range s.entries { // map iteration starts at a random position
			if !now.Before(e.expires) {
				expired = append(expired, key)
			}
			if sampled++; sampled == sweepSample {
				break
			}
		}
		s.mu.RUnlock()
		if len(expired) > 0 {
			var ended []sessions.Invalidation
			s.mu.Lock()
			for _, key := range expired {
				// Re-check: it may have been touched or replaced meanwhile.
				if e, ok := s.entries[key]; ok && !now.Before(e.expires) {
					s.remove(key)
					ended = append(ended, keyEnded(key))
				}
			}
			s.mu.Unlock()
			total += len(ended)
			s.notify(ended...)
		}
		if sampled < sweepSample || len(expired)*4 <= sampled {
			break
		}
	}
	return total
}
