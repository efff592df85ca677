// Package storetest is the conformance suite every sessions.Store implementation runs
// (memory, redis): one Run, many sub-tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// Run runs the conformance suite. newStore returns an empty store private to the test (a
// fresh map, a unique Redis key prefix) and arranges its own clean-up; Run closes it.
//
// The stores use real time: expiry sub-tests sleep a few hundred milliseconds.
func Run(t *testing.T, newStore func(t *testing.T) sessions.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st sessions.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Missing", testMissing},
		{"Overwrite", testOverwrite},
		{"Expiry", testExpiry},
		{"Touch", testTouch},
		{"TouchMissing", testTouchMissing},
		{"Delete", testDelete},
		{"DeleteUser", testDeleteUser},
		{"DeleteUserAfterTouch", testDeleteUserAfterTouch},
		{"Concurrent", testConcurrent},
		{"Copies", testCopies},
		{"Ping", testPing},
		{"Invalidations", testInvalidations},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			t.Cleanup(func() { _ = st.Close() })
			tc.fn(t, st)
		})
	}
}

// key returns a store key unique to this run.
func key(t testing.TB) string {
	id, err := sessions.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return sessions.Key(id)
}

// session returns a full session of login, times truncated to the millisecond.
func session(login string) *sessions.Session {
	now := time.Now().Truncate(time.Millisecond)
	return &sessions.Session{
		Claims: claims.Set{
			Login:       login,
			Email:       login + "@example.com",
			Name:        "Jörg Müller-Ł",
			CustomerID:  "ACME",
			CustomerIDs: []string{"ACME", "ACME-EU"},
			Groups:      directory.Permissions{"users": {"ro", "rw"}, "billing": {"ro"}},
			Source:      "Database Backend",
			AuthModule:  "db",
			Attrs:       map[string]string{"UserCity": "Zürich", "UserRoom": "4.01", "last_seen": "not a time"},
		},
		CSRF:       "csrf-" + login,
		Created:    now.Add(-time.Minute),
		LastSeen:   now,
		RemoteAddr: "192.0.2.7",
		Headers: []sessions.HeaderField{
			{Name: "Remote-User", Value: login},
			{Name: "X-Customer-User-Name", Value: "Jörg Müller-Ł"},
			{Name: "X-Customer-User-Groups", Value: "billing:ro,users:ro,users:rw"},
			{Name: "X-Empty", Value: ""},
		},
		HeadersKey: "sha256:0123abcd",
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// equal compares sessions, times with time.Time.Equal.
func equal(t *testing.T, got, want *sessions.Session) {
	t.Helper()
	if !got.Created.Equal(want.Created) || !got.LastSeen.Equal(want.LastSeen) {
		t.Errorf("times: got created %v last seen %v, want %v, %v", got.Created, got.LastSeen, want.Created, want.LastSeen)
	}
	g, w := *got, *want
	g.Created, g.LastSeen, w.Created, w.LastSeen = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("session:\n got %+v\nwant %+v", g, w)
	}
}

func mustSave(t *testing.T, st sessions.Store, k string, s *sessions.Session, exp time.Time) {
	t.Helper()
	if err := st.Save(ctx(t), k, s, exp); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

func mustGet(t *testing.T, st sessions.Store, k string) *sessions.Session {
	t.Helper()
	s, err := st.Get(ctx(t), k)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return s
}

func wantNotFound(t *testing.T, st sessions.Store, k string) {
	t.Helper()
	s, err := st.Get(ctx(t), k)
	if !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Get = %+v, %v; want ErrNotFound", s, err)
	}
}

func testRoundTrip(t *testing.T, st sessions.Store) {
	for _, login := range []string{"alice", "Bob Smith", "jörg@example.com", "{tag}:weird*login?"} {
		k := key(t)
		want := session(login)
		mustSave(t, st, k, want, time.Now().Add(time.Hour))
		equal(t, mustGet(t, st, k), want)
	}
	// Headers without a key, and a key without headers, come back as they went in.
	at := time.Unix(1700000000, 0)
	for _, want := range []*sessions.Session{
		{Claims: claims.Set{Login: "h1"}, Created: at, LastSeen: at, Headers: []sessions.HeaderField{{Name: "Remote-User", Value: "h1"}}},
		{Claims: claims.Set{Login: "h2"}, Created: at, LastSeen: at, HeadersKey: "k"},
	} {
		k := key(t)
		mustSave(t, st, k, want, time.Now().Add(time.Hour))
		equal(t, mustGet(t, st, k), want)
	}
	// A minimal session: no optional claims.
	k := key(t)
	want := &sessions.Session{Claims: claims.Set{Login: "min"}, Created: time.Unix(1700000000, 0), LastSeen: time.Unix(1700000001, 0)}
	mustSave(t, st, k, want, time.Now().Add(time.Hour))
	equal(t, mustGet(t, st, k), want)
}

func testMissing(t *testing.T, st sessions.Store) {
	wantNotFound(t, st, key(t))
	wantNotFound(t, st, "")
}

func testOverwrite(t *testing.T, st sessions.Store) {
	k := key(t)
	mustSave(t, st, k, session("alice"), time.Now().Add(time.Hour))
	second := session("alice")
	second.CSRF = "other"
	second.Claims.Attrs = nil
	mustSave(t, st, k, second, time.Now().Add(time.Hour))
	equal(t, mustGet(t, st, k), second)
}

func testExpiry(t *testing.T, st sessions.Store) {
	past := key(t)
	mustSave(t, st, past, session("alice"), time.Now().Add(-time.Second))
	wantNotFound(t, st, past)

	soon := key(t)
	mustSave(t, st, soon, session("alice"), time.Now().Add(300*time.Millisecond))
	mustGet(t, st, soon)
	time.Sleep(400 * time.Millisecond)
	wantNotFound(t, st, soon)
}

func testTouch(t *testing.T, st sessions.Store) {
	k := key(t)
	s := session("alice")
	mustSave(t, st, k, s, time.Now().Add(300*time.Millisecond))
	seen := time.Now().Add(time.Second).Truncate(time.Millisecond)
	if err := st.Touch(ctx(t), k, seen, time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	time.Sleep(400 * time.Millisecond) // past the first expiry
	got := mustGet(t, st, k)
	s.LastSeen = seen
	equal(t, got, s)

	// Touch can also shorten the expiry (the absolute timeout caps it).
	if err := st.Touch(ctx(t), k, seen, time.Now().Add(-time.Millisecond)); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	wantNotFound(t, st, k)
}

func testTouchMissing(t *testing.T, st sessions.Store) {
	k := key(t)
	err := st.Touch(ctx(t), k, time.Now(), time.Now().Add(time.Hour))
	if !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Touch of a missing session = %v, want ErrNotFound", err)
	}
	wantNotFound(t, st, k) // not created

	expired := key(t)
	mustSave(t, st, expired, session("alice"), time.Now().Add(100*time.Millisecond))
	time.Sleep(200 * time.Millisecond)
	err = st.Touch(ctx(t), expired, time.Now(), time.Now().Add(time.Hour))
	if !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Touch of an expired session = %v, want ErrNotFound", err)
	}
	wantNotFound(t, st, expired) // not revived
}

func testDelete(t *testing.T, st sessions.Store) {
	k, other := key(t), key(t)
	mustSave(t, st, k, session("alice"), time.Now().Add(time.Hour))
	mustSave(t, st, other, session("alice"), time.Now().Add(time.Hour))
	for i := range 2 { // idempotent
		if err := st.Delete(ctx(t), k); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
		wantNotFound(t, st, k)
	}
	if err := st.Delete(ctx(t), key(t)); err != nil {
		t.Fatalf("Delete of a missing session: %v", err)
	}
	mustGet(t, st, other)
	if n, err := st.DeleteUser(ctx(t), "alice"); err != nil || n != 1 {
		t.Fatalf("DeleteUser after Delete = %d, %v; want 1", n, err)
	}
}

func testDeleteUser(t *testing.T, st sessions.Store) {
	owners := map[string][]string{} // login → keys
	for _, login := range []string{"alice", "alice", "alice", "Alice", "bob", "alice2"} {
		k := key(t)
		mustSave(t, st, k, session(login), time.Now().Add(time.Hour))
		owners[login] = append(owners[login], k)
	}
	// An expired session of alice is not counted.
	mustSave(t, st, key(t), session("alice"), time.Now().Add(-time.Second))

	tests := []struct {
		login string
		want  int
	}{
		{"alice", 3},
		{"alice", 0},
		{"nobody", 0},
		{"", 0},
		{"bob", 1},
	}
	gone := map[string]bool{}
	for _, tc := range tests {
		n, err := st.DeleteUser(ctx(t), tc.login)
		if err != nil || n != tc.want {
			t.Fatalf("DeleteUser(%q) = %d, %v; want %d", tc.login, n, err, tc.want)
		}
		gone[tc.login] = true
		for login, keys := range owners {
			for _, k := range keys {
				_, err := st.Get(ctx(t), k)
				if gone[login] != errors.Is(err, sessions.ErrNotFound) || err != nil && !errors.Is(err, sessions.ErrNotFound) {
					t.Fatalf("after DeleteUser(%q): session of %q: Get err = %v", tc.login, login, err)
				}
			}
		}
	}
	// New sessions of a revoked user work again.
	k := key(t)
	mustSave(t, st, k, session("alice"), time.Now().Add(time.Hour))
	mustGet(t, st, k)
	if n, err := st.DeleteUser(ctx(t), "alice"); err != nil || n != 1 {
		t.Fatalf("DeleteUser = %d, %v; want 1", n, err)
	}
}

// testDeleteUserAfterTouch: a session whose expiry Touch moved past its first expiry is
// still found by DeleteUser (the per-login index follows Touch).
func testDeleteUserAfterTouch(t *testing.T, st sessions.Store) {
	k := key(t)
	mustSave(t, st, k, session("carol"), time.Now().Add(200*time.Millisecond))
	if err := st.Touch(ctx(t), k, time.Now(), time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	// Another login of the same user after the first expiry (lets stores prune their index).
	k2 := key(t)
	mustSave(t, st, k2, session("carol"), time.Now().Add(time.Minute))
	if n, err := st.DeleteUser(ctx(t), "carol"); err != nil || n != 2 {
		t.Fatalf("DeleteUser = %d, %v; want 2", n, err)
	}
	wantNotFound(t, st, k)
	wantNotFound(t, st, k2)
}

func testConcurrent(t *testing.T, st sessions.Store) {
	const workers, rounds = 8, 40
	shared := key(t)
	mustSave(t, st, shared, session("shared"), time.Now().Add(time.Hour))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := context.Background()
			login := fmt.Sprintf("user%d", w) // DeleteUser below must not race with Get of own keys
			for i := range rounds {
				k := key(t)
				s := session(login)
				if err := st.Save(c, k, s, time.Now().Add(time.Hour)); err != nil {
					errs <- fmt.Errorf("save: %w", err)
					return
				}
				got, err := st.Get(c, k)
				if err != nil || got.Claims.Login != login {
					errs <- fmt.Errorf("get own: %v, %v", got, err)
					return
				}
				if _, err := st.Get(c, shared); err != nil {
					errs <- fmt.Errorf("get shared: %w", err)
					return
				}
				if err := st.Touch(c, shared, time.Now(), time.Now().Add(time.Hour)); err != nil {
					errs <- fmt.Errorf("touch shared: %w", err)
					return
				}
				if i%2 == 0 {
					if err := st.Delete(c, k); err != nil {
						errs <- fmt.Errorf("delete: %w", err)
						return
					}
				}
				if i%10 == 9 {
					if _, err := st.DeleteUser(c, login); err != nil {
						errs <- fmt.Errorf("delete user: %w", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mustGet(t, st, shared)
}

func testCopies(t *testing.T, st sessions.Store) {
	k := key(t)
	s := session("alice")
	want := session("alice")
	want.Created, want.LastSeen = s.Created, s.LastSeen
	mustSave(t, st, k, s, time.Now().Add(time.Hour))

	mutate := func(s *sessions.Session) {
		s.CSRF = "changed"
		s.Claims.Login = "mallory"
		s.Claims.CustomerIDs[0] = "EVIL"
		s.Claims.Groups["users"][0] = "admin"
		s.Claims.Groups["admin"] = []string{"rw"}
		s.Claims.Attrs["UserCity"] = "Nowhere"
		s.Headers[0].Value = "mallory"
		s.HeadersKey = "other"
	}
	mutate(s) // the caller's value after Save
	equal(t, mustGet(t, st, k), want)
	got := mustGet(t, st, k)
	mutate(got) // a value handed out by Get
	equal(t, mustGet(t, st, k), want)
}

func testPing(t *testing.T, st sessions.Store) {
	if err := st.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// events collects an Invalidator's events.
type events struct {
	mu  sync.Mutex
	evs []sessions.Invalidation
}

func (e *events) add(ev sessions.Invalidation) { e.mu.Lock(); e.evs = append(e.evs, ev); e.mu.Unlock() }

// first is the first delivered event of kind, if any.
func (e *events) first(kind sessions.InvalidationKind) (sessions.Invalidation, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.evs {
		if ev.Kind == kind {
			return ev, true
		}
	}
	return sessions.Invalidation{}, false
}

// last is the latest delivered event of kind, if any.
func (e *events) last(kind sessions.InvalidationKind) (sessions.Invalidation, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.evs) - 1; i >= 0; i-- {
		if e.evs[i].Kind == kind {
			return e.evs[i], true
		}
	}
	return sessions.Invalidation{}, false
}

// has reports whether ev was delivered, and forgets what was.
func (e *events) has(ev sessions.Invalidation) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	found := slices.Contains(e.evs, ev)
	e.evs = nil
	return found
}

// testInvalidations: a store that is a sessions.Invalidator confirms its feed, and reports
// its own Delete and DeleteUser before they return (the local cache relies on it: a logout
// must not be served from the cache of the process that did it).
func testInvalidations(t *testing.T, st sessions.Store) {
	inv, ok := st.(sessions.Invalidator)
	if !ok {
		t.Skip("not a sessions.Invalidator (a store without the interface gets no local cache)")
	}
	var got events
	cancel := inv.Subscribe(got.add)
	defer cancel()
	var live sessions.Invalidation
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var ok bool
		if live, ok = got.first(sessions.FeedLive); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no FeedLive within 10s")
		}
	}
	if !live.Until.IsZero() {
		// A feed that vouches for itself in leases renews them (how promptly is the store's
		// own test's: timings on a loaded machine are not a conformance question).
		renewed := func() bool {
			ev, ok := got.last(sessions.FeedFresh)
			return ok && ev.Until.After(live.Until)
		}
		for deadline := time.Now().Add(5 * time.Second); !renewed(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the feed's lease was not renewed (no FeedFresh moving Until on) within 5s")
			}
		}
	}
	k := key(t)
	mustSave(t, st, k, session("alice"), time.Now().Add(time.Hour))
	if err := st.Delete(ctx(t), k); err != nil {
		t.Fatal(err)
	}
	if ev := (sessions.Invalidation{Kind: sessions.InvalidateKey, Key: k}); !got.has(ev) {
		t.Fatalf("Delete returned before %+v was delivered", ev)
	}
	mustSave(t, st, key(t), session("bob"), time.Now().Add(time.Hour))
	if n, err := st.DeleteUser(ctx(t), "bob"); err != nil || n != 1 {
		t.Fatalf("DeleteUser = %d, %v", n, err)
	}
	if ev := (sessions.Invalidation{Kind: sessions.InvalidateUser, Login: "bob"}); !got.has(ev) {
		t.Fatalf("DeleteUser returned before %+v was delivered", ev)
	}
	// After cancel, nothing more arrives.
	cancel()
	k2 := key(t)
	mustSave(t, st, k2, session("carol"), time.Now().Add(time.Hour))
	if err := st.Delete(ctx(t), k2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // a feed from another goroutine would have delivered by now
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, ev := range got.evs {
		if ev.Kind == sessions.InvalidateKey && ev.Key == k2 {
			t.Fatalf("event after cancel: %+v", ev)
		}
	}
}

// BenchLoadCookie measures LoadCookie over ids, serially and in parallel, after one load
// of each (with the cache on, the runs measure hits only).
func BenchLoadCookie(b *testing.B, m *sessions.Manager, ids [][]byte) {
	ctx := context.Background()
	for _, id := range ids {
		if _, err := m.LoadCookie(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	BenchLoads(b, func(i int) error {
		_, err := m.LoadCookie(ctx, ids[i%len(ids)])
		return err
	})
}

// BenchLoads runs load as the "serial" and "parallel" sub-benchmarks of a session lookup;
// i counts the calls of one goroutine.
func BenchLoads(b *testing.B, load func(i int) error) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := load(i); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if err := load(i); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}
