package authn

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// prefStore is an in-memory customer_preferences; gate, when set, holds every write until
// it is closed (a slow database).
type prefStore struct {
	mu     sync.Mutex
	prefs  map[string]map[string]string
	writes int
	gate   chan struct{}
}

func (p *prefStore) SetPreference(_ context.Context, login, key, value string) error {
	if p.gate != nil {
		<-p.gate
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prefs[login] == nil {
		p.prefs[login] = map[string]string{}
	}
	p.prefs[login][key] = value
	p.writes++
	return nil
}

func (p *prefStore) GetPreferences(_ context.Context, login string) (map[string]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]string{}
	for k, v := range p.prefs[login] {
		out[k] = v
	}
	return out, nil
}

func (p *prefStore) get(login, key string) string {
	m, _ := p.GetPreferences(context.Background(), login)
	return m[key]
}

type oneUser struct{ u *directory.CustomerUser }

func (o oneUser) Get(_ context.Context, login string) (*directory.CustomerUser, error) {
	if login == o.u.Login {
		return o.u, nil
	}
	return nil, directory.ErrNotFound
}
func (o oneUser) Update(context.Context, string, map[string]string, string) (*directory.CustomerUser, error) {
	return nil, directory.ErrReadOnly
}

func newTestBookkeeping(p *prefStore) *OTRSBookkeeping {
	return &OTRSBookkeeping{Prefs: p, Users: oneUser{&directory.CustomerUser{Login: "jdoe"}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return time.Unix(1700000000, 0) }}
}

// TestBookkeepingSuccessIsQueued: a success returns before its writes are done; a failure
// after it waits for them, so the failure count starts from the success's reset; Close
// writes what is still queued.
func TestBookkeepingSuccessIsQueued(t *testing.T) {
	p := &prefStore{prefs: map[string]map[string]string{"jdoe": {PrefLoginFailed: "2"}}, gate: make(chan struct{})}
	b := newTestBookkeeping(p)
	u := &directory.CustomerUser{Login: "jdoe"}

	returned := make(chan struct{})
	go func() { b.Succeeded(context.Background(), u, "jdoe", "1"); close(returned) }()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Succeeded waited for the database")
	}
	failed := make(chan struct{})
	go func() { b.Failed(context.Background(), "jdoe"); close(failed) }()
	select {
	case <-failed:
		t.Fatal("Failed did not wait for the queued success")
	case <-time.After(50 * time.Millisecond):
	}
	close(p.gate) // the database answers
	<-failed
	if got := p.get("jdoe", PrefLoginFailed); got != "1" {
		t.Fatalf("UserLoginFailed %q after success then failure, want 1", got)
	}
	if got := p.get("jdoe", PrefLastLogin); got != "1700000000" {
		t.Fatalf("UserLastLogin %q", got)
	}

	// Close writes what is queued, and later successes are written inline.
	b.Succeeded(context.Background(), &directory.CustomerUser{Login: "other"}, "other", "")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := p.get("other", PrefLastLogin); got == "" {
		t.Fatal("Close did not write the queued success")
	}
	b.Succeeded(context.Background(), &directory.CustomerUser{Login: "late"}, "late", "")
	if got := p.get("late", PrefLastLogin); got == "" {
		t.Fatal("a success after Close was not written")
	}
}

// TestBookkeepingQueueFull: when the worker is behind by a full queue, successes are written
// inline (nothing is dropped).
func TestBookkeepingQueueFull(t *testing.T) {
	p := &prefStore{prefs: map[string]map[string]string{}, gate: make(chan struct{})}
	b := newTestBookkeeping(p)
	defer b.Close()
	// The worker takes one task and blocks on the gate; then the queue fills up.
	b.Succeeded(context.Background(), &directory.CustomerUser{Login: "first"}, "first", "")
	for deadline := time.Now().Add(5 * time.Second); len(b.queue) > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker never took the first task")
		}
	}
	for i := 0; i < bookkeepingQueue; i++ {
		b.Succeeded(context.Background(), &directory.CustomerUser{Login: "u" + strconv.Itoa(i)}, "u", "")
	}
	inline := make(chan struct{})
	go func() {
		b.Succeeded(context.Background(), &directory.CustomerUser{Login: "overflow"}, "overflow", "")
		close(inline)
	}()
	select {
	case <-inline:
		t.Fatal("a success past the full queue returned before it was written")
	case <-time.After(50 * time.Millisecond):
	}
	close(p.gate)
	<-inline
	if got := p.get("overflow", PrefLastLogin); got == "" {
		t.Fatal("overflowing success not written")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if want := 3 * (bookkeepingQueue + 2); p.writes != want {
		t.Fatalf("%d writes, want %d (every success, three each)", p.writes, want)
	}
}
