package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// TestSessionStores runs login, a proxied request and logout against both session stores,
// the Redis one on the real server.
func TestSessionStores(t *testing.T) {
	up, upURL := startRecorder(t)
	dsn := sqliteOTRS(t)
	for _, tc := range []struct{ name, yaml string }{
		{"memory", "  store: memory"},
		{"redis", fmt.Sprintf("  store: redis\n  redis: {url: \"redis://%s/0\", key_prefix: %q}", testenv.RedisAddr(t), testenv.RandomName("gh_test_")+":")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := start(t, e2eConfig(t, dsn, tc.yaml, upURL))
			status, _, c := gh.apiLogin(t, "u-sha2", vectorPassword)
			if status != 200 {
				t.Fatalf("login %d", status)
			}
			if r := gh.get(t, "/", c, nil); r.StatusCode != 200 || up.last().Get("Remote-User") != "u-sha2" {
				t.Fatalf("proxied %d", r.StatusCode)
			}
			req, _ := http.NewRequest("POST", gh.base+"/.gatehouse/logout", strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			req.AddCookie(c)
			resp, err := noRedirect.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("logout: %v %v", err, resp)
			}
			resp.Body.Close()
			if r := gh.get(t, "/", c, map[string]string{"Accept": "application/json"}); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("after logout: %d, want 401", r.StatusCode)
			}
			// DestroyUser (revoking everything of one customer user) reaches every session.
			_, _, c1 := gh.apiLogin(t, "u-sha1", vectorPassword)
			_, _, c2 := gh.apiLogin(t, "u-sha1", vectorPassword)
			if n, err := gh.app.sessions.DestroyUser(t.Context(), "u-sha1"); err != nil || n != 2 {
				t.Fatalf("DestroyUser: %d %v", n, err)
			}
			for _, c := range []*http.Cookie{c1, c2} {
				if r := gh.get(t, "/", c, nil); r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("revoked session answered %d", r.StatusCode)
				}
			}
		})
	}
}

// TestRedisOutage stops a real Redis under a running gatehouse: protected requests, logins
// and readiness fail closed with 503, and everything works again once Redis is back,
// without a restart of gatehouse.
func TestRedisOutage(t *testing.T) {
	up, upURL := startRecorder(t)
	dsn := sqliteOTRS(t)
	rs := testenv.StartRedisServer(t)
	gh := start(t, e2eConfig(t, dsn, fmt.Sprintf("  store: redis\n  redis: {url: \"redis://%s/0\", timeout: 500ms}", rs.Addr()), upURL))
	_, _, c := gh.apiLogin(t, "u-sha2", vectorPassword)
	if r := gh.get(t, "/", c, nil); r.StatusCode != 200 {
		t.Fatalf("before: %d", r.StatusCode)
	}
	rs.Kill()
	before := up.count()
	for _, path := range []string{"/", "/.gatehouse/userinfo", "/.gatehouse/readyz"} {
		if r := gh.get(t, path, c, nil); r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s with Redis down: %d, want 503", path, r.StatusCode)
		}
	}
	if status, _, _ := gh.apiLogin(t, "u-sha2", vectorPassword); status != http.StatusServiceUnavailable {
		t.Errorf("login with Redis down: %d, want 503", status)
	}
	if up.count() != before {
		t.Fatal("a request reached the upstream while the session store was down")
	}
	rs.Start() // same port; Redis kept nothing, so the old session is gone
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, c2 := gh.apiLogin(t, "u-sha2", vectorPassword)
		if status == 200 {
			if r := gh.get(t, "/", c2, nil); r.StatusCode != 200 {
				t.Fatalf("after recovery: %d", r.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 10 s: login %d", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := gh.get(t, "/", c, nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("session lost with Redis: %d, want 401", r.StatusCode)
	}
}

// TestLoginBookkeeping: OTRS's preferences are kept (UserLastLogin, UserAuthBackend,
// UserLoginFailed), and with password_policy.max_login_failed the customer user is set to
// invalid-temporarily after that many failures — their live sessions end at once.
func TestLoginBookkeeping(t *testing.T) {
	_, upURL := startRecorder(t)
	dsn := sqliteOTRS(t)
	cfg := e2eConfig(t, dsn, "  store: memory", upURL)
	cfg.PasswordPolicy.MaxLoginFailed = 3
	gh := start(t, cfg)
	db := openTestDB(t, dsn)
	prefs := func(login string) map[string]string {
		m := map[string]string{}
		rows, err := db.SQL().Query(db.Rebind("SELECT preferences_key, preferences_value FROM customer_preferences WHERE user_id = ?"), login)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k, v string
			_ = rows.Scan(&k, &v)
			m[k] = v
		}
		return m
	}
	// A success is written after the login has been answered: wait for it (briefly).
	eventually := func(login string, ok func(map[string]string) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			p := prefs(login)
			if ok(p) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: preferences %v", login, p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	_, _, c := gh.apiLogin(t, "u-sha1", vectorPassword)
	eventually("u-sha1", func(p map[string]string) bool {
		return p["UserLastLogin"] != "" && p["UserLoginFailed"] == "0" && p["UserAuthBackend"] == ""
	})
	_, _, _ = gh.apiLogin(t, "u-plain", vectorPassword) // the second module (slot "1")
	eventually("u-plain", func(p map[string]string) bool { return p["UserAuthBackend"] == "1" })
	for i := 1; i <= 3; i++ {
		gh.apiLogin(t, "u-sha1", "wrong")
		if p := prefs("u-sha1"); p["UserLoginFailed"] != fmt.Sprint(i) {
			t.Fatalf("after %d failures: %v", i, p)
		}
	}
	var valid int
	if err := db.SQL().QueryRow("SELECT valid_id FROM customer_user WHERE login = 'u-sha1'").Scan(&valid); err != nil || valid != 3 {
		t.Fatalf("valid_id %d (%v), want 3 (invalid-temporarily)", valid, err)
	}
	if r := gh.get(t, "/", c, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the locked user's session still works: %d", r.StatusCode)
	}
	if status, _, _ := gh.apiLogin(t, "u-sha1", vectorPassword); status != http.StatusUnauthorized {
		t.Fatalf("locked user logged in: %d", status)
	}
	gh.apiLogin(t, "nobody-at-all", "x")
	if p := prefs("nobody-at-all"); len(p) != 0 {
		t.Fatalf("an unknown login left preferences: %v", p)
	}
}

// TestAdminListener: /metrics and the admin API are on the admin listener (never the public
// port); the API needs a token from admin.api_tokens_file.
func TestAdminListener(t *testing.T) {
	_, upURL := startRecorder(t)
	dsn := sqliteOTRS(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("# admin API tokens\nsecret-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := e2eConfig(t, dsn, "  store: memory", upURL)
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Admin.APITokensFile = tokens
	gh := start(t, cfg)
	_, _, c := gh.apiLogin(t, "u-sha2", vectorPassword)
	gh.get(t, "/x", c, nil)

	get := func(base, path, token string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		return r.StatusCode, string(b)
	}
	if code, body := get(gh.admin, "/metrics", ""); code != 200 ||
		!strings.Contains(body, `gatehouse_requests_total{route="helpdesk",status="200"}`) ||
		!strings.Contains(body, `gatehouse_logins_total{module="db",result="success"}`) {
		t.Fatalf("/metrics %d:\n%.2000s", code, body)
	}
	if code, _ := get(gh.admin, "/api/v1/customer-users", ""); code != http.StatusUnauthorized {
		t.Fatalf("API without a token: %d", code)
	}
	if code, body := get(gh.admin, "/api/v1/customer-users?search=u-sha*", "secret-token-0123456789"); code != 200 || !strings.Contains(body, "u-sha512") {
		t.Fatalf("API: %d %s", code, body)
	}
	if code, body := get(gh.admin, "/", ""); code != 200 || !strings.Contains(body, `type="password"`) {
		t.Fatalf("admin UI: %d %.300s", code, body)
	}
	for _, p := range []string{"/metrics", "/api/v1/customer-users", "/debug/pprof/"} {
		if code, _ := get(gh.base, p, "secret-token-0123456789"); code == 200 {
			t.Errorf("%s answered on the public port", p)
		}
	}
	// Runtime profiles only when admin.pprof asks for them.
	if _, body := get(gh.admin, "/debug/pprof/goroutine?debug=1", ""); strings.Contains(body, "goroutine profile:") {
		t.Fatal("/debug/pprof/ served without admin.pprof")
	}
	cfg2 := e2eConfig(t, dsn, "  store: memory", upURL)
	cfg2.Admin.Listen = "127.0.0.1:0"
	cfg2.Admin.Pprof = true
	gh2 := start(t, cfg2)
	if code, body := get(gh2.admin, "/debug/pprof/goroutine?debug=1", ""); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("admin.pprof: /debug/pprof/goroutine %d %.300s", code, body)
	}
	if code, _ := get(gh2.base, "/debug/pprof/goroutine?debug=1", ""); code == 200 {
		t.Fatal("/debug/pprof/ answered on the public port")
	}
}

// TestGracefulShutdown: a request in flight when shutdown begins still gets its answer.
func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	defer srv.Close()
	dsn := sqliteOTRS(t)
	gh := start(t, e2eConfig(t, dsn, "  store: memory", srv.URL))
	_, _, c := gh.apiLogin(t, "u-sha2", vectorPassword)
	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", gh.base+"/slow", nil)
		req.AddCookie(c)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		got <- answer{code: r.StatusCode, body: string(b)}
	}()
	time.Sleep(200 * time.Millisecond) // the request is now waiting at the upstream
	stopped := make(chan struct{})
	go func() { gh.stop(); close(stopped) }()
	time.Sleep(200 * time.Millisecond)
	close(release)
	a := <-got
	if a.err != nil || a.code != 200 || a.body != "finished" {
		t.Fatalf("in-flight request: %+v", a)
	}
	<-stopped
	if _, err := http.Get(gh.base + "/.gatehouse/healthz"); err == nil {
		t.Fatal("still listening after shutdown")
	}
}

// TestRevocationAcrossProcesses: two gatehouse instances share the real Redis; setting a
// customer user invalid through the admin API of one ends their session on the other at once.
func TestRevocationAcrossProcesses(t *testing.T) {
	_, upURL := startRecorder(t)
	dsn := sqliteOTRS(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("secret-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	redisYAML := fmt.Sprintf("  store: redis\n  redis: {url: \"redis://%s/0\", key_prefix: %q}", testenv.RedisAddr(t), testenv.RandomName("gh_test_")+":")
	var nodes []*running
	for i := 0; i < 2; i++ {
		cfg := e2eConfig(t, dsn, redisYAML, upURL)
		cfg.Admin.Listen = "127.0.0.1:0"
		cfg.Admin.APITokensFile = tokens
		nodes = append(nodes, start(t, cfg))
	}
	_, _, c := nodes[0].apiLogin(t, "u-sha1", vectorPassword)
	if r := nodes[1].get(t, "/", c, nil); r.StatusCode != 200 {
		t.Fatalf("the session is not shared: %d", r.StatusCode)
	}
	req, _ := http.NewRequest("PATCH", nodes[1].admin+"/api/v1/customer-users/u-sha1", strings.NewReader(`{"ValidID": 2}`))
	req.Header.Set("Authorization", "Bearer secret-token-0123456789")
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("PATCH: %d %s", r.StatusCode, body)
	}
	if r := nodes[0].get(t, "/", c, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the session survived on the other node: %d", r.StatusCode)
	}
}
