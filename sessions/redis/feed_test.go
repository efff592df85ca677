package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
	"github.com/gatehouse-sso/gatehouse/sessions/storetest"
)

// revokeWithin is how soon a session ended on one process must be refused on another.
const revokeWithin = 100 * time.Millisecond

// waitLive waits until m's local cache is in use (its store's feed confirmed).
func waitLive(t testing.TB, m *sessions.Manager, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); !m.LocalCacheLive(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the invalidation feed was not live within %v", within)
		}
	}
}

// cachedHit loads id twice through m and reports whether the second came from the cache.
// It tries a few times: on a loaded machine a PONG may come too late to renew the feed's
// lease, and the cache is then rightly bypassed until the next one.
func cachedHit(t testing.TB, m *sessions.Manager, id string) bool {
	t.Helper()
	for range 5 {
		s1, err1 := m.LoadCookie(context.Background(), []byte(id))
		s2, err2 := m.LoadCookie(context.Background(), []byte(id))
		if err1 != nil || err2 != nil {
			t.Fatalf("LoadCookie: %v, %v", err1, err2)
		}
		if s1 == s2 {
			return true
		}
		time.Sleep(feedBeat)
	}
	return false
}

// refusedWithin polls m until id is refused with ErrNotFound and returns how long that took
// from start; it fails the test past limit.
func refusedWithin(t testing.TB, m *sessions.Manager, id string, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for {
		_, err := m.LoadCookie(context.Background(), []byte(id))
		took := time.Since(start)
		if errors.Is(err, sessions.ErrNotFound) {
			return took
		}
		if err != nil {
			t.Fatalf("LoadCookie = %v, want the session or ErrNotFound", err)
		}
		if took > limit {
			t.Fatalf("a revoked session was still served %v after the revocation (limit %v)", took, limit)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// TestFeedAcrossProcesses: two Stores with the same key prefix stand for two gatehouse
// processes. A session cached on B is refused on B within revokeWithin after A ends it —
// by Delete and by DeleteUser — on a single server, through Sentinel and on a Cluster; a
// store with another prefix hears nothing of it.
func TestFeedAcrossProcesses(t *testing.T) {
	t.Parallel()
	topologies := []struct {
		name string
		open func(t *testing.T) func(prefix string) *Store
	}{
		{"single", func(t *testing.T) func(string) *Store {
			addr := testenv.RedisAddr(t)
			return func(prefix string) *Store {
				st, err := New(configs.Redis{URL: "redis://" + addr + "/0", KeyPrefix: prefix, Timeout: 2 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					cleanPrefix(t, st.client, prefix)
					_ = st.Close()
				})
				return st
			}
		}},
		{"sentinel", func(t *testing.T) func(string) *Store {
			addr := startSentinel(t)
			return func(prefix string) *Store { return newSentinelStore(t, addr, prefix) }
		}},
		{"cluster", func(t *testing.T) func(string) *Store {
			addrs := startCluster(t)
			return func(prefix string) *Store { return newClusterStore(t, addrs, prefix) }
		}},
	}
	for _, tc := range topologies {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			open := tc.open(t)
			prefix := testenv.RandomName("gh_test_") + ":"
			a, b, stranger := open(prefix), open(prefix), open(testenv.RandomName("gh_test_")+":")
			var heard events
			defer stranger.Subscribe(heard.add)()

			ma := sessions.NewManager(a, time.Hour, 8*time.Hour)
			mb := sessions.NewManager(b, time.Hour, 8*time.Hour)
			t.Cleanup(ma.Close)
			t.Cleanup(mb.Close)
			ctx := context.Background()
			create := func(login string) string {
				id, _, err := ma.Create(ctx, claims.Set{Login: login}, "192.0.2.1")
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			logout, bob1, bob2, carol := create("alice"), create("bob"), create("bob"), create("carol")
			if _, err := mb.LoadCookie(ctx, []byte(logout)); err != nil { // starts B's feed
				t.Fatal(err)
			}
			waitLive(t, mb, 10*time.Second)
			for _, id := range []string{logout, bob1, bob2, carol} {
				if !cachedHit(t, mb, id) {
					t.Fatal("B does not serve the session from its cache")
				}
			}

			// Timed from the revoking call's return, as a client of A would see it.
			if err := ma.Destroy(ctx, logout); err != nil {
				t.Fatal(err)
			}
			t.Logf("logout on A: refused on B after %v", refusedWithin(t, mb, logout, time.Now(), revokeWithin))

			if n, err := ma.DestroyUser(ctx, "bob"); err != nil || n != 2 {
				t.Fatalf("DestroyUser = %d, %v", n, err)
			}
			start := time.Now()
			for _, id := range []string{bob1, bob2} {
				t.Logf("revocation on A: refused on B after %v", refusedWithin(t, mb, id, start, revokeWithin))
			}
			if !cachedHit(t, mb, carol) {
				t.Fatal("another user's session left the cache")
			}
			time.Sleep(50 * time.Millisecond) // as long again as the deliveries above took
			heard.mu.Lock()
			defer heard.mu.Unlock()
			for _, ev := range heard.evs {
				if ev.Kind == sessions.InvalidateKey || ev.Kind == sessions.InvalidateUser {
					t.Fatalf("a store with another key prefix heard %+v", ev)
				}
			}
		})
	}
}

// events collects a feed's events.
type events struct {
	mu  sync.Mutex
	evs []sessions.Invalidation
}

func (e *events) add(ev sessions.Invalidation) { e.mu.Lock(); e.evs = append(e.evs, ev); e.mu.Unlock() }

// TestFeedMessages: what goes over the channel, and what a reader makes of it.
func TestFeedMessages(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	var got events
	defer st.Subscribe(got.add)()
	waitFeed := func(want sessions.Invalidation) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			got.mu.Lock()
			n := 0
			for _, ev := range got.evs {
				// FeedLive carries the lease, which the test cannot know.
				if ev == want || (want.Kind == sessions.FeedLive && ev.Kind == sessions.FeedLive) {
					n++
				}
			}
			got.mu.Unlock()
			// Own deletes arrive twice: delivered at once, then through Redis.
			if n >= 1 && (want.Kind == sessions.FeedLive || n >= 2) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%+v did not arrive", want)
			}
		}
	}
	waitFeed(sessions.Invalidation{Kind: sessions.FeedLive})
	ctx := context.Background()
	if err := st.Save(ctx, "k1", &sessions.Session{Claims: claims.Set{Login: "a:b c"}, Created: time.Now(), LastSeen: time.Now()}, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	waitFeed(sessions.Invalidation{Kind: sessions.InvalidateKey, Key: "k1"})
	if err := st.Save(ctx, "k2", &sessions.Session{Claims: claims.Set{Login: "a:b c"}, Created: time.Now(), LastSeen: time.Now()}, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteUser(ctx, "a:b c"); err != nil {
		t.Fatal(err)
	}
	waitFeed(sessions.Invalidation{Kind: sessions.InvalidateUser, Login: "a:b c"})

	// Deleting what is not there publishes nothing.
	got.mu.Lock()
	got.evs = nil
	got.mu.Unlock()
	if err := st.Delete(ctx, "missing"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteUser(ctx, "nobody"); err != nil {
		t.Fatal(err)
	}
	// A message the feed cannot read makes subscribers forget everything.
	if err := st.client.Publish(ctx, st.channel(), "x:from the future").Err(); err != nil {
		t.Fatal(err)
	}
	waitFeed(sessions.Invalidation{Kind: sessions.FeedLive})
	got.mu.Lock()
	defer got.mu.Unlock()
	var other []sessions.Invalidation
	for _, ev := range got.evs {
		if ev.Kind != sessions.FeedFresh { // the lease's renewals go on meanwhile
			other = append(other, ev)
		}
	}
	if len(other) != 1 || other[0].Kind != sessions.FeedLive {
		t.Fatalf("events %+v, want one FeedLive only (and lease renewals)", other)
	}
}

// TestFeedLease: the live feed vouches for itself in leases of feedLease, renewed every
// feedBeat by a PING carrying its send time: FeedLive comes with a lease, FeedFresh
// events move it on, each Until no later than feedLease after the PING was sent (before
// the PONG arrived), so a stalled link can never stretch one.
func TestFeedLease(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	var mu sync.Mutex
	var fresh []time.Duration // how far ahead of its arrival each FeedFresh's Until lay
	var live time.Time
	defer st.Subscribe(func(ev sessions.Invalidation) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Kind {
		case sessions.FeedLive:
			live = ev.Until
		case sessions.FeedFresh:
			fresh = append(fresh, time.Until(ev.Until))
		}
	})()
	time.Sleep(40 * feedBeat)
	mu.Lock()
	defer mu.Unlock()
	if live.IsZero() {
		t.Fatal("FeedLive without a lease (or no FeedLive)")
	}
	if len(fresh) < 10 {
		t.Fatalf("%d lease renewals in %v, want about 40", len(fresh), 40*feedBeat)
	}
	for _, ahead := range fresh {
		if ahead > feedLease {
			t.Fatalf("a renewal reached %v ahead, more than the lease %v", ahead, feedLease)
		}
	}
	slices.Sort(fresh)
	t.Logf("%d renewals; Until ahead of arrival: median %v, least %v", len(fresh), fresh[len(fresh)/2], fresh[0])
}

// BenchmarkLoadCookie measures the hot path on Redis: a local-cache hit, and a miss (a
// bound of 16 cached sessions against 1000 in turn: every load asks Redis and caches).
func BenchmarkLoadCookie(b *testing.B) {
	for _, bc := range []struct {
		name    string
		entries int
	}{
		{"redis-hit", 10000},
		{"redis-miss", 16},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := newTestStore(b)
			m := sessions.NewManager(st, 2*time.Hour, 16*time.Hour, sessions.WithLocalCache(time.Hour, bc.entries)) // TTL capped at 30s
			defer m.Close()
			ctx := context.Background()
			ids := make([][]byte, 1000)
			for i := range ids {
				id, _, err := m.Create(ctx, claims.Set{Login: fmt.Sprintf("user%d", i%100), Email: "u@example.com",
					CustomerIDs: []string{"ACME"}, Groups: map[string][]string{"users": {"rw"}, "billing": {"ro"}},
					Attrs: map[string]string{"UserCity": "Zürich", "UserPhone": "+41 44 000 00 00"}}, "192.0.2.1",
					sessions.WithHeaders("bench", []sessions.HeaderField{{Name: "Remote-User", Value: "u"}, {Name: "X-Customer-ID", Value: "ACME"}}))
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = []byte(id)
			}
			if _, err := m.LoadCookie(ctx, ids[0]); err != nil {
				b.Fatal(err)
			}
			waitLive(b, m, 10*time.Second)
			storetest.BenchLoadCookie(b, m, ids) // warms first: a hit run measures hits only
		})
	}
}
