package authn

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// Preference keys OTRS keeps per customer user (fact sheet §1.3–1.5).
const (
	PrefLoginFailed = "UserLoginFailed"
	PrefLastLogin   = "UserLastLogin"
	PrefAuthBackend = "UserAuthBackend"
)

// Bookkeeper records login outcomes the way OTRS's CustomerAuth does, so OTRS/Znuny shows
// the same state (last login, failed attempts) and its lock applies.
type Bookkeeper interface {
	// Succeeded: login (as the module returned it) passed module slot ("" primary, "1"… "10").
	Succeeded(ctx context.Context, u *directory.CustomerUser, moduleLogin, slot string)
	// Failed: every module refused typedLogin.
	Failed(ctx context.Context, typedLogin string)
}

// PreferenceStore reads and writes customer_preferences (sqldb.Admin).
type PreferenceStore interface {
	SetPreference(ctx context.Context, login, key, value string) error
	GetPreferences(ctx context.Context, login string) (map[string]string, error)
}

// UserUpdater changes a customer user's Map variables (directory.Directory).
type UserUpdater interface {
	Get(ctx context.Context, login string) (*directory.CustomerUser, error)
	Update(ctx context.Context, login string, attrs map[string]string, by string) (*directory.CustomerUser, error)
}

// SessionRevoker ends every session of a customer user (sessions.Manager).
type SessionRevoker interface {
	DestroyUser(ctx context.Context, login string) (int, error)
}

// OTRSBookkeeping is the Bookkeeper of OTRS/Znuny 6.5: UserLoginFailed counted up on a
// failure of a known user and reset on success, UserLastLogin and UserAuthBackend set on
// success, and with MaxLoginFailed > 0 a writable customer user reaching the limit set to
// invalid-temporarily — whose sessions then end at once, in every process sharing the store.
// Faults are logged, never turned into login failures.
//
// The success bookkeeping (three writes, a commit each) runs after the login is answered:
// it is state for OTRS's screens, not part of the decision, and its commits would otherwise
// more than double a login's latency. One worker keeps the order, and Failed waits for it
// first, so a failure always counts after the successes before it. When the queue is full
// the writes run inline (back-pressure, nothing is dropped); Close writes what is queued.
type OTRSBookkeeping struct {
	Prefs          PreferenceStore
	Users          UserUpdater
	Sessions       SessionRevoker
	MaxLoginFailed int
	Log            *slog.Logger
	Now            func() time.Time

	mu     sync.RWMutex
	queue  chan func()
	done   chan struct{}
	closed bool
}

// bookkeepingQueue bounds the success writes waiting for the worker.
const bookkeepingQueue = 1024

// bookkeepingTimeout bounds one queued task: the login's own context has ended by then.
const bookkeepingTimeout = 30 * time.Second

// Succeeded implements Bookkeeper.
func (b *OTRSBookkeeping) Succeeded(ctx context.Context, u *directory.CustomerUser, moduleLogin, slot string) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	// Copies: the task outlives the request, whose buffers (a login taken from a header) the
	// server reuses.
	login, at := strings.Clone(u.Login), strconv.FormatInt(now().Unix(), 10)
	moduleLogin, slot = strings.Clone(moduleLogin), strings.Clone(slot)
	write := func(ctx context.Context) {
		b.set(ctx, moduleLogin, PrefAuthBackend, slot)
		b.set(ctx, login, PrefLoginFailed, "0")
		b.set(ctx, login, PrefLastLogin, at)
	}
	if !b.enqueue(func() {
		// Not the request's context: it ends with the request, and its values may live in
		// buffers the server reuses.
		ctx, cancel := context.WithTimeout(context.Background(), bookkeepingTimeout)
		defer cancel()
		write(ctx)
	}) {
		write(ctx)
	}
}

// enqueue hands task to the worker (started on first use); false when it cannot take it now.
func (b *OTRSBookkeeping) enqueue(task func()) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return false
	}
	if b.queue == nil {
		b.mu.RUnlock()
		b.start()
		b.mu.RLock()
		if b.closed {
			return false
		}
	}
	select {
	case b.queue <- task:
		return true
	default:
		return false
	}
}

func (b *OTRSBookkeeping) start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.queue != nil || b.closed {
		return
	}
	b.queue = make(chan func(), bookkeepingQueue)
	b.done = make(chan struct{})
	go func(q <-chan func(), done chan<- struct{}) {
		defer close(done)
		for task := range q {
			task()
		}
	}(b.queue, b.done)
}

// wait returns once everything queued before it has been written.
func (b *OTRSBookkeeping) wait() {
	b.mu.RLock()
	if b.queue == nil || b.closed {
		b.mu.RUnlock()
		return
	}
	written := make(chan struct{})
	b.queue <- func() { close(written) }
	b.mu.RUnlock()
	<-written
}

// Close writes what is queued and stops the worker; later successes are written inline.
func (b *OTRSBookkeeping) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	q, done := b.queue, b.done
	b.mu.Unlock()
	if q != nil {
		close(q)
		<-done
	}
	return nil
}

// Failed implements Bookkeeper.
func (b *OTRSBookkeeping) Failed(ctx context.Context, typedLogin string) {
	b.wait()
	u, err := b.Users.Get(ctx, typedLogin)
	if err != nil {
		if !errors.Is(err, directory.ErrNotFound) {
			b.Log.Warn("login bookkeeping: lookup", "err", err)
		}
		return // unknown users leave no trace, as in OTRS
	}
	prefs, err := b.Prefs.GetPreferences(ctx, u.Login)
	if err != nil {
		b.Log.Warn("login bookkeeping: preferences", "login", u.Login, "err", err)
		return
	}
	count, _ := strconv.Atoi(prefs[PrefLoginFailed])
	count++
	b.set(ctx, u.Login, PrefLoginFailed, strconv.Itoa(count))
	if b.MaxLoginFailed <= 0 || count < b.MaxLoginFailed || !u.HasValidity || u.ValidID == directory.InvalidTemporarilyID {
		return
	}
	if _, err := b.Users.Update(ctx, u.Login, map[string]string{directory.VarValidID: strconv.Itoa(directory.InvalidTemporarilyID)}, "gatehouse"); err != nil {
		if !errors.Is(err, directory.ErrReadOnly) {
			b.Log.Warn("login bookkeeping: lock", "login", u.Login, "err", err)
		}
		return
	}
	n, err := b.Sessions.DestroyUser(ctx, u.Login)
	b.Log.Warn("customer user locked after failed logins: set to invalid-temporarily", "login", u.Login,
		"failed", count, "sessions_ended", n, "err", err)
}

func (b *OTRSBookkeeping) set(ctx context.Context, login, key, value string) {
	if err := b.Prefs.SetPreference(ctx, login, key, value); err != nil {
		b.Log.Warn("login bookkeeping", "login", login, "key", key, "err", err)
	}
}
