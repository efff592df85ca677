// Package authn is the chain of customer authentication modules (Customer::AuthModule,
// AuthModule1 … AuthModule10). Modules live in sub-packages; they see a small request view,
// never an HTTP framework's context.
package authn

import (
	"context"
	"errors"
	"net/netip"
)

// Sentinel errors.
var (
	// ErrBackendUnavailable: a module with die: true had a fault; the login is answered 503.
	ErrBackendUnavailable = errors.New("authentication back end unavailable")
	// ErrNoRecord: authentication succeeded but no data source holds the login.
	ErrNoRecord = errors.New("authentication succeeded, but no customer record is found in the customer backend")
	// ErrInvalidUser: the customer user's validity is not "valid".
	ErrInvalidUser = errors.New("customer user is set to invalid")
	// ErrRejected: no module authenticated the credentials.
	ErrRejected = errors.New("login failed")
	// ErrOverloaded: the password-check pool is saturated.
	ErrOverloaded = errors.New("too many concurrent logins")
)

// Outcome is the three-valued answer of a module.
type Outcome int

const (
	// NotMine: the module saw no credentials of its kind; the chain moves on.
	NotMine Outcome = iota
	// Rejected: the credentials are wrong for this module; the chain moves on.
	Rejected
	// Authenticated: Result.Login is proven.
	Authenticated
)

func (o Outcome) String() string {
	switch o {
	case Authenticated:
		return "authenticated"
	case Rejected:
		return "rejected"
	}
	return "not_mine"
}

// Result is a module's answer.
type Result struct {
	Outcome Outcome
	// Login is the login as the module returns it (typed, rewritten or suffixed).
	Login string
}

// RequestView is what modules may see of an HTTP request.
type RequestView interface {
	// Header returns the first value of the named request header ("" if absent).
	Header(name string) string
	// RemoteAddr is the peer address of the connection.
	RemoteAddr() netip.Addr
	// TLS reports whether the connection to gatehouse is TLS.
	TLS() bool
}

// Credentials are what a password module checks.
type Credentials struct {
	// Login is the typed user name, trimmed.
	Login string
	// Password is the typed password, untouched.
	Password string
	// Request is the request the credentials came with (may be nil outside HTTP).
	Request RequestView
}

// Module is one link of the chain. The error is reserved for faults (server down, timeout).
type Module interface {
	// Name identifies the module in logs and metrics.
	Name() string
	// Authenticate checks the credentials.
	Authenticate(ctx context.Context, c Credentials) (Result, error)
}

// RequestModule authenticates from the request alone (trusted header, bearer token).
type RequestModule interface {
	Module
	AuthenticateRequest(ctx context.Context, r RequestView) (Result, error)
}
