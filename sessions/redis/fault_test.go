package redis

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// TestRedisDownAndBack kills Redis under a live Store, checks that every operation fails
// closed with ErrUnavailable within the timeout, restarts Redis on the same port and
// checks that the same Store (go-redis reconnecting by itself) works again.
//
// Not parallel: the timing checks should not compete with other tests' process starts.
func TestRedisDownAndBack(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	const timeout = 500 * time.Millisecond
	st, err := New(configs.Redis{URL: "redis://" + srv.Addr(), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	m := sessions.NewManager(st, time.Hour, 8*time.Hour)

	// Fill the pool with live connections first.
	id, _, err := m.Create(ctx, claims.Set{Login: "alice"}, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := m.Load(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	srv.Kill()
	// The Manager's local cache is on: it goes out of use as the feed's connection breaks
	// (TestLocalCacheRedisDownAndBack times that); from then on every load asks Redis.
	for deadline := time.Now().Add(revokeWithin); m.LocalCacheLive(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the local cache stayed in use with Redis dead")
		}
	}
	ops := []struct {
		name string
		fn   func() error
	}{
		{"get", func() error { _, err := st.Get(ctx, sessions.Key(id)); return err }},
		{"manager load", func() error { _, err := m.Load(ctx, id); return err }},
		{"manager create", func() error { _, _, err := m.Create(ctx, claims.Set{Login: "alice"}, ""); return err }},
		{"touch", func() error { return st.Touch(ctx, sessions.Key(id), time.Now(), time.Now().Add(time.Hour)) }},
		{"delete", func() error { return st.Delete(ctx, sessions.Key(id)) }},
		{"delete user", func() error { _, err := st.DeleteUser(ctx, "alice"); return err }},
		{"ping", func() error { return st.Ping(ctx) }},
	}
	for _, op := range ops {
		start := time.Now()
		err := op.fn()
		took := time.Since(start)
		if !errors.Is(err, sessions.ErrUnavailable) || errors.Is(err, sessions.ErrNotFound) {
			t.Errorf("Redis down: %s = %v, want ErrUnavailable", op.name, err)
		}
		if took > 2*timeout { // slack for a loaded CI machine under -race
			t.Errorf("Redis down: %s took %v (timeout %v)", op.name, took, timeout)
		}
		if err != nil && strings.Contains(err.Error(), id) {
			t.Errorf("%s: error contains the session id", op.name)
		}
		t.Logf("down: %s after %v: %v", op.name, took.Round(time.Millisecond), err)
	}

	srv.Start() // same port, empty (no persistence)
	start := time.Now()
	var lastErr error
	for time.Since(start) < 10*time.Second {
		if lastErr = st.Ping(ctx); lastErr == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("the Store did not reconnect within 10s: %v", lastErr)
	}
	t.Logf("reconnected %v after restart", time.Since(start).Round(time.Millisecond))

	// The old session died with the unpersisted server: a clean ErrNotFound, not an error.
	if _, err := m.Load(ctx, id); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Load of a session lost with the restart = %v, want ErrNotFound", err)
	}
	id2, _, err := m.Create(ctx, claims.Set{Login: "alice"}, "192.0.2.1")
	if err != nil {
		t.Fatalf("Create after restart: %v", err)
	}
	if s, err := m.Load(ctx, id2); err != nil || s.Claims.Login != "alice" {
		t.Fatalf("Load after restart = %+v, %v", s, err)
	}
	if n, err := m.DestroyUser(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("DestroyUser after restart = %d, %v", n, err)
	}
}

// TestCredentialsAndDB: Username, Password and DB are honoured against a server with an
// ACL user and the default user disabled.
func TestCredentialsAndDB(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedisServer(t, "--user", "default", "off", "--user", "gh", "on", ">s3cret", "~*", "&*", "+@all")
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  configs.Redis
		ok   bool
	}{
		{"fields", configs.Redis{URL: "redis://" + srv.Addr(), Username: "gh", Password: "s3cret", DB: 5}, true},
		{"in url", configs.Redis{URL: "redis://gh:s3cret@" + srv.Addr() + "/5"}, true},
		{"addrs", configs.Redis{Addrs: []string{srv.Addr()}, Username: "gh", Password: "s3cret", DB: 5}, true},
		{"wrong password", configs.Redis{URL: "redis://" + srv.Addr(), Username: "gh", Password: "bad-pw-123"}, false},
		{"no credentials", configs.Redis{URL: "redis://" + srv.Addr()}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Timeout = time.Second
			st, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			err = st.Save(ctx, "k-"+tc.name, &sessions.Session{Claims: claims.Set{Login: "alice"}}, time.Now().Add(time.Minute))
			if !tc.ok {
				if !errors.Is(err, sessions.ErrUnavailable) {
					t.Fatalf("Save = %v, want ErrUnavailable", err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "bad-pw-123") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The key is in db 5, not db 0.
			for db, want := range map[int]int64{0: 0, 5: 1} {
				cli := newClientDB(t, srv.Addr(), db)
				if n := cli.client.Exists(ctx, st.sessionKey("k-"+tc.name)).Val(); n != want {
					t.Fatalf("db %d holds %d keys, want %d", db, n, want)
				}
			}
		})
	}
}

func newClientDB(t *testing.T, addr string, db int) *Store {
	t.Helper()
	st, err := New(configs.Redis{Addrs: []string{addr}, Username: "gh", Password: "s3cret", DB: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// faultTimeout bounds each Redis command in the local-cache fault tests.
const faultTimeout = 500 * time.Millisecond

// cachedSession starts this test's own redis-server, a store and a session manager with the
// local cache on it, and a session loaded once with the feed confirmed live.
func cachedSession(t *testing.T) (*testenv.RedisServer, *Store, *sessions.Manager, string) {
	t.Helper()
	srv := testenv.StartRedisServer(t)
	st, err := New(configs.Redis{URL: "redis://" + srv.Addr(), Timeout: faultTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m := sessions.NewManager(st, time.Hour, 8*time.Hour)
	t.Cleanup(m.Close)
	ctx := context.Background()
	id, _, err := m.Create(ctx, claims.Set{Login: "alice"}, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadCookie(ctx, []byte(id)); err != nil {
		t.Fatal(err)
	}
	waitLive(t, m, 10*time.Second)
	return srv, st, m, id
}

// TestLocalCacheRedisDownAndBack: with the local cache on, killing Redis takes the cache
// out of use at once (the feed's connection breaks), so every load fails closed with
// ErrUnavailable — never a cached session — for longer than the cache keeps anything.
// After the restart the feed resubscribes, and the cache serves nothing Redis lost.
//
// Not parallel: the timing checks should not compete with other tests' process starts.
func TestLocalCacheRedisDownAndBack(t *testing.T) {
	srv, _, m, id := cachedSession(t)
	ctx := context.Background()
	if !cachedHit(t, m, id) {
		t.Fatal("the session is not served from the cache")
	}

	srv.Kill()
	killed := time.Now()
	for m.LocalCacheLive() {
		if time.Since(killed) > revokeWithin {
			t.Fatalf("the cache was still in use %v after Redis died", revokeWithin)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("the feed reported Redis down %v after the kill", time.Since(killed).Round(time.Microsecond))
	loads := []struct {
		name string
		fn   func() error
	}{
		{"LoadCookie", func() error { _, err := m.LoadCookie(ctx, []byte(id)); return err }},
		{"Load", func() error { _, err := m.Load(ctx, id); return err }},
	}
	rounds := 0
	for until := time.Now().Add(m.LocalCacheTTL() + faultTimeout); time.Now().Before(until); rounds++ {
		for _, l := range loads {
			if err := l.fn(); !errors.Is(err, sessions.ErrUnavailable) || errors.Is(err, sessions.ErrNotFound) {
				t.Fatalf("Redis down: %s = %v, want ErrUnavailable", l.name, err)
			}
		}
	}
	t.Logf("%d rounds of loads over %v failed closed", rounds, m.LocalCacheTTL()+faultTimeout)

	srv.Start() // same port, empty
	waitLive(t, m, 10*time.Second)
	if _, err := m.LoadCookie(ctx, []byte(id)); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("a session Redis lost: %v, want ErrNotFound", err)
	}
	id2, _, err := m.Create(ctx, claims.Set{Login: "alice"}, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if !cachedHit(t, m, id2) {
		t.Fatal("the cache is not in use again after the restart")
	}
}

// TestLocalCacheRedisStalled: a Redis that stops answering without closing the connection
// (SIGSTOP) takes the cache out of use once the feed's lease runs out (the quiet-link PING
// reports the stall later), and loads fail closed; once Redis answers again (SIGCONT) the
// same connection's PONGs bring the cache back.
//
// Not parallel, as above.
func TestLocalCacheRedisStalled(t *testing.T) {
	_, st, m, id := cachedSession(t)
	ctx := context.Background()
	info, err := st.client.Info(ctx, "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid <= 0 {
		t.Fatalf("no process_id in INFO server:\n%s", info)
	}

	// This test's own throwaway redis-server; continued before it is killed at clean-up.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	for limit := 2*feedPing + time.Second; m.LocalCacheLive(); time.Sleep(10 * time.Millisecond) {
		if time.Since(stopped) > limit {
			t.Fatalf("the cache was still in use %v after Redis stalled", limit)
		}
	}
	t.Logf("the feed reported the stall after %v", time.Since(stopped).Round(time.Millisecond))
	if _, err := m.LoadCookie(ctx, []byte(id)); !errors.Is(err, sessions.ErrUnavailable) {
		t.Fatalf("Redis stalled: LoadCookie = %v, want ErrUnavailable", err)
	}

	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitLive(t, m, 5*time.Second)
	if !cachedHit(t, m, id) {
		t.Fatal("the cache is not in use again after the stall")
	}
}

// linkProxy forwards TCP connections to a Redis and can stall them all without closing
// anything: bytes read while it is frozen are held until it thaws, so the stores behind it
// see a link that goes silent — no error, no reset — as a dropped route or a hung
// middlebox would make it.
type linkProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
	thawed chan struct{} // closed when a freeze ends
}

func startLinkProxy(t *testing.T, target string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln}
	var conns sync.WaitGroup
	t.Cleanup(func() { p.thaw(); _ = ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); p.pipe(u, c) }()
			go func() { defer conns.Done(); p.pipe(c, u) }()
		}
	}()
	return p
}

func (p *linkProxy) addr() string { return p.ln.Addr().String() }

// pipe copies from src to dst, holding every read while the proxy is frozen.
func (p *linkProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			wait := p.thawed
			frozen := p.frozen
			p.mu.Unlock()
			if frozen {
				<-wait
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *linkProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen, p.thawed = true, make(chan struct{})
	}
}

func (p *linkProxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		close(p.thawed)
	}
}

// TestLocalCacheLinkStalled: process B reaches Redis over a link that goes silent, while
// process A (direct) ends a session B has cached. B notices nothing for seconds (the stall
// is reported after 2 × feedPing), but its feed's lease runs out: from feedLease after the
// revocation on, B never serves the session from its cache — loads go to Redis and fail
// closed. When the link comes back, the revocation arrives in order before the PONG that
// renews the lease, so B refuses the session (ErrNotFound) and never serves it again.
//
// Not parallel, as above.
func TestLocalCacheLinkStalled(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	proxy := startLinkProxy(t, srv.Addr())
	store := func(addr string) *Store {
		st, err := New(configs.Redis{URL: "redis://" + addr, Timeout: faultTimeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	mA := sessions.NewManager(store(srv.Addr()), time.Hour, 8*time.Hour)
	mB := sessions.NewManager(store(proxy.addr()), time.Hour, 8*time.Hour)
	t.Cleanup(mA.Close)
	t.Cleanup(mB.Close)
	ctx := context.Background()
	id, _, err := mA.Create(ctx, claims.Set{Login: "alice"}, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mB.LoadCookie(ctx, []byte(id)); err != nil {
		t.Fatal(err)
	}
	waitLive(t, mB, 10*time.Second)
	if !cachedHit(t, mB, id) {
		t.Fatal("B does not serve the session from its cache before the stall")
	}

	proxy.freeze()
	if err := mA.Destroy(ctx, id); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	var served time.Duration // the latest start of a load that B answered from its cache
	for {
		before := time.Since(revoked)
		s, err := mB.LoadCookie(ctx, []byte(id))
		if err != nil {
			if !errors.Is(err, sessions.ErrUnavailable) {
				t.Fatalf("stalled link: LoadCookie = %v, want ErrUnavailable (fail closed)", err)
			}
			t.Logf("B served the revoked session from its cache until %v after the revocation, then failed closed (lease %v)",
				served.Round(time.Millisecond), feedLease)
			break
		}
		if s == nil || before > feedLease {
			t.Fatalf("B served the revoked session %v after the revocation, past its feed's lease %v", before, feedLease)
		}
		served = before
		time.Sleep(time.Millisecond)
	}
	if d := time.Since(revoked); d > 2*feedPing-200*time.Millisecond {
		t.Fatalf("the check took %v: the stall may have been reported, so the lease was not what stopped the cache", d)
	}

	proxy.thaw()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, err := mB.LoadCookie(ctx, []byte(id))
		if errors.Is(err, sessions.ErrNotFound) {
			break
		}
		if err == nil {
			t.Fatal("B served the revoked session after the link came back")
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still fails 10 s after the link came back: %v", err)
		}
	}
	waitLive(t, mB, 10*time.Second)
	if _, err := mB.LoadCookie(ctx, []byte(id)); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("after the link came back: LoadCookie = %v, want ErrNotFound", err)
	}
}
