package sessions_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/sessions"
	"github.com/gatehouse-sso/gatehouse/sessions/memory"
	"github.com/gatehouse-sso/gatehouse/sessions/storetest"
)

// cachedStore is a memory store that counts reads and touches. With manual set, the test
// drives the invalidation feed the Manager sees (send) instead of the memory store's own.
type cachedStore struct {
	*memory.Store
	manual bool

	gets    atomic.Int64
	touches atomic.Int64
	getHook func(key string) // runs inside Get before the read, when set
	mu      sync.Mutex
	fn      func(sessions.Invalidation)
	err     error // returned by Get and Touch when set
}

func (c *cachedStore) Subscribe(fn func(sessions.Invalidation)) func() {
	if !c.manual {
		return c.Store.Subscribe(fn)
	}
	c.mu.Lock()
	c.fn = fn
	c.mu.Unlock()
	return func() { c.mu.Lock(); c.fn = nil; c.mu.Unlock() }
}

func (c *cachedStore) send(ev sessions.Invalidation) {
	c.mu.Lock()
	fn := c.fn
	c.mu.Unlock()
	if fn == nil {
		panic("the Manager has not subscribed")
	}
	fn(ev)
}

func (c *cachedStore) fail(err error) { c.mu.Lock(); c.err = err; c.mu.Unlock() }

func (c *cachedStore) failure() error { c.mu.Lock(); defer c.mu.Unlock(); return c.err }

func (c *cachedStore) Get(ctx context.Context, key string) (*sessions.Session, error) {
	c.gets.Add(1)
	if c.getHook != nil {
		c.getHook(key)
	}
	if err := c.failure(); err != nil {
		return nil, err
	}
	return c.Store.Get(ctx, key)
}

func (c *cachedStore) Touch(ctx context.Context, key string, seen, exp time.Time) error {
	c.touches.Add(1)
	if err := c.failure(); err != nil {
		return err
	}
	return c.Store.Touch(ctx, key, seen, exp)
}

const cacheTTL = 2 * time.Second

// cacheSetup returns a Manager with the local cache on a counting memory store, both on a
// fake clock.
func cacheSetup(t *testing.T, manual bool, opts ...sessions.ManagerOption) (*sessions.Manager, *cachedStore, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	mem := memory.New(memory.WithClock(c.Now), memory.WithSweepInterval(0))
	st := &cachedStore{Store: mem, manual: manual}
	m := sessions.NewManager(st, idle, max, append([]sessions.ManagerOption{sessions.WithClock(c.Now), sessions.WithLocalCache(cacheTTL, 1000)}, opts...)...)
	t.Cleanup(func() { m.Close(); _ = mem.Close() })
	return m, st, c
}

var bob = claims.Set{Login: "bob", Groups: map[string][]string{"users": {"rw"}}}

func loadCookie(t *testing.T, m *sessions.Manager, id string) *sessions.Session {
	t.Helper()
	s, err := m.LoadCookie(context.Background(), []byte(id))
	if err != nil {
		t.Fatalf("LoadCookie: %v", err)
	}
	return s
}

// wantGets checks how many times the store was read so far.
func wantGets(t *testing.T, st *cachedStore, n int64) {
	t.Helper()
	if got := st.gets.Load(); got != n {
		t.Fatalf("store reads: %d, want %d", got, n)
	}
}

func TestLocalCacheHit(t *testing.T) {
	t.Parallel()
	m, st, c := cacheSetup(t, false)
	ctx := context.Background()
	id, _, err := m.Create(ctx, claims.Set{Login: "alice", Groups: map[string][]string{"users": {"rw"}}, Attrs: map[string]string{"UserCity": "Köln"}},
		"192.0.2.1", sessions.WithHeaders("k1", []sessions.HeaderField{{Name: "Remote-User", Value: "alice"}}))
	if err != nil {
		t.Fatal(err)
	}
	s1 := loadCookie(t, m, id)
	wantGets(t, st, 1)
	if !m.LocalCacheLive() || m.LocalCacheLen() != 1 {
		t.Fatalf("live %v, len %d after the first load", m.LocalCacheLive(), m.LocalCacheLen())
	}
	s2 := loadCookie(t, m, id)
	wantGets(t, st, 1)
	if s2 != s1 || s1.Claims.Login != "alice" || s1.HeadersKey != "k1" || s1.Headers[0].Value != "alice" {
		t.Fatalf("hit = %p %+v, want the cached %p", s2, s2, s1)
	}

	// Load shares the cache but hands out a private copy: changing it changes nothing else.
	own, err := m.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantGets(t, st, 1)
	if own == s1 {
		t.Fatal("Load returned the shared session")
	}
	own.Claims.Groups["users"][0] = "admin"
	own.Claims.Attrs["UserCity"] = "Nowhere"
	own.Headers[0].Value = "mallory"
	own.LastSeen = time.Time{}
	if s := loadCookie(t, m, id); s.Claims.Groups["users"][0] != "rw" || s.Claims.Attrs["UserCity"] != "Köln" || s.Headers[0].Value != "alice" || s.LastSeen.IsZero() {
		t.Fatalf("a change to Load's copy reached the cache: %+v", s)
	}

	// An entry lives at most the TTL.
	c.Add(cacheTTL - time.Millisecond)
	loadCookie(t, m, id)
	wantGets(t, st, 1)
	c.Add(time.Millisecond)
	if s := loadCookie(t, m, id); s == s1 {
		t.Fatal("served past the TTL")
	}
	wantGets(t, st, 2)
}

// TestLocalCacheTouch: a hit still writes the sliding expiry back once per touch interval,
// and the cached LastSeen follows.
func TestLocalCacheTouch(t *testing.T) {
	t.Parallel()
	m, st, c := cacheSetup(t, false)
	id := create(t, m, alice)
	every := m.TouchInterval()
	c.Add(every - time.Second)
	first := loadCookie(t, m, id) // a miss, not yet due
	if st.touches.Load() != 0 {
		t.Fatal("touched before the interval")
	}
	c.Add(time.Second) // now due, and still cached
	touched := loadCookie(t, m, id)
	wantGets(t, st, 1)
	if st.touches.Load() != 1 || !touched.LastSeen.Equal(c.Now()) {
		t.Fatalf("hit at the touch interval: %d touches, LastSeen %v, want 1 and now", st.touches.Load(), touched.LastSeen)
	}
	if first.LastSeen.Equal(c.Now()) {
		t.Fatal("the touch modified the shared session instead of replacing it")
	}
	stored, err := st.Store.Get(context.Background(), sessions.Key(id))
	if err != nil || !stored.LastSeen.Equal(c.Now()) {
		t.Fatalf("stored LastSeen %v (%v), want now", stored.LastSeen, err)
	}
	c.Add(cacheTTL / 4) // still within the TTL of the load before the touch
	if again := loadCookie(t, m, id); again != touched || st.touches.Load() != 1 {
		t.Fatalf("second hit: %p (want %p), %d touches", again, touched, st.touches.Load())
	}

}

// TestLocalCacheTouchGone: the sliding-expiry write of a hit finds the session deleted
// behind the feed's back: not found, and the entry is dropped.
func TestLocalCacheTouchGone(t *testing.T) {
	t.Parallel()
	m, st, c := cacheSetup(t, true)
	id := create(t, m, alice)
	loadCookie(t, m, id) // subscribes
	st.send(sessions.Invalidation{Kind: sessions.FeedLive})
	c.Add(m.TouchInterval() - time.Second)
	loadCookie(t, m, id) // cached
	if err := st.Store.Delete(context.Background(), sessions.Key(id)); err != nil {
		t.Fatal(err) // the manual feed does not tell the Manager
	}
	c.Add(time.Second)
	if _, err := m.LoadCookie(context.Background(), []byte(id)); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("touch of a deleted session = %v, want ErrNotFound", err)
	}
	if m.LocalCacheLen() != 0 {
		t.Fatal("the entry stayed")
	}
}

// TestLocalCacheAbsoluteTimeout: a hit enforces the absolute timeout (and the store decides
// and deletes).
func TestLocalCacheAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	m, st, c := cacheSetup(t, false)
	id := create(t, m, alice)
	for range 15 {
		c.Add(time.Hour)
		loadCookie(t, m, id)
	}
	c.Add(time.Hour - time.Second)
	loadCookie(t, m, id)
	c.Add(time.Second) // exactly max after login, within the TTL of the last load
	if _, err := m.LoadCookie(context.Background(), []byte(id)); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("past the absolute timeout: %v", err)
	}
	if _, err := st.Store.Get(context.Background(), sessions.Key(id)); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("ended session still stored: %v", err)
	}
}

// TestLocalCacheInvalidation: whatever ends a session — through the Manager or the store
// directly — evicts it from the cache at once; other sessions stay cached.
func TestLocalCacheInvalidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  func(m *sessions.Manager, st *cachedStore, id string) error
	}{
		{"Manager.Destroy", func(m *sessions.Manager, _ *cachedStore, id string) error {
			return m.Destroy(context.Background(), id)
		}},
		{"Store.Delete", func(_ *sessions.Manager, st *cachedStore, id string) error {
			return st.Store.Delete(context.Background(), sessions.Key(id))
		}},
		{"Manager.DestroyUser", func(m *sessions.Manager, _ *cachedStore, _ string) error {
			_, err := m.DestroyUser(context.Background(), "alice")
			return err
		}},
		{"Store.DeleteUser", func(_ *sessions.Manager, st *cachedStore, _ string) error {
			_, err := st.Store.DeleteUser(context.Background(), "alice")
			return err
		}},
		{"expiry swept", func(_ *sessions.Manager, st *cachedStore, id string) error {
			// Touch may shorten a session's expiry; the sweep then reports it.
			if err := st.Store.Touch(context.Background(), sessions.Key(id), time.Unix(0, 0), time.Unix(1, 0)); err != nil {
				return err
			}
			if n := st.Sweep(); n != 1 {
				return fmt.Errorf("swept %d", n)
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, st, _ := cacheSetup(t, false)
			id, other := create(t, m, alice), create(t, m, bob)
			loadCookie(t, m, id)
			loadCookie(t, m, other)
			wantGets(t, st, 2)
			if err := tc.end(m, st, id); err != nil {
				t.Fatal(err)
			}
			if _, err := m.LoadCookie(context.Background(), []byte(id)); !errors.Is(err, sessions.ErrNotFound) {
				t.Fatalf("ended session: %v, want ErrNotFound", err)
			}
			wantGets(t, st, 3)
			loadCookie(t, m, other)
			wantGets(t, st, 3) // still a hit
		})
	}
}

// TestLocalCacheFeed drives the feed by hand: no cache before the feed is confirmed,
// bypass (fail closed) while it is down, flush when it is back, and a session ended while
// a miss was reading it is not cached.
func TestLocalCacheFeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	unavailable := fmt.Errorf("dial: %w", sessions.ErrUnavailable)

	t.Run("not before confirmed", func(t *testing.T) {
		t.Parallel()
		m, st, _ := cacheSetup(t, true)
		id := create(t, m, alice)
		for i := range 3 {
			loadCookie(t, m, id)
			wantGets(t, st, int64(i+1))
		}
		if m.LocalCacheLive() {
			t.Fatal("live without FeedLive")
		}
		st.send(sessions.Invalidation{Kind: sessions.FeedLive})
		loadCookie(t, m, id)
		loadCookie(t, m, id)
		wantGets(t, st, 4)
	})
	t.Run("lease", func(t *testing.T) {
		// Leases run on the real monotonic clock (never the test clock): a cached session is
		// used only until Until, FeedFresh moves Until on (never back) and drops nothing.
		t.Parallel()
		m, st, _ := cacheSetup(t, true)
		id := create(t, m, alice)
		loadCookie(t, m, id) // subscribes
		st.send(sessions.Invalidation{Kind: sessions.FeedLive, Until: time.Now().Add(time.Hour)})
		loadCookie(t, m, id)
		loadCookie(t, m, id)
		wantGets(t, st, 2)
		st.send(sessions.Invalidation{Kind: sessions.FeedFresh, Until: time.Now().Add(-time.Second)}) // older: ignored
		loadCookie(t, m, id)
		wantGets(t, st, 2)

		st.send(sessions.Invalidation{Kind: sessions.FeedLive, Until: time.Now().Add(-time.Millisecond)}) // lapsed
		if m.LocalCacheLive() {
			t.Fatal("in use with its lease run out")
		}
		loadCookie(t, m, id)
		loadCookie(t, m, id)
		wantGets(t, st, 4) // every load asks the store
		st.fail(unavailable)
		if _, err := m.LoadCookie(ctx, []byte(id)); !errors.Is(err, sessions.ErrUnavailable) {
			t.Fatalf("lease run out, store down: %v, want ErrUnavailable", err)
		}
		st.fail(nil)

		// Renewed: what was cached meanwhile is used again (nothing was missed).
		n := m.LocalCacheLen()
		st.send(sessions.Invalidation{Kind: sessions.FeedFresh, Until: time.Now().Add(time.Hour)})
		if !m.LocalCacheLive() || m.LocalCacheLen() != n || n == 0 {
			t.Fatalf("after FeedFresh: live %v, %d entries (had %d)", m.LocalCacheLive(), m.LocalCacheLen(), n)
		}
		loadCookie(t, m, id)
		wantGets(t, st, 5)

		// A feed without a lease (FeedLive with no Until) is trusted until FeedDown.
		st.send(sessions.Invalidation{Kind: sessions.FeedLive})
		loadCookie(t, m, id)
		loadCookie(t, m, id)
		wantGets(t, st, 6)
		st.send(sessions.Invalidation{Kind: sessions.FeedFresh, Until: time.Now().Add(-time.Second)})
		if !m.LocalCacheLive() {
			t.Fatal("a FeedFresh put a lease on a feed that has none")
		}

		// A short lease runs out by itself.
		st.send(sessions.Invalidation{Kind: sessions.FeedLive, Until: time.Now().Add(300 * time.Millisecond)})
		loadCookie(t, m, id)
		loadCookie(t, m, id)
		wantGets(t, st, 7)
		time.Sleep(350 * time.Millisecond)
		loadCookie(t, m, id)
		wantGets(t, st, 8)
	})
	t.Run("down: bypass and fail closed", func(t *testing.T) {
		t.Parallel()
		m, st, _ := cacheSetup(t, true)
		id := create(t, m, alice)
		loadCookie(t, m, id)
		st.send(sessions.Invalidation{Kind: sessions.FeedLive})
		loadCookie(t, m, id)
		loadCookie(t, m, id)
		wantGets(t, st, 2)
		st.send(sessions.Invalidation{Kind: sessions.FeedDown})
		if m.LocalCacheLive() || m.LocalCacheLen() != 0 {
			t.Fatal("still live, or entries kept, after FeedDown")
		}
		loadCookie(t, m, id)
		wantGets(t, st, 3)
		st.fail(unavailable)
		for _, load := range []func() error{
			func() error { _, err := m.LoadCookie(ctx, []byte(id)); return err },
			func() error { _, err := m.Load(ctx, id); return err },
		} {
			if err := load(); !errors.Is(err, sessions.ErrUnavailable) || errors.Is(err, sessions.ErrNotFound) {
				t.Fatalf("feed and store down: %v, want ErrUnavailable", err)
			}
		}
	})
	t.Run("flush on resubscribe", func(t *testing.T) {
		t.Parallel()
		m, st, _ := cacheSetup(t, true)
		id, other := create(t, m, alice), create(t, m, bob)
		loadCookie(t, m, id)
		st.send(sessions.Invalidation{Kind: sessions.FeedLive})
		loadCookie(t, m, id)
		loadCookie(t, m, other)
		// Ended while the feed was down: the event is lost, as it would be on a broken
		// connection.
		st.send(sessions.Invalidation{Kind: sessions.FeedDown})
		if err := st.Store.Delete(ctx, sessions.Key(id)); err != nil {
			t.Fatal(err)
		}
		st.send(sessions.Invalidation{Kind: sessions.FeedLive})
		if m.LocalCacheLen() != 0 {
			t.Fatalf("%d entries kept over a resubscribe", m.LocalCacheLen())
		}
		if _, err := m.LoadCookie(ctx, []byte(id)); !errors.Is(err, sessions.ErrNotFound) {
			t.Fatalf("after resubscribe: %v, want ErrNotFound", err)
		}
		before := st.gets.Load()
		loadCookie(t, m, other)
		loadCookie(t, m, other)
		wantGets(t, st, before+1)
	})
	t.Run("ended while a miss reads it", func(t *testing.T) {
		t.Parallel()
		m, st, _ := cacheSetup(t, true)
		id := create(t, m, alice)
		loadCookie(t, m, id)
		st.send(sessions.Invalidation{Kind: sessions.FeedLive})
		var once sync.Once
		st.getHook = func(key string) {
			// The read below still sees the session; the event arrives before it returns.
			once.Do(func() { st.send(sessions.Invalidation{Kind: sessions.InvalidateKey, Key: key}) })
		}
		loadCookie(t, m, id) // the miss with the event in flight
		gets := st.gets.Load()
		loadCookie(t, m, id)
		wantGets(t, st, gets+1) // not cached: asked again
		loadCookie(t, m, id)
		wantGets(t, st, gets+1) // cached now
	})
	t.Run("user event", func(t *testing.T) {
		t.Parallel()
		m, st, _ := cacheSetup(t, true)
		a1, a2, b := create(t, m, alice), create(t, m, alice), create(t, m, bob)
		loadCookie(t, m, a1)
		st.send(sessions.Invalidation{Kind: sessions.FeedLive})
		for _, id := range []string{a1, a2, b} {
			loadCookie(t, m, id)
		}
		st.send(sessions.Invalidation{Kind: sessions.InvalidateUser, Login: "alice"})
		if n := m.LocalCacheLen(); n != 1 {
			t.Fatalf("%d entries after alice's sessions ended, want bob's only", n)
		}
	})
	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		m, st, _ := cacheSetup(t, true)
		id := create(t, m, alice)
		loadCookie(t, m, id)
		st.send(sessions.Invalidation{Kind: sessions.FeedLive})
		m.Close()
		if m.LocalCacheLive() {
			t.Fatal("live after Close")
		}
		loadCookie(t, m, id)
		loadCookie(t, m, id)
		wantGets(t, st, 3)
	})
}

// TestLocalCacheBounded: the entry count stays within the configured bound.
func TestLocalCacheBounded(t *testing.T) {
	t.Parallel()
	const bound = 64
	m, st, _ := cacheSetup(t, false, sessions.WithLocalCache(cacheTTL, bound))
	ids := make([]string, 500)
	for i := range ids {
		ids[i] = create(t, m, claims.Set{Login: fmt.Sprintf("user%d", i)})
		loadCookie(t, m, ids[i])
		if n := m.LocalCacheLen(); n > bound {
			t.Fatalf("%d entries, bound %d", n, bound)
		}
	}
	if n := m.LocalCacheLen(); n < bound/2 {
		t.Fatalf("%d entries: the bound evicts too eagerly", n)
	}
	for _, id := range ids { // evicted or not, every session still loads
		if s := loadCookie(t, m, id); s == nil {
			t.Fatal("nil session")
		}
	}
	if st.gets.Load() >= 1000 {
		t.Fatal("no hits at all")
	}
}

func TestLocalCacheOptions(t *testing.T) {
	t.Parallel()
	mem := memory.New(memory.WithSweepInterval(0))
	t.Cleanup(func() { _ = mem.Close() })
	tests := []struct {
		name  string
		store sessions.Store
		opts  []sessions.ManagerOption
		want  time.Duration
	}{
		{"default", mem, nil, 2 * time.Second},
		{"set", mem, []sessions.ManagerOption{sessions.WithLocalCache(500*time.Millisecond, 10)}, 500 * time.Millisecond},
		{"capped at half the touch interval", mem, []sessions.ManagerOption{sessions.WithLocalCache(time.Hour, 10)}, 30 * time.Second},
		{"ttl 0 disables", mem, []sessions.ManagerOption{sessions.WithLocalCache(0, 10)}, 0},
		{"size 0 disables", mem, []sessions.ManagerOption{sessions.WithLocalCache(time.Second, 0)}, 0},
		{"not an Invalidator", &recorder{Store: mem}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := sessions.NewManager(tc.store, idle, max, tc.opts...)
			defer m.Close()
			if got := m.LocalCacheTTL(); got != tc.want {
				t.Fatalf("LocalCacheTTL = %v, want %v", got, tc.want)
			}
			id := create(t, m, alice)
			s1 := loadCookie(t, m, id)
			s2 := loadCookie(t, m, id)
			if cached := s1 == s2; cached != (tc.want > 0) {
				t.Fatalf("second LoadCookie shared the first's session: %v, want %v", cached, tc.want > 0)
			}
		})
	}
}

func TestLoadCookieErrors(t *testing.T) {
	t.Parallel()
	m, st, _ := cacheSetup(t, false)
	ctx := context.Background()
	unknown, _ := sessions.NewID()
	for _, in := range []string{"", "nope", unknown + "x", unknown[:42] + "B", sessions.Key(unknown), unknown[:42] + "=", "é" + unknown[2:]} {
		if _, err := m.LoadCookie(ctx, []byte(in)); !errors.Is(err, sessions.ErrMalformedID) {
			t.Errorf("LoadCookie(%q) = %v, want ErrMalformedID", in, err)
		}
	}
	if _, err := m.LoadCookie(ctx, nil); !errors.Is(err, sessions.ErrMalformedID) {
		t.Errorf("LoadCookie(nil) = %v", err)
	}
	if _, err := m.LoadCookie(ctx, []byte(unknown)); !errors.Is(err, sessions.ErrNotFound) {
		t.Errorf("LoadCookie(unknown) = %v, want ErrNotFound", err)
	}
	wantGets(t, st, 1) // malformed ids never reach the store
}

// TestIDFormEquivalence: the allocation-free id check accepts exactly what strict
// base64url decoding to IDBytes accepts.
func TestIDFormEquivalence(t *testing.T) {
	t.Parallel()
	m, _, _ := cacheSetup(t, false)
	ctx := context.Background()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	strict := base64.RawURLEncoding.Strict()
	r := rand.New(rand.NewPCG(1, 2))
	check := func(id string) {
		b, err := strict.DecodeString(id)
		want := err == nil && len(b) == sessions.IDBytes
		_, perr := sessions.ParseID(id)
		_, lerr := m.LoadCookie(ctx, []byte(id))
		if (perr == nil) != want || errors.Is(lerr, sessions.ErrMalformedID) == want {
			t.Fatalf("%q: decodes %v, ParseID %v, LoadCookie %v", id, want, perr, lerr)
		}
	}
	base := []byte(alphabet[:43])
	for i := range 256 { // every byte as the last character
		b := append([]byte(nil), base...)
		b[42] = byte(i)
		check(string(b))
	}
	for range 2000 {
		n := 41 + r.IntN(4)
		b := make([]byte, n)
		for i := range b {
			if r.IntN(50) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = alphabet[r.IntN(64)]
			}
		}
		check(string(b))
	}
}

// TestLoadCookieNoAlloc: a cache hit allocates nothing.
func TestLoadCookieNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates by itself; BenchmarkLoadCookie and this test without -race check it")
	}
	m, _, _ := cacheSetup(t, false)
	id := []byte(create(t, m, alice))
	ctx := context.Background()
	if _, err := m.LoadCookie(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := m.LoadCookie(ctx, id); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("a hit allocates %v times", n)
	}
}

// TestLocalCacheConcurrent runs loads, touches, logouts and feed events at once (for -race):
// every load returns either the live session or ErrNotFound once it was ended.
func TestLocalCacheConcurrent(t *testing.T) {
	t.Parallel()
	m, _, c := cacheSetup(t, false)
	ctx := context.Background()
	ids := make([]string, 20)
	for i := range ids {
		ids[i] = create(t, m, claims.Set{Login: fmt.Sprintf("user%d", i%4)})
	}
	var ended sync.Map
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[(i+w)%len(ids)]
				var s *sessions.Session
				var err error
				if i%3 == 0 {
					s, err = m.Load(ctx, id)
				} else {
					s, err = m.LoadCookie(ctx, []byte(id))
				}
				if err != nil {
					if _, gone := ended.Load(id); !gone || !errors.Is(err, sessions.ErrNotFound) {
						t.Errorf("load: %v", err)
						return
					}
					continue
				}
				_ = s.Claims.Login + s.LastSeen.String()
			}
		}()
	}
	for i := range 200 {
		c.Add(7 * time.Second) // touches fall due now and then
		if i%20 == 19 {
			id := ids[i/20]
			ended.Store(id, true)
			if err := m.Destroy(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := m.LoadCookie(ctx, []byte(id)); !errors.Is(err, sessions.ErrNotFound) {
				t.Fatalf("served after Destroy returned: %v", err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
}

// benchCreate creates n sessions with a realistic claim set (groups, attributes) and
// rendered headers, and returns their ids.
func benchCreate(b *testing.B, m *sessions.Manager, n int) [][]byte {
	b.Helper()
	ids := make([][]byte, n)
	for i := range ids {
		id, _, err := m.Create(context.Background(), claims.Set{Login: fmt.Sprintf("user%d", i%100), Email: "u@example.com",
			CustomerIDs: []string{"ACME"}, Groups: map[string][]string{"users": {"rw"}, "billing": {"ro"}},
			Attrs: map[string]string{"UserCity": "Zürich", "UserPhone": "+41 44 000 00 00"}}, "192.0.2.1",
			sessions.WithHeaders("bench", []sessions.HeaderField{{Name: "Remote-User", Value: "u"}, {Name: "X-Customer-ID", Value: "ACME"}}))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = []byte(id)
	}
	return ids
}

// BenchmarkLoadCookie measures the request hot path through the local cache. The memory
// store's sessions are all cached (hits); see sessions/redis for a Redis hit and miss.
func BenchmarkLoadCookie(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		mem := memory.New()
		defer mem.Close()
		m := sessions.NewManager(mem, idle, max, sessions.WithLocalCache(time.Hour, 10000)) // TTL capped at 30s: no expiry during the run
		defer m.Close()
		ids := benchCreate(b, m, 1000)
		storetest.BenchLoadCookie(b, m, ids)
	})
	b.Run("memory-nocache", func(b *testing.B) {
		mem := memory.New()
		defer mem.Close()
		m := sessions.NewManager(mem, idle, max, sessions.WithLocalCache(0, 0))
		ids := benchCreate(b, m, 1000)
		storetest.BenchLoadCookie(b, m, ids)
	})
}
