package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// Forward auth end to end with a real Caddy (scripts/start-caddy-forwardauth.sh, the Caddyfile
// of docs/forward-auth.md): forward_auth asks gatehouse's /.gatehouse/auth about every request
// and proxies the allowed ones to a recording upstream with the identity headers of
// gatehouse's answer (copy_headers). Caddy 2.6 cannot pick its source address, so it reaches
// gatehouse from 127.0.0.1, the trusted proxy; the test asks gatehouse directly from
// 127.0.0.2 to be an untrusted peer. Helpers (faStart, faConfig, faGroups, faDo, ...) are the
// nginx test's.

// caddyIdentity are the identity headers of claims.headers (the defaults), as Go spells them.
var caddyIdentity = []string{"Remote-User", "X-Customer-Id", "X-Customer-Ids", "X-Customer-User-Email",
	"X-Customer-User-Name", "X-Customer-User-Groups", "X-Customer-User-Source"}

// caddySpoof are a client's own copies of every identity header, in the dash and the
// underscore spelling (CGI, PHP and PSGI read both as the same variable).
var caddySpoof = map[string]string{
	"Accept":                 "text/html",
	"Remote-User":            "admin",
	"X-Customer-Id":          "EVIL",
	"X-Customer-Ids":         "EVIL,ACME",
	"X-Customer-User-Email":  "mallory@evil.example",
	"X-Customer-User-Name":   "Mallory",
	"X-Customer-User-Groups": "billing:rw",
	"X-Customer-User-Source": "forged",
	"Remote_User":            "admin",
	"X-Customer_User-Groups": "billing:rw",
}

// caddyAuthAnswer is what gatehouse itself answers Caddy about target for the session cookie:
// the identity headers of its 200 (asked from 127.0.0.1, the trusted proxy, as Caddy asks).
func caddyAuthAnswer(t *testing.T, gh *running, caddyBase, target string, cookie *http.Cookie) http.Header {
	t.Helper()
	cu, _ := url.Parse(caddyBase)
	resp, _ := faDo(t, &http.Client{Timeout: 10 * time.Second}, "GET", gh.base+"/.gatehouse/auth", map[string]string{
		"X-Forwarded-Method": "GET", "X-Forwarded-Uri": target, "X-Forwarded-Host": cu.Host, "X-Forwarded-Proto": "http",
	}, cookie)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gatehouse asked directly about %s: %d", target, resp.StatusCode)
	}
	h := http.Header{}
	for _, k := range caddyIdentity {
		if v, ok := resp.Header[k]; ok {
			h[k] = v
		}
	}
	return h
}

// caddyBlankEmail empties login's e-mail address: gatehouse then sends no
// X-Customer-User-Email for it, the header the test needs missing from the auth answer.
func caddyBlankEmail(t *testing.T, dsn, login string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL().ExecContext(ctx, db.Rebind("UPDATE customer_user SET email = '' WHERE login = ?"), login); err != nil {
		t.Fatal(err)
	}
}

func TestCaddyForwardAuth(t *testing.T) {
	dsn := faDB(t)
	caddyBlankEmail(t, dsn, "u-sha2")

	var cd testenv.CaddyForwardAuth
	fa := faStartBehind(t, dsn, "127.0.0.1", func(gatehouseAddr, upstreamAddr string) string {
		cd = testenv.StartCaddyForwardAuthWith(t, gatehouseAddr, upstreamAddr, testenv.CaddyOptions{})
		return cd.Base
	})
	up, upSrv, ln, gh, html, plain := fa.up, fa.upSrv, fa.ln, fa.gh, fa.html, fa.plain
	version := testenv.CaddyVersion()
	t.Logf("caddy %s", version)

	original := cd.Base + "/tickets?a=1"
	var member, reader *http.Cookie // billing rw; billing ro only

	t.Run("anonymous browser: gatehouse's 302 to the login page with the whole URL as rd", func(t *testing.T) {
		browser := faClient(t)
		// The login page and the form POST go through Caddy's /.gatehouse/ handle, past forward_auth.
		faBrowserLogin(t, browser, fa, "Caddy", cd.Base, original)
		resp, body := faDo(t, browser, "GET", original, html, nil)
		if resp.StatusCode != http.StatusOK || body != "helpdesk" || up.last().uri != "/tickets?a=1" {
			t.Fatalf("back at the original URL: %d %q, upstream got %q", resp.StatusCode, body, up.last().uri)
		}
	})

	t.Run("API client: 401", func(t *testing.T) {
		before := up.count()
		resp, body := faDo(t, plain, "GET", original, map[string]string{"Accept": "application/json"}, nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"login_url"`) ||
			resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%d %v %q, want 401 with a challenge and the login URL", resp.StatusCode, resp.Header, body)
		}
		// A POST from a browser is no navigation: 401 too, and Caddy does not send the body on.
		resp, _ = faDo(t, plain, "POST", original, html, nil)
		if resp.StatusCode != http.StatusUnauthorized || up.count() != before {
			t.Fatalf("browser POST: %d (upstream reached: %v), want 401", resp.StatusCode, up.count() != before)
		}
	})

	// The JSON API login, through Caddy's /.gatehouse/ handle.
	reader = faAPILogin(t, plain, cd.Base, "u-sha2", vectorPassword)
	member = faAPILogin(t, plain, cd.Base, "u-sha512", vectorPassword)

	t.Run("signed in: the upstream gets gatehouse's identity headers, never the client's copies", func(t *testing.T) {
		want := caddyAuthAnswer(t, gh, cd.Base, "/tickets?a=1", reader)
		if want.Get("X-Customer-User-Groups") != "billing:ro,users:rw" || want.Get("Remote-User") != "u-sha2" {
			t.Fatalf("gatehouse's answer: %v", want)
		}
		if _, ok := want["X-Customer-User-Email"]; ok {
			t.Fatalf("gatehouse sends X-Customer-User-Email for u-sha2 (%q): the test needs a header it does not send", want["X-Customer-User-Email"])
		}
		resp, body := faDo(t, plain, "GET", original, caddySpoof, reader)
		if resp.StatusCode != http.StatusOK || body != "helpdesk" {
			t.Fatalf("signed in: %d %q", resp.StatusCode, body)
		}
		got := up.last()
		if got.uri != "/tickets?a=1" || got.method != "GET" {
			t.Errorf("upstream got %s %s", got.method, got.uri)
		}
		// Exactly gatehouse's answer: a header it sends replaces the client's copy, one it
		// does not send (X-Customer-User-Email) is absent, not the client's and not a placeholder.
		for _, k := range caddyIdentity {
			if g, w := got.header[k], want[k]; strings.Join(g, "\n") != strings.Join(w, "\n") {
				t.Errorf("upstream %s: %q, want %q (gatehouse's answer)", k, g, w)
			}
		}
		for k := range got.header {
			if strings.Contains(k, "_") {
				t.Errorf("upstream got the client's %s: %q", k, got.header[k])
			}
		}
		if t.Failed() {
			t.Logf("upstream headers: %v\nCaddyfile:\n%s", got.header, cd.Caddyfile())
		}
	})

	t.Run("bare forward_auth + copy_headers: what Caddy does alone", func(t *testing.T) {
		// The snippet without the request_header lines around forward_auth, same gatehouse.
		bare := testenv.StartCaddyForwardAuthWith(t, ln.Addr().String(), upSrv.Listener.Addr().String(),
			testenv.CaddyOptions{NoHeaderGuard: true})
		resp, body := faDo(t, plain, "GET", bare.Base+"/tickets?a=1", caddySpoof, reader)
		if resp.StatusCode != http.StatusOK || body != "helpdesk" {
			t.Fatalf("signed in: %d %q", resp.StatusCode, body)
		}
		got := up.last().header
		t.Logf("caddy %s, bare snippet: upstream X-Customer-User-Groups %q (client sent billing:rw, gatehouse billing:ro,users:rw), "+
			"X-Customer-User-Email %q (client sent mallory@evil.example, gatehouse nothing), Remote_user %q",
			version, got["X-Customer-User-Groups"], got["X-Customer-User-Email"], got["Remote_user"])
		// A header in gatehouse's answer replaces the client's copy (any Caddy version).
		if g := got["X-Customer-User-Groups"]; len(g) != 1 || g[0] != "billing:ro,users:rw" {
			t.Errorf("X-Customer-User-Groups %q, want gatehouse's only", g)
		}
		// Headers with underscores pass untouched (nginx drops them; Caddy does not).
		if g := got["Remote_user"]; len(g) != 1 || g[0] != "admin" {
			t.Errorf("Remote_User %q: Caddy no longer passes underscore headers?", g)
		}
		// A header missing from gatehouse's answer: Caddy 2.6 (Debian 12) replaces the
		// client's copy with the literal placeholder; 2.9 until GHSA-7r4p-vjf4-gxv4 kept
		// the client's copy; later releases remove it.
		if strings.HasPrefix(strings.TrimPrefix(version, "v"), "2.6.") {
			if g := got["X-Customer-User-Email"]; len(g) != 1 || g[0] != "{http.reverse_proxy.header.X-Customer-User-Email}" {
				t.Errorf("caddy 2.6: X-Customer-User-Email %q, want the literal placeholder", g)
			}
		}
	})

	t.Run("route policy: billing ro 403, billing rw 200", func(t *testing.T) {
		before := up.count()
		if resp, _ := faDo(t, plain, "GET", cd.Base+"/billing/x", html, reader); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("billing ro: %d, want 403", resp.StatusCode)
		}
		if up.count() != before {
			t.Fatal("a refused request reached the upstream")
		}
		resp, body := faDo(t, plain, "GET", cd.Base+"/billing/x?inv=7", nil, member)
		got := up.last()
		if resp.StatusCode != http.StatusOK || body != "helpdesk" || got.uri != "/billing/x?inv=7" ||
			got.header.Get("Remote-User") != "u-sha512" || got.header.Get("X-Customer-User-Groups") != "billing:rw,users:rw" {
			t.Fatalf("billing rw: %d %q; upstream %s %v", resp.StatusCode, body, got.uri, got.header)
		}
	})

	t.Run("path tricks stay 403", func(t *testing.T) {
		tricks := []string{
			"/tickets/../billing/x",
			"/tickets/%2e%2e/billing/x",
			"/tickets/%2E%2E/billing/x",
			"/tickets/..%2fbilling/x",
			"/tickets/%2e%2e%2fbilling/x",
			"/tickets/%252e%252e/billing/x",
			"/tickets/./../billing/x",
			"//billing/x",
			"/%62illing/x",
			"/BILLING/x",
			"/billing./x",
			"/billing;jsessionid=1/x",
			"/billing%2fx",
			"/tickets/..%5cbilling/x",
			"/tickets%2f..%2fbilling/x",
			"/.gatehouse/../billing/x",
			"/.gatehouse/%2e%2e/billing/x",
		}
		before := up.count()
		for _, p := range tricks {
			if status := faRawGet(t, cd.Base, p, reader); status != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", p, status)
			}
		}
		if up.count() != before {
			t.Errorf("%d refused requests reached the upstream (last %s)", up.count()-before, up.last().uri)
		}
		// The member passes with spellings that mean /billing, and Caddy hands the path on
		// as sent: gatehouse judged the same unnormalised URI the upstream gets.
		for _, p := range []string{"/tickets/../billing/x", "/tickets/%2e%2e/billing/x"} {
			if status := faRawGet(t, cd.Base, p, member); status != http.StatusOK || up.last().uri != p {
				t.Errorf("member %s: %d, upstream got %q; want 200 and the URI as sent", p, status, up.last().uri)
			}
		}
	})

	t.Run("a client cannot name another URL to the auth request", func(t *testing.T) {
		before := up.count()
		// Caddy copies the client's headers into the auth request and sets only
		// X-Forwarded-Method/-Uri/-Host/-Proto: the nginx-style ones the client adds disagree
		// with them, so gatehouse refuses.
		for _, hdr := range []map[string]string{
			{"X-Forwarded-Uri": "/tickets", "X-Forwarded-Host": "other.example", "X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https"},
			{"X-Original-URI": "/tickets"},
			{"X-Original-URL": cd.Base + "/tickets"},
			{"X-Original-URL": "http://other.example/tickets", "X-Original-URI": "/tickets"},
		} {
			if resp, _ := faDo(t, plain, "GET", cd.Base+"/billing/x", hdr, reader); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%v: %d, want 403", hdr, resp.StatusCode)
			}
		}
		if up.count() != before {
			t.Error("a refused request reached the upstream")
		}
		// And Caddy does not expose the forward-auth endpoint to clients.
		for _, p := range []string{"/.gatehouse/auth", "/.gatehouse//auth", "/.gatehouse/auth/", "/.gatehouse/AUTH",
			"/.gatehouse/%61uth", "/x/../.gatehouse/auth", "/%2egatehouse/auth"} {
			if status := faRawGet(t, cd.Base, p, reader); status != http.StatusNotFound {
				t.Errorf("%s through Caddy: %d, want 404", p, status)
			}
		}
	})

	t.Run("untrusted peer asking gatehouse directly: 403", func(t *testing.T) {
		other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
		resp, _ := faDo(t, other, "GET", gh.base+"/.gatehouse/auth",
			map[string]string{"X-Forwarded-Uri": "/tickets", "X-Forwarded-Method": "GET"}, member)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Remote-User") != "" {
			t.Errorf("%d %v, want a bare 403", resp.StatusCode, resp.Header)
		}
	})

	t.Run("gatehouse down: Caddy fails closed", func(t *testing.T) {
		before := up.count()
		gh.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", cd.Base+"/tickets", nil)
		req.AddCookie(member)
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%d, want 502", resp.StatusCode)
		}
		if up.count() != before {
			t.Error("the upstream was reached without an answer from gatehouse")
		}
	})
}
