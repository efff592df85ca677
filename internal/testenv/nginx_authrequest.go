package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	bin, err := nginxBin()
	if err != nil {
		skipOrFail(t, fmt.Sprintf("nginx not found (scripts/install-packages.sh installs it; apt-get install nginx): %v", err))
	}
	base, dir := startProxyScript(t, proxyScript{
		script: "start-nginx-authrequest.sh",
		name:   "nginx",
		args:   []string{gatehouseAddr, upstreamAddr},
		env:    []string{"PROXY_BIND=" + bind, pathWith(bin)},
		health: "/_nginx_healthz",
		log:    "error.log",
	})
	return NginxAuthRequest{Base: base, Dir: dir}
}
