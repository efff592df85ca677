package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
	"github.com/gatehouse-sso/gatehouse/sessions/memory"
)

// Every test here runs against the real PostgreSQL, MariaDB and SQLite (a fresh throwaway
// database each; GATEHOUSE_TEST_REQUIRE=1 fails when one is missing).

type dialect struct {
	name string
	dsn  func(testing.TB) string
}

var dialects = []dialect{
	{"postgres", testenv.PostgresDB},
	{"mariadb", testenv.MySQLDB},
	{"sqlite", testenv.SQLiteDSN},
}

func forEachDialect(t *testing.T, fn func(t *testing.T, d dialect)) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) { fn(t, d) })
	}
}

// mapYAML is the OTRS default Map plus the custom column room (UserRoom).
const mapYAML = `
    map:
      - [UserTitle, Title or salutation, title, 1, 0, var, "", 0]
      - [UserFirstname, Firstname, first_name, 1, 1, var, "", 0]
      - [UserLastname, Lastname, last_name, 1, 1, var, "", 0]
      - [UserLogin, Username, login, 1, 1, var, "", 0]
      - [UserPassword, Password, pw, 0, 0, var, "", 0]
      - [UserEmail, Email, email, 1, 1, var, "", 0]
      - [UserCustomerID, CustomerID, customer_id, 0, 1, var, "", 0]
      - [UserPhone, Phone, phone, 1, 0, var, "", 0]
      - [UserCity, City, city, 1, 0, var, "", 0]
      - [UserRoom, Room, room, 1, 0, var, "", 0]
      - [ValidID, Valid, valid_id, 0, 1, int, "", 0]
`

// envOpts shape a test environment.
type envOpts struct {
	second   bool // a second writable source on its own SQLite database
	readOnly bool // a read-only source (its own SQLite database) holding "ro.user"
	groups   configs.CustomerGroup
	sessions sessions.Store
}

type env struct {
	t      testing.TB
	cfg    *configs.Config
	dir    *directory.Directory
	svc    *Service
	api    http.Handler
	admin  *sqldb.Admin
	db     *sqldb.DB
	mgr    *sessions.Manager
	logs   *syncBuffer
	token  string
	second string // dsn of the second source
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testToken = "test-token-0123456789abcdef"

// addRoom adds the custom column room to customer_user.
func addRoom(t testing.TB, db *sqldb.DB) {
	t.Helper()
	if _, err := db.SQL().Exec("ALTER TABLE customer_user ADD room VARCHAR(50) NULL"); err != nil {
		t.Fatalf("add room column: %v", err)
	}
}

func openMigrated(t testing.TB, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := sqldb.Migrate(context.Background(), db, sqldb.MigrateOptions{}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	addRoom(t, db)
	return db
}

func sourceYAML(name, dsn string, extra string) string {
	return fmt.Sprintf(`  - name: %s
    module: db
    params: {dsn: "%s"}
    customer_user_email_uniq_check: true
    customer_company_support: true
%s%s`, name, dsn, extra, mapYAML)
}

func newEnv(t testing.TB, dsn string, o envOpts) *env {
	t.Helper()
	e := &env{t: t, logs: &syncBuffer{}, token: testToken}
	e.db = openMigrated(t, dsn)
	y := "customer_auth: [{module: db, crypt_type: sha2}]\nroutes: [{upstream: echo}]\ncustomer_user:\n" + sourceYAML("Main", dsn, "")
	if o.second {
		e.second = testenv.SQLiteDSN(t)
		openMigrated(t, e.second)
		y += sourceYAML("Second", e.second, "")
	}
	roDSN := ""
	if o.readOnly {
		roDSN = testenv.SQLiteDSN(t)
		rdb := openMigrated(t, roDSN)
		_, err := rdb.SQL().Exec(`INSERT INTO customer_user (login, email, customer_id, first_name, last_name, valid_id,
			create_time, create_by, change_time, change_by) VALUES ('ro.user', 'ro@example.com', 'ACME', 'Read', 'Only', 1,
			'2024-01-01 00:00:00', 1, '2024-01-01 00:00:00', 1)`)
		if err != nil {
			t.Fatal(err)
		}
		y += sourceYAML("Readonly", roDSN, "    read_only: true\n")
	}
	cfg, err := configs.Parse([]byte(y), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	cfg.CustomerGroup = o.groups
	e.cfg = cfg
	var srcs []directory.Source
	for _, sc := range cfg.CustomerUser {
		db, err := sqldb.Open(context.Background(), sc.Params.DSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		src, err := sqldb.NewSource(sc, db, sqldb.SourceOptions{Hasher: func(pw, login string) (string, error) {
			return passwd.Hash(passwd.TypeSHA2, pw, login, 0)
		}})
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, directory.Cached(src, time.Minute))
	}
	e.dir, err = directory.NewDirectory(nil, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	e.admin, err = sqldb.NewAdmin(e.db, sqldb.AdminOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := o.sessions
	if store == nil {
		store = memory.New()
	}
	e.mgr = sessions.NewManager(store, time.Hour, 2*time.Hour)
	e.svc = e.service(o.groups)
	e.api = NewAPI(e.svc, []string{e.token}, slog.New(slog.NewTextHandler(e.logs, nil)))
	return e
}

// service builds a Service over the environment with the given group configuration.
func (e *env) service(g configs.CustomerGroup) *Service {
	e.t.Helper()
	res, err := sqldb.NewGroupResolver(e.db, "", g)
	if err != nil {
		e.t.Fatal(err)
	}
	svc, err := NewService(Deps{Directory: e.dir, Sources: e.cfg.CustomerUser, Admin: e.admin, Groups: res,
		Sessions: e.mgr, Log: slog.New(slog.NewTextHandler(e.logs, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// call sends an API request with the test token and decodes the JSON answer.
func (e *env) call(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	code, raw := e.callRaw(method, path, body, e.token)
	var m map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &m); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return code, m
}

func (e *env) list(path string) (int, []map[string]any) {
	e.t.Helper()
	code, raw := e.callRaw("GET", path, nil, e.token)
	var l []map[string]any
	if code == 200 {
		if err := json.Unmarshal(raw, &l); err != nil {
			e.t.Fatalf("GET %s: bad JSON %q: %v", path, raw, err)
		}
	}
	return code, l
}

func (e *env) callRaw(method, path string, body any, token string) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); rec.Body.Len() > 0 && !strings.HasPrefix(ct, "application/json") {
		e.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return rec.Code, rec.Body.Bytes()
}

// expect checks an API answer's status and, for errors, the field.
func (e *env) expect(method, path string, body any, status int, field string) map[string]any {
	e.t.Helper()
	code, m := e.call(method, path, body)
	if code != status {
		e.t.Fatalf("%s %s %v: status %d, want %d: %v", method, path, body, code, status, m)
	}
	if status >= 400 {
		if m == nil || m["error"] == "" {
			e.t.Fatalf("%s %s: no JSON error: %v", method, path, m)
		}
		if got, _ := m["field"].(string); got != field {
			e.t.Fatalf("%s %s: field %q, want %q (%v)", method, path, got, field, m["error"])
		}
	}
	return m
}

// storedPassword reads the pw column of login in db.
func storedPassword(t testing.TB, db *sqldb.DB, login string) string {
	t.Helper()
	var pw *string
	q := "SELECT pw FROM customer_user WHERE login = ?"
	if db.Dialect() == sqldb.Postgres {
		q = "SELECT pw FROM customer_user WHERE login = $1"
	}
	if err := db.SQL().QueryRow(q, login).Scan(&pw); err != nil {
		t.Fatalf("read pw of %s: %v", login, err)
	}
	if pw == nil {
		return ""
	}
	return *pw
}

func user(login, customer string) map[string]any {
	return map[string]any{"UserLogin": login, "UserFirstname": "First " + login, "UserLastname": "Last",
		"UserEmail": login + "@example.com", "UserCustomerID": customer}
}
