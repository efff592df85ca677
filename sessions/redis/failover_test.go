package redis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// TestSentinelFailover kills the master under two processes that reach Redis through
// Sentinel (A and B, B with its local cache in use) and checks what a deployment depends
// on: B stops answering from its cache once its feed notices the loss (within the lease),
// and until there is a new master its loads wait for it (go-redis asks Sentinel again) or
// fail closed with ErrUnavailable after the store's timeout;
// Sentinel promotes the replica and both stores follow it without a restart; a session
// made before the failover (and replicated) still works; and the invalidation feed is
// live on the new master — a logout on A is refused on B within revokeWithin.
//
// Not parallel: Sentinel's timings should not compete with other tests' process starts.
func TestSentinelFailover(t *testing.T) {
	master := testenv.StartRedisServer(t)
	host, port, _ := strings.Cut(master.Addr(), ":")
	replica := testenv.StartRedisServer(t, "--replicaof", host, port)
	sentinel := testenv.StartRedisServerConf(t, "sentinel monitor gh-master "+host+" "+port+" 1\n"+
		"sentinel down-after-milliseconds gh-master 500\n"+
		"sentinel failover-timeout gh-master 5000\n", "--sentinel")
	ctx := context.Background()
	direct := func(addr string) *goredis.Client {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	mc, rc, sc := direct(master.Addr()), direct(replica.Addr()), direct(sentinel.Addr())
	// Ready: the replica is in sync and Sentinel knows it (it can only promote a replica it
	// has seen).
	eventually(t, 20*time.Second, "the replica in sync and known to Sentinel", func() bool {
		info, _ := rc.Info(ctx, "replication").Result()
		reps, _ := sc.Do(ctx, "SENTINEL", "REPLICAS", "gh-master").Slice()
		return strings.Contains(info, "master_link_status:up") && len(reps) == 1
	})

	prefix := testenv.RandomName("gh_test_") + ":"
	a, b := newSentinelStore(t, sentinel.Addr(), prefix), newSentinelStore(t, sentinel.Addr(), prefix)
	ma := sessions.NewManager(a, time.Hour, 8*time.Hour)
	mb := sessions.NewManager(b, time.Hour, 8*time.Hour)
	t.Cleanup(ma.Close)
	t.Cleanup(mb.Close)
	before, _, err := ma.Create(ctx, claims.Set{Login: "alice"}, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.LoadCookie(ctx, []byte(before)); err != nil {
		t.Fatal(err)
	}
	waitLive(t, mb, 10*time.Second)
	if !cachedHit(t, mb, before) {
		t.Fatal("B does not serve the session from its cache before the failover")
	}
	if n, err := mc.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT for the replica: %d, %v", n, err)
	}

	cached, err := mb.LoadCookie(ctx, []byte(before)) // the cache's own copy (just confirmed)
	if err != nil {
		t.Fatal(err)
	}
	master.Kill()
	killed := time.Now()
	// B's cache may answer until its feed notices (at once when the connection breaks, at
	// the latest when the lease runs out); from then on every load asks Redis, waiting or
	// failing closed until Sentinel has promoted the replica.
	for {
		since := time.Since(killed)
		s, err := mb.LoadCookie(ctx, []byte(before))
		if err == nil && s == cached {
			if since > feedLease {
				t.Fatalf("B still served from its cache %v after the master died (lease %v)", since, feedLease)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil && !errors.Is(err, sessions.ErrUnavailable) {
			t.Fatalf("master dead: LoadCookie = %v, want ErrUnavailable or the session", err)
		}
		t.Logf("B stopped using its cache %v after the kill", since.Round(time.Microsecond))
		break
	}
	var unavailable int
	eventually(t, 30*time.Second, "B loading the session from the promoted replica", func() bool {
		s, err := mb.LoadCookie(ctx, []byte(before))
		switch {
		case err == nil:
			return s.Claims.Login == "alice"
		case errors.Is(err, sessions.ErrUnavailable):
			unavailable++
			return false
		default:
			t.Fatalf("during the failover: LoadCookie = %v, want ErrUnavailable or the session", err)
			return false
		}
	})
	t.Logf("failover: B served again %v after the kill (%d loads failed closed meanwhile)",
		time.Since(killed).Round(time.Millisecond), unavailable)
	if role, _ := rc.Do(ctx, "ROLE").Slice(); len(role) == 0 || role[0] != "master" {
		t.Fatalf("the replica was not promoted: ROLE %v", role)
	}

	// The feed follows the new master: B caches again, and A's logout reaches it.
	waitLive(t, mb, 10*time.Second)
	if !cachedHit(t, mb, before) {
		t.Fatal("B's cache is not in use again after the failover")
	}
	if err := ma.Destroy(ctx, before); err != nil {
		t.Fatal(err)
	}
	t.Logf("logout on A after the failover: refused on B after %v", refusedWithin(t, mb, before, time.Now(), revokeWithin))
	after, _, err := ma.Create(ctx, claims.Set{Login: "bob"}, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := mb.LoadCookie(ctx, []byte(after)); err != nil || s.Claims.Login != "bob" {
		t.Fatalf("a session made after the failover: %v, %v", s, err)
	}
}

// eventually polls cond every 20 ms until it holds, failing the test after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
	}
}
