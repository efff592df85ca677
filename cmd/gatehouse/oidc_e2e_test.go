package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// TestOIDCThroughGateway signs customers in with a real OpenID provider (zitadel's OP,
// in-process) through gatehouse's own endpoints, as a browser does, and checks that the
// upstream receives the same identity as for a password login of the same customer user.
func TestOIDCThroughGateway(t *testing.T) {
	dsn := sqliteOTRS(t)
	db := openTestDB(t, dsn)
	for login, valid := range map[string]int{"alice": 1, "bob": 2} {
		if _, err := db.SQL().Exec(db.Rebind(`INSERT INTO customer_user (login, email, customer_id, pw, first_name, last_name, valid_id,
			create_time, create_by, change_time, change_by) VALUES (?, ?, 'ACME', ?, 'Alice', 'Example', ?, CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, 1)`),
			login, login+"@example.com", accounts[0].pw, valid); err != nil {
			t.Fatal(err)
		}
	}
	up, upURL := startRecorder(t)
	addr := freeAddr(t)
	base := "http://" + addr
	clients := []testenv.OIDCClient{
		{ID: "gatehouse", Secret: "gwsecret", RedirectURIs: []string{base + "/.gatehouse/oidc/corp/callback"},
			PostLogoutRedirectURIs: []string{base + "/.gatehouse/logout"}, JWTAccessToken: true},
		{ID: "gatehouse-auto", Secret: "gwsecret2", RedirectURIs: []string{base + "/.gatehouse/oidc/corp-auto/callback"}},
	}
	op := testenv.StartOIDCProvider(t, clients...)
	gh := start(t, parseConfig(t, fmt.Sprintf(`
server: {listen: %q, public_url: %q}
admin: {listen: ""}
routes: [{name: helpdesk, upstream: %q}]
customer_auth:
  - {module: db, dsn: %q, crypt_type: sha2}
  - {module: oidc, name: corp, label: "Sign in with Corp", issuer: %q, client_id: gatehouse, client_secret: gwsecret,
     login_claim: preferred_username, provider_logout: true, accept_bearer: true}
  - {module: oidc, name: corp-auto, issuer: %q, client_id: gatehouse-auto, client_secret: gwsecret2,
     auto_create: true, default_customer_id: NEWCO}
customer_user: [{name: OTRS, module: db, params: {dsn: %q}}]
log: {level: warn}
`, addr, base, upURL, dsn, op.Issuer, op.Issuer, dsn)))

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, string) {
		t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	// signIn runs the code flow for user at provider and returns gatehouse's final answer.
	signIn := func(provider, user, pass string) (*http.Response, string) {
		t.Helper()
		resp, _ := get(gh.base + "/.gatehouse/oidc/" + provider + "/start?rd=%2Fhelpdesk%2F")
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("start: %d", resp.StatusCode)
		}
		cb, err := op.Login(nil, resp.Header.Get("Location"), user, pass)
		if err != nil {
			t.Fatalf("provider login: %v", err)
		}
		return get(cb.String())
	}

	t.Run("login page offers the provider", func(t *testing.T) {
		_, page := get(gh.base + "/.gatehouse/login?rd=/x")
		if !strings.Contains(page, "Sign in with Corp") || !strings.Contains(page, `/.gatehouse/oidc/corp/start?rd=%2Fx`) {
			t.Fatalf("no provider button: %s", page)
		}
	})
	var oidcHeaders http.Header
	t.Run("code flow: same identity as a password login", func(t *testing.T) {
		resp, _ := signIn("corp", "alice", "alicepass")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/helpdesk/" {
			t.Fatalf("callback: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if r, _ := get(gh.base + "/helpdesk/"); r.StatusCode != 200 {
			t.Fatalf("proxied: %d", r.StatusCode)
		}
		oidcHeaders = up.last()
		_, _, c := gh.apiLogin(t, "alice", vectorPassword)
		gh.get(t, "/helpdesk/", c, nil)
		pw := up.last()
		for _, k := range []string{"Remote-User", "X-Customer-Id", "X-Customer-Ids", "X-Customer-User-Email", "X-Customer-User-Name", "X-Customer-User-Groups", "X-Customer-User-Source"} {
			if oidcHeaders.Get(k) == "" || oidcHeaders.Get(k) != pw.Get(k) {
				t.Errorf("%s: OIDC %q, password %q", k, oidcHeaders.Get(k), pw.Get(k))
			}
		}
	})
	t.Run("the state cookie works once", func(t *testing.T) {
		resp, _ := get(gh.base + "/.gatehouse/oidc/corp/start")
		cb, err := op.Login(nil, resp.Header.Get("Location"), "alice", "alicepass")
		if err != nil {
			t.Fatal(err)
		}
		stateCookie := jar.Cookies(cb)
		if r, _ := get(cb.String()); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("first use: %d", r.StatusCode)
		}
		// Replay the same callback with the same cookie.
		req, _ := http.NewRequest("GET", cb.String(), nil)
		for _, c := range stateCookie {
			req.AddCookie(c)
		}
		r, err := (&http.Client{CheckRedirect: browser.CheckRedirect}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode == http.StatusSeeOther {
			t.Fatal("a replayed callback signed in")
		}
	})
	t.Run("invalid customer user and unknown user are refused", func(t *testing.T) {
		if r, page := signIn("corp", "bob", "bobpass"); r.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "Login failed!") {
			t.Errorf("bob (invalid): %d", r.StatusCode)
		}
		if r, page := signIn("corp", "jmuller", "jmullerpass"); r.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "no customer record is found") {
			t.Errorf("jmuller (no record): %d", r.StatusCode)
		}
	})
	t.Run("auto_create makes the customer user", func(t *testing.T) {
		if r, _ := signIn("corp-auto", "jmuller", "jmullerpass"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("auto_create: %d", r.StatusCode)
		}
		get(gh.base + "/helpdesk/")
		if h := up.last(); h.Get("Remote-User") != "jmuller" || h.Get("X-Customer-Id") != "NEWCO" || h.Get("X-Customer-User-Email") != "jmuller@example.com" {
			t.Fatalf("auto-created identity %v", h)
		}
	})
	t.Run("provider error shows on the login page", func(t *testing.T) {
		resp, _ := get(gh.base + "/.gatehouse/oidc/corp/start")
		auth, _ := url.Parse(resp.Header.Get("Location"))
		state := auth.Query().Get("state")
		r, page := get(gh.base + "/.gatehouse/oidc/corp/callback?error=access_denied&error_description=User+cancelled&state=" + url.QueryEscape(state))
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "access_denied") || !strings.Contains(page, "User cancelled") {
			t.Fatalf("%d %s", r.StatusCode, page)
		}
	})
	t.Run("bearer tokens", func(t *testing.T) {
		tok := op.Tokens(t, clients[0], "alice", "alicepass")
		for _, tc := range []struct {
			token string
			want  int
		}{{tok.AccessToken, 200}, {tok.AccessToken + "x", 401}, {"not.a.jwt", 401}} {
			req, _ := http.NewRequest("GET", gh.base+"/api/tickets", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != tc.want {
				t.Errorf("token %.12s…: %d, want %d", tc.token, r.StatusCode, tc.want)
			}
			if tc.want == 401 && !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
		}
	})
	t.Run("logout at the provider", func(t *testing.T) {
		signIn("corp", "alice", "alicepass")
		req, _ := http.NewRequest("POST", gh.base+"/.gatehouse/logout", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		for _, c := range jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if !strings.Contains(string(b), op.Issuer) || !strings.Contains(string(b), "id_token_hint") {
			t.Fatalf("logout answer %s", b)
		}
	})
}
