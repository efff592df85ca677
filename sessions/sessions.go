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
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
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
