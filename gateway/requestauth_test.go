package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// headerModule is a minimal trusted-header module (the real one is authn/header, proven
// against nginx in cmd/gatehouse's end-to-end tests).
type headerModule struct{ header string }

func (m headerModule) Name() string { return "http_basic_auth" }
func (m headerModule) Authenticate(context.Context, authn.Credentials) (authn.Result, error) {
	return authn.Result{}, nil
}
func (m headerModule) AuthenticateRequest(_ context.Context, r authn.RequestView) (authn.Result, error) {
	if v := r.Header(m.header); v != "" {
		return authn.Result{Outcome: authn.Authenticated, Login: v}, nil
	}
	return authn.Result{}, nil
}

type bearerModule struct{}

func (bearerModule) Name() string { return "oidc" }
func (bearerModule) Authenticate(context.Context, authn.Credentials) (authn.Result, error) {
	return authn.Result{}, nil
}
func (bearerModule) AuthenticateRequest(_ context.Context, r authn.RequestView) (authn.Result, error) {
	switch r.Header("Authorization") {
	case "":
		return authn.Result{}, nil
	case "Bearer good":
		return authn.Result{Outcome: authn.Authenticated, Login: "jdoe"}, nil
	}
	return authn.Result{}, fmt.Errorf("verify: %w", ErrInvalidToken)
}

func headerHarness(t *testing.T, trusted string, session, preAuth bool, edit func(*configs.Config)) *harness {
	return newHarnessDeps(t, func(c *configs.Config) {
		c.Server.TrustedProxies = []string{trusted}
		if edit != nil {
			edit(c)
		}
	}, func(d *Deps) {
		d.RequestModules = []RequestModule{
			{Module: headerModule{header: "X-Remote-User"}, TrustedOnly: true, Header: "X-Remote-User", Session: session},
			{Module: bearerModule{}, Bearer: true},
		}
		d.PreAuth = preAuth
	})
}

func TestTrustedHeader(t *testing.T) {
	t.Run("from a trusted proxy, with a session", func(t *testing.T) {
		h := headerHarness(t, "127.0.0.1", true, false, nil)
		resp, _ := h.do("GET", "/app", nil, map[string]string{"X-Remote-User": "JDoe", "Remote-User": "admin"})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		got := h.up.request().Header
		if got.Get("Remote-User") != "jdoe" || got.Get("X-Remote-User") != "" {
			t.Fatalf("upstream Remote-User %q (want the record's spelling), X-Remote-User %q (want removed)", got.Get("Remote-User"), got.Get("X-Remote-User"))
		}
		sess := cookieNamed(resp, "gatehouse_session")
		if sess == nil {
			t.Fatal("no session created")
		}
		// Later requests ride on the session, without the header.
		if r, _ := h.do("GET", "/app", nil, nil, sess); r.StatusCode != 200 {
			t.Fatalf("with the session: %d", r.StatusCode)
		}
	})
	t.Run("another user from the proxy ends the session", func(t *testing.T) {
		h := headerHarness(t, "127.0.0.1", true, false, nil)
		resp, _ := h.do("GET", "/app", nil, map[string]string{"X-Remote-User": "jdoe"})
		sess := cookieNamed(resp, "gatehouse_session")
		if r, _ := h.do("GET", "/app", nil, map[string]string{"X-Remote-User": "ghost"}, sess); r.StatusCode != 403 {
			t.Fatalf("another proxy user rode on jdoe's session: %d", r.StatusCode)
		}
		if r, _ := h.do("GET", "/app", nil, map[string]string{"Accept": "application/json"}, sess); r.StatusCode != 401 {
			t.Fatalf("the old session survived: %d", r.StatusCode)
		}
	})
	t.Run("session: false checks every request", func(t *testing.T) {
		h := headerHarness(t, "127.0.0.1", false, false, nil)
		resp, _ := h.do("GET", "/app", nil, map[string]string{"X-Remote-User": "jdoe"})
		if resp.StatusCode != 200 || cookieNamed(resp, "gatehouse_session") != nil {
			t.Fatalf("status %d, cookie %v", resp.StatusCode, resp.Cookies())
		}
	})
	t.Run("from an untrusted peer the header is ignored", func(t *testing.T) {
		h := headerHarness(t, "192.0.2.0/24", true, false, nil)
		resp, _ := h.do("GET", "/app", nil, map[string]string{"X-Remote-User": "jdoe", "Accept": "application/json"})
		if resp.StatusCode != http.StatusUnauthorized || h.up.n != 0 {
			t.Fatalf("status %d, upstream requests %d", resp.StatusCode, h.up.n)
		}
		if !strings.Contains(h.logs.String(), "login header from an untrusted peer ignored") {
			t.Fatal("the attempt was not logged")
		}
		// And the header never reaches the upstream, even on a public route.
		h.do("GET", "/static/x", nil, map[string]string{"X-Remote-User": "jdoe"})
		if h.up.request().Header.Get("X-Remote-User") != "" {
			t.Fatal("the login header reached the upstream")
		}
	})
	t.Run("unknown and invalid users are refused", func(t *testing.T) {
		h := headerHarness(t, "127.0.0.1", true, false, nil)
		for login, want := range map[string]int{"ghost": 403, "old": 403} {
			if r, _ := h.do("GET", "/app", nil, map[string]string{"X-Remote-User": login}); r.StatusCode != want {
				t.Errorf("%s: %d, want %d", login, r.StatusCode, want)
			}
		}
	})
	t.Run("PreAuth shows no password form", func(t *testing.T) {
		h := headerHarness(t, "127.0.0.1", true, true, nil)
		resp, body := h.do("GET", "/app", nil, map[string]string{"Accept": "text/html"})
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, `type="password"`) || !strings.Contains(body, "not signed in") {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
	})
}

func TestBearer(t *testing.T) {
	h := headerHarness(t, "127.0.0.1", true, false, nil)
	if r, _ := h.do("GET", "/api", nil, map[string]string{"Authorization": "Bearer good"}); r.StatusCode != 200 || cookieNamed(r, "gatehouse_session") != nil {
		t.Fatalf("good token: %d", r.StatusCode)
	}
	if got := h.up.request().Header.Get("Remote-User"); got != "jdoe" {
		t.Fatalf("Remote-User %q", got)
	}
	r, _ := h.do("GET", "/api", nil, map[string]string{"Authorization": "Bearer forged"})
	if r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != `Bearer realm="gatehouse", error="invalid_token"` {
		t.Fatalf("bad token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
}

func TestPortalFallbacks(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) {
		c.Portal.LoginURL = "https://portal.example.com/login?lang=de"
		c.Portal.LogoutURL = "https://portal.example.com/bye"
	})
	loc := func(r *http.Response) *url.URL {
		u, err := url.Parse(r.Header.Get("Location"))
		if err != nil || u.Host != "portal.example.com" {
			t.Fatalf("Location %q", r.Header.Get("Location"))
		}
		return u
	}
	t.Run("anonymous browser", func(t *testing.T) {
		r, _ := h.do("GET", "/helpdesk/ticket?id=7", nil, map[string]string{"Accept": "text/html"})
		u := loc(r)
		if r.StatusCode != 302 || u.Query().Get("RequestedURL") != h.base+"/helpdesk/ticket?id=7" || u.Query().Get("lang") != "de" || u.Query().Has("Reason") {
			t.Fatalf("%d %s", r.StatusCode, u)
		}
	})
	t.Run("expired session", func(t *testing.T) {
		stale := &http.Cookie{Name: "gatehouse_session", Value: strings.Repeat("A", 43)}
		r, _ := h.do("GET", "/x", nil, map[string]string{"Accept": "text/html"}, stale)
		if u := loc(r); u.Query().Get("Reason") != "InvalidSessionID" {
			t.Fatalf("%s", u)
		}
	})
	t.Run("failed login", func(t *testing.T) {
		r, _ := h.login("jdoe", "wrong", "/helpdesk/")
		u := loc(r)
		if r.StatusCode != http.StatusSeeOther || u.Query().Get("Reason") != "LoginFailed" || u.Query().Get("RequestedURL") != h.base+"/helpdesk/" {
			t.Fatalf("%d %s", r.StatusCode, u)
		}
	})
	t.Run("logout", func(t *testing.T) {
		_, sess := h.login("jdoe", "Secret123!", "/")
		_, page := h.do("GET", PathLogout, nil, map[string]string{"Accept": "text/html"}, sess)
		m := csrfField.FindStringSubmatch(page)
		r, _ := h.do("GET", PathLogout+"?csrf="+url.QueryEscape(m[1]), nil, map[string]string{"Accept": "text/html"}, sess)
		if u := loc(r); r.StatusCode != http.StatusSeeOther || u.Path != "/bye" {
			t.Fatalf("%d %s", r.StatusCode, u)
		}
	})
}
