package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// MaxModules is the number of OTRS slots: Customer::AuthModule plus AuthModule1 … AuthModule10.
const MaxModules = 11

// Entry is a module in its chain slot.
type Entry struct {
	Module Module
	// Die turns a fault of the module into ErrBackendUnavailable instead of trying the next.
	Die bool
}

// Lookup finds the customer-user record of a login across the data sources, first hit wins.
type Lookup interface {
	Get(ctx context.Context, login string) (*directory.CustomerUser, error)
}

// Observer is told the outcome of each module attempt (metrics).
type Observer func(module string, result string)

// Chain tries modules in order; the first that authenticates wins (CustomerAuth.pm).
type Chain struct {
	entries []Entry
	lookup  Lookup
	log     *slog.Logger
	observe Observer
	books   Bookkeeper
}

// SetBookkeeper records login outcomes in b (OTRS's preferences); nil records nothing.
func (c *Chain) SetBookkeeper(b Bookkeeper) { c.books = b }

// slot is the OTRS Count suffix of the module named name: "" for the first, "1" … "10".
func (c *Chain) slot(name string) string {
	for i, e := range c.entries {
		if e.Module.Name() == name && i > 0 {
			return strconv.Itoa(i)
		}
	}
	return ""
}

// NewChain builds a chain of at most MaxModules modules.
func NewChain(entries []Entry, lookup Lookup, log *slog.Logger, observe Observer) (*Chain, error) {
	if len(entries) == 0 {
		return nil, errors.New("authentication chain: no modules")
	}
	if len(entries) > MaxModules {
		return nil, fmt.Errorf("authentication chain: %d modules, at most %d", len(entries), MaxModules)
	}
	if observe == nil {
		observe = func(string, string) {}
	}
	return &Chain{entries: entries, lookup: lookup, log: log, observe: observe}, nil
}

// Modules returns the chain's entries in order.
func (c *Chain) Modules() []Entry { return c.entries }

// Success is a proven, valid customer user.
type Success struct {
	// User is the customer-user record (database spelling of the login).
	User *directory.CustomerUser
	// Module is the name of the module that authenticated.
	Module string
}

// Login runs the password modules in order and then the customer-user lookup.
// It returns ErrRejected, ErrNoRecord, ErrInvalidUser, ErrBackendUnavailable or
// ErrOverloaded (all wrapped), or a fault of the lookup.
func (c *Chain) Login(ctx context.Context, cr Credentials) (*Success, error) {
	for _, e := range c.entries {
		name := e.Module.Name()
		res, err := e.Module.Authenticate(ctx, cr)
		if err != nil {
			if errors.Is(err, ErrOverloaded) {
				c.observe(name, "overloaded")
				return nil, err
			}
			c.observe(name, "fault")
			if e.Die {
				c.log.Error("authentication module fault; die is set", "module", name, "err", err)
				return nil, fmt.Errorf("module %s: %w: %v", name, ErrBackendUnavailable, err)
			}
			c.log.Warn("authentication module fault; trying the next module", "module", name, "err", err)
			continue
		}
		if res.Outcome != Authenticated {
			c.observe(name, res.Outcome.String())
			continue
		}
		return c.Complete(ctx, res.Login, name)
	}
	if c.books != nil && cr.Login != "" {
		c.books.Failed(ctx, cr.Login)
	}
	return nil, ErrRejected
}

// Verify is Complete without the login bookkeeping: for modules asked on every request
// (bearer tokens, a trusted header without a session), where each request is not a login.
func (c *Chain) Verify(ctx context.Context, login, module string) (*Success, error) {
	return c.complete(ctx, login, module, false)
}

// Complete does what follows a module's success (CustomerAuth.pm, fact sheet §1.5): the
// login is looked up across the data sources; no record or a validity other than "valid"
// refuses it. Company validity does not block, as in OTRS. Request modules (trusted header,
// bearer tokens) call it too.
func (c *Chain) Complete(ctx context.Context, login, module string) (*Success, error) {
	return c.complete(ctx, login, module, true)
}

func (c *Chain) complete(ctx context.Context, login, module string, books bool) (*Success, error) {
	u, err := c.lookup.Get(ctx, login)
	if errors.Is(err, directory.ErrNotFound) {
		c.log.Warn("authenticated, but no customer record", "module", module, "login", login)
		c.observe(module, "no_record")
		return nil, fmt.Errorf("login %q by %s: %w", login, module, ErrNoRecord)
	}
	if err != nil {
		c.observe(module, "lookup_fault")
		return nil, fmt.Errorf("customer-user lookup: %w: %v", ErrBackendUnavailable, err)
	}
	if !u.Valid() {
		c.log.Info("customer user is set to invalid, can't login", "module", module, "login", u.Login, "valid_id", u.ValidID)
		c.observe(module, "invalid_user")
		return nil, fmt.Errorf("login %q: %w", u.Login, ErrInvalidUser)
	}
	c.observe(module, "success")
	if books && c.books != nil {
		c.books.Succeeded(ctx, u, login, c.slot(module))
	}
	return &Success{User: u, Module: module}, nil
}
