package redis

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// redisServer is a throwaway redis-server process: no persistence, its own port and dir.
type redisServer struct {
	t    *testing.T
	bin  string
	port string
	dir  string
	args []string
	conf string // config file, given first (Sentinel needs one it can rewrite)
	cmd  *exec.Cmd
}

// newRedisServer starts redis-server with extra arguments. Without the binary the test
// is skipped, or fails under GATEHOUSE_TEST_REQUIRE=1.
func newRedisServer(t *testing.T, extra ...string) *redisServer {
	t.Helper()
	return newRedisServerConf(t, "", extra...)
}

// newRedisServerConf is newRedisServer with a config file written from conf first.
func newRedisServerConf(t *testing.T, conf string, extra ...string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
		if _, err2 := exec.LookPath(bin); err2 != nil {
			msg := "redis-server not found (apt-get install redis-server): " + err.Error()
			if testenv.Required() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_ = ln.Close()
	r := &redisServer{t: t, bin: bin, port: port, dir: t.TempDir(), args: extra}
	if conf != "" {
		r.conf = filepath.Join(r.dir, "redis.conf")
		if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *redisServer) addr() string { return "127.0.0.1:" + r.port }

// start runs the server and waits until it accepts connections.
func (r *redisServer) start() {
	r.t.Helper()
	var args []string
	if r.conf != "" {
		args = append(args, r.conf)
	}
	args = append(args, "--port", r.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--loglevel", "warning")
	args = append(args, r.args...)
	r.cmd = exec.Command(r.bin, args...)
	var out strings.Builder
	r.cmd.Stdout, r.cmd.Stderr = &out, &out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr(), time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			line, err := bufio.NewReader(c).ReadString('\n')
			_ = c.Close()
			// Any answer (PONG, or NOAUTH with ACLs) means it is up.
			if err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH")) {
				return
			}
		}
		if time.Now().After(deadline) {
			r.kill()
			r.t.Fatalf("redis-server on %s did not come up: %v\n%s", r.addr(), err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill SIGKILLs the server (no clean shutdown) and reaps it.
func (r *redisServer) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// TestRedisDownAndBack kills Redis under a live Store, checks that every operation fails
// closed with ErrUnavailable within the timeout, restarts Redis on the same port and
// checks that the same Store (go-redis reconnecting by itself) works again.
//
// Not parallel: the timing checks should not compete with other tests' process starts.
func TestRedisDownAndBack(t *testing.T) {
	srv := newRedisServer(t)
	const timeout = 500 * time.Millisecond
	st, err := New(configs.Redis{URL: "redis://" + srv.addr(), Timeout: timeout})
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

	srv.kill()
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

	srv.start() // same port, empty (no persistence)
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
	srv := newRedisServer(t, "--user", "default", "off", "--user", "gh", "on", ">s3cret", "~*", "&*", "+@all")
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  configs.Redis
		ok   bool
	}{
		{"fields", configs.Redis{URL: "redis://" + srv.addr(), Username: "gh", Password: "s3cret", DB: 5}, true},
		{"in url", configs.Redis{URL: "redis://gh:s3cret@" + srv.addr() + "/5"}, true},
		{"addrs", configs.Redis{Addrs: []string{srv.addr()}, Username: "gh", Password: "s3cret", DB: 5}, true},
		{"wrong password", configs.Redis{URL: "redis://" + srv.addr(), Username: "gh", Password: "bad-pw-123"}, false},
		{"no credentials", configs.Redis{URL: "redis://" + srv.addr()}, false},
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
				cli := newClientDB(t, srv.addr(), db)
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
