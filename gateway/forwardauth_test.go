package gateway

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/configs"
)

func forwardAuthHarness(t *testing.T) *harness {
	return newHarness(t, func(c *configs.Config) {
		c.Server.TrustedProxies = []string{"127.0.0.1"}
		up := c.Routes[0].Upstream
		c.Routes = append(c.Routes,
			configs.Route{Name: "billing", Host: "app.example.com", PathPrefix: "/billing", Upstream: up, Require: configs.Require{Groups: map[string]string{"billing": "rw"}}},
			configs.Route{Name: "public", Host: "app.example.com", PathPrefix: "/public", Upstream: up, Public: true})
		c.Portal.AllowedRedirectHosts = []string{"app.example.com"}
	})
}

func TestForwardAuth(t *testing.T) {
	h := forwardAuthHarness(t)
	_, sess := h.login("jdoe", "Secret123!", "/")
	nginx := func(uri string) map[string]string {
		return map[string]string{"X-Original-URL": "https://app.example.com" + uri, "X-Original-Method": "GET"}
	}
	traefik := func(uri string) map[string]string {
		return map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": uri, "Accept": "text/html"}
	}
	t.Run("signed in: 200 with the identity headers", func(t *testing.T) {
		r, _ := h.do("GET", PathAuth, nil, nginx("/tickets?id=1"), sess)
		if r.StatusCode != 200 || r.Header.Get("Remote-User") != "jdoe" || r.Header.Get("X-Customer-Id") != "ACME" {
			t.Fatalf("%d %v", r.StatusCode, r.Header)
		}
	})
	t.Run("route policy applies to the forwarded URL", func(t *testing.T) {
		for _, uri := range []string{"/billing/x", "/public/../billing/x", "/public/%2e%2e/billing", "/public%2f..%2fbilling", "/public/..%5cbilling", "/public#/../billing", "/public/%252e%252e/billing"} {
			if r, _ := h.do("GET", PathAuth, nil, nginx(uri), sess); r.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", uri, r.StatusCode)
			}
			if r, _ := h.do("GET", PathAuth, nil, traefik(uri), sess); r.StatusCode != http.StatusForbidden {
				t.Errorf("traefik %s: %d, want 403", uri, r.StatusCode)
			}
		}
	})
	t.Run("anonymous nginx: 401 with the login URL", func(t *testing.T) {
		r, _ := h.do("GET", PathAuth, nil, nginx("/tickets?id=1&b=2"))
		login, err := url.Parse(r.Header.Get(HeaderLoginURL))
		if r.StatusCode != http.StatusUnauthorized || err != nil || login.Query().Get("rd") != "https://app.example.com/tickets?id=1&b=2" {
			t.Fatalf("%d %q", r.StatusCode, r.Header.Get(HeaderLoginURL))
		}
	})
	t.Run("anonymous browser behind Traefik/Caddy: 302 to the login page", func(t *testing.T) {
		r, _ := h.do("GET", PathAuth, nil, traefik("/tickets"))
		if r.StatusCode != http.StatusFound || !strings.Contains(r.Header.Get("Location"), PathLogin+"?rd=https%3A%2F%2Fapp.example.com%2Ftickets") {
			t.Fatalf("%d %q", r.StatusCode, r.Header.Get("Location"))
		}
	})
	t.Run("spoofed identity headers do not come back", func(t *testing.T) {
		hdr := nginx("/")
		hdr["X-Customer-User-Groups"] = "billing:rw"
		r, _ := h.do("GET", PathAuth, nil, hdr, sess)
		if r.Header.Get("X-Customer-User-Groups") != "billing:ro,users:rw" {
			t.Fatalf("groups %q", r.Header.Get("X-Customer-User-Groups"))
		}
	})
}

func TestForwardAuthUntrustedPeer(t *testing.T) {
	h := newHarness(t, nil) // the test client is not a trusted proxy
	_, sess := h.login("jdoe", "Secret123!", "/")
	if r, _ := h.do("GET", PathAuth, nil, map[string]string{"X-Original-URL": "https://app.example.com/"}, sess); r.StatusCode != http.StatusForbidden {
		t.Fatalf("%d", r.StatusCode)
	}
}

func TestNormalizePathCorpus(t *testing.T) {
	b, err := os.ReadFile("../testdata/path-bypass.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Split(string(b), "\n") {
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		n := normalizePath(p)
		if badPath([]byte(n)) {
			continue // refused outright
		}
		if n = routeKey(n); n == "/static" || strings.HasPrefix(n, "/static/") {
			t.Errorf("%s normalises to %s, inside the public prefix", p, n)
		}
	}
}

// A proxy sets some of the forward-auth headers and copies the client's others: when they
// name different targets, or the authority is malformed, the answer is 403, never the
// friendlier reading.
func TestForwardAuthAmbiguous(t *testing.T) {
	h := forwardAuthHarness(t)
	_, sess := h.login("jdoe", "Secret123!", "/") // no billing:rw
	for _, hdr := range []map[string]string{
		{"X-Original-URL": "https://app.example.com/billing/x", "X-Original-URI": "/tickets"},
		{"X-Original-URL": "https://app.example.com/tickets", "X-Forwarded-Uri": "/billing/x"},
		{"X-Forwarded-Uri": "/billing/x", "X-Original-URI": "/tickets"},
		{"X-Original-URL": "https://app.example.com/billing/x", "X-Forwarded-Host": "other.example.com"},
		{"X-Original-URL": "http://x?/billing/x"},
		{"X-Original-URL": "http://x#/billing/x"},
		{"X-Original-URL": "http://user@app.example.com/billing/x"},
		{"X-Original-Method": "GET", "X-Forwarded-Method": "POST", "X-Original-URI": "/tickets"},
	} {
		if r, _ := h.do("GET", PathAuth, nil, hdr, sess); r.StatusCode != http.StatusForbidden {
			t.Errorf("%v: %d, want 403", hdr, r.StatusCode)
		}
	}
	// Agreeing headers are fine.
	ok := map[string]string{"X-Original-URL": "https://app.example.com/tickets?a=1", "X-Original-URI": "/tickets?a=1", "X-Forwarded-Host": "app.example.com"}
	if r, _ := h.do("GET", PathAuth, nil, ok, sess); r.StatusCode != 200 {
		t.Errorf("agreeing headers: %d", r.StatusCode)
	}
}

// The trusted-header module is never asked in forward-auth: the proxy copies the client's own
// headers into the auth request.
func TestForwardAuthIgnoresLoginHeader(t *testing.T) {
	h := headerHarness(t, "127.0.0.1", true, false, nil)
	r, _ := h.do("GET", PathAuth, nil, map[string]string{"X-Original-URL": h.base + "/x", "X-Remote-User": "jdoe"})
	if r.StatusCode != http.StatusUnauthorized || cookieNamed(r, "gatehouse_session") != nil {
		t.Fatalf("login header believed in forward-auth: %d", r.StatusCode)
	}
}

// Forwarded URIs are judged in every reading an upstream may give them (raw, decoded once,
// twice, folded); a URL no route covers is refused; a public route needs no session.
func TestForwardAuthReadings(t *testing.T) {
	h := forwardAuthHarness(t)
	_, sess := h.login("jdoe", "Secret123!", "/")
	for _, uri := range []string{"/billing/%252e%252e/public", "/billing%2f..%2fpublic", "/billing/..;/public", "/billing%2F..%2Fpublic/x"} {
		if r, _ := h.do("GET", PathAuth, nil, map[string]string{"X-Original-URL": "https://app.example.com" + uri}, sess); r.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", uri, r.StatusCode)
		}
	}
	if r, _ := h.do("GET", PathAuth, nil, map[string]string{"X-Original-URL": "https://app.example.com/public/logo.png"}); r.StatusCode != 200 {
		t.Errorf("anonymous on a public route: %d", r.StatusCode)
	}
}

func TestForwardAuthUnroutedRefused(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) {
		c.Server.TrustedProxies = []string{"127.0.0.1"}
		c.Routes = []configs.Route{{Name: "only", Host: "app.example.com", PathPrefix: "/", Upstream: c.Routes[0].Upstream}}
	})
	_, sess := h.login("jdoe", "Secret123!", "/")
	if r, _ := h.do("GET", PathAuth, nil, map[string]string{"X-Original-URL": "https://elsewhere.example.com/x"}, sess); r.StatusCode != http.StatusForbidden {
		t.Fatalf("unrouted URL: %d, want 403", r.StatusCode)
	}
}
