package admin

import (
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// The admin web UI over net/http/httptest, against real databases (SQLite for most,
// PostgreSQL for one flow): sign-in, sessions, CSRF and cross-site refusal, and the pages
// for customer users, customers and groups.

const (
	uiAdmin    = "root"
	uiAdminPw  = "correct horse battery staple"
	uiAdmin2   = "second"
	uiAdmin2Pw = "another-admin-password"
)

// uiEnv is an env (admin_test.go) with the UI on a real HTTP server.
type uiEnv struct {
	*env
	ui  *ui
	srv *httptest.Server
}

func adminUsers(t testing.TB) []configs.AdminUser {
	t.Helper()
	h1, err := passwd.Hash(passwd.TypeSHA2, uiAdminPw, uiAdmin, 0)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := passwd.Hash(passwd.TypeMD5, uiAdmin2Pw, uiAdmin2, 0)
	if err != nil {
		t.Fatal(err)
	}
	return []configs.AdminUser{{Login: uiAdmin, PasswordHash: h1}, {Login: uiAdmin2, PasswordHash: h2}}
}

// newUIEnv builds the environment; the UI's service has customer_group_support on (so
// effective permissions come from the memberships set in the UI).
func newUIEnv(t testing.TB, dsn string, o envOpts) *uiEnv {
	t.Helper()
	e := newEnv(t, dsn, o)
	svc := e.service(configs.CustomerGroup{Support: true})
	h, err := NewUI(svc, adminUsers(t), false, slog.New(slog.NewTextHandler(e.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ue := &uiEnv{env: e, ui: h.(*ui), srv: httptest.NewServer(h)}
	t.Cleanup(ue.srv.Close)
	return ue
}

// browser is an HTTP client with its own cookie jar that does not follow redirects.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
	csrf string // the token of the last page that had one
}

func (e *uiEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.srv.URL, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

type answer struct {
	code int
	body string
	h    http.Header
}

func (a answer) location() string { return a.h.Get("Location") }

func (b *browser) do(req *http.Request) answer {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := string(raw)
	if m := csrfRE.FindStringSubmatch(body); m != nil {
		b.csrf = m[1]
	}
	return answer{resp.StatusCode, body, resp.Header}
}

func (b *browser) get(path string) answer {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

// post sends a form; the csrf field is the last seen token unless form has one. hdr are
// extra headers (name, value, ...).
func (b *browser) post(path string, form url.Values, hdr ...string) answer {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// follow GETs the redirect target of a.
func (b *browser) follow(a answer) answer {
	b.t.Helper()
	if a.code != http.StatusSeeOther {
		b.t.Fatalf("want a 303 redirect, got %d: %s", a.code, excerpt(a.body))
	}
	return b.get(a.location())
}

func (b *browser) login(user, pw string) answer {
	b.t.Helper()
	if a := b.get("/login"); a.code != 200 {
		b.t.Fatalf("GET /login: %d", a.code)
	}
	return b.post("/login", url.Values{"login": {user}, "password": {pw}, "next": {"/customer-users"}})
}

func (b *browser) signIn() {
	b.t.Helper()
	a := b.login(uiAdmin, uiAdminPw)
	if a.code != http.StatusSeeOther || a.location() != "/customer-users" {
		b.t.Fatalf("sign-in: %d %q %s", a.code, a.location(), excerpt(a.body))
	}
	if a = b.get("/customer-users"); a.code != 200 {
		b.t.Fatalf("after sign-in: %d", a.code)
	}
}

// excerpt is the visible text of the messages on a page (for failure output).
func excerpt(body string) string {
	var out []string
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`(?s)<p class="(?:error|flash|notice)"[^>]*>(.*?)</p>`), regexp.MustCompile(`(?s)<h1>(.*?)</h1>`)} {
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			out = append(out, html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], "")))
		}
	}
	if len(out) == 0 && len(body) > 300 {
		return body[:300]
	}
	if len(out) == 0 {
		return body
	}
	return strings.Join(out, " | ")
}

func mustContain(t testing.TB, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Fatalf("%s lacks %q: %s", what, w, excerpt(body))
		}
	}
}

func wantCode(t testing.TB, what string, a answer, code int) {
	t.Helper()
	if a.code != code {
		t.Fatalf("%s: status %d, want %d: %s", what, a.code, code, excerpt(a.body))
	}
}

// Sign-in: pages need a session, wrong passwords and unknown admins are refused, the
// cookie is HttpOnly and SameSite=Strict (Secure when asked), the session ends at sign-out
// (a replayed cookie is refused) and after 30 idle minutes; the security headers are on
// every answer.
func TestUILogin(t *testing.T) {
	e := newUIEnv(t, testenv.SQLiteDSN(t), envOpts{})
	b := e.browser()

	a := b.get("/customer-users?search=x")
	wantCode(t, "no session", a, http.StatusSeeOther)
	if a.location() != "/login?next=%2Fcustomer-users%3Fsearch%3Dx" {
		t.Fatalf("redirect to %q", a.location())
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Cache-Control"} {
		if a.h.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if csp := a.h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self'") ||
		!strings.Contains(csp, "style-src 'unsafe-inline'") || strings.Contains(csp, "script-src") {
		t.Fatalf("CSP %q", csp)
	}
	wantCode(t, "POST without session", b.post("/customers/new", url.Values{"CustomerID": {"X"}, "CustomerCompanyName": {"X"}}), http.StatusUnauthorized)
	if cs, _ := e.svc.ListCustomers(context.Background(), "", 0); len(cs) != 0 {
		t.Fatal("a customer was added without a session")
	}

	// The login form has a CSRF token of its own (double submit).
	a = b.get("/login")
	wantCode(t, "GET /login", a, 200)
	mustContain(t, "login page", a.body, `<label for="login">`, `<label for="password">`, `autocomplete="current-password"`)
	wantCode(t, "login without the form token", b.post("/login", url.Values{"login": {uiAdmin}, "password": {uiAdminPw}, "csrf": {"forged"}}), http.StatusForbidden)
	b2 := e.browser()
	wantCode(t, "login without the form cookie", b2.post("/login", url.Values{"login": {uiAdmin}, "password": {uiAdminPw}, "csrf": {b.csrf}}), http.StatusForbidden)

	// Wrong password, unknown admin, a customer user's name, empty password.
	for _, c := range [][2]string{{uiAdmin, "wrong"}, {uiAdmin, ""}, {"nobody", uiAdminPw}, {"ROOT", uiAdminPw}, {uiAdmin2, uiAdminPw}} {
		a = b.login(c[0], c[1])
		wantCode(t, "login "+c[0]+"/"+c[1], a, http.StatusUnauthorized)
		mustContain(t, "refusal", a.body, "Wrong admin login or password.", `role="alert"`)
		if strings.Contains(a.body, c[1]) && c[1] != "" {
			t.Fatal("the password was sent back")
		}
	}
	if !strings.Contains(e.logs.String(), "action=admin.login_failed target=nobody") {
		t.Error("no log line for a failed sign-in")
	}

	// A good sign-in (an MD5-crypt admin hash too), and an off-site next is ignored.
	b2 = e.browser()
	b2.get("/login")
	a = b2.post("/login", url.Values{"login": {uiAdmin2}, "password": {uiAdmin2Pw}, "next": {"//evil.example/x"}})
	wantCode(t, "second admin", a, http.StatusSeeOther)
	if a.location() != "/" {
		t.Fatalf("next //evil.example became %q", a.location())
	}

	b.get("/login")
	a = b.post("/login", url.Values{"login": {uiAdmin}, "password": {uiAdminPw}, "next": {"/groups"}})
	wantCode(t, "sign-in", a, http.StatusSeeOther)
	if a.location() != "/groups" {
		t.Fatalf("next: %q", a.location())
	}
	var sc *http.Cookie
	for _, c := range (&http.Response{Header: a.h}).Cookies() {
		if c.Name == UICookie {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Secure || len(sc.Value) < 43 {
		t.Fatalf("session cookie %+v", sc)
	}
	a = b.get("/groups")
	wantCode(t, "groups page", a, 200)
	mustContain(t, "groups page", a.body, "Signed in as <strong>root</strong>", `aria-current="page">Groups`)
	if !strings.Contains(e.logs.String(), "by=ui:root action=admin.login target=root") {
		t.Error("no audit line for the sign-in")
	}

	// Idle timeout: 29 minutes keep the session alive, 31 idle minutes end it.
	now := time.Now()
	e.ui.setClock(func() time.Time { return now.Add(29 * time.Minute) })
	wantCode(t, "after 29 minutes", b.get("/customers"), 200)
	e.ui.setClock(func() time.Time { return now.Add(29*time.Minute + UIIdleTimeout + time.Minute) })
	wantCode(t, "after 31 idle minutes", b.get("/customers"), http.StatusSeeOther)
	e.ui.setClock(time.Now)

	// Sign out: the cookie no longer works, even if replayed.
	b.signIn()
	cookie := b.c.Jar.Cookies(mustURL(t, e.srv.URL))
	a = b.post("/logout", nil)
	wantCode(t, "sign out", a, 200)
	mustContain(t, "sign out", a.body, "You are signed out")
	replay := e.browser()
	replay.c.Jar.SetCookies(mustURL(t, e.srv.URL), cookie)
	wantCode(t, "replayed cookie", replay.get("/customers"), http.StatusSeeOther)

	// Secure cookies when asked.
	h, err := NewUI(e.svc, adminUsers(t), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	if c := rec.Result().Cookies(); len(c) == 0 || !c[0].Secure {
		t.Fatalf("secure UI cookie: %+v", c)
	}
	// Configuration errors.
	if _, err := NewUI(e.svc, []configs.AdminUser{{Login: "x"}}, false, nil); err == nil {
		t.Fatal("an admin without a hash was accepted")
	}
	if _, err := NewUI(e.svc, append(adminUsers(t), adminUsers(t)[0]), false, nil); err == nil {
		t.Fatal("a duplicate admin was accepted")
	}
}

func (u *ui) setClock(now func() time.Time) {
	u.mu.Lock()
	u.now = now
	u.mu.Unlock()
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// CSRF: a form without the session's token, with another session's token, or sent
// cross-site (Sec-Fetch-Site, or an Origin of another host) is refused and changes nothing.
func TestUICSRF(t *testing.T) {
	e := newUIEnv(t, testenv.SQLiteDSN(t), envOpts{})
	b, other := e.browser(), e.browser()
	b.signIn()
	other.signIn()
	if b.csrf == other.csrf || b.csrf == "" {
		t.Fatal("sessions share a CSRF token")
	}
	form := func(tok string) url.Values {
		v := url.Values{"CustomerID": {"ACME"}, "CustomerCompanyName": {"Acme"}, "ValidID": {"1"}}
		if tok != "-" {
			v.Set("csrf", tok)
		}
		return v
	}
	wantCode(t, "no token", b.post("/customers/new", url.Values{"CustomerID": {"ACME"}, "CustomerCompanyName": {"Acme"}, "csrf": {""}}), http.StatusForbidden)
	wantCode(t, "another session's token", b.post("/customers/new", form(other.csrf)), http.StatusForbidden)
	wantCode(t, "a truncated token", b.post("/customers/new", form(b.csrf[:20])), http.StatusForbidden)
	a := b.post("/customers/new", form(b.csrf), "Sec-Fetch-Site", "cross-site")
	wantCode(t, "cross-site", a, http.StatusForbidden)
	mustContain(t, "cross-site refusal", a.body, "sent from another site")
	wantCode(t, "same-site", b.post("/customers/new", form(b.csrf), "Sec-Fetch-Site", "same-site"), http.StatusForbidden)
	wantCode(t, "foreign Origin", b.post("/customers/new", form(b.csrf), "Origin", "http://evil.example"), http.StatusForbidden)
	wantCode(t, "cross-site sign-out", b.post("/logout", form(b.csrf), "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	wantCode(t, "cross-site sign-in", other.post("/login", url.Values{"login": {uiAdmin}, "password": {uiAdminPw}}, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	if cs, _ := e.svc.ListCustomers(context.Background(), "", 0); len(cs) != 0 {
		t.Fatalf("a refused form changed something: %v", cs)
	}
	if !strings.Contains(e.logs.String(), "CSRF token refused") {
		t.Error("no log line for the refused token")
	}
	// The same form, same-origin and with the token, works.
	a = b.post("/customers/new", form(b.csrf), "Sec-Fetch-Site", "same-origin", "Origin", e.srv.URL)
	wantCode(t, "same-origin with token", a, http.StatusSeeOther)
	// Other methods are refused; nothing is deleted.
	req, _ := http.NewRequest("DELETE", e.srv.URL+"/customer/ACME", nil)
	a = b.do(req)
	wantCode(t, "DELETE", a, http.StatusMethodNotAllowed)
	mustContain(t, "DELETE answer", a.body, "set the validity instead")
}

// The customer-user flows: no customer yet, customers (add, search, edit, validity), the add
// form from the Map (required fields, custom column, customer dropdown, generated password
// shown once), list, paging, OTRS search, edit, validity ending sessions, extra customer
// ids, read-only sources, groups and members, the effective-permissions widget, the audit.
func TestUIFlows(t *testing.T) {
	e := newUIEnv(t, testenv.SQLiteDSN(t), envOpts{readOnly: true})
	ctx := context.Background()
	b := e.browser()
	b.signIn()

	// No customer yet: the add page says so, and an add is refused.
	a := b.get("/customer-users/new")
	wantCode(t, "add page", a, 200)
	mustContain(t, "add page without customers", a.body, `id="no-customers"`, "add a customer")
	a = b.post("/customer-users/new", url.Values{"UserLogin": {"jdoe"}, "UserFirstname": {"J"}, "UserLastname": {"D"},
		"UserEmail": {"jdoe@example.com"}, "UserCustomerID": {"ACME"}, "ValidID": {"1"}})
	wantCode(t, "add before any customer", a, http.StatusConflict)
	mustContain(t, "no-customer refusal", a.body, "no customer exists yet")

	// Customers: add (required name), list, search, edit, validity, escaping.
	a = b.get("/customers/new")
	mustContain(t, "customer form", a.body, `<label for="f-CustomerCompanyName">Name<abbr class="req" title="required">*</abbr>`)
	a = b.post("/customers/new", url.Values{"CustomerID": {"ACME"}, "ValidID": {"1"}})
	wantCode(t, "customer without name", a, http.StatusBadRequest)
	mustContain(t, "customer without name", a.body, `id="f-CustomerCompanyName" name="CustomerCompanyName" value="" required aria-required="true" aria-describedby="form-error" aria-invalid="true"`)
	a = b.follow(b.post("/customers/new", url.Values{"CustomerID": {"ACME"}, "CustomerCompanyName": {"Acme <Inc>"},
		"CustomerCompanyCity": {"Berlin"}, "ValidID": {"1"}}))
	mustContain(t, "customer added", a.body, "Customer ACME added.", `role="status"`, `value="Acme &lt;Inc&gt;"`, `readonly`)
	b.follow(b.post("/customers/new", url.Values{"CustomerID": {"BETA"}, "CustomerCompanyName": {"Beta GmbH"}, "ValidID": {"1"}}))
	wantCode(t, "duplicate customer", b.post("/customers/new", url.Values{"CustomerID": {"acme"}, "CustomerCompanyName": {"Other"}, "ValidID": {"1"}}), http.StatusConflict)
	a = b.get("/customers?search=bet")
	mustContain(t, "customer search", a.body, "1 customer(s) match", `href="/customer/BETA"`)
	if strings.Contains(a.body, `href="/customer/ACME"`) {
		t.Fatal("customer search shows ACME")
	}
	mustContain(t, "customer list", b.get("/customers").body, "Acme &lt;Inc&gt;", "There is no delete", "set the validity instead")
	a = b.follow(b.post("/customer/BETA", url.Values{"CustomerID": {"BETA"}, "CustomerCompanyName": {"Beta GmbH"}, "CustomerCompanyCity": {"Hamburg"}, "ValidID": {"2"}}))
	mustContain(t, "customer saved", a.body, "Customer BETA saved (validity: invalid).")
	if c, _ := e.svc.GetCustomer(ctx, "BETA"); c.City != "Hamburg" || c.ValidID != 2 {
		t.Fatalf("customer after edit: %+v", c)
	}
	a = b.post("/customer/BETA", url.Values{"CustomerCompanyName": {""}})
	wantCode(t, "customer name emptied", a, http.StatusBadRequest)

	// The add form comes from the Map: required marks, the custom column, the dropdown.
	a = b.get("/customer-users/new")
	mustContain(t, "add form", a.body,
		`<label for="f-UserFirstname">Firstname<abbr class="req" title="required">*</abbr></label>`,
		`<label for="f-UserRoom">Room</label>`, `name="UserRoom"`,
		`<option value="ACME">ACME – Acme &lt;Inc&gt;</option>`, `BETA – Beta GmbH (invalid)`,
		`type="password" id="f-UserPassword" name="UserPassword" autocomplete="new-password"`,
		"Leave empty to generate", `<option value="3">invalid-temporarily</option>`, `type="email"`)
	if strings.Contains(a.body, "no-customers") {
		t.Fatal("the no-customer notice is still shown")
	}
	// Required fields and email syntax, refused with the field marked.
	base := url.Values{"UserLogin": {"jdoe"}, "UserFirstname": {"John"}, "UserLastname": {"Doe"},
		"UserEmail": {"jdoe@example.com"}, "UserCustomerID": {"ACME"}, "ValidID": {"1"}, "UserRoom": {"B-101"}, "UserTitle": {""}}
	for _, f := range []string{"UserFirstname", "UserLastname", "UserEmail", "UserLogin", "UserCustomerID"} {
		v := cloneValues(base)
		v.Set(f, "")
		a = b.post("/customer-users/new", v)
		wantCode(t, "add without "+f, a, http.StatusBadRequest)
		if !regexp.MustCompile(`id="f-` + f + `"[^>]*aria-invalid="true"`).MatchString(a.body) {
			t.Fatalf("%s not marked invalid: %s", f, excerpt(a.body))
		}
	}
	v := cloneValues(base)
	v.Set("UserEmail", "not an address")
	wantCode(t, "bad email", b.post("/customer-users/new", v), http.StatusBadRequest)
	// A good add: the generated password is shown once and checks against the stored hash.
	a = b.post("/customer-users/new", base)
	wantCode(t, "add jdoe", a, 200)
	pw := regexp.MustCompile(`<output id="generated-password"[^>]*>([^<]*)</output>`).FindStringSubmatch(a.body)
	if pw == nil || !alnum16.MatchString(pw[1]) {
		t.Fatalf("no generated password on the page: %s", excerpt(a.body))
	}
	mustContain(t, "added page", a.body, "only this once", "Customer user jdoe added")
	if stored := storedPassword(t, e.db, "jdoe"); !passwd.Check(stored, pw[1], "jdoe", false) {
		t.Fatal("the shown password does not check against the stored one")
	}
	a = b.get("/customer-user/jdoe")
	if strings.Contains(a.body, pw[1]) {
		t.Fatal("the password is shown again")
	}
	mustContain(t, "edit page", a.body, `value="B-101"`, `<option value="1" selected>valid</option>`,
		`<option value="ACME" selected>`, "Leave empty to keep the current password", "There is no delete")
	wantCode(t, "duplicate login", b.post("/customer-users/new", func() url.Values {
		v := cloneValues(base)
		v.Set("UserLogin", "JDOE")
		v.Set("UserEmail", "x@example.com")
		return v
	}()), http.StatusConflict)
	wantCode(t, "duplicate email", b.post("/customer-users/new", func() url.Values {
		v := cloneValues(base)
		v.Set("UserLogin", "jane")
		v.Set("UserEmail", "JDOE@example.com")
		return v
	}()), http.StatusConflict)
	// A typed password is stored and not shown.
	v = cloneValues(base)
	v.Set("UserLogin", "jane")
	v.Set("UserEmail", "jane@example.com")
	v.Set("UserPassword", "Typed-Secret-1")
	a = b.post("/customer-users/new", v)
	wantCode(t, "add jane", a, 200)
	if strings.Contains(a.body, "Typed-Secret-1") || strings.Contains(a.body, "generated-password") {
		t.Fatal("a typed password was shown")
	}
	if !passwd.Check(storedPassword(t, e.db, "jane"), "Typed-Secret-1", "jane", false) {
		t.Fatal("typed password not stored")
	}
	for _, l := range []string{"kim", "lee"} {
		v = cloneValues(base)
		v.Set("UserLogin", l)
		v.Set("UserEmail", l+"@example.com")
		wantCode(t, "add "+l, b.post("/customer-users/new", v), 200)
	}

	// List (every source), paging, search.
	a = b.get("/customer-users")
	mustContain(t, "list", a.body, `href="/customer-user/jdoe"`, `href="/customer-user/ro.user"`, "(read-only)", "Customer users 1 to 5.",
		`<span class="badge valid">valid</span>`)
	a = b.get("/customer-users?limit=2")
	mustContain(t, "page 1", a.body, `href="/customer-users?page=2&amp;limit=2"`, "Customer users 1 to 2.")
	a = b.get("/customer-users?limit=2&page=3")
	mustContain(t, "page 3", a.body, "Customer users 5 to 5.", `rel="prev"`)
	if strings.Contains(a.body, `rel="next"`) {
		t.Fatal("a next link on the last page")
	}
	a = b.get("/customer-users?search=" + url.QueryEscape("jd* OR ro.*"))
	mustContain(t, "search", a.body, "2 customer users match", `href="/customer-user/jdoe"`, `href="/customer-user/ro.user"`)
	a = b.get("/customer-users?search=" + url.QueryEscape(`"John Doe"`))
	mustContain(t, "phrase", a.body, "customer users match")
	a = b.get("/customer-users?search=" + url.QueryEscape("!jdoe AND !jane AND !kim AND !lee"))
	mustContain(t, "NOT search", a.body, "1 customer user matches", `href="/customer-user/ro.user"`)

	// Edit: the custom column; only changed fields reach the Service (and its audit line).
	a = b.follow(b.post("/customer-user/jdoe", url.Values{"UserLogin": {"jdoe"}, "UserFirstname": {"John"}, "UserLastname": {"Doe"},
		"UserEmail": {"jdoe@example.com"}, "UserCustomerID": {"ACME"}, "ValidID": {"1"}, "UserRoom": {"C-7"}, "UserTitle": {""}, "UserPassword": {""}}))
	mustContain(t, "saved", a.body, "Customer user jdoe saved.", `value="C-7"`)
	if !strings.Contains(e.logs.String(), "by=ui:root action=customer_user.update target=jdoe fields=UserRoom") {
		t.Errorf("audit line of the edit:\n%s", e.logs.String())
	}
	a = b.post("/customer-user/jdoe", url.Values{"UserEmail": {"jane@example.com"}})
	wantCode(t, "email taken", a, http.StatusConflict)
	mustContain(t, "email taken", a.body, "already used")
	wantCode(t, "unknown customer user", b.get("/customer-user/nobody"), http.StatusNotFound)

	// Validity: invalid ends every session of jdoe at once.
	var ids []string
	for range 2 {
		id, _, err := e.mgr.Create(ctx, claims.Set{Login: "jdoe"}, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	janeSession, _, _ := e.mgr.Create(ctx, claims.Set{Login: "jane"}, "127.0.0.1")
	a = b.follow(b.post("/customer-user/jdoe", url.Values{"ValidID": {"2"}}))
	mustContain(t, "set invalid", a.body, "Validity: invalid. 2 session(s) ended.", `<option value="2" selected>invalid</option>`)
	for _, id := range ids {
		if _, err := e.mgr.Load(ctx, id); !errors.Is(err, sessions.ErrNotFound) {
			t.Fatalf("jdoe's session survived: %v", err)
		}
	}
	if _, err := e.mgr.Load(ctx, janeSession); err != nil {
		t.Fatalf("jane's session ended: %v", err)
	}
	mustContain(t, "list after invalid", b.get("/customer-users?search=jdoe").body, `<span class="badge invalid">invalid</span>`)
	a = b.follow(b.post("/customer-user/jdoe", url.Values{"ValidID": {"1"}}))
	mustContain(t, "valid again", a.body, "Validity: valid.")
	// A new generated password, shown once.
	a = b.post("/customer-user/jane/password", nil)
	wantCode(t, "new password", a, 200)
	if m := regexp.MustCompile(`<output id="generated-password"[^>]*>([0-9A-Za-z]{16})</output>`).FindStringSubmatch(a.body); m == nil ||
		!passwd.Check(storedPassword(t, e.db, "jane"), m[1], "jane", false) {
		t.Fatalf("new password: %s", excerpt(a.body))
	}

	// Extra customer ids.
	a = b.follow(b.post("/customer-user/jdoe/customer-ids", url.Values{"customer_id": {"beta"}}))
	mustContain(t, "extra id added", a.body, "Customer id beta added", `name="customer_id" value="BETA"`, "All customer ids: ACME, BETA.")
	a = b.follow(b.post("/customer-user/jdoe/customer-ids", url.Values{"customer_id": {"NOPE"}}))
	mustContain(t, "unknown extra id", a.body, `class="error"`, "does not exist")
	a = b.follow(b.post("/customer-user/jdoe/customer-ids/remove", url.Values{"customer_id": {"BETA"}}))
	mustContain(t, "extra id removed", a.body, "Customer id BETA removed", "None.")

	// Read-only source: shown, not editable, with a clear message; edits refused.
	a = b.get("/customer-user/ro.user")
	mustContain(t, "read-only page", a.body, `id="read-only"`, "read-only data source", "Readonly", "change it there")
	if strings.Contains(a.body, `id="f-UserFirstname"`) || strings.Contains(a.body, "Generate a new password") {
		t.Fatal("the read-only page has edit fields")
	}
	a = b.post("/customer-user/ro.user", url.Values{"UserCity": {"X"}})
	wantCode(t, "edit read-only", a, http.StatusConflict)
	mustContain(t, "edit read-only", a.body, "read-only")
	wantCode(t, "password of read-only", b.post("/customer-user/ro.user/password", nil), http.StatusConflict)

	// Groups: add, list, edit, validity, members, and the effective-permissions widget.
	a = b.get("/customer-user/jdoe")
	mustContain(t, "widget, no groups", a.body, `id="effective-permissions"`, "No group permissions.", "X-Customer-User-Groups: </code>")
	wantCode(t, "group with a slash", b.post("/groups/new", url.Values{"Name": {"a/b"}}), http.StatusBadRequest)
	a = b.follow(b.post("/groups/new", url.Values{"Name": {"billing"}, "Comment": {"Invoices"}}))
	mustContain(t, "group added", a.body, "Group billing added.")
	b.follow(b.post("/groups/new", url.Values{"Name": {"support"}}))
	wantCode(t, "duplicate group", b.post("/groups/new", url.Values{"Name": {"billing"}}), http.StatusConflict)
	mustContain(t, "group list", b.get("/groups").body, `href="/group/billing"`, "Invoices", `href="/group/support"`)
	a = b.follow(b.post("/group/billing/grant", url.Values{"kind": {"user"}, "member": {"JDOE"}, "permission": {"ro"}}))
	mustContain(t, "granted", a.body, "now has ro in group billing", `<a href="/customer-user/jdoe">jdoe</a>`)
	b.follow(b.post("/group/support/grant", url.Values{"kind": {"customer"}, "member": {"acme"}, "permission": {"rw"}}))
	wantCode(t, "grant to nobody", b.post("/group/billing/grant", url.Values{"kind": {"user"}, "member": {"nobody"}, "permission": {"ro"}}), http.StatusNotFound)
	wantCode(t, "grant xx", b.post("/group/billing/grant", url.Values{"kind": {"user"}, "member": {"jdoe"}, "permission": {"xx"}}), http.StatusBadRequest)
	a = b.get("/customer-user/jdoe")
	mustContain(t, "widget", a.body, `<tr><th scope="row">billing</th><td>ro</td></tr>`,
		`<tr><th scope="row">support</th><td>rw (implies every permission)</td></tr>`, "X-Customer-User-Groups: billing:ro,support:rw")
	// An invalid group grants nothing.
	a = b.follow(b.post("/group/billing", url.Values{"Name": {"billing"}, "Comment": {"Invoices"}, "ValidID": {"2"}}))
	mustContain(t, "group invalid", a.body, "Group billing saved (validity: invalid).")
	mustContain(t, "widget after invalid group", b.get("/customer-user/jdoe").body, "X-Customer-User-Groups: support:rw")
	b.follow(b.post("/group/billing", url.Values{"ValidID": {"1"}}))
	a = b.follow(b.post("/group/billing/revoke", url.Values{"kind": {"user"}, "member": {"jdoe"}, "permission": {"ro"}}))
	mustContain(t, "revoked", a.body, "no longer has ro in group billing", "No members.")
	// Rename a group.
	a = b.follow(b.post("/group/support", url.Values{"Name": {"helpdesk"}}))
	mustContain(t, "renamed", a.body, "Group helpdesk saved")
	if eff, _ := e.ui.svc.Permissions(ctx, "jdoe"); eff.Header != "helpdesk:rw" {
		t.Fatalf("effective after the changes: %q", eff.Header)
	}

	// The audit lines name the admin, the action and the target.
	logs := e.logs.String()
	for _, want := range []string{"by=ui:root action=customer.add target=ACME", "by=ui:root action=customer_user.add target=jdoe",
		"by=ui:root action=sessions.revoke target=jdoe", "by=ui:root action=group.grant target=billing",
		"by=ui:root action=customer_user.customer_add target=jdoe", "by=ui:root action=customer_user.set_password target=jane"} {
		if !strings.Contains(logs, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
	if strings.Contains(logs, pw[1]) || strings.Contains(logs, "Typed-Secret-1") || strings.Contains(logs, uiAdminPw) {
		t.Error("a password reached the log")
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// One flow on PostgreSQL: sign in, add a customer and a customer user (generated password),
// find them, set them invalid (their session ends), read the widget.
func TestUIPostgres(t *testing.T) {
	e := newUIEnv(t, testenv.PostgresDB(t), envOpts{})
	ctx := context.Background()
	b := e.browser()
	b.signIn()
	b.follow(b.post("/customers/new", url.Values{"CustomerID": {"ACME"}, "CustomerCompanyName": {"Acme"}, "ValidID": {"1"}}))
	a := b.post("/customer-users/new", url.Values{"UserLogin": {"José"}, "UserFirstname": {"José"}, "UserLastname": {"Müller"},
		"UserEmail": {"jose@example.com"}, "UserCustomerID": {"ACME"}, "ValidID": {"1"}})
	wantCode(t, "add", a, 200)
	pw := regexp.MustCompile(`<output id="generated-password"[^>]*>([^<]*)</output>`).FindStringSubmatch(a.body)
	if pw == nil || !passwd.Check(storedPassword(t, e.db, "José"), pw[1], "José", false) {
		t.Fatalf("generated password: %s", excerpt(a.body))
	}
	mustContain(t, "search", b.get("/customer-users?search="+url.QueryEscape("*Müll*")).body, `href="/customer-user/Jos%C3%A9"`, "José Müller")
	b.follow(b.post("/groups/new", url.Values{"Name": {"staff"}}))
	b.follow(b.post("/group/staff/grant", url.Values{"kind": {"user"}, "member": {"José"}, "permission": {"rw"}}))
	id, _, err := e.mgr.Create(ctx, claims.Set{Login: "José"}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	a = b.follow(b.post("/customer-user/"+url.PathEscape("José"), url.Values{"ValidID": {"3"}}))
	mustContain(t, "invalid-temporarily", a.body, "Validity: invalid-temporarily. 1 session(s) ended.",
		`<option value="3" selected>invalid-temporarily</option>`, "X-Customer-User-Groups: staff:rw")
	if _, err := e.mgr.Load(ctx, id); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("session survived: %v", err)
	}
}
