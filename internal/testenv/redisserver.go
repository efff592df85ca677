package testenv

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RedisServer is a throwaway redis-server process: no persistence, its own port and dir.
type RedisServer struct {
	t    testing.TB
	bin  string
	port string
	dir  string
	args []string
	conf string // config file, given first (Sentinel needs one it can rewrite)
	cmd  *exec.Cmd
}

// StartRedisServer starts a throwaway redis-server (for fault tests: kill and restart it) with redis-server with extra arguments. Without the binary the test
// is skipped, or fails under GATEHOUSE_TEST_REQUIRE=1.
func StartRedisServer(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	return StartRedisServerConf(t, "", extra...)
}

// StartRedisServerConf is StartRedisServer with a config file written from conf first.
func StartRedisServerConf(t testing.TB, conf string, extra ...string) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
		if _, err2 := exec.LookPath(bin); err2 != nil {
			msg := "redis-server not found (apt-get install redis-server): " + err.Error()
			if Required() {
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
	r := &RedisServer{t: t, bin: bin, port: port, dir: t.TempDir(), args: extra}
	if conf != "" {
		r.conf = filepath.Join(r.dir, "redis.conf")
		if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

func (r *RedisServer) Addr() string { return "127.0.0.1:" + r.port }

// Start runs the server and waits until it accepts connections.
func (r *RedisServer) Start() {
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
		c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
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
			r.Kill()
			r.t.Fatalf("redis-server on %s did not come up: %v\n%s", r.Addr(), err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill SIGKILLs the server (no clean shutdown) and reaps it.
func (r *RedisServer) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}
