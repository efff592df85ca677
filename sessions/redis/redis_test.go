package redis

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
	"github.com/gatehouse-sso/gatehouse/sessions/storetest"
)

// newTestStore returns a Store on the test Redis with a key prefix of its own, whose keys
// are deleted at the end of the test.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	addr := testenv.RedisAddr(t)
	st, err := New(configs.Redis{URL: "redis://" + addr + "/0", KeyPrefix: testenv.RandomName("gh_test_") + ":", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cleanPrefix(t, st.client, st.prefix)
		_ = st.Close()
	})
	return st
}

// cleanPrefix deletes every key under prefix.
func cleanPrefix(t testing.TB, c goredis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err == nil && len(keys) > 0 {
		err = c.Del(ctx, keys...).Err()
	}
	if err != nil {
		t.Logf("clean up %s*: %v", prefix, err)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) sessions.Store { return newTestStore(t) })
}

// TestKeyLayout: Redis holds only the hash of the id, the index follows the sessions and
// carries an expiry no earlier than the longest session.
func TestKeyLayout(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	ctx := context.Background()
	m := sessions.NewManager(st, time.Hour, 8*time.Hour)
	id, _, err := m.Create(ctx, claims.Set{Login: "alice"}, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	key := sessions.Key(id)
	keys, err := st.client.Keys(ctx, st.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{st.prefix + "s:" + key: true, st.prefix + "u:alice": true}
	if len(keys) != 2 || !want[keys[0]] || !want[keys[1]] {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
	dump, err := st.client.HGetAll(ctx, st.prefix+"s:"+key).Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range dump {
		if strings.Contains(v, id) {
			t.Fatalf("field %s holds the raw session id", f)
		}
	}
	sTTL := st.client.PTTL(ctx, st.prefix+"s:"+key).Val()
	sAt := st.client.PExpireTime(ctx, st.prefix+"s:"+key).Val() // Redis ≥ 7
	uAt := st.client.PExpireTime(ctx, st.prefix+"u:alice").Val()
	if sTTL <= 59*time.Minute || sTTL > time.Hour || uAt < sAt {
		t.Fatalf("session PTTL %v, expiry at %v, index at %v; want ≈1h and index ≥ session", sTTL, sAt, uAt)
	}
	// A second, longer session raises the index expiry; deleting it keeps the index.
	if err := st.Save(ctx, "k2", &sessions.Session{Claims: claims.Set{Login: "alice"}}, time.Now().Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if uTTL := st.client.PTTL(ctx, st.prefix+"u:alice").Val(); uTTL < 179*time.Minute {
		t.Fatalf("index PTTL %v after a 3h session", uTTL)
	}
	if err := st.Delete(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if members := st.client.ZRange(ctx, st.prefix+"u:alice", 0, -1).Val(); len(members) != 1 || members[0] != key {
		t.Fatalf("index = %v after Delete, want [%s]", members, key)
	}
	// Expired sessions are pruned from the index at the next update.
	if err := st.Save(ctx, "k3", &sessions.Session{Claims: claims.Set{Login: "alice"}}, time.Now().Add(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := st.Save(ctx, "k4", &sessions.Session{Claims: claims.Set{Login: "alice"}}, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if members := st.client.ZRange(ctx, st.prefix+"u:alice", 0, -1).Val(); len(members) != 2 {
		t.Fatalf("index = %v, want the expired k3 pruned", members)
	}
}

// TestManager runs the Manager on Redis: create, load, touch, destroy, revoke.
func TestManager(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	m := sessions.NewManager(st, 10*time.Minute, time.Hour, sessions.WithClock(clock))
	ids := make([]string, 3)
	for i := range ids {
		id, _, err := m.Create(ctx, claims.Set{Login: "bob", Groups: map[string][]string{"users": {"rw"}}}, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	now = now.Add(2 * time.Minute) // past the touch interval (1 minute)
	s, err := m.Load(ctx, ids[0])
	if err != nil || !s.LastSeen.Equal(now) || !s.Claims.Groups.Has("users", "rw") {
		t.Fatalf("Load = %+v, %v", s, err)
	}
	if s, err := st.Get(ctx, sessions.Key(ids[0])); err != nil || !s.LastSeen.Equal(now) {
		t.Fatalf("stored LastSeen not touched: %+v, %v", s, err)
	}
	if err := m.Destroy(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Load(ctx, ids[0]); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Load after Destroy = %v", err)
	}
	if n, err := m.DestroyUser(ctx, "bob"); err != nil || n != 2 {
		t.Fatalf("DestroyUser = %d, %v; want 2", n, err)
	}
	for _, id := range ids {
		if _, err := m.Load(ctx, id); !errors.Is(err, sessions.ErrNotFound) {
			t.Fatalf("Load after DestroyUser = %v", err)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     configs.Redis
		check   func(t *testing.T, st *Store)
		wantErr string
	}{
		{name: "url", cfg: configs.Redis{URL: "redis://127.0.0.1:6379/2"}, check: func(t *testing.T, st *Store) {
			o := st.client.(*goredis.Client).Options()
			if o.Addr != "127.0.0.1:6379" || o.DB != 2 || o.TLSConfig != nil || st.prefix != DefaultKeyPrefix || st.timeout != DefaultTimeout {
				t.Fatalf("options %+v, prefix %q, timeout %v", o, st.prefix, st.timeout)
			}
		}},
		{name: "url overrides", cfg: configs.Redis{URL: "redis://u:p@h:1/2", Username: "gh", Password: "pw", DB: 3, KeyPrefix: "x:", Timeout: 3 * time.Second}, check: func(t *testing.T, st *Store) {
			o := st.client.(*goredis.Client).Options()
			if o.Username != "gh" || o.Password != "pw" || o.DB != 3 || o.ReadTimeout != 3*time.Second || o.DialTimeout != 3*time.Second || st.prefix != "x:" {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "url credentials kept", cfg: configs.Redis{URL: "redis://u:p@h:1/2"}, check: func(t *testing.T, st *Store) {
			if o := st.client.(*goredis.Client).Options(); o.Username != "u" || o.Password != "p" {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "password file", cfg: configs.Redis{URL: "redis://h:1", PasswordFile: pwFile}, check: func(t *testing.T, st *Store) {
			if o := st.client.(*goredis.Client).Options(); o.Password != "from-file" {
				t.Fatalf("password %q", o.Password)
			}
		}},
		{name: "tls", cfg: configs.Redis{URL: "rediss://h:6380"}, check: func(t *testing.T, st *Store) {
			if o := st.client.(*goredis.Client).Options(); o.TLSConfig == nil {
				t.Fatal("rediss:// without TLS")
			}
		}},
		{name: "single addr", cfg: configs.Redis{Addrs: []string{"h:1"}, DB: 1}, check: func(t *testing.T, st *Store) {
			if o := st.client.(*goredis.Client).Options(); o.Addr != "h:1" || o.DB != 1 || st.cluster {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "sentinel", cfg: configs.Redis{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", Password: "pw"}, check: func(t *testing.T, st *Store) {
			o := st.client.(*goredis.Client).Options()
			if o.Password != "pw" || st.cluster || o.Addr != "FailoverClient" {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "cluster", cfg: configs.Redis{Addrs: []string{"c1:7000", "c2:7000"}, Cluster: true, Username: "gh"}, check: func(t *testing.T, st *Store) {
			o := st.client.(*goredis.ClusterClient).Options()
			if len(o.Addrs) != 2 || o.Username != "gh" || !st.cluster {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "nothing", cfg: configs.Redis{}, wantErr: "url or addrs required"},
		{name: "both", cfg: configs.Redis{URL: "redis://h", Addrs: []string{"h:1"}}, wantErr: "either url or addrs"},
		{name: "url and sentinel", cfg: configs.Redis{URL: "redis://h", MasterName: "m"}, wantErr: "take addrs"},
		{name: "bad scheme", cfg: configs.Redis{URL: "http://h"}, wantErr: "invalid url"},
		{name: "bad url hides password", cfg: configs.Redis{URL: "redis://u:s3cret@h:notaport"}, wantErr: "invalid url"},
		{name: "several addrs", cfg: configs.Redis{Addrs: []string{"a:1", "b:1"}}, wantErr: "master_name (Sentinel) or cluster"},
		{name: "sentinel and cluster", cfg: configs.Redis{Addrs: []string{"a:1"}, MasterName: "m", Cluster: true}, wantErr: "exclude each other"},
		{name: "cluster db", cfg: configs.Redis{Addrs: []string{"a:1"}, Cluster: true, DB: 1}, wantErr: "only db 0"},
		{name: "missing password file", cfg: configs.Redis{URL: "redis://h", PasswordFile: "/nonexistent/pw"}, wantErr: "password_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := New(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New = %v, want error containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tc.check(t, st)
		})
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	st, err := sessions.Open(configs.Sessions{Store: "redis", Redis: configs.Redis{URL: "redis://" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*Store); !ok {
		t.Fatalf("Open = %T", st)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Open(configs.Sessions{Store: "redis"}); err == nil {
		t.Fatal("Open without url or addrs succeeded")
	}
}

// TestTimeout: a Redis that accepts connections but never answers gives ErrUnavailable
// within the configured timeout, for every operation.
func TestTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() }) // hold it open, answer nothing
		}
	}()
	const timeout = 300 * time.Millisecond
	st, err := New(configs.Redis{URL: "redis://" + ln.Addr().String(), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	ops := map[string]func() error{
		"get":    func() error { _, err := st.Get(ctx, "k"); return err },
		"save":   func() error { return st.Save(ctx, "k", &sessions.Session{}, time.Now().Add(time.Hour)) },
		"touch":  func() error { return st.Touch(ctx, "k", time.Now(), time.Now().Add(time.Hour)) },
		"delete": func() error { return st.Delete(ctx, "k") },
		"deleteuser": func() error {
			_, err := st.DeleteUser(ctx, "alice")
			return err
		},
		"ping": func() error { return st.Ping(ctx) },
	}
	for name, op := range ops {
		start := time.Now()
		err := op()
		took := time.Since(start)
		if !errors.Is(err, sessions.ErrUnavailable) {
			t.Errorf("%s: err = %v, want ErrUnavailable", name, err)
		}
		if took > 2*timeout { // slack for a loaded machine under -race
			t.Errorf("%s took %v, timeout %v", name, took, timeout)
		}
	}
}

// TestRefused: nothing listening gives ErrUnavailable, never ErrNotFound.
func TestRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	st, err := New(configs.Redis{URL: "redis://" + addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = sessions.NewManager(st, time.Hour, 2*time.Hour).Load(context.Background(), mustID(t))
	if !errors.Is(err, sessions.ErrUnavailable) || errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Load = %v, want ErrUnavailable", err)
	}
}

func mustID(t testing.TB) string {
	id, err := sessions.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A session that cannot be decoded is no session: Get says not found (so the gateway asks
// for a login instead of answering 503) and removes it.
func TestCorruptSessionIsRemoved(t *testing.T) {
	st := newTestStore(t)
	ctx := context.Background()
	key := sessions.Key("corrupt-session-id")
	if err := st.client.HSet(ctx, st.sessionKey(key), fieldData, "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, key); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Get: %v, want ErrNotFound", err)
	}
	if n, _ := st.client.Exists(ctx, st.sessionKey(key)).Result(); n != 0 {
		t.Fatal("the corrupt session was kept")
	}
}
