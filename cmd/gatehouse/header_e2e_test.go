package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// The trusted-header module (OTRS HTTPBasicAuth) behind a real nginx 1.22 doing HTTP Basic
// auth (scripts/start-nginx-basic.sh): nginx checks the password against its htpasswd and
// passes the user in X-Remote-User; gatehouse believes that header only from
// server.trusted_proxies, looks the login up in the OTRS customer_user table (SQLite) and sends
// the upstream the customer user's identity headers.
//
// To have a trusted and an untrusted peer on one machine, nginx connects to gatehouse from
// 127.0.0.2 (proxy_bind; all of 127.0.0.0/8 is loopback on Linux), the only trusted proxy,
// while the test's direct requests come from 127.0.0.1.

// headerUsers are the customer records of the nginx users (carol has none on purpose; dave's
// is invalid). The rows of seedOTRS stay as they are.
var headerUsers = []struct {
	login, customerID, title, first, last string
	valid                                 int
}{
	{"alice", "CUST-ALICE", "Ms.", "Alice", "Liddell", 1},
	{"bob", "CUST-BOB", "Mr.", "Bob", "Builder", 1},
	{"josé", "CUST-JOSE", "Dr.", "José", "Müller", 1},
	{"jdoe", "CUST-JDOE", "Mr.", "John", "Doe", 1},
	{"dave", "CUST-DAVE", "Mr.", "Dave", "Invalid", 2},
}

func seedHeaderUsers(t *testing.T, dsn string) {
	t.Helper()
	db := openTestDB(t, dsn)
	for _, u := range headerUsers {
		if _, err := db.SQL().ExecContext(t.Context(), db.Rebind(`INSERT INTO customer_user (login, email, customer_id, pw, title,
			first_name, last_name, valid_id, create_time, create_by, change_time, change_by)
			VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, 1, ?, 1)`),
			u.login, u.login+"@example.com", u.customerID, u.title, u.first, u.last, u.valid, time.Now().UTC(), time.Now().UTC()); err != nil {
			t.Fatalf("insert %s: %v", u.login, err)
		}
	}
}

func setValid(t *testing.T, dsn, login string, valid int) {
	t.Helper()
	db := openTestDB(t, dsn)
	if _, err := db.SQL().ExecContext(t.Context(), db.Rebind("UPDATE customer_user SET valid_id = ? WHERE login = ?"), valid, login); err != nil {
		t.Fatal(err)
	}
}

func headerConfigYAML(upstream, dsn, trusted string, headerFirst, session bool) string {
	hdr := fmt.Sprintf(`
  - module: http_basic_auth
    header: X-Remote-User
    replace_regexp: "^(.+?)@.+?$"
    session: %t`, session)
	db := fmt.Sprintf(`
  - module: db
    dsn: %q
    crypt_type: sha2`, dsn)
	chain := hdr + db
	if !headerFirst {
		chain = db + hdr
	}
	return fmt.Sprintf(`
server: {listen: 127.0.0.1:0, public_url: "http://127.0.0.1:8080", trusted_proxies: [%s]}
admin: {listen: ""}
sessions: {store: memory}
routes: [{name: helpdesk, path_prefix: /, upstream: %q}]
customer_auth:%s
customer_user:
  - name: OTRS
    module: db
    params: {dsn: %q}
log: {level: warn}
`, trusted, upstream, chain, dsn)
}

// hreq is one request of these tests: through nginx (user set: Basic auth) or straight to
// gatehouse.
type hreq struct {
	user, pw string
	accept   string
	hdr      map[string]string
	cookie   *http.Cookie
}

type hresp struct {
	status  int
	body    string
	header  http.Header
	session *http.Cookie // gatehouse_session set by the answer; nil if none
}

func hdo(t *testing.T, c *http.Client, url string, r hreq) hresp {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pw)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	for k, v := range r.hdr {
		req.Header.Set(k, v)
	}
	if r.cookie != nil {
		req.AddCookie(r.cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := hresp{status: resp.StatusCode, body: string(b), header: resp.Header}
	for _, ck := range resp.Cookies() {
		if ck.Name == "gatehouse_session" && ck.Value != "" {
			out.session = ck
		}
	}
	return out
}

const (
	jsonAccept = "application/json"
	htmlAccept = "text/html,application/xhtml+xml"
)

func TestHeaderBehindNginx(t *testing.T) {
	started := time.Now()
	dsn := sqliteOTRS(t)
	seedHeaderUsers(t, dsn)
	up, upURL := startRecorder(t)

	// Clients. Redirects are not followed; every request builds its own cookies.
	viaNginx := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	direct := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		}}}
	t.Cleanup(direct.CloseIdleConnections)
	t.Cleanup(viaNginx.CloseIdleConnections)

	// wantUser checks the upstream's last request: the customer user's identity, and none of
	// the proxy's input headers.
	wantUser := func(t *testing.T, login, customerID, name string) {
		t.Helper()
		h := up.last()
		if h == nil {
			t.Fatal("nothing reached the upstream")
		}
		if got := h.Values("Remote-User"); len(got) != 1 || got[0] != login {
			t.Errorf("upstream Remote-User %q, want %q", got, login)
		}
		if h.Get("X-Customer-Id") != customerID || h.Get("X-Customer-User-Name") != name ||
			h.Get("X-Customer-User-Email") != login+"@example.com" || h.Get("X-Customer-User-Source") != "OTRS" {
			t.Errorf("%s: upstream identity headers %v", login, h)
		}
		if v, ok := h["X-Remote-User"]; ok {
			t.Errorf("%s: the login header reached the upstream: %q", login, v)
		}
		if v, ok := h["Authorization"]; ok {
			t.Errorf("%s: Authorization reached the upstream: %q", login, v)
		}
	}

	// Gateway A: http_basic_auth first (PreAuth), sessions on; its nginx connects from the
	// trusted 127.0.0.2.
	ghA := start(t, parseConfig(t, headerConfigYAML(upURL, dsn, "127.0.0.2", true, true)))
	nginxA := testenv.StartNginxBasicFrom(t, strings.TrimPrefix(ghA.base, "http://"), "127.0.0.2")
	t.Logf("gatehouse %s behind nginx %s (setup %v)", ghA.base, nginxA, time.Since(started).Round(time.Millisecond))

	var aliceSession *http.Cookie
	t.Run("a: basic auth at nginx becomes the customer user upstream", func(t *testing.T) {
		for _, u := range []struct{ user, pw, customerID, name string }{
			{"alice", "alicepass", "CUST-ALICE", "Ms. Alice Liddell"},
			{"bob", "bobpass", "CUST-BOB", "Mr. Bob Builder"},
			{"josé", "josepass", "CUST-JOSE", "Dr. José Müller"},
		} {
			r := hdo(t, viaNginx, nginxA+"/otrs/customer.pl?Action=CustomerTicketOverview", hreq{user: u.user, pw: u.pw})
			if r.status != 200 || r.body != "helpdesk" {
				t.Fatalf("%s: %d %s", u.user, r.status, r.body)
			}
			wantUser(t, u.user, u.customerID, u.name)
			if got := up.last().Get("X-Forwarded-For"); got != "127.0.0.1, 127.0.0.2" {
				t.Errorf("%s: X-Forwarded-For %q, want the client as nginx saw it, then nginx", u.user, got)
			}
			if r.session == nil {
				t.Fatalf("%s: no session cookie with session: true", u.user)
			}
			if u.user == "alice" {
				aliceSession = r.session
			}
		}
		// A wrong password never gets past nginx.
		before := up.count()
		if r := hdo(t, viaNginx, nginxA+"/", hreq{user: "alice", pw: "wrong"}); r.status != 401 {
			t.Errorf("wrong password: %d", r.status)
		}
		if up.count() != before {
			t.Error("a request with a wrong password reached the upstream")
		}
	})

	t.Run("b: the session cookie carries the login", func(t *testing.T) {
		if aliceSession == nil {
			t.Skip("no session from a")
		}
		r := hdo(t, viaNginx, nginxA+"/second", hreq{user: "alice", pw: "alicepass", cookie: aliceSession})
		if r.status != 200 || r.session != nil {
			t.Fatalf("second request: %d, new session %v", r.status, r.session != nil)
		}
		wantUser(t, "alice", "CUST-ALICE", "Ms. Alice Liddell")
		// The cookie alone identifies alice: straight to gatehouse, from an untrusted peer,
		// without any login header.
		r = hdo(t, direct, ghA.base+"/third", hreq{accept: jsonAccept, cookie: aliceSession})
		if r.status != 200 {
			t.Fatalf("cookie only: %d %s", r.status, r.body)
		}
		wantUser(t, "alice", "CUST-ALICE", "Ms. Alice Liddell")
	})

	t.Run("c: a spoofed login header is replaced by nginx", func(t *testing.T) {
		spoof := map[string]string{"X-Remote-User": "bob", "Remote-User": "bob", "X-Customer-ID": "EVIL"}
		r := hdo(t, viaNginx, nginxA+"/", hreq{user: "alice", pw: "alicepass", hdr: spoof})
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		wantUser(t, "alice", "CUST-ALICE", "Ms. Alice Liddell")
		// Without credentials nginx refuses, whatever header comes along.
		before := up.count()
		r = hdo(t, viaNginx, nginxA+"/", hreq{hdr: map[string]string{"X-Remote-User": "alice"}})
		if r.status != 401 || r.header.Get("WWW-Authenticate") != `Basic realm="SSO test"` {
			t.Errorf("no credentials: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
		if up.count() != before {
			t.Error("a request without credentials reached the upstream")
		}
	})

	t.Run("d: the login header straight from an untrusted peer gets nothing", func(t *testing.T) {
		before := up.count()
		hdr := map[string]string{"X-Remote-User": "alice"}
		r := hdo(t, direct, ghA.base+"/", hreq{accept: jsonAccept, hdr: hdr})
		if r.status != 401 || r.session != nil || !strings.Contains(r.body, "Authentication required") {
			t.Errorf("API client: %d %s", r.status, r.body)
		}
		// PreAuth (http_basic_auth first): a browser gets the "not signed in" page, no redirect
		// (gateway B below shows the redirect to the login page without PreAuth).
		r = hdo(t, direct, ghA.base+"/", hreq{accept: htmlAccept, hdr: hdr})
		if r.status != 401 || r.session != nil || r.header.Get("Location") != "" || !strings.Contains(r.body, "not signed in") {
			t.Errorf("browser: %d %q %s", r.status, r.header.Get("Location"), r.body)
		}
		if up.count() != before {
			t.Fatal("a direct request with the login header reached the upstream")
		}
	})

	t.Run("e: replace_regexp turns jdoe@EXAMPLE.COM into jdoe", func(t *testing.T) {
		r := hdo(t, viaNginx, nginxA+"/", hreq{user: "jdoe@EXAMPLE.COM", pw: "jdoepass"})
		if r.status != 200 || r.session == nil {
			t.Fatalf("%d %s (session %v)", r.status, r.body, r.session != nil)
		}
		wantUser(t, "jdoe", "CUST-JDOE", "Mr. John Doe")
		// The session holds jdoe too.
		if r := hdo(t, direct, ghA.base+"/", hreq{accept: jsonAccept, cookie: r.session}); r.status != 200 {
			t.Fatalf("jdoe's session: %d", r.status)
		}
		wantUser(t, "jdoe", "CUST-JDOE", "Mr. John Doe")
	})

	t.Run("f: PreAuth offers no password form", func(t *testing.T) {
		before := up.count()
		r := hdo(t, direct, ghA.base+"/otrs/customer.pl", hreq{accept: htmlAccept})
		if r.status != 401 || r.header.Get("Location") != "" || strings.Contains(r.body, `type="password"`) ||
			!strings.Contains(r.body, "not signed in") {
			t.Errorf("anonymous browser: %d %q %s", r.status, r.header.Get("Location"), r.body)
		}
		if r := hdo(t, direct, ghA.base+"/otrs/customer.pl", hreq{accept: jsonAccept}); r.status != 401 {
			t.Errorf("anonymous API client: %d", r.status)
		}
		if up.count() != before {
			t.Error("an anonymous request reached the upstream")
		}
	})

	t.Run("g: no customer record, invalid customer user", func(t *testing.T) {
		before := up.count()
		for _, accept := range []string{jsonAccept, htmlAccept} {
			r := hdo(t, viaNginx, nginxA+"/", hreq{user: "carol", pw: "carolpass", accept: accept})
			if r.status != 403 || r.session != nil || !strings.Contains(r.body, "no customer record is found") {
				t.Errorf("carol (%s): %d %s", accept, r.status, r.body)
			}
			r = hdo(t, viaNginx, nginxA+"/", hreq{user: "dave", pw: "davepass", accept: accept})
			if r.status != 403 || r.session != nil || !strings.Contains(r.body, "Login failed!") ||
				strings.Contains(r.body, "no customer record") {
				t.Errorf("dave (%s): %d %s", accept, r.status, r.body)
			}
		}
		if up.count() != before {
			t.Error("a refused login reached the upstream")
		}
	})

	// Gateway B: sessions off, and the header module second (after db), so there is no
	// PreAuth: a browser without a login goes to the password form.
	ghB := start(t, parseConfig(t, headerConfigYAML(upURL, dsn, "127.0.0.2", false, false)))
	nginxB := testenv.StartNginxBasicFrom(t, strings.TrimPrefix(ghB.base, "http://"), "127.0.0.2")

	t.Run("b: session false checks every request", func(t *testing.T) {
		for _, u := range []struct{ user, pw, customerID, name string }{
			{"alice", "alicepass", "CUST-ALICE", "Ms. Alice Liddell"},
			{"bob", "bobpass", "CUST-BOB", "Mr. Bob Builder"},
			{"alice", "alicepass", "CUST-ALICE", "Ms. Alice Liddell"},
		} {
			r := hdo(t, viaNginx, nginxB+"/", hreq{user: u.user, pw: u.pw})
			if r.status != 200 || r.session != nil || len(r.header.Values("Set-Cookie")) != 0 {
				t.Fatalf("%s: %d, Set-Cookie %q", u.user, r.status, r.header.Values("Set-Cookie"))
			}
			wantUser(t, u.user, u.customerID, u.name)
		}
		// Each request is looked up again: alice set invalid is refused at once, and back.
		setValid(t, dsn, "alice", 2)
		r := hdo(t, viaNginx, nginxB+"/", hreq{user: "alice", pw: "alicepass", accept: jsonAccept})
		setValid(t, dsn, "alice", 1)
		if r.status != 403 {
			t.Errorf("alice set invalid: %d %s", r.status, r.body)
		}
		if r := hdo(t, viaNginx, nginxB+"/", hreq{user: "alice", pw: "alicepass"}); r.status != 200 {
			t.Errorf("alice valid again: %d", r.status)
		}
		wantUser(t, "alice", "CUST-ALICE", "Ms. Alice Liddell")
		if r := hdo(t, viaNginx, nginxB+"/", hreq{user: "jdoe@EXAMPLE.COM", pw: "jdoepass"}); r.status != 200 {
			t.Errorf("jdoe@EXAMPLE.COM: %d", r.status)
		}
		wantUser(t, "jdoe", "CUST-JDOE", "Mr. John Doe")
	})

	t.Run("d: without PreAuth an untrusted browser goes to the login page", func(t *testing.T) {
		before := up.count()
		hdr := map[string]string{"X-Remote-User": "alice"}
		r := hdo(t, direct, ghB.base+"/otrs/customer.pl", hreq{accept: htmlAccept, hdr: hdr})
		if r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), "/.gatehouse/login?rd=") || r.session != nil {
			t.Errorf("browser: %d %q", r.status, r.header.Get("Location"))
		}
		r = hdo(t, direct, ghB.base+"/otrs/customer.pl", hreq{accept: jsonAccept, hdr: hdr})
		if r.status != 401 || r.session != nil {
			t.Errorf("API client: %d %s", r.status, r.body)
		}
		if up.count() != before {
			t.Fatal("a direct request with the login header reached the upstream")
		}
		// The password form still works beside the header module.
		formLogin(t, ghB, "u-sha2", vectorPassword)
	})
	t.Logf("total %v", time.Since(started).Round(time.Millisecond))
}
