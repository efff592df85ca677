package directory

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Invalidator is a source with a lookup cache (Cached). Directory drops a login's entries
// after writing it, and the whole cache of the source an Update or SetPassword went to.
type Invalidator interface {
	// Invalidate drops the cached lookups of login (compared ignoring case).
	Invalidate(login string)
	// Purge drops everything.
	Purge()
}

// maxCacheEntries bounds a cache: past it, expired entries are dropped, then arbitrary ones.
const maxCacheEntries = 100_000

// Cached wraps src with a lookup cache of ttl (OTRS's CacheTTL): Get and CustomerIDs answers
// are kept per login as typed, found records only (as OTRS caches CustomerUserDataGet), never
// errors. ttl 0 returns src itself. The wrapper keeps src's optional sides: writes go
// through to a Writer (and drop the cache: the login on Add, everything on Update and
// SetPassword) and give ErrReadOnly otherwise; Ping, ReadOnly and Die are src's.
//
// A cache hides changes made behind gatehouse's back (by OTRS itself) until ttl passes.
func Cached(src Source, ttl time.Duration) Source {
	if ttl <= 0 || src == nil {
		return src
	}
	return &cached{src: src, ttl: ttl, now: time.Now, users: map[string]cacheEntry{}, ids: map[string]cacheEntry{}}
}

type cacheEntry struct {
	fold    string // the typed login, lower-case
	user    *CustomerUser
	ids     []string
	expires time.Time
}

type cached struct {
	src Source
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	users map[string]cacheEntry // typed login → record
	ids   map[string]cacheEntry // typed login → customer ids
}

var (
	_ Source      = (*cached)(nil)
	_ Writer      = (*cached)(nil)
	_ Pinger      = (*cached)(nil)
	_ Invalidator = (*cached)(nil)
)

// Unwrap returns the source under the cache.
func (c *cached) Unwrap() Source { return c.src }

func (c *cached) Name() string { return c.src.Name() }

func (c *cached) lookup(m map[string]cacheEntry, login string) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := m[login]
	if ok && !c.now().Before(e.expires) {
		delete(m, login)
		return cacheEntry{}, false
	}
	return e, ok
}

func (c *cached) store(m map[string]cacheEntry, login string, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(m) >= maxCacheEntries {
		for k, old := range m {
			if !now.Before(old.expires) {
				delete(m, k)
			}
		}
		for k := range m {
			if len(m) < maxCacheEntries {
				break
			}
			delete(m, k)
		}
	}
	e.fold = strings.ToLower(login)
	e.expires = now.Add(c.ttl)
	m[login] = e
}

// Get answers from the cache, else asks the source and keeps a found record.
func (c *cached) Get(ctx context.Context, login string) (*CustomerUser, error) {
	if e, ok := c.lookup(c.users, login); ok {
		return copyUser(e.user), nil
	}
	u, err := c.src.Get(ctx, login)
	if err != nil {
		return nil, err
	}
	c.store(c.users, login, cacheEntry{user: copyUser(u)})
	return u, nil
}

// CustomerIDs answers from the cache, else asks the source and keeps a non-empty answer.
func (c *cached) CustomerIDs(ctx context.Context, login string) ([]string, error) {
	if e, ok := c.lookup(c.ids, login); ok {
		return append([]string(nil), e.ids...), nil
	}
	ids, err := c.src.CustomerIDs(ctx, login)
	if err != nil || len(ids) == 0 {
		return ids, err
	}
	c.store(c.ids, login, cacheEntry{ids: append([]string(nil), ids...)})
	return ids, nil
}

// Search is never cached.
func (c *cached) Search(ctx context.Context, q Query) ([]CustomerUser, error) {
	return c.src.Search(ctx, q)
}

// Invalidate drops login's entries: those typed like it (ignoring case), and every spelling
// whose cached record has that login, in both the record and the customer-id cache.
func (c *cached) Invalidate(login string) {
	fold := strings.ToLower(login)
	c.mu.Lock()
	defer c.mu.Unlock()
	drop := map[string]bool{}
	for k, e := range c.users {
		if e.fold == fold || strings.EqualFold(e.user.Login, login) {
			drop[k] = true
		}
	}
	for k, e := range c.ids {
		if e.fold == fold {
			drop[k] = true
		}
	}
	for k := range drop {
		delete(c.users, k)
		delete(c.ids, k)
	}
}

// Purge drops everything.
func (c *cached) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.users)
	clear(c.ids)
}

// ReadOnly is true when the source does not accept writes.
func (c *cached) ReadOnly() bool {
	if _, ok := c.src.(Writer); !ok {
		return true
	}
	if ro, ok := c.src.(ReadOnlySource); ok {
		return ro.ReadOnly()
	}
	return false
}

// Die is the source's die (false when it has none).
func (c *cached) Die() bool {
	d, ok := c.src.(Dier)
	return ok && d.Die()
}

// Ping pings the source when it can be pinged.
func (c *cached) Ping(ctx context.Context) error {
	if p, ok := c.src.(Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *cached) writer(op string) (Writer, error) {
	w, ok := c.src.(Writer)
	if !ok {
		return nil, fmt.Errorf("%s: source %q: %w", op, c.src.Name(), ErrReadOnly)
	}
	return w, nil
}

// Add writes through and drops the new login's entries.
func (c *cached) Add(ctx context.Context, attrs map[string]string, by string) (*CustomerUser, error) {
	w, err := c.writer("add")
	if err != nil {
		return nil, err
	}
	u, err := w.Add(ctx, attrs, by)
	c.Invalidate(attrs[VarLogin])
	if u != nil {
		c.Invalidate(u.Login)
	}
	return u, err
}

// Update writes through and drops the whole cache: the record may be renamed, and other
// spellings of it (an email lookup) are cached too.
func (c *cached) Update(ctx context.Context, login string, attrs map[string]string, by string) (*CustomerUser, error) {
	w, err := c.writer("update")
	if err != nil {
		return nil, err
	}
	defer c.Purge()
	return w.Update(ctx, login, attrs, by)
}

// SetPassword writes through and drops the whole cache.
func (c *cached) SetPassword(ctx context.Context, login, password string) error {
	w, err := c.writer("set password")
	if err != nil {
		return err
	}
	defer c.Purge()
	return w.SetPassword(ctx, login, password)
}

// copyUser copies u deeply enough that callers cannot change the cached record.
func copyUser(u *CustomerUser) *CustomerUser {
	if u == nil {
		return nil
	}
	c := *u
	c.Attrs = make(map[string]string, len(u.Attrs))
	for k, v := range u.Attrs {
		c.Attrs[k] = v
	}
	c.CustomerIDs = append([]string(nil), u.CustomerIDs...)
	return &c
}
