// Package sessions holds the session store interface, its stores (memory, redis), session
// ids and the idle/absolute timeout policy.
//
// The cookie carries a session id (NewID: 256 random bits, base64url); stores only see
// Key(id), its SHA-256. Manager applies the policy: a new id at every login, idle and
// absolute timeouts, sliding expiry with at most one store write per TouchInterval.
// Open picks the configured store; the stores live in sub-packages (sessions/memory,
// sessions/redis) that register themselves, so the binary imports them for their effect.
// Every store passes the conformance suite in sessions/storetest.
package sessions

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/directory"
)

// Sentinel errors.
var (
	// ErrNotFound: no live session with that id.
	ErrNotFound = errors.New("session not found")
	// ErrUnavailable: the store cannot be reached; callers fail closed.
	ErrUnavailable = errors.New("session store unavailable")
	// ErrMalformedID: the cookie value is not a session id.
	ErrMalformedID = errors.New("malformed session id")
)

// Session is one signed-in customer user's session.
type Session struct {
	// Claims is the identity, built at login.
	Claims claims.Set `json:"claims"`
	// CSRF is the session's anti-CSRF token (logout and forms).
	CSRF string `json:"csrf"`
	// Created is the login time; MaxLifetime counts from it.
	Created time.Time `json:"created"`
	// LastSeen is the last time the session was used (written at most every touch interval).
	LastSeen time.Time `json:"last_seen"`
	// RemoteAddr is the client address at login (for audit).
	RemoteAddr string `json:"remote_addr,omitempty"`
	// IDToken is the OpenID provider's ID token of an OIDC login, kept for id_token_hint at
	// provider logout.
	IDToken string `json:"id_token,omitempty"`
	// Headers are the identity headers rendered from Claims at login (see WithHeaders), so
	// that a request only copies them upstream.
	Headers []HeaderField `json:"headers,omitempty"`
	// HeadersKey fingerprints the header configuration that rendered Headers; a reader whose
	// configuration differs (a restart with new header settings) renders them afresh.
	HeadersKey string `json:"headers_key,omitempty"`
}

// HeaderField is one rendered identity header.
type HeaderField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Clone returns a deep copy of s: no slice or map is shared with s.
func (s *Session) Clone() *Session {
	out := *s
	c := &out.Claims
	c.CustomerIDs = slices.Clone(c.CustomerIDs)
	c.Attrs = maps.Clone(c.Attrs)
	if c.Groups != nil {
		g := make(directory.Permissions, len(c.Groups))
		for k, v := range c.Groups {
			g[k] = slices.Clone(v)
		}
		c.Groups = g
	}
	out.Headers = slices.Clone(s.Headers)
	return &out
}

// Store keeps sessions keyed by the hash of their id (Key). The same conformance suite
// (storetest) runs against every implementation. Stores copy sessions: a caller cannot
// change stored state through a *Session it passed to Save or got from Get. Errors that
// mean the store cannot be reached wrap ErrUnavailable. Implementations are safe for
// concurrent use.
type Store interface {
	// Get returns the session stored under key, or ErrNotFound.
	Get(ctx context.Context, key string) (*Session, error)
	// Save stores s under key until expires.
	Save(ctx context.Context, key string, s *Session, expires time.Time) error
	// Touch records that the session was used at lastSeen and moves its expiry. A missing
	// (or expired) session gives ErrNotFound and is not created.
	Touch(ctx context.Context, key string, lastSeen, expires time.Time) error
	// Delete removes one session; deleting a missing session is not an error.
	Delete(ctx context.Context, key string) error
	// DeleteUser removes every session of login (Claims.Login, matched exactly) and reports
	// how many live sessions there were.
	DeleteUser(ctx context.Context, login string) (int, error)
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// SecretKeeper is a store that keeps a secret shared by every gatehouse process using the
// store — e.g. the key that seals OIDC state cookies, which must open on whichever process
// the provider's redirect reaches. Get-or-create: the first process to ask creates it.
type SecretKeeper interface {
	SharedSecret(ctx context.Context, name string, size int) ([]byte, error)
}

// Invalidator is a store that reports sessions ending, so that a process may keep sessions
// in memory for a short while (Manager's local cache) and still refuse a revoked one at
// once. A store without it gets no local cache.
//
// The feed is what matters, not each event alone: an event may be missed only while the
// feed is down, and the store says so (FeedDown) as soon as it notices, and FeedLive once
// it is confirmed again — a subscriber must then forget everything it holds, since events
// may have been missed in between.
type Invalidator interface {
	// Subscribe calls fn for every invalidation from now until cancel is called (a store
	// that is closed reports FeedDown and stops). fn first learns the feed's state (FeedLive
	// or FeedDown), on this goroutine or soon after. Events of this process's own Delete and
	// DeleteUser reach fn before those calls return. fn is called by one goroutine at a
	// time, must be quick and must not call the store.
	Subscribe(fn func(Invalidation)) (cancel func())
}

// Invalidation is one event of an Invalidator's feed.
type Invalidation struct {
	Kind InvalidationKind
	// Key is the store key of the session that ended (InvalidateKey).
	Key string
	// Login is the customer user whose sessions all ended (InvalidateUser).
	Login string
	// Until, when set on FeedLive or FeedFresh, is how far the feed vouches for itself: a
	// feed that can stall without noticing at once (a network link) confirms at intervals
	// that it has delivered everything published up to some moment, and Until is that
	// moment plus the longest a revocation may go unseen. A subscriber must not use what it
	// cached after Until unless a later FeedFresh moves it on. Zero on FeedLive: the feed
	// is live until FeedDown (a feed of this process's own events cannot stall).
	Until time.Time
}

// InvalidationKind says what an Invalidation reports.
type InvalidationKind uint8

// Invalidation kinds.
const (
	// InvalidateKey: the session under Key ended (deleted, expired or overwritten).
	InvalidateKey InvalidationKind = iota + 1
	// InvalidateUser: every session of Login ended.
	InvalidateUser
	// FeedLive: the feed is confirmed live (again). Events may have been missed before it:
	// drop everything cached, then trust the feed.
	FeedLive
	// FeedDown: the feed is down; events may be missed until the next FeedLive, so nothing
	// cached may be used.
	FeedDown
	// FeedFresh: the live feed has delivered everything up to a moment; what is cached may
	// be used until Until (see Invalidation.Until). Nothing was missed: nothing to drop.
	FeedFresh
)
