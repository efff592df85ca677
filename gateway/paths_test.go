package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
)

func rawRequest(t *testing.T, base, raw string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, raw)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestPathBypassCorpus: no spelling of a path reaches the protected route through the public
// one; routing and the upstream see the same normalised path.
func TestPathBypassCorpus(t *testing.T) {
	h := newHarness(t, nil)
	b, err := os.ReadFile("../testdata/path-bypass.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range strings.Split(string(b), "\n") {
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		n++
		before := h.up.n
		resp := rawRequest(t, h.base, "GET "+p+" HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n")
		if h.up.n == before {
			if resp.StatusCode == 200 {
				t.Errorf("%s: 200 without the upstream", p)
			}
			continue
		}
		if got := h.up.request().URL.Path; got != "/static" && !strings.HasPrefix(got, "/static/") {
			t.Errorf("%s: reached the upstream as %q without a session (status %d)", p, got, resp.StatusCode)
		}
	}
	if n < 20 {
		t.Fatalf("corpus has %d paths", n)
	}
}

// An absolute-form target names the host that counts (RFC 9112 §3.2.2): a public route on
// one host cannot carry a request to another host's protected upstream.
func TestAbsoluteFormHost(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) {
		c.Routes = append([]configs.Route{{Name: "public-host", Host: "public.example.com", PathPrefix: "/", Upstream: c.Routes[0].Upstream, Public: true, PreserveHost: true}}, c.Routes...)
	})
	resp := rawRequest(t, h.base, "GET http://secret.example.com/x HTTP/1.1\r\nHost: public.example.com\r\nAccept: application/json\r\n\r\n")
	if resp.StatusCode != http.StatusUnauthorized || h.up.n != 0 {
		t.Fatalf("status %d, upstream requests %d", resp.StatusCode, h.up.n)
	}
	resp = rawRequest(t, h.base, "GET /x HTTP/1.1\r\nHost: public.example.com\r\n\r\n")
	if resp.StatusCode != 200 || h.up.request().Host != "public.example.com" {
		t.Fatalf("host route: %d, upstream Host %q", resp.StatusCode, h.up.request().Host)
	}
}

// Host routes and an upstream base path.
func TestHostRouteAndBasePath(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) {
		c.Routes = append(c.Routes, configs.Route{Name: "docs", Host: "docs.example.com", PathPrefix: "/", Upstream: c.Routes[0].Upstream + "/base/", Public: true})
	})
	resp := rawRequest(t, h.base, "GET /guide?x=1 HTTP/1.1\r\nHost: DOCS.example.com:8080\r\n\r\n")
	got := h.up.request()
	if resp.StatusCode != 200 || got.URL.Path != "/base/guide" || got.URL.RawQuery != "x=1" {
		t.Fatalf("status %d, upstream %s", resp.StatusCode, got.URL)
	}
}

func TestRoutePolicy(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) {
		up := c.Routes[0].Upstream
		c.Routes = append(c.Routes,
			configs.Route{Name: "billing", PathPrefix: "/billing", Upstream: up, Require: configs.Require{Groups: map[string]string{"billing": "rw"}}},
			configs.Route{Name: "reports", PathPrefix: "/reports", Upstream: up, Require: configs.Require{Groups: map[string]string{"billing": "ro", "users": "move_into"}}},
			configs.Route{Name: "acme", PathPrefix: "/acme", Upstream: up, Require: configs.Require{CustomerIDs: []string{"acme"}}},
			configs.Route{Name: "other", PathPrefix: "/other", Upstream: up, Require: configs.Require{CustomerIDs: []string{"NOPE"}}},
		)
	})
	_, sess := h.login("jdoe", "Secret123!", "/") // groups: users rw, billing ro; customer ids ACME, OTHER
	for path, want := range map[string]int{"/billing/x": 403, "/reports": 200, "/acme/1": 200, "/other": 403, "/app": 200} {
		before := h.up.n
		if r, _ := h.do("GET", path, nil, nil, sess); r.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, r.StatusCode, want)
		} else if want == 403 && h.up.n != before {
			t.Errorf("%s: refused, but the upstream was asked", path)
		}
	}
}

// Forwarding headers from a client that is not a trusted proxy are removed in every copy and
// spelling, not just the first.
func TestForwardedDuplicatesFromUntrusted(t *testing.T) {
	h := newHarness(t, nil)
	rawRequest(t, h.base, "GET /static/x HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\n"+
		"X_Forwarded_For: 8.8.8.8\r\nX-Forwarded-Host: a.example\r\nX-Forwarded-Host: evil.example\r\nX-Real-IP: 9.9.9.9\r\nForwarded: for=1.2.3.4\r\n\r\n")
	got := h.up.request().Header
	if v := got.Values("X-Forwarded-For"); len(v) != 1 || v[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", v)
	}
	if v := got.Values("X-Forwarded-Host"); len(v) != 1 || v[0] != "x" {
		t.Errorf("X-Forwarded-Host %q", v)
	}
	for _, k := range []string{"X_forwarded_for", "X-Real-Ip", "Forwarded"} {
		if got.Get(k) != "" {
			t.Errorf("%s reached the upstream: %q", k, got.Get(k))
		}
	}
}

// plainKey's fast path never changes what routeKey would say (but for a trailing slash).
func FuzzRouteKey(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/A/b", "/a;x/../b", "/a./b", "/a /b", "//a", "/a/.", "/a/..", "/a.b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if plainKey(p) {
			if slow := foldKey(p); slow != p && slow != strings.TrimSuffix(p, "/") {
				t.Fatalf("plainKey(%q) but the full fold gives %q", p, slow)
			}
		}
	})
}

// A path that some upstream reads as the protected route must pass its policy, even when
// gatehouse's own folding reads it as a looser one (security review, round 2).
func TestAmbiguousPathsNeedEveryPolicy(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) {
		up := c.Routes[0].Upstream
		c.Routes = append(c.Routes, configs.Route{Name: "billing", PathPrefix: "/billing", Upstream: up,
			Require: configs.Require{Groups: map[string]string{"billing": "rw"}}})
	})
	_, sess := h.login("jdoe", "Secret123!", "/") // billing ro only
	for _, p := range []string{"/billing/x", "/billing/..;/x", "/billing/..;a/x", "/x/..%5cbilling/y", "/x/%2e%2e%5cbilling",
		"/billing%23/x", "/BILLING/x", "/billing./x", "/billing;v=1/x"} {
		before := h.up.n
		resp := rawRequest(t, h.base, "GET "+p+" HTTP/1.1\r\nHost: x\r\nCookie: gatehouse_session="+sess.Value+"\r\n\r\n")
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 403 or 400", p, resp.StatusCode)
		}
		if h.up.n != before {
			t.Errorf("%s reached the upstream", p)
		}
	}
	if r := rawRequest(t, h.base, "GET /tickets HTTP/1.1\r\nHost: x\r\nCookie: gatehouse_session="+sess.Value+"\r\n\r\n"); r.StatusCode != 200 {
		t.Errorf("plain path: %d", r.StatusCode)
	}
}
