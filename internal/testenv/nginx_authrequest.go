package testenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NginxAuthRequest is a private nginx started by scripts/start-nginx-authrequest.sh: every
// request under / is checked with auth_request against gatehouse's /.gatehouse/auth and, when
// allowed, proxied to the upstream with gatehouse's identity headers; /.gatehouse/ is proxied
// to gatehouse itself (login page, login POST, API).
type NginxAuthRequest struct {
	// Base is nginx's URL, http://127.0.0.1:PORT.
	Base string
	// Dir holds nginx.conf, error.log, access.log and auth.log.
	Dir string
}

// AuthLog returns the lines nginx logged for its auth subrequests so far, each
// `STATUS "ORIGINAL-URL"` with ORIGINAL-URL the X-Original-URL gatehouse was sent.
func (n NginxAuthRequest) AuthLog() []string {
	b, err := os.ReadFile(filepath.Join(n.Dir, "auth.log"))
	if err != nil {
		return nil
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// StartNginxAuthRequest starts nginx in front of upstream (host:port) with forward auth against
// the gatehouse at gatehouseAddr (host:port) and returns its base URL (http://127.0.0.1:PORT)
// once it answers. nginx is stopped by its PID when the test ends.
//
// Without nginx installed the test fails under GATEHOUSE_TEST_REQUIRE=1 and is skipped
// otherwise.
func StartNginxAuthRequest(t testing.TB, gatehouseAddr, upstreamAddr string) (base string) {
	t.Helper()
	return StartNginxAuthRequestFrom(t, gatehouseAddr, upstreamAddr, "").Base
}

// StartNginxAuthRequestFrom is StartNginxAuthRequest with nginx connecting to gatehouse and the
// upstream from the local address bind (nginx proxy_bind; "" for the kernel's choice): with
// bind 127.0.0.2 and server.trusted_proxies [127.0.0.2], gatehouse tells nginx apart from a
// test client on 127.0.0.1.
func StartNginxAuthRequestFrom(t testing.TB, gatehouseAddr, upstreamAddr, bind string) NginxAuthRequest {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 != nil {
			msg := fmt.Sprintf("nginx not found (scripts/install-packages.sh installs it; apt-get install nginx): %v", err)
			if Required() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		bin = "/usr/sbin/nginx"
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "start-nginx-authrequest.sh")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("start-nginx-authrequest.sh: %v", err)
	}
	dir := t.TempDir()
	// Registered after t.TempDir, so it runs before the directory is removed (cleanups are LIFO).
	t.Cleanup(func() {
		stop := filepath.Join(dir, "stop.sh")
		if _, err := os.Stat(stop); err != nil {
			return
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("nginx error.log (last lines):\n%s", authReqTail(string(b), 30))
			}
		}
		if out, err := exec.Command("sh", stop).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", stop, err, out)
		}
	})
	env := append(os.Environ(), "PROXY_BIND="+bind, "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	var lastErr error
	// The port is free when picked but nginx binds it a moment later, after the script checked
	// its config: another process can take it in between. nginx then fails to start with
	// EADDRINUSE and another port is tried.
	for range 4 {
		port := authReqPort(t)
		cmd := exec.Command("bash", script, dir, strconv.Itoa(port), gatehouseAddr, upstreamAddr)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			lastErr = fmt.Errorf("start-nginx-authrequest.sh %s %d %s %s: %w\n%s", dir, port, gatehouseAddr, upstreamAddr, err, out)
			continue
		}
		n := NginxAuthRequest{Base: "http://127.0.0.1:" + strconv.Itoa(port), Dir: dir}
		if err := authReqProbe(n.Base); err != nil {
			t.Fatalf("nginx started on %s but does not answer: %v\n%s", n.Base, err, out)
		}
		return n
	}
	t.Fatal(lastErr)
	return NginxAuthRequest{}
}

// authReqPort picks nginx's port at random from 20000–32767 and checks it is free by binding it.
//
// Not net.Listen("127.0.0.1:0"), which the reference recommends for servers a Go test runs
// itself: there the test keeps the listener, so the port cannot be lost. nginx has to be given
// a number and binds it later, after the listener is closed; a port from the kernel's
// ephemeral range (ip_local_port_range, 32768–60999 here) is exactly the kind of port the
// kernel hands to outgoing connections in that gap, and while another test leaves thousands of
// loopback connections in TIME-WAIT, bind() in that range fails with EADDRINUSE
// (test-services.md §1). Below the range nothing is handed out on its own; a random choice
// keeps parallel test binaries apart, the fixed ports of the service scripts are avoided, and
// the caller retries if the port is taken anyway.
func authReqPort(t testing.TB) int {
	t.Helper()
	lo, hi := 20000, 32767
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if start, err := strconv.Atoi(f[0]); err == nil && start-1 < hi && start-1 > lo+1000 {
				hi = start - 1
			}
		}
	}
	fixed := map[int]bool{20389: true, 20390: true, 21812: true, 21813: true, 21822: true, 21823: true,
		23306: true, 25432: true, 25556: true, 26379: true, 28080: true, 28081: true, 28090: true, 28091: true, 28092: true}
	for range 200 {
		p := lo + rand.IntN(hi-lo+1)
		if fixed[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p
	}
	t.Fatalf("no free port in %d–%d", lo, hi)
	return 0
}

// authReqProbe wants /_nginx_healthz's "ok": nginx is up, and it is this test's nginx.
func authReqProbe(base string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/_nginx_healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 16)
	n, _ := resp.Body.Read(buf)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(buf[:n])) != "ok" {
		return errors.New("unexpected /_nginx_healthz answer " + resp.Status)
	}
	return nil
}

func authReqTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
