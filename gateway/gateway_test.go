package gateway

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
)

func TestAnonymous(t *testing.T) {
	h := newHarness(t, nil)
	t.Run("browser goes to the login page with rd", func(t *testing.T) {
		resp, _ := h.do("GET", "/helpdesk/ticket?id=7&a=b", nil, map[string]string{"Accept": "text/html,application/xhtml+xml"})
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status %d, want 302", resp.StatusCode)
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Path != PathLogin || loc.Query().Get("rd") != "/helpdesk/ticket?id=7&a=b" {
			t.Fatalf("Location %q", resp.Header.Get("Location"))
		}
	})
	t.Run("API client gets 401 with a challenge", func(t *testing.T) {
		resp, body := h.do("GET", "/api/x", nil, map[string]string{"Accept": "application/json"})
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Cookie ") {
			t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if !strings.Contains(body, `"error"`) {
			t.Fatalf("body %s", body)
		}
	})
	t.Run("public route needs no session", func(t *testing.T) {
		resp, body := h.do("GET", "/static/app.css", nil, map[string]string{"Remote-User": "admin"})
		if resp.StatusCode != 200 || body != "upstream says hi" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		if got := h.up.request().Header.Get("Remote-User"); got != "" {
			t.Fatalf("spoofed Remote-User reached the upstream on a public route: %q", got)
		}
	})
	t.Run("nothing reached the upstream unauthenticated", func(t *testing.T) {
		if h.up.n != 1 {
			t.Fatalf("upstream saw %d requests, want only the public one", h.up.n)
		}
	})
	t.Run("malformed session cookie is anonymous", func(t *testing.T) {
		resp, _ := h.do("GET", "/x", nil, nil, &http.Cookie{Name: "gatehouse_session", Value: "not-a-session%00"})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestLoginAndIdentityHeaders(t *testing.T) {
	h := newHarness(t, nil)
	resp, sess := h.login("jdoe", "Secret123!", "/helpdesk/?q=1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/helpdesk/?q=1" {
		t.Fatalf("login: status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure {
		t.Fatalf("session cookie %+v (want HttpOnly, Lax, not Secure on loopback http)", sess)
	}
	if len(sess.Value) != 43 {
		t.Fatalf("session id %d chars, want 43 (256 bits)", len(sess.Value))
	}

	spoof := map[string]string{
		"Remote-User": "admin", "REMOTE_USER": "admin", "remote_user": "admin", "X-Customer-ID": "EVIL",
		"X_Customer_User_Groups": "admin:rw", "x-customer-user-email": "evil@example.com", "X-Gatehouse-Assertion": "forged",
		"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil.example", "Cookie": "theme=dark",
	}
	resp, body := h.do("GET", "/helpdesk/", nil, spoof, sess)
	if resp.StatusCode != 200 || body != "upstream says hi" {
		t.Fatalf("proxied: status %d body %q", resp.StatusCode, body)
	}
	got := h.up.request()
	want := map[string]string{
		"Remote-User":            "jdoe",
		"X-Customer-Id":          "ACME",
		"X-Customer-Ids":         "ACME,OTHER",
		"X-Customer-User-Email":  "jdoe@example.com",
		"X-Customer-User-Name":   "John Doe",
		"X-Customer-User-Groups": "billing:ro,users:rw",
		"X-Customer-User-Source": "Database Backend",
		"X-Forwarded-Proto":      "http",
	}
	for k, v := range want {
		if vs := got.Header.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("upstream %s = %q, want exactly [%q]", k, vs, v)
		}
	}
	for name := range got.Header {
		if strings.Contains(name, "_") {
			t.Errorf("underscore spelling %q reached the upstream", name)
		}
	}
	if got.Header.Get("X-Gatehouse-Assertion") != "" {
		t.Errorf("forged assertion reached the upstream")
	}
	if xff := got.Header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q: an untrusted client's value must be replaced", xff)
	}
	if c := got.Header.Get("Cookie"); c != "theme=dark" {
		t.Errorf("upstream Cookie %q: gatehouse's cookie must be removed, others kept", c)
	}
	if resp.Header.Get("X-Upstream") != "yes" {
		t.Errorf("upstream response header lost")
	}

	t.Run("userinfo", func(t *testing.T) {
		resp, body := h.do("GET", PathUserinfo, nil, nil, sess)
		var m map[string]any
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &m) != nil || m["login"] != "jdoe" {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
	})
	t.Run("header values are sanitised", func(t *testing.T) {
		// A changed claims.headers (as after a restart): sessions rendered under the old
		// configuration are rendered anew, not sent as stored.
		h.gw.headers = append(h.gw.headers, claimHeader{name: "X-City", variable: "UserCity", max: 4096})
		h.gw.headersKey = headersFingerprint(h.gw.headers)
		h.do("GET", "/", nil, nil, sess)
		if c := h.up.request().Header.Get("X-City"); c != "Berlin  X-Evil: 1" {
			t.Errorf("X-City %q", c)
		}
		if h.up.request().Header.Get("X-Evil") != "" {
			t.Errorf("CR/LF in a value split the header")
		}
	})
}

func TestLoginRefusals(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		name, user, pw string
		status         int
		msg            string
	}{
		{"wrong password", "jdoe", "nope", 401, msgLoginFailed},
		{"unknown user", "nobody", "Secret123!", 401, msgLoginFailed},
		{"invalid user", "old", "pw", 401, msgLoginFailed},
		{"no customer record", "ghost", "boo", 401, msgNoRecord},
		{"empty password", "jdoe", "", 401, msgLoginFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, sess := h.login(tc.user, tc.pw, "/")
			if resp.StatusCode != tc.status || sess != nil {
				t.Fatalf("status %d (want %d), session %v", resp.StatusCode, tc.status, sess)
			}
			_, body := h.do("POST", PathAPILogin, strings.NewReader(`{"username":"`+tc.user+`","password":"`+tc.pw+`"}`),
				map[string]string{"Content-Type": "application/json"})
			if !strings.Contains(body, tc.msg) {
				t.Fatalf("JSON answer %s lacks %q", body, tc.msg)
			}
		})
	}
	t.Run("form without csrf", func(t *testing.T) {
		form := url.Values{"username": {"jdoe"}, "password": {"Secret123!"}}
		resp, _ := h.do("POST", PathLogin, strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if resp.StatusCode != http.StatusForbidden || cookieNamed(resp, "gatehouse_session") != nil {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("JSON login needs application/json", func(t *testing.T) {
		resp, _ := h.do("POST", PathAPILogin, strings.NewReader(`{"username":"jdoe","password":"Secret123!"}`), map[string]string{"Content-Type": "text/plain"})
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("oversized login body", func(t *testing.T) {
		// Raw connection: the client sends only part of its declared megabyte; the answer must
		// come without gatehouse reading (or buffering) the rest. (With net/http the client,
		// still writing, could see a reset instead of the answer.)
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(conn, "POST "+PathAPILogin+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{\"username\":\""+strings.Repeat("a", 64<<10))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		resp, _ := h.do("POST", PathAPILogin, strings.NewReader(`{"username":`), map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("die turns a fault into 503", func(t *testing.T) {
		h.gw.deps.Chain.Modules()[0].Die = true
		h.module.fault.Store(true)
		defer h.module.fault.Store(false)
		resp, _ := h.login("jdoe", "Secret123!", "/")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	if strings.Contains(h.logs.String(), "Secret123!") {
		t.Fatal("a password reached the log")
	}
}

func TestJSONLoginAndLogout(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) { c.Portal.LogoutURL = "https://portal.example.com/bye" })
	resp, body := h.do("POST", PathAPILogin, strings.NewReader(`{"username":"jdoe","password":"Secret123!"}`), map[string]string{"Content-Type": "application/json; charset=utf-8"})
	sess := cookieNamed(resp, "gatehouse_session")
	if resp.StatusCode != 200 || sess == nil || !strings.Contains(body, `"login":"jdoe"`) {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	t.Run("GET logout without token asks to confirm", func(t *testing.T) {
		resp, body := h.do("GET", PathLogout, nil, map[string]string{"Accept": "text/html"}, sess)
		if resp.StatusCode != 200 || !strings.Contains(body, "Do you want to log out?") {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
		if r, _ := h.do("GET", "/", nil, nil, sess); r.StatusCode != 200 {
			t.Fatal("session ended without a token")
		}
	})
	t.Run("JSON logout", func(t *testing.T) {
		resp, body := h.do("POST", PathLogout, strings.NewReader("{}"), map[string]string{"Content-Type": "application/json"}, sess)
		if resp.StatusCode != 200 || body != `{"redirect":"https://portal.example.com/bye"}` {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
		if r, _ := h.do("GET", "/", nil, nil, sess); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("session still alive after logout: %d", r.StatusCode)
		}
	})
}

func TestFormLogout(t *testing.T) {
	h := newHarness(t, nil)
	_, sess := h.login("jdoe", "Secret123!", "/")
	_, page := h.do("GET", PathLogout, nil, map[string]string{"Accept": "text/html"}, sess)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no confirmation form: %s", page)
	}
	resp, body := h.do("POST", PathLogout, strings.NewReader("csrf="+url.QueryEscape(m[1])),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}, sess)
	if resp.StatusCode != 200 || !strings.Contains(body, msgLogoutSuccessful) {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if c := resp.Cookies(); len(c) == 0 || c[0].MaxAge >= 0 {
		t.Fatalf("cookie not cleared: %+v", c)
	}
	if r, _ := h.do("GET", "/", nil, nil, sess); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("session alive after logout: %d", r.StatusCode)
	}
}

func TestSessionRotatesAtLogin(t *testing.T) {
	h := newHarness(t, nil)
	_, first := h.login("jdoe", "Secret123!", "/")
	// A second login while holding a session gives a new id and ends the old one.
	resp, _ := h.do("GET", PathLogin, nil, nil)
	csrf := csrfField.FindStringSubmatch(func() string { _, b := h.do("GET", PathLogin, nil, nil, cookieNamed(resp, cookieCSRF)); return b }())
	form := url.Values{"username": {"jdoe"}, "password": {"Secret123!"}, "csrf": {csrf[1]}}
	resp2, _ := h.do("POST", PathLogin, strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, cookieNamed(resp, cookieCSRF), first)
	second := cookieNamed(resp2, "gatehouse_session")
	if second == nil || second.Value == first.Value {
		t.Fatalf("no new session id at login")
	}
	if r, _ := h.do("GET", "/", nil, nil, first); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pre-login session still valid: %d", r.StatusCode)
	}
}

func TestStoreDownFailsClosed(t *testing.T) {
	h := newHarness(t, nil)
	_, sess := h.login("jdoe", "Secret123!", "/")
	h.store.down.Store(true)
	n := h.up.n
	resp, _ := h.do("GET", "/", nil, nil, sess)
	if resp.StatusCode != http.StatusServiceUnavailable || h.up.n != n {
		t.Fatalf("store down: status %d, upstream requests %d→%d", resp.StatusCode, n, h.up.n)
	}
	if r, _ := h.login("jdoe", "Secret123!", "/"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("login with the store down: %d", r.StatusCode)
	}
	h.store.down.Store(false)
	if r, _ := h.do("GET", "/", nil, nil, sess); r.StatusCode != 200 {
		t.Fatalf("after recovery: %d", r.StatusCode)
	}
}

func TestRedirectAfterLogin(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) { c.Portal.AllowedRedirectHosts = []string{corpusAllowedHost} })
	self, _ := url.Parse(h.base)
	for _, rd := range readCorpus(t, "../testdata/openredirects.txt", "../testdata/openredirects-extra.txt")[:80] {
		resp, _ := h.login("jdoe", "Secret123!", rd)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("rd %q: status %d", rd, resp.StatusCode)
		}
		loc := resp.Header.Get("Location")
		u, err := browserResolve(self, loc)
		if err != nil || (u.Hostname() != self.Hostname() && u.Hostname() != corpusAllowedHost) {
			t.Errorf("rd %q → Location %q leaves home", rd, loc)
		}
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t, nil)
	if r, b := h.do("GET", PathHealthz, nil, nil); r.StatusCode != 200 || b != "ok\n" {
		t.Fatalf("healthz %d %q", r.StatusCode, b)
	}
	if r, _ := h.do("GET", PathReadyz, nil, nil); r.StatusCode != 200 {
		t.Fatalf("readyz %d", r.StatusCode)
	}
	if r, _ := h.do("GET", "/.gatehouse/nothing", nil, nil); r.StatusCode != 404 {
		t.Fatalf("unknown reserved path %d", r.StatusCode)
	}
}

func TestForwardedFromTrustedProxy(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) { c.Server.TrustedProxies = []string{"127.0.0.1"} })
	_, sess := h.login("jdoe", "Secret123!", "/")
	h.do("GET", "/", nil, map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "portal.example.com"}, sess)
	got := h.up.request().Header
	if got.Get("X-Forwarded-For") != "203.0.113.9, 127.0.0.1" || got.Get("X-Forwarded-Proto") != "https" || got.Get("X-Forwarded-Host") != "portal.example.com" {
		t.Fatalf("forwarded headers from a trusted proxy: %v", got)
	}
}
