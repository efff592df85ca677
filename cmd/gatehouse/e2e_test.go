package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// End-to-end: an OTRS-schema customer_user table on the real PostgreSQL, MariaDB and SQLite,
// holding customer users in every OTRS password format, read by gatehouse wired exactly as
// `gatehouse serve` wires it; logins through the gateway reach a real upstream with the
// identity headers; sessions live in memory or in the real Redis.

// The fact sheet's test vectors (§4): password Secret123!, login john.doe@example.com.
const vectorPassword = "Secret123!"

type account struct {
	login, pw string
	valid     int
}

var accounts = []account{
	{"u-sha2", "94e0f9bc7f5a5225bd141bad5adf9befcc112aef09b88f47a14e20b75a7bbec2", 1},
	{"u-sha512", "e7c4f7a6da2f1c5c67dbc6fe9f229ebbfd9a6199aa65319d20e43df9b871fce2294436f157f244dc74b7e250c6c0e5f6ecab5d53c67fbcc60d02dfd78f072047", 1},
	{"u-sha1", "af6daf5f1a60c91f73361dd476c97e496beda065", 1},
	{"u-md5", "$1$john.doe$Cfc09hBEQ.6HpoFv49Xt3/", 1},
	{"u-apr1", "$apr1$john.doe$0OfPrOocj9iB690IF04Ju1", 1},
	{"u-des", "jo31Cdcnmewyk", 1},
	{"john.doe@example.com", "jo31CdcnmewykR0eWxdyKPdY", 1}, // libxcrypt bigcrypt: salted with the typed login
	{"u-bcrypt10", "BCRYPT:10:q3Zk8LmN2pR7sT1v:Ywyz3wXMvfHYoGut/fzMn7Ldky1BxSC", 1},
	{"u-bcrypt12", "BCRYPT:12:q3Zk8LmN2pR7sT1v:o4yCMxxz21WMCheGxLSfSXbX3v9Nkv2", 1},
	{"u-plain", vectorPassword, 1}, // matches only through the crypt_type: plain module
	{"u-star0", "*0", 1},           // libxcrypt's failure token: never matches
	{"u-nullpw", "", 1},            // stored NULL
	{"Mixed.Case", "94e0f9bc7f5a5225bd141bad5adf9befcc112aef09b88f47a14e20b75a7bbec2", 1},
	{"u-invalid", "94e0f9bc7f5a5225bd141bad5adf9befcc112aef09b88f47a14e20b75a7bbec2", 2},
	{"u-tempinvalid", "94e0f9bc7f5a5225bd141bad5adf9befcc112aef09b88f47a14e20b75a7bbec2", 3},
}

type dialect struct {
	name, ddl string
	dsn       func(testing.TB) string
}

var dialects = []dialect{
	{"postgresql", "postgresql", testenv.PostgresDB},
	{"mariadb", "mysql", testenv.MySQLDB},
	{"sqlite", "sqlite", testenv.SQLiteDSN},
}

// seedOTRS creates the tables an existing OTRS install has (valid, customer_user from the
// OTRS DDL), a legacy password table for the no-record case, and the accounts.
func seedOTRS(t *testing.T, d dialect, dsn string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.SQL().ExecContext(ctx, db.Rebind(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	b, err := os.ReadFile("../../directory/sqldb/testdata/otrs_customer_user." + d.ddl + ".sql")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, l)
		}
	}
	for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";\n") {
		if stmt = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(stmt), ";")); stmt != "" {
			exec(stmt)
		}
	}
	exec("DELETE FROM customer_user")
	for _, a := range accounts {
		var pw any = a.pw
		if a.pw == "" {
			pw = nil
		}
		exec(`INSERT INTO customer_user (login, email, customer_id, pw, title, first_name, last_name, city, valid_id,
			create_time, create_by, change_time, change_by) VALUES (?, ?, 'ACME', ?, 'Dr.', 'José', 'Müller', 'Köln', ?, ?, 1, ?, 1)`,
			a.login, a.login+"@mail.example", pw, a.valid, time.Now().UTC(), time.Now().UTC())
	}
	exec("CREATE TABLE legacy_users (login VARCHAR(200) NOT NULL, pw VARCHAR(128))")
	exec("INSERT INTO legacy_users (login, pw) VALUES ('ghost', ?)", accounts[0].pw)
}

func e2eConfig(t *testing.T, dsn, sessionsYAML string, upstream string) *configs.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
server:
  listen: 127.0.0.1:0
  public_url: http://127.0.0.1:8080
  trusted_proxies: [192.0.2.1]
admin:
  listen: ""
sessions:
%s
routes:
  - name: helpdesk
    path_prefix: /
    upstream: %s
customer_auth:
  - module: db
    dsn: %q
    crypt_type: sha2
  - module: db
    name: plain
    dsn: %q
    crypt_type: plain
  - module: db
    name: legacy
    dsn: %q
    table: legacy_users
    crypt_type: sha2
customer_user:
  - name: OTRS
    module: db
    params: {dsn: %q}
    customer_company_support: false
log:
  level: warn
`, sessionsYAML, upstream, dsn, dsn, dsn, dsn)
	cfg, err := configs.Parse([]byte(yaml), "e2e.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// recorder is the upstream: it records the headers of each request.
type recorder struct {
	mu   sync.Mutex
	hdrs []http.Header
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.hdrs = append(r.hdrs, req.Header.Clone())
	r.mu.Unlock()
	_, _ = io.WriteString(w, "helpdesk")
}

func (r *recorder) last() http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.hdrs) == 0 {
		return nil
	}
	return r.hdrs[len(r.hdrs)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.hdrs)
}

type running struct {
	base  string
	admin string // the admin listener, when configured
	app   *application
	stop  func()
}

// start wires gatehouse from cfg as `serve` does and serves it on a free loopback port.
func start(t *testing.T, cfg *configs.Config) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	app, err := build(ctx, cfg, io.Discard)
	if err != nil {
		cancel()
		t.Fatalf("build: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen) // 127.0.0.1:0 in most tests
	if err != nil {
		t.Fatal(err)
	}
	var adminLn net.Listener
	if cfg.Admin.Listen != "" {
		if adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { _ = app.gateway.ServeListeners(ctx, ln, adminLn); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done; app.close() }) }
	t.Cleanup(stop)
	r := &running{base: "http://" + ln.Addr().String(), app: app, stop: stop}
	if adminLn != nil {
		r.admin = "http://" + adminLn.Addr().String()
	}
	return r
}

var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

func (r *running) apiLogin(t *testing.T, login, pw string) (int, string, *http.Cookie) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": login, "password": pw})
	resp, err := noRedirect.Post(r.base+"/.gatehouse/api/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse_session" {
			return resp.StatusCode, string(b), c
		}
	}
	return resp.StatusCode, string(b), nil
}

func (r *running) get(t *testing.T, path string, cookie *http.Cookie, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", r.base+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestEndToEndOTRSDatabase(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			dsn := d.dsn(t)
			seedOTRS(t, d, dsn)
			up, upURL := startRecorder(t)
			gh := start(t, e2eConfig(t, dsn, "  store: memory", upURL))

			t.Run("every password format logs in", func(t *testing.T) {
				for _, a := range accounts {
					if a.valid != 1 || a.pw == "" || a.pw == "*0" {
						continue
					}
					status, body, c := gh.apiLogin(t, a.login, vectorPassword)
					if status != 200 || c == nil {
						t.Errorf("%s (%.20s…): status %d %s", a.login, a.pw, status, body)
						continue
					}
					spoof := map[string]string{"Remote-User": "admin", "Remote_User": "admin", "X-CUSTOMER-ID": "EVIL", "X-Forwarded-For": "6.6.6.6"}
					if resp := gh.get(t, "/otrs/customer.pl", c, spoof); resp.StatusCode != 200 {
						t.Errorf("%s: proxied status %d", a.login, resp.StatusCode)
						continue
					}
					h := up.last()
					if got := h.Values("Remote-User"); len(got) != 1 || got[0] != a.login {
						t.Errorf("%s: upstream Remote-User %q", a.login, got)
					}
					if h.Get("X-Customer-Id") != "ACME" || h.Get("X-Customer-User-Name") != "Dr. José Müller" ||
						h.Get("X-Customer-User-Email") != a.login+"@mail.example" || h.Get("X-Customer-User-Source") != "OTRS" ||
						h.Get("X-Customer-User-Groups") != "users:rw" || h.Get("X-Forwarded-For") != "127.0.0.1" {
						t.Errorf("%s: upstream headers %v", a.login, h)
					}
				}
			})
			t.Run("DES uses only 8 password bytes", func(t *testing.T) {
				if status, _, _ := gh.apiLogin(t, "u-des", "Secret12"); status != 200 {
					t.Errorf("status %d", status)
				}
			})
			t.Run("refusals", func(t *testing.T) {
				before := up.count()
				for _, tc := range []struct {
					login, pw string
					status    int
					want      string
				}{
					{"u-sha2", "wrong", 401, "Login failed!"},
					{"nobody", vectorPassword, 401, "Login failed!"},
					{"u-invalid", vectorPassword, 401, "Login failed!"},
					{"u-tempinvalid", vectorPassword, 401, "Login failed!"},
					{"u-star0", vectorPassword, 401, "Login failed!"},
					{"u-star0", "anything", 401, "Login failed!"},
					{"u-nullpw", vectorPassword, 401, "Login failed!"},
					{"u-sha2", "", 401, "Login failed!"},
					{"u-plain", "0", 401, "Login failed!"},
					{"ghost", vectorPassword, 401, "no customer record is found"},
					{"john.doe@example.com", "Secret12", 401, "Login failed!"}, // bigcrypt checks every block
				} {
					status, body, c := gh.apiLogin(t, tc.login, tc.pw)
					if status != tc.status || c != nil || !strings.Contains(body, tc.want) {
						t.Errorf("%s/%q: status %d, cookie %v, body %s", tc.login, tc.pw, status, c != nil, body)
					}
				}
				if up.count() != before {
					t.Errorf("a refused login reached the upstream")
				}
			})
			t.Run("database spelling is the identity", func(t *testing.T) {
				// The DB module binds the typed login as OTRS does, so case handling follows the
				// collation: MariaDB's utf8mb4_unicode_ci matches, PostgreSQL and SQLite do not.
				status, _, c := gh.apiLogin(t, "mixed.case", vectorPassword)
				if d.name == "mariadb" {
					if status != 200 {
						t.Fatalf("status %d", status)
					}
					gh.get(t, "/", c, nil)
					if got := up.last().Get("Remote-User"); got != "Mixed.Case" {
						t.Fatalf("Remote-User %q, want the database spelling Mixed.Case", got)
					}
				} else if status != 401 {
					t.Fatalf("status %d: an exact-collation database must refuse another spelling", status)
				}
			})
			t.Run("login page and form", func(t *testing.T) {
				formLogin(t, gh, "u-bcrypt10", vectorPassword)
			})
		})
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formLogin goes the browser's way: login page, form POST with the csrf token, 303 to rd.
func formLogin(t *testing.T, gh *running, login, pw string) *http.Cookie {
	t.Helper()
	resp, err := noRedirect.Get(gh.base + "/.gatehouse/login?rd=%2Fhelpdesk%2F%3Fa%3D1")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(page)
	if m == nil || !strings.Contains(string(page), `autocomplete="current-password"`) {
		t.Fatalf("login page: %s", page)
	}
	form := "username=" + login + "&password=" + pw + "&csrf=" + string(m[1]) + "&rd=%2Fhelpdesk%2F%3Fa%3D1"
	req, _ := http.NewRequest("POST", gh.base+"/.gatehouse/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/helpdesk/?a=1" {
		t.Fatalf("form login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse_session" {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func openTestDB(t *testing.T, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// startRecorder starts a recording upstream that stops with the test; it returns its URL.
func startRecorder(t *testing.T) (*recorder, string) {
	up := &recorder{}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return up, srv.URL
}

// sqliteOTRS is a SQLite OTRS database holding the accounts.
func sqliteOTRS(t *testing.T) string {
	dsn := testenv.SQLiteDSN(t)
	seedOTRS(t, dialects[2], dsn)
	return dsn
}
