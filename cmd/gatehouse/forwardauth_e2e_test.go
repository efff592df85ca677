package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// Forward auth end to end: a real nginx (scripts/start-nginx-authrequest.sh) asks gatehouse's
// /.gatehouse/auth about every request with auth_request and proxies the allowed ones to a
// recording upstream with the identity headers of gatehouse's answer. nginx connects from
// 127.0.0.2 (proxy_bind), the only trusted proxy, so the test client on 127.0.0.1 is an
// untrusted peer when it asks gatehouse directly.

// faRequest is what the upstream behind nginx received.
type faRequest struct {
	method, uri string
	header      http.Header
}

// faUpstream records every request that reaches it.
type faUpstream struct {
	mu   sync.Mutex
	reqs []faRequest
}

func (u *faUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.reqs = append(u.reqs, faRequest{r.Method, r.RequestURI, r.Header.Clone()})
	u.mu.Unlock()
	_, _ = io.WriteString(w, "helpdesk")
}

func (u *faUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *faUpstream) last() faRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		return faRequest{}
	}
	return u.reqs[len(u.reqs)-1]
}

// faStart wires gatehouse from cfg as `serve` does and serves it on ln, a listener the test
// opened before nginx was configured with its address.
func faStart(t testing.TB, cfg *configs.Config, ln net.Listener) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	app, err := build(ctx, cfg, io.Discard)
	if err != nil {
		cancel()
		_ = ln.Close()
		t.Fatalf("build: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = app.gateway.ServeListeners(ctx, ln, nil); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done; app.close() }) }
	t.Cleanup(stop)
	return &running{base: "http://" + ln.Addr().String(), app: app, stop: stop}
}

// faConfig is gatehouse behind nginx: public_url is nginx's URL (login redirects come back
// through nginx), /billing needs billing rw, and group permissions come from the OTRS tables.
func faConfig(t testing.TB, publicURL, trusted, upstream, dsn string) *configs.Config {
	t.Helper()
	cfg, err := configs.Parse([]byte(fmt.Sprintf(`
server:
  listen: 127.0.0.1:0
  public_url: %q
  trusted_proxies: [%s]
admin: {listen: ""}
sessions: {store: memory}
customer_group: {support: true}
routes:
  - {name: billing, path_prefix: /billing, upstream: %q, require: {groups: {billing: rw}}}
  - {name: helpdesk, path_prefix: /, upstream: %q}
customer_auth:
  - {module: db, dsn: %q, crypt_type: sha2}
customer_user:
  - {name: OTRS, module: db, params: {dsn: %q}}
log: {level: warn}
`, publicURL, trusted, upstream, upstream, dsn, dsn)), "forwardauth.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// faGroups creates the group tables that the seeded OTRS database lacks, the group billing,
// and the memberships: u-sha512 billing rw, u-sha2 only billing ro (not enough for /billing).
func faGroups(t testing.TB, dsn string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := sqldb.Migrate(ctx, db, sqldb.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	admin, err := sqldb.NewAdmin(db, sqldb.AdminOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddGroup(ctx, "billing", "invoices", "1"); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetUserGroup(ctx, "u-sha512", "billing", "rw", true, "1"); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetUserGroup(ctx, "u-sha2", "billing", "ro", true, "1"); err != nil {
		t.Fatal(err)
	}
}

// faDB is a fresh SQLite database with the OTRS tables seeded (seedOTRS) and the groups and
// memberships of faGroups.
func faDB(t *testing.T) string {
	t.Helper()
	dsn := sqliteOTRS(t)
	faGroups(t, dsn)
	return dsn
}

// faSetup is what a forward-auth test runs behind its front proxy (nginx or Caddy).
type faSetup struct {
	up    *faUpstream       // the recording upstream
	upSrv *httptest.Server  // up's server
	ln    net.Listener      // gatehouse's listener
	gh    *running          // gatehouse, serving on ln
	html  map[string]string // the Accept header of a browser's navigation
	plain *http.Client      // no cookie jar, no redirects followed
}

// faStartBehind starts the recording upstream, opens gatehouse's listener, has startProxy
// start the front proxy in front of both (it returns the proxy's base URL) and serves
// gatehouse on the listener with the database dsn (faConfig: public_url the proxy's URL,
// trusted_proxies [trusted]). All of it is stopped when the test ends.
func faStartBehind(t *testing.T, dsn, trusted string, startProxy func(gatehouseAddr, upstreamAddr string) (base string)) *faSetup {
	t.Helper()
	up := &faUpstream{}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	// gatehouse's listener is opened first, so the proxy can be given its address, and gatehouse
	// its public_url (the proxy's URL) after the proxy is up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	base := startProxy(ln.Addr().String(), upSrv.Listener.Addr().String())
	return &faSetup{
		up:    up,
		upSrv: upSrv,
		ln:    ln,
		gh:    faStart(t, faConfig(t, base, trusted, upSrv.URL, dsn), ln),
		html:  map[string]string{"Accept": "text/html,application/xhtml+xml"},
		plain: &http.Client{CheckRedirect: noRedirect.CheckRedirect, Timeout: 30 * time.Second},
	}
}

// faBrowserLogin is an anonymous browser's way in through the front proxy at base (named
// proxy in messages): GET original is gatehouse's 302 to the proxy's /.gatehouse/login with
// the whole original URL as rd, and does not reach the upstream; the login page and the form
// login of u-sha2 go through the proxy's /.gatehouse/ location, past forward auth, and the
// form answers 303 back to original. It returns the form login's answer.
func faBrowserLogin(t *testing.T, browser *http.Client, fa *faSetup, proxy, base, original string) *http.Response {
	t.Helper()
	pu, _ := url.Parse(base)
	before := fa.up.count()
	resp, _ := faDo(t, browser, "GET", original, fa.html, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("anonymous GET: %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Scheme != "http" || loc.Host != pu.Host || loc.Path != "/.gatehouse/login" {
		t.Fatalf("Location %q: want %s's /.gatehouse/login", resp.Header.Get("Location"), proxy)
	}
	if rd := loc.Query().Get("rd"); rd != original {
		t.Fatalf("rd %q, want %q (the whole URL, every query parameter)", rd, original)
	}
	if fa.up.count() != before {
		t.Fatal("the anonymous request reached the upstream")
	}

	resp, page := faDo(t, browser, "GET", loc.String(), fa.html, nil)
	m := csrfRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("login page through %s: %d %.300s", proxy, resp.StatusCode, page)
	}
	form := url.Values{"username": {"u-sha2"}, "password": {vectorPassword}, "csrf": {m[1]}, "rd": {loc.Query().Get("rd")}}
	req, _ := http.NewRequest("POST", base+"/.gatehouse/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != original {
		t.Fatalf("form login through %s: %d Location %q %.300s", proxy, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return resp
}

// faClient is a browser without automatic redirects: each hop is checked by the test.
func faClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// faDo sends a request with headers (and an optional session cookie) and reads the body.
func faDo(t *testing.T, c *http.Client, method, target string, hdr map[string]string, cookie *http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// faRawGet sends the request line exactly as given (Go's client would not send every path
// trick verbatim) and returns the status code.
func faRawGet(t *testing.T, base, rawPath string, cookie *http.Cookie) int {
	t.Helper()
	u, _ := url.Parse(base)
	return faRawGetHost(t, base, u.Host, rawPath, cookie)
}

// faRawGetHost is faRawGet with the Host header given.
func faRawGetHost(t *testing.T, base, host, rawPath string, cookie *http.Cookie) int {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + rawPath + " HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/html\r\nConnection: close\r\n"
	if cookie != nil {
		req += "Cookie: " + cookie.Name + "=" + cookie.Value + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", rawPath, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// faAPILogin signs in through base's /.gatehouse/api/login and returns the session cookie.
func faAPILogin(t testing.TB, c *http.Client, base, login, pw string) *http.Cookie {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": login, "password": pw})
	resp, err := c.Post(base+"/.gatehouse/api/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("api login %s: %d %s", login, resp.StatusCode, b)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "gatehouse_session" {
			return ck
		}
	}
	t.Fatalf("api login %s: no session cookie (%v)", login, resp.Header.Values("Set-Cookie"))
	return nil
}

func TestForwardAuthNginx(t *testing.T) {
	var ng testenv.NginxAuthRequest
	fa := faStartBehind(t, faDB(t), "127.0.0.2", func(gatehouseAddr, upstreamAddr string) string {
		ng = testenv.StartNginxAuthRequestFrom(t, gatehouseAddr, upstreamAddr, "127.0.0.2")
		return ng.Base
	})
	up, gh, html, plain := fa.up, fa.gh, fa.html, fa.plain
	nu, _ := url.Parse(ng.Base)

	original := ng.Base + "/tickets?a=1&b=2"
	var member, reader *http.Cookie // billing rw; billing ro only

	t.Run("anonymous: 302 to the login page with the whole URL as rd, through the form back to the upstream", func(t *testing.T) {
		browser := faClient(t)
		resp := faBrowserLogin(t, browser, fa, "nginx", ng.Base, original)
		for _, ck := range resp.Cookies() {
			if ck.Name == "gatehouse_session" {
				reader = ck
			}
		}
		if reader == nil {
			t.Fatal("no session cookie from the form login")
		}

		spoof := map[string]string{"Accept": "text/html", "Remote-User": "admin", "X-Customer-User-Groups": "billing:rw",
			"X-Customer-ID": "EVIL", "X-Customer-User-Source": "forged", "X-Customer-User-Name": "Mallory"}
		resp, body2 := faDo(t, browser, "GET", resp.Header.Get("Location"), spoof, nil)
		if resp.StatusCode != http.StatusOK || body2 != "helpdesk" {
			t.Fatalf("signed in: %d %q", resp.StatusCode, body2)
		}
		got := up.last()
		if got.uri != "/tickets?a=1&b=2" || got.method != "GET" {
			t.Errorf("upstream got %s %s", got.method, got.uri)
		}
		want := map[string]string{
			"Remote-User":            "u-sha2",
			"X-Customer-Id":          "ACME",
			"X-Customer-User-Email":  "u-sha2@mail.example",
			"X-Customer-User-Groups": "billing:ro,users:rw",
			"X-Customer-User-Name":   "Dr. José Müller",
			"X-Customer-User-Source": "OTRS",
		}
		for k, v := range want {
			if vs := got.header.Values(k); len(vs) != 1 || vs[0] != v {
				t.Errorf("upstream %s: %q, want exactly %q", k, vs, v)
			}
		}
		if t.Failed() {
			t.Logf("upstream headers: %v", got.header)
		}
	})
	if reader == nil {
		t.Fatal("no session for u-sha2")
	}
	member = faAPILogin(t, plain, ng.Base, "u-sha512", vectorPassword) // the JSON API, through nginx

	t.Run("wrong group: 403 and the upstream sees nothing", func(t *testing.T) {
		before := up.count()
		if resp, _ := faDo(t, plain, "GET", ng.Base+"/billing/x", html, reader); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("billing ro: %d, want 403", resp.StatusCode)
		}
		if up.count() != before {
			t.Fatal("a refused request reached the upstream")
		}
	})

	t.Run("billing rw: 200", func(t *testing.T) {
		resp, body := faDo(t, plain, "GET", ng.Base+"/billing/x?inv=7", nil, member)
		got := up.last()
		if resp.StatusCode != http.StatusOK || body != "helpdesk" || got.uri != "/billing/x?inv=7" ||
			got.header.Get("Remote-User") != "u-sha512" || got.header.Get("X-Customer-User-Groups") != "billing:rw,users:rw" {
			t.Fatalf("%d %q; upstream %s %v", resp.StatusCode, body, got.uri, got.header)
		}
	})

	t.Run("path tricks stay 403", func(t *testing.T) {
		tricks := []string{
			"/tickets/../billing/x",
			"/tickets/%2e%2e/billing/x",
			"/tickets/%2E%2E/billing/x",
			"/tickets/..%2fbilling/x",
			"/tickets/..%2Fbilling/x",
			"/tickets/%2e%2e%2fbilling/x",
			"/tickets/%252e%252e/billing/x",
			"/tickets/./../billing/x",
			"//billing/x",
			"/./billing/x",
			"/%62illing/x",
			"/BILLING/x",
			"/Billing/x",
			"/billing./x",
			"/billing;jsessionid=1/x",
			"/billing%3bx/x",
			"/billing%2fx",
			"/tickets/..%5cbilling/x",
			"/tickets%2f..%2fbilling/x",
		}
		logStart := len(ng.AuthLog())
		before := up.count()
		for _, p := range tricks {
			status := faRawGet(t, ng.Base, p, reader)
			if status != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", p, status)
			}
		}
		if up.count() != before {
			r := up.last()
			t.Errorf("%d refused requests reached the upstream (last %s)", up.count()-before, r.uri)
		}
		// What gatehouse was asked: nginx passes $request_uri unnormalised, so each trick
		// reaches gatehouse verbatim and gatehouse's own normalisation makes the 403.
		lines := ng.AuthLog()[logStart:]
		for _, p := range tricks {
			want := `403 "` + ng.Base + p + `"`
			if !slices.Contains(lines, want) {
				t.Errorf("auth.log has no %s", want)
			}
		}
		if t.Failed() {
			t.Logf("auth.log:\n%s", strings.Join(lines, "\n"))
		}
		// The member passes with the same spellings that mean /billing, so the 403s above
		// are the route policy, not broken paths.
		for _, p := range []string{"/tickets/../billing/x", "/tickets/%2e%2e/billing/x"} {
			if status := faRawGet(t, ng.Base, p, member); status != http.StatusOK {
				t.Errorf("member %s: %d, want 200", p, status)
			}
		}
	})

	t.Run("a client cannot name another URL to the auth request", func(t *testing.T) {
		before := up.count()
		// A subrequest inherits the client's headers: the config sets every forward-auth header
		// itself, so these cannot steer gatehouse's decision to the allowed /tickets.
		for _, hdr := range []map[string]string{
			{"X-Original-URI": "/tickets"},
			{"X-Original-URL": ng.Base + "/tickets"},
			{"X-Forwarded-Uri": "/tickets", "X-Forwarded-Host": nu.Host, "X-Forwarded-Method": "GET", "X-Forwarded-Proto": "http"},
			{"X-Original-URI": "/tickets", "X-Original-URL": ng.Base + "/tickets", "X-Forwarded-Uri": "/tickets"},
		} {
			if resp, _ := faDo(t, plain, "GET", ng.Base+"/billing/x", hdr, reader); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%v: %d, want 403", hdr, resp.StatusCode)
			}
		}
		// X-Original-URL is built from the client's Host, which nginx accepts with '?', '#' or
		// '@' in it: "http://x?/billing/x" parses as path "/" — only the X-Original-URI the
		// config also sets keeps gatehouse on the real path.
		logStart := len(ng.AuthLog())
		for _, host := range []string{"x?", "x#", nu.Host + "?", nu.Host + "#", "x@" + nu.Host} {
			if status := faRawGetHost(t, ng.Base, host, "/billing/x", reader); status == http.StatusOK {
				t.Errorf("Host %q: %d, want a refusal", host, status)
			}
		}
		for _, l := range ng.AuthLog()[logStart:] {
			if strings.HasPrefix(l, "200 ") {
				t.Errorf("gatehouse allowed %s", l)
			}
		}
		if up.count() != before {
			t.Error("a refused request reached the upstream")
		}
		// And nginx does not expose the forward-auth endpoint to clients.
		for _, p := range []string{"/.gatehouse/auth", "/.gatehouse//auth", "/.gatehouse/auth/", "/.gatehouse/AUTH", "/.gatehouse/%61uth"} {
			if status := faRawGet(t, ng.Base, p, reader); status != http.StatusNotFound {
				t.Errorf("%s through nginx: %d, want 404", p, status)
			}
		}
	})

	t.Run("untrusted peer asking gatehouse directly: 403", func(t *testing.T) {
		for _, ck := range []*http.Cookie{nil, reader, member} {
			resp, _ := faDo(t, plain, "GET", gh.base+"/.gatehouse/auth",
				map[string]string{"X-Original-URL": ng.Base + "/tickets", "X-Original-Method": "GET"}, ck)
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Remote-User") != "" || resp.Header.Get("X-Gatehouse-Login-Url") != "" {
				t.Errorf("cookie %v: %d %v, want a bare 403", ck != nil, resp.StatusCode, resp.Header)
			}
		}
	})

	t.Run("gatehouse down: nginx fails closed", func(t *testing.T) {
		before := up.count()
		gh.stop()
		if resp, _ := faDo(t, plain, "GET", ng.Base+"/tickets", html, member); resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("%d, want 500", resp.StatusCode)
		}
		if up.count() != before {
			t.Error("the upstream was reached without an answer from gatehouse")
		}
	})
}

// BenchmarkForwardAuth measures /.gatehouse/auth with a valid session: one keep-alive client on
// 127.0.0.1 (a trusted proxy) sends X-Original-URL and the cookie, as nginx does. ns/op is the
// median latency; p99-ns/op the 99th percentile.
func BenchmarkForwardAuth(b *testing.B) {
	dsn := testenv.SQLiteDSN(b)
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sqldb.Migrate(ctx, db, sqldb.MigrateOptions{}); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := db.SQL().ExecContext(ctx, db.Rebind(`INSERT INTO customer_user (login, email, customer_id, pw, first_name,
		last_name, valid_id, create_time, create_by, change_time, change_by) VALUES (?, ?, 'ACME', ?, 'José', 'Müller', 1, ?, 1, ?, 1)`),
		"u-sha2", "u-sha2@mail.example", accounts[0].pw, now, now); err != nil {
		b.Fatal(err)
	}
	db.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gh := faStart(b, faConfig(b, "http://127.0.0.1:8080", "127.0.0.1", "http://127.0.0.1:9", dsn), ln)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second,
		CheckRedirect: noRedirect.CheckRedirect}
	cookie := faAPILogin(b, client, gh.base, "u-sha2", vectorPassword)
	req, _ := http.NewRequest("GET", gh.base+"/.gatehouse/auth", nil)
	req.Header.Set("X-Original-URL", "http://127.0.0.1:8080/tickets?a=1&b=2")
	req.Header.Set("X-Original-Method", "GET")
	req.AddCookie(cookie)
	call := func() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Remote-User") != "u-sha2" {
			b.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
	}
	for range 200 { // warm up the connection and the session cache
		call()
	}
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		call()
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "ns/op")
	b.ReportMetric(pct(0.99), "p99-ns/op")
}
