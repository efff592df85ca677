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

// StartNginxBasic starts a private nginx (scripts/start-nginx-basic.sh, in a temp dir) on
// 127.0.0.1 that does HTTP Basic auth and proxies to upstream (host:port) with the user in
// X-Remote-User, the client's Authorization removed. It returns the base URL
// (http://127.0.0.1:PORT) once nginx answers, and stops it by its PID when the test ends.
//
// Users (see the script): alice/alicepass, bob/bobpass, "josé"/josepass,
// jdoe@EXAMPLE.COM/jdoepass, carol/carolpass, dave/davepass.
//
// Without nginx or htpasswd installed the test fails under GATEHOUSE_TEST_REQUIRE=1 and is
// skipped otherwise.
func StartNginxBasic(t testing.TB, upstream string) string {
	t.Helper()
	return StartNginxBasicFrom(t, upstream, "")
}

// StartNginxBasicFrom is StartNginxBasic with nginx connecting to upstream from the local
// address bind (nginx proxy_bind; "" for the kernel's choice). With bind 127.0.0.2 a gateway
// on 127.0.0.1 sees the proxy as peer 127.0.0.2, apart from direct clients on 127.0.0.1.
func StartNginxBasicFrom(t testing.TB, upstream, bind string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 != nil {
			missingTool(t, "nginx", "nginx")
		}
		bin = "/usr/sbin/nginx"
	}
	if _, err := exec.LookPath("htpasswd"); err != nil {
		missingTool(t, "htpasswd", "apache2-utils")
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "start-nginx-basic.sh")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("start-nginx-basic.sh: %v", err)
	}
	dir := t.TempDir()
	// Runs first among the cleanups registered so far (LIFO): before t.TempDir's removal.
	t.Cleanup(func() {
		stop := filepath.Join(dir, "stop.sh")
		if _, err := os.Stat(stop); err != nil {
			return
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", lastLines(string(b), 30))
			}
		}
		if out, err := exec.Command("sh", stop).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", stop, err, out)
		}
	})
	env := append(os.Environ(), "PROXY_BIND="+bind, "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	var lastErr error
	// A port found free can be taken before nginx binds it; a few tries cover that race.
	for range 3 {
		port := nginxPort(t)
		cmd := exec.Command("bash", script, dir, strconv.Itoa(port), upstream)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			lastErr = fmt.Errorf("start-nginx-basic.sh %s %d %s: %w\n%s", dir, port, upstream, err, out)
			continue
		}
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		if err := probeNginx(base); err != nil {
			t.Fatalf("nginx started on %s but does not answer: %v\n%s", base, err, out)
		}
		return base
	}
	t.Fatal(lastErr)
	return ""
}

// missingTool fails (GATEHOUSE_TEST_REQUIRE=1) or skips t for a program that is not installed.
func missingTool(t testing.TB, tool, pkg string) {
	t.Helper()
	msg := fmt.Sprintf("%s not installed (scripts/install-packages.sh, or apt-get install %s)", tool, pkg)
	if Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// probeNginx wants /healthz's "ok": nginx is up on the port, and it is the test's nginx.
func probeNginx(base string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 16)
	n, _ := resp.Body.Read(buf)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(buf[:n])) != "ok" {
		return errors.New("unexpected /healthz answer " + resp.Status)
	}
	return nil
}

// nginxPort finds a free TCP port in 20000–32767, below the ephemeral range that other
// tests' TIME-WAIT connections can exhaust (test-services.md §1), avoiding the fixed ports
// of scripts/test-services.sh and the recipes.
func nginxPort(t testing.TB) int {
	t.Helper()
	fixed := map[int]bool{20389: true, 20390: true, 21812: true, 21813: true, 21822: true, 21823: true,
		23306: true, 25432: true, 25556: true, 26379: true, 28080: true, 28081: true, 28090: true, 28091: true, 28092: true}
	for range 200 {
		p := 20000 + rand.IntN(32768-20000)
		if fixed[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p
	}
	t.Fatal("no free port below 32768")
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
