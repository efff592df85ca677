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

// proxyScript is one of the front-proxy start scripts in scripts/ (start-nginx-basic.sh,
// start-nginx-authrequest.sh, start-caddy-forwardauth.sh: `SCRIPT DIR PORT ARGS...`, each
// writing DIR/stop.sh, which stops the proxy by its PID).
type proxyScript struct {
	script string   // the file name in scripts/
	name   string   // the proxy, in messages: "nginx"
	args   []string // the arguments after DIR and PORT
	env    []string // added to the environment (NAME=value)
	health string   // the path that answers "ok" once the proxy is up: "/healthz"
	log    string   // the file in DIR whose last lines a failed test logs: "error.log"
}

// startProxyScript starts the proxy of p in a new t.TempDir() on a free port (freePort) and
// returns its base URL (http://127.0.0.1:PORT) and directory once p.health answers "ok". The
// proxy is stopped by DIR/stop.sh when the test ends, after the end of p.log is logged if the
// test failed.
func startProxyScript(t testing.TB, p proxyScript) (base, dir string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", p.script)
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("%s: %v", p.script, err)
	}
	dir = t.TempDir()
	// Registered after t.TempDir, so it runs before the directory is removed (cleanups are LIFO).
	t.Cleanup(func() {
		stop := filepath.Join(dir, "stop.sh")
		if _, err := os.Stat(stop); err != nil {
			return
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, p.log)); err == nil {
				t.Logf("%s %s (last lines):\n%s", p.name, p.log, lastLines(string(b), 30))
			}
		}
		if out, err := exec.Command("sh", stop).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", stop, err, out)
		}
	})
	env := append(os.Environ(), p.env...)
	var lastErr error
	// The port is free when picked but the proxy binds it a moment later, after the script
	// checked its config: another process can take it in between. The proxy then fails to
	// start with EADDRINUSE and another port is tried.
	for range 4 {
		port := strconv.Itoa(freePort(t))
		cmd := exec.Command("bash", append([]string{script, dir, port}, p.args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			lastErr = fmt.Errorf("%s %s %s %s: %w\n%s", p.script, dir, port, strings.Join(p.args, " "), err, out)
			continue
		}
		base = "http://127.0.0.1:" + port
		if err := probeOK(base, p.health); err != nil {
			t.Fatalf("%s started on %s but does not answer: %v\n%s", p.name, base, err, out)
		}
		return base, dir
	}
	t.Fatal(lastErr)
	return "", ""
}

// probeOK wants path's "ok": the proxy is up on the port, and it is this test's proxy.
func probeOK(base, path string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 16)
	n, _ := resp.Body.Read(buf)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(buf[:n])) != "ok" {
		return errors.New("unexpected " + path + " answer " + resp.Status)
	}
	return nil
}

// freePort picks a proxy's port at random from 20000–32767 and checks it is free by binding it.
//
// Not net.Listen("127.0.0.1:0"), which the reference recommends for servers a Go test runs
// itself: there the test keeps the listener, so the port cannot be lost. A proxy has to be
// given a number and binds it later, after the listener is closed; a port from the kernel's
// ephemeral range (ip_local_port_range, 32768–60999 here) is exactly the kind of port the
// kernel hands to outgoing connections in that gap, and while another test leaves thousands of
// loopback connections in TIME-WAIT, bind() in that range fails with EADDRINUSE
// (test-services.md §1). Below the range nothing is handed out on its own; a random choice
// keeps parallel test binaries apart, the fixed ports of the service scripts and the recipes
// are avoided, and the caller retries if the port is taken anyway.
func freePort(t testing.TB) int {
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

// missingTool fails (GATEHOUSE_TEST_REQUIRE=1) or skips t for a program that is not installed.
func missingTool(t testing.TB, tool, pkg string) {
	t.Helper()
	skipOrFail(t, fmt.Sprintf("%s not installed (scripts/install-packages.sh, or apt-get install %s)", tool, pkg))
}

// skipOrFail fails t with msg under GATEHOUSE_TEST_REQUIRE=1 and skips it otherwise.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// nginxBin is nginx on PATH, or else /usr/sbin/nginx (not on a normal user's PATH).
func nginxBin() (string, error) {
	bin, err := exec.LookPath("nginx")
	if err == nil {
		return bin, nil
	}
	if _, err2 := os.Stat("/usr/sbin/nginx"); err2 == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", err
}

// pathWith is a PATH=… environment entry with bin's directory first, so the script finds the
// program the test found.
func pathWith(bin string) string {
	return "PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
