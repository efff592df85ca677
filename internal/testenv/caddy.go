package testenv

import (
	"errors"
	"fmt"
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

// CaddyForwardAuth is a private Caddy started by scripts/start-caddy-forwardauth.sh: every
// request outside /.gatehouse/ is checked with forward_auth against gatehouse's
// /.gatehouse/auth and, when allowed, proxied to the upstream with gatehouse's identity
// headers; /.gatehouse/ is proxied to gatehouse itself (login page, login POST, API), except
// /.gatehouse/auth (404).
type CaddyForwardAuth struct {
	// Base is Caddy's URL, http://127.0.0.1:PORT.
	Base string
	// Dir holds the Caddyfile, caddy.log and Caddy's data.
	Dir string
}

// Caddyfile returns the configuration Caddy runs with.
func (c CaddyForwardAuth) Caddyfile() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "Caddyfile"))
	return string(b)
}

// CaddyOptions changes the generated Caddyfile.
type CaddyOptions struct {
	// NoHeaderGuard leaves out the lines that remove the client's own copies of the identity
	// headers before forward_auth and the literal placeholders copy_headers leaves after it
	// (HEADER_GUARD=0): the bare forward_auth + copy_headers snippet.
	NoHeaderGuard bool
}

// StartCaddyForwardAuth starts Caddy in front of upstream (host:port) with forward auth against
// the gatehouse at gatehouseAddr (host:port) and returns its base URL (http://127.0.0.1:PORT)
// once it answers. Caddy is stopped by its PID when the test ends.
//
// Without caddy installed the test fails under GATEHOUSE_TEST_REQUIRE=1 and is skipped
// otherwise.
func StartCaddyForwardAuth(t testing.TB, gatehouseAddr, upstreamAddr string) (base string) {
	t.Helper()
	return StartCaddyForwardAuthWith(t, gatehouseAddr, upstreamAddr, CaddyOptions{}).Base
}

// CaddyVersion is the output of `caddy version` ("" without caddy).
func CaddyVersion() string {
	bin, err := caddyBin()
	if err != nil {
		return ""
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func caddyBin() (string, error) {
	bin, err := exec.LookPath("caddy")
	if err == nil {
		return bin, nil
	}
	if _, err2 := os.Stat("/usr/bin/caddy"); err2 == nil {
		return "/usr/bin/caddy", nil
	}
	return "", err
}

// StartCaddyForwardAuthWith is StartCaddyForwardAuth with options.
func StartCaddyForwardAuthWith(t testing.TB, gatehouseAddr, upstreamAddr string, opt CaddyOptions) CaddyForwardAuth {
	t.Helper()
	bin, err := caddyBin()
	if err != nil {
		msg := fmt.Sprintf("caddy not found (scripts/install-packages.sh installs it; apt-get install caddy): %v", err)
		if Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "start-caddy-forwardauth.sh")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("start-caddy-forwardauth.sh: %v", err)
	}
	dir := t.TempDir()
	// Registered after t.TempDir, so it runs before the directory is removed (cleanups are LIFO).
	t.Cleanup(func() {
		stop := filepath.Join(dir, "stop.sh")
		if _, err := os.Stat(stop); err != nil {
			return
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "caddy.log")); err == nil {
				t.Logf("caddy.log (last lines):\n%s", authReqTail(string(b), 30))
			}
		}
		if out, err := exec.Command("sh", stop).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", stop, err, out)
		}
	})
	guard := "1"
	if opt.NoHeaderGuard {
		guard = "0"
	}
	env := append(os.Environ(), "HEADER_GUARD="+guard, "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	var lastErr error
	// As with nginx: the port is free when picked, but Caddy binds it a moment later; another
	// process can take it in between, and then another port is tried.
	for range 4 {
		port := authReqPort(t)
		cmd := exec.Command("bash", script, dir, strconv.Itoa(port), gatehouseAddr, upstreamAddr)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			lastErr = fmt.Errorf("start-caddy-forwardauth.sh %s %d %s %s: %w\n%s", dir, port, gatehouseAddr, upstreamAddr, err, out)
			continue
		}
		c := CaddyForwardAuth{Base: "http://127.0.0.1:" + strconv.Itoa(port), Dir: dir}
		if err := caddyProbe(c.Base); err != nil {
			t.Fatalf("caddy started on %s but does not answer: %v\n%s", c.Base, err, out)
		}
		return c
	}
	t.Fatal(lastErr)
	return CaddyForwardAuth{}
}

// caddyProbe wants /_caddy_healthz's "ok": Caddy is up, and it is this test's Caddy.
func caddyProbe(base string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/_caddy_healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 16)
	n, _ := resp.Body.Read(buf)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(buf[:n])) != "ok" {
		return errors.New("unexpected /_caddy_healthz answer " + resp.Status)
	}
	return nil
}
