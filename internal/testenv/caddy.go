package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
		skipOrFail(t, fmt.Sprintf("caddy not found (scripts/install-packages.sh installs it; apt-get install caddy): %v", err))
	}
	guard := "1"
	if opt.NoHeaderGuard {
		guard = "0"
	}
	base, dir := startProxyScript(t, proxyScript{
		script: "start-caddy-forwardauth.sh",
		name:   "caddy",
		args:   []string{gatehouseAddr, upstreamAddr},
		env:    []string{"HEADER_GUARD=" + guard, pathWith(bin)},
		health: "/_caddy_healthz",
		log:    "caddy.log",
	})
	return CaddyForwardAuth{Base: base, Dir: dir}
}
