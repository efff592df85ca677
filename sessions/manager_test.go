package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
	"github.com/gatehouse-sso/gatehouse/sessions/memory"
	_ "github.com/gatehouse-sso/gatehouse/sessions/redis"
	"github.com/gatehouse-sso/gatehouse/sessions/storetest"
)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder wraps a Store and records the writes the Manager makes.
type recorder struct {
	sessions.Store
	mu      sync.Mutex
	saves   []time.Time // expiries passed to Save
	touches []time.Time // expiries passed to Touch
	keys    []string    // keys passed to Save
	err     error       // returned by every call when set
}

func (r *recorder) Get(ctx context.Context, key string) (*sessions.Session, error) {
	if r.err != nil {
		return nil, r.err
	}
	return r.Store.Get(ctx, key)
}

func (r *recorder) Save(ctx context.Context, key string, s *sessions.Session, exp time.Time) error {
	if r.err != nil {
		return r.err
	}
	r.mu.Lock()
	r.saves, r.keys = append(r.saves, exp), append(r.keys, key)
	r.mu.Unlock()
	return r.Store.Save(ctx, key, s, exp)
}

func (r *recorder) Touch(ctx context.Context, key string, seen, exp time.Time) error {
	if r.err != nil {
		return r.err
	}
	r.mu.Lock()
	r.touches = append(r.touches, exp)
	r.mu.Unlock()
	return r.Store.Touch(ctx, key, seen, exp)
}

func (r *recorder) touchCount() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.touches) }

const (
	idle = 2 * time.Hour
	max  = 16 * time.Hour
)

// setup returns a Manager on a memory store, both on a fake clock.
func setup(t *testing.T) (*sessions.Manager, *recorder, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	mem := memory.New(memory.WithClock(c.Now))
	t.Cleanup(func() { _ = mem.Close() })
	rec := &recorder{Store: mem}
	return sessions.NewManager(rec, idle, max, sessions.WithClock(c.Now)), rec, c
}

var alice = claims.Set{Login: "alice", Email: "alice@example.com", CustomerIDs: []string{"ACME"}}

func create(t testing.TB, m *sessions.Manager, c claims.Set) string {
	t.Helper()
	id, _, err := m.Create(context.Background(), c, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTouchInterval(t *testing.T) {
	t.Parallel()
	tests := []struct{ idle, want time.Duration }{
		{2 * time.Hour, time.Minute},
		{10 * time.Minute, time.Minute},
		{5 * time.Minute, 30 * time.Second},
		{time.Second, 100 * time.Millisecond},
	}
	for _, tc := range tests {
		m := sessions.NewManager(memory.New(memory.WithSweepInterval(0)), tc.idle, 16*time.Hour)
		if got := m.TouchInterval(); got != tc.want {
			t.Errorf("idle %v: TouchInterval = %v, want %v", tc.idle, got, tc.want)
		}
	}
}

func TestNewManagerPanics(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ idle, max time.Duration }{{0, time.Hour}, {time.Hour, 0}, {-time.Second, time.Hour}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewManager(%v, %v) did not panic", tc.idle, tc.max)
				}
			}()
			sessions.NewManager(memory.New(memory.WithSweepInterval(0)), tc.idle, tc.max)
		}()
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	m, rec, c := setup(t)
	ctx := context.Background()
	ids := map[string]bool{}
	csrfs := map[string]bool{}
	for i := range 20 {
		id, s, err := m.Create(ctx, alice, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if ids[id] || csrfs[s.CSRF] || id == s.CSRF {
			t.Fatalf("Create #%d reused an id or token", i)
		}
		ids[id], csrfs[s.CSRF] = true, true
		if _, err := sessions.ParseID(id); err != nil || len(s.CSRF) != sessions.IDLen {
			t.Fatalf("id %q csrf %q", id, s.CSRF)
		}
		if !s.Created.Equal(c.Now()) || !s.LastSeen.Equal(c.Now()) || s.RemoteAddr != "192.0.2.1" || s.Claims.Login != "alice" {
			t.Fatalf("session %+v", s)
		}
		// The store sees the hash, never the id.
		if got := rec.keys[len(rec.keys)-1]; got != sessions.Key(id) || got == id {
			t.Fatalf("stored under %q, want Key(id)", got)
		}
		if want := c.Now().Add(idle); !rec.saves[len(rec.saves)-1].Equal(want) {
			t.Fatalf("Save expiry %v, want %v", rec.saves[len(rec.saves)-1], want)
		}
	}
	if _, _, err := m.Create(ctx, claims.Set{}, ""); err == nil {
		t.Fatal("Create without login succeeded")
	}
}

func TestLoadTimeouts(t *testing.T) {
	t.Parallel()
	type step struct {
		advance   time.Duration // clock advance before Load
		wantOK    bool
		wantTouch bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"fresh", []step{{0, true, false}}},
		{"within touch interval: no write", []step{{59 * time.Second, true, false}, {0, true, false}}},
		{"touch interval reached: one write", []step{{time.Minute, true, true}, {30 * time.Second, true, false}}},
		{"idle just before", []step{{idle - time.Nanosecond, true, true}}},
		{"idle reached", []step{{idle, false, false}}},
		{"idle exceeded", []step{{idle + time.Hour, false, false}}},
		{"sliding keeps it alive", []step{{idle - time.Minute, true, true}, {idle - time.Minute, true, true}, {idle - time.Minute, true, true}}},
		{"stored last seen lags < touch interval", []step{{time.Minute, true, true}, {59 * time.Second, true, false}, {idle - 59*time.Second, false, false}}},
		{"absolute timeout despite use", func() []step {
			var s []step
			for range 15 { // 15 × 1h = 15h: alive
				s = append(s, step{time.Hour, true, true})
			}
			s = append(s, step{time.Hour - time.Second, true, true}, step{time.Second, false, false}) // 16h
			return s
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, rec, c := setup(t)
			ctx := context.Background()
			id := create(t, m, alice)
			for i, st := range tc.steps {
				c.Add(st.advance)
				before := rec.touchCount()
				s, err := m.Load(ctx, id)
				if st.wantOK != (err == nil) {
					t.Fatalf("step %d: Load = %v, want ok=%v", i, err, st.wantOK)
				}
				if !st.wantOK {
					if !errors.Is(err, sessions.ErrNotFound) {
						t.Fatalf("step %d: err = %v, want ErrNotFound", i, err)
					}
					// Deleted, not just hidden.
					if _, err := rec.Store.Get(ctx, sessions.Key(id)); !errors.Is(err, sessions.ErrNotFound) {
						t.Fatalf("step %d: ended session still stored: %v", i, err)
					}
					return
				}
				touched := rec.touchCount() > before
				if touched != st.wantTouch {
					t.Fatalf("step %d: touched = %v, want %v", i, touched, st.wantTouch)
				}
				if touched && !s.LastSeen.Equal(c.Now()) {
					t.Fatalf("step %d: LastSeen %v, want now", i, s.LastSeen)
				}
				if touched {
					// Expiry = min(LastSeen+idle, Created+max).
					want := c.Now().Add(idle)
					if hard := s.Created.Add(max); hard.Before(want) {
						want = hard
					}
					if got := rec.touches[len(rec.touches)-1]; !got.Equal(want) || !got.Equal(m.Expires(s)) {
						t.Fatalf("step %d: Touch expiry %v, want %v", i, got, want)
					}
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	m, rec, _ := setup(t)
	ctx := context.Background()
	unknown, _ := sessions.NewID()
	for _, in := range []string{"", "nope", unknown + "x", sessions.Key(unknown)} {
		if _, err := m.Load(ctx, in); !errors.Is(err, sessions.ErrMalformedID) {
			t.Errorf("Load(%q) = %v, want ErrMalformedID", in, err)
		}
	}
	if _, err := m.Load(ctx, unknown); !errors.Is(err, sessions.ErrNotFound) {
		t.Errorf("Load(unknown) = %v, want ErrNotFound", err)
	}
	// A store that is down: fail closed, and say so (never ErrNotFound).
	id := create(t, m, alice)
	rec.err = fmt.Errorf("dial: %w", sessions.ErrUnavailable)
	_, err := m.Load(ctx, id)
	if !errors.Is(err, sessions.ErrUnavailable) || errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Load with store down = %v", err)
	}
	if _, _, err := m.Create(ctx, alice, ""); !errors.Is(err, sessions.ErrUnavailable) {
		t.Fatalf("Create with store down = %v", err)
	}
}

// TestLoadTouchRace: a session deleted between Get and Touch (logout on another node)
// is not revived and reads as ended.
func TestLoadTouchRace(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Now()}
	mem := memory.New(memory.WithClock(c.Now))
	defer mem.Close()
	st := &deleteBeforeTouch{Store: mem}
	m := sessions.NewManager(st, idle, max, sessions.WithClock(c.Now))
	id := create(t, m, alice)
	c.Add(2 * time.Minute)
	if _, err := m.Load(context.Background(), id); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Load = %v, want ErrNotFound", err)
	}
	if _, err := mem.Get(context.Background(), sessions.Key(id)); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("session revived: %v", err)
	}
}

type deleteBeforeTouch struct{ sessions.Store }

func (d *deleteBeforeTouch) Touch(ctx context.Context, key string, seen, exp time.Time) error {
	_ = d.Store.Delete(ctx, key)
	return d.Store.Touch(ctx, key, seen, exp)
}

func TestDestroy(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t)
	ctx := context.Background()
	id, other := create(t, m, alice), create(t, m, alice)
	for range 2 {
		if err := m.Destroy(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Load(ctx, id); !errors.Is(err, sessions.ErrNotFound) {
			t.Fatalf("Load after Destroy = %v", err)
		}
	}
	if _, err := m.Load(ctx, other); err != nil {
		t.Fatalf("other session: %v", err)
	}
	if err := m.Destroy(ctx, "garbage"); !errors.Is(err, sessions.ErrMalformedID) {
		t.Fatalf("Destroy(garbage) = %v", err)
	}
}

func TestDestroyUser(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t)
	ctx := context.Background()
	a := []string{create(t, m, alice), create(t, m, alice), create(t, m, alice)}
	bob := create(t, m, claims.Set{Login: "bob"})
	n, err := m.DestroyUser(ctx, "alice")
	if err != nil || n != 3 {
		t.Fatalf("DestroyUser = %d, %v; want 3", n, err)
	}
	for _, id := range a {
		if _, err := m.Load(ctx, id); !errors.Is(err, sessions.ErrNotFound) {
			t.Fatalf("alice's session survived: %v", err)
		}
	}
	if _, err := m.Load(ctx, bob); err != nil {
		t.Fatalf("bob's session: %v", err)
	}
	if n, err := m.DestroyUser(ctx, "alice"); err != nil || n != 0 {
		t.Fatalf("DestroyUser again = %d, %v", n, err)
	}
}

// BenchmarkManagerLoad measures the per-request hot path: ParseID, Key, Store.Get, the
// timeout checks (no touch: LastSeen is fresh).
func BenchmarkManagerLoad(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) sessions.Store
	}{
		{"memory", func(b *testing.B) sessions.Store { return memory.New() }},
		{"redis", func(b *testing.B) sessions.Store {
			st, err := sessions.Open(configs.Sessions{Store: "redis", Redis: configs.Redis{
				URL: "redis://" + testenv.RedisAddr(b), KeyPrefix: testenv.RandomName("gh_bench_") + ":"}})
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
	}
	for _, sc := range stores {
		b.Run(sc.name, func(b *testing.B) {
			st := sc.open(b)
			defer st.Close()
			m := sessions.NewManager(st, idle, max)
			ctx := context.Background()
			ids := make([]string, 1000)
			for i := range ids {
				ids[i] = create(b, m, claims.Set{Login: fmt.Sprintf("user%d", i%100), Email: "u@example.com",
					CustomerIDs: []string{"ACME"}, Groups: map[string][]string{"users": {"rw"}, "billing": {"ro"}},
					Attrs: map[string]string{"UserCity": "Zürich", "UserPhone": "+41 44 000 00 00"}})
			}
			defer func() {
				for i := range 100 {
					_, _ = m.DestroyUser(ctx, fmt.Sprintf("user%d", i))
				}
			}()
			storetest.BenchLoads(b, func(i int) error {
				_, err := m.Load(ctx, ids[i%len(ids)])
				return err
			})
		})
	}
}
