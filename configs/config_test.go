package configs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSeveralErrorsAllReported(t *testing.T) {
	src := `server:
  listen: 127.0.0.1:8080
  idle_timeout: soon
routes:
  - path_prefix: x
    upstream: echo
customer_auth:
  - module: db
    crypt_type: sha3
    bcrypt_cost: 40
customer_user:
  - module: db
    params: {dsn: "sqlite://x.db", tabel: customer_user}
    customer_key: "login; DROP TABLE x"
log:
  level: loud
`
	_, err := parse([]byte(src), "gatehouse.yaml", testOptions())
	want := `gatehouse.yaml:3: server.idle_timeout: want a duration such as 90s, 15m or 2h (a bare number is seconds), got "soon"
gatehouse.yaml:5: routes[0].path_prefix: must start with /, got "x"
gatehouse.yaml:9: customer_auth[0].crypt_type: unknown crypt type "sha3" (want bcrypt, sha2, sha512, sha1, md5, apr1, crypt, plain)
gatehouse.yaml:10: customer_auth[0].bcrypt_cost: must be from 9 to 31 (OTRS clamps to this range), got 40
gatehouse.yaml:13: customer_user[0].params.tabel: unknown key (did you mean "table"?)
gatehouse.yaml:14: customer_user[0].customer_key: "login; DROP TABLE x" is not a plain SQL identifier: letters, digits and _, not starting with a digit, at most 64 characters (table and column names from the config go into SQL as they are, so nothing else is allowed)
gatehouse.yaml:16: log.level: unknown log level "loud" (want debug, info, warn, error)`
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 7 {
		t.Fatalf("errors.As: %v, %d errors", errors.As(err, &errs), len(errs))
	}
	var perrs *Errors
	if !errors.As(err, &perrs) {
		// Errors has a value receiver; *Errors implements error too.
		var _ error = perrs
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "g.yaml", Line: 3, Path: "a.b", Msg: "bad"}, "g.yaml:3: a.b: bad"},
		{Error{File: "g.yaml", Path: "routes", Msg: "required"}, "g.yaml: routes: required"},
		{Error{File: "g.yaml", Line: 2, Msg: "YAML: oops"}, "g.yaml:2: YAML: oops"},
		{Error{Path: "log.level", Msg: "bad"}, "log.level: bad"},
		{Error{Line: 7, Path: "x", Msg: "bad"}, "line 7: x: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestIdentifierInjection: no table or column name from the config can carry SQL.
func TestIdentifierInjection(t *testing.T) {
	bad := []string{`login; DROP TABLE x`, `login--`, `"login"`, "login`", `1login`, `lo gin`, `login)`, `a.b`,
		`x/*`, strings.Repeat("a", 65), `Ünïcode`, `login'`}
	keys := []struct{ name, yaml, path string }{
		{"auth table", "customer_auth: [{module: db, table: %s}]", "customer_auth[0].table"},
		{"auth key", "customer_auth: [{module: db, customer_key: %s}]", "customer_auth[0].customer_key"},
		{"auth password", "customer_auth: [{module: db, customer_password: %s}]", "customer_auth[0].customer_password"},
		{"source table", "customer_user: [{module: db, params: {dsn: sqlite://x, table: %s}}]", "customer_user[0].params.table"},
		{"groups table", "customer_user: [{module: db, params: {dsn: sqlite://x, groups_table: %s}}]", "customer_user[0].params.groups_table"},
		{"customer key", "customer_user: [{module: db, params: {dsn: sqlite://x}, customer_key: %s}]", "customer_user[0].customer_key"},
		{"customer id", "customer_user: [{module: db, params: {dsn: sqlite://x}, customer_id: %s}]", "customer_user[0].customer_id"},
		{"customer valid", "customer_user: [{module: db, params: {dsn: sqlite://x}, customer_valid: %s}]", "customer_user[0].customer_valid"},
		{"list field", "customer_user: [{module: db, params: {dsn: sqlite://x}, customer_user_list_fields: [email, %s]}]", "customer_user[0].customer_user_list_fields[1]"},
		{"search field", "customer_user: [{module: db, params: {dsn: sqlite://x}, customer_user_search_fields: [%s]}]", "customer_user[0].customer_user_search_fields[0]"},
		{"postmaster field", "customer_user: [{module: db, params: {dsn: sqlite://x}, customer_user_postmaster_search_fields: [%s]}]", "customer_user[0].customer_user_postmaster_search_fields[0]"},
		{"name field", "customer_user: [{module: db, params: {dsn: sqlite://x}, customer_user_name_fields: [%s]}]", "customer_user[0].customer_user_name_fields[0]"},
		{"map storage", "customer_user: [{module: db, params: {dsn: sqlite://x}, map: [[UserLogin, L, %s, 1, 1, var, '', 0]]}]", "customer_user[0].map[0].storage"},
	}
	full := func(section string) string {
		s := "routes: [{upstream: echo}]\n" + section + "\n"
		if !strings.HasPrefix(section, "customer_auth") {
			s += "customer_auth: [{module: db}]\n"
		}
		if !strings.HasPrefix(section, "customer_user") {
			s += "customer_user: [{module: db, params: {dsn: sqlite://x}}]\n"
		}
		return s
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			// The plain identifier is accepted …
			mustParse(t, full(strings.Replace(k.yaml, "%s", "good_name1", 1)))
			// … and every trick refused, at its path.
			for _, b := range bad {
				quoted := `"` + strings.ReplaceAll(strings.ReplaceAll(b, `\`, `\\`), `"`, `\"`) + `"`
				_, errs := parseTest(t, full(strings.Replace(k.yaml, "%s", quoted, 1)))
				if len(errs) != 1 || errs[0].Path != k.path || !strings.Contains(errs[0].Msg, "not a plain SQL identifier") {
					t.Errorf("%q: got %v", b, errs)
				}
			}
		})
	}
}

func TestExpandEnv(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "alpha", "EMPTY": "", "B_2": "b"}[k]
		return v, ok
	}
	tests := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${A}", "alpha", ""},
		{"x-${A}-${B_2}-y", "x-alpha-b-y", ""},
		{"${UNSET:-fallback}", "fallback", ""},
		{"${EMPTY:-fallback}", "fallback", ""},
		{"${EMPTY}", "", ""},
		{"${A:-fallback}", "alpha", ""},
		{"${UNSET:-}", "", ""},
		{"$$", "$", ""},
		{"$${A}", "${A}", ""},
		{"pa$$word", "pa$word", ""},
		{"$2a$10$abcdef", "$2a$10$abcdef", ""},
		{"$apr1$john.doe$0OfPrOocj9iB690IF04Ju1", "$apr1$john.doe$0OfPrOocj9iB690IF04Ju1", ""},
		{"$A", "$A", ""},
		{"cost $", "cost $", ""},
		{"${UNSET}", "", "environment variable UNSET is not set (write ${UNSET:-default} to give a default)"},
		{"${A", "", `unterminated "${" (write "$${" for a literal "${")`},
		{"${}", "", `invalid environment variable name in "${}" (write "$${" for a literal "${")`},
		{"${1A}", "", `invalid environment variable name in "${1A}" (write "$${" for a literal "${")`},
		{"${A B}", "", `invalid environment variable name in "${A B}" (write "$${" for a literal "${")`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandEnv(tt.in, env)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestEnvInConfig(t *testing.T) {
	c := mustParse(t, base+`server:
  public_url: ${PUBLICURL}
sessions:
  store: redis
  redis:
    url: redis://:${PW}@r:6379/${REDIS_DB}
    db: ${REDIS_DB}
    timeout: ${TIMEOUT}
    key_prefix: ${NOPE:-gh:}
    username: ${EMPTY}
    password: "$${literal}"
`)
	r := c.Sessions.Redis
	if c.Server.PublicURL != "https://portal.example.com" || r.URL != "redis://:s3cret@r:6379/3" || r.DB != 3 ||
		r.Timeout != 5*time.Second || r.KeyPrefix != "gh:" || r.Username != "" || r.Password != "${literal}" {
		t.Fatalf("got %+v %+v", c.Server, r)
	}
	// A variable cannot change the structure: its value stays one scalar.
	testEnv["INJECT"] = "x\nadmin: {listen: 0.0.0.0:1}"
	defer delete(testEnv, "INJECT")
	c = mustParse(t, base+"portal: {title: \"${INJECT}\"}\n")
	if c.Portal.Title != testEnv["INJECT"] || c.Admin.Listen != DefaultAdminListen {
		t.Fatalf("got %q %q", c.Portal.Title, c.Admin.Listen)
	}
	// A wrong type from a variable is reported at the key.
	testEnv["WORD"] = "three"
	defer delete(testEnv, "WORD")
	_, errs := parseTest(t, base+"sessions:\n  redis: {db: \"${WORD}\"}\n")
	if len(errs) != 1 || errs[0].Error() != `gatehouse.yaml:9: sessions.redis.db: want an integer, got "three"` {
		t.Fatalf("got %v", errs)
	}
}

func TestSecretFiles(t *testing.T) {
	c := mustParse(t, strings.Replace(base, `params: {dsn: "sqlite://test.db"}`, `params: {dsn_file: /secrets/dsn}`, 1)+`admin:
  users:
    - {login: admin, password_hash_file: /secrets/hash}
sessions:
  store: redis
  redis: {password_file: /secrets/pw}
`)
	if got := c.CustomerUser[0].Params.DSN; got != "postgres://otrs:pw@db:5432/otrs" {
		t.Errorf("dsn %q", got)
	}
	if got := c.CustomerAuth[0].DSN; got != "postgres://otrs:pw@db:5432/otrs" {
		t.Errorf("auth dsn %q (taken from the source)", got)
	}
	// One trailing newline only is trimmed.
	if got := c.Admin.Users[0].PasswordHash; got != "BCRYPT:12:q3Zk8LmN2pR7sT1v:o4yCMxxz21WMCheGxLSfSXbX3v9Nkv2\n" {
		t.Errorf("hash %q", got)
	}
	if got := c.Sessions.Redis.Password; got != "redispw" {
		t.Errorf("redis password %q", got)
	}

	_, errs := parseTest(t, strings.Replace(base, `params: {dsn: "sqlite://test.db"}`, "params:\n      dsn: sqlite://x\n      dsn_file: /secrets/dsn", 1))
	if len(errs) != 1 || errs[0].Error() != "gatehouse.yaml:9: customer_user[0].params.dsn_file: dsn and dsn_file are both set; use one" {
		t.Errorf("got %v", errs)
	}

	// The real reader: trims one newline, refuses huge files, names the path.
	dir := t.TempDir()
	for name, content := range map[string]string{"a": "secret\n", "b": "secret\r\n", "c": "secret\n\n", "d": "secret"} {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
	}
	for name, want := range map[string]string{"a": "secret", "b": "secret", "c": "secret\n", "d": "secret"} {
		if got, err := readSecretFile(filepath.Join(dir, name)); err != nil || got != want {
			t.Errorf("%s: got %q, %v", name, got, err)
		}
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600)
	if _, err := readSecretFile(big); err == nil || !strings.Contains(err.Error(), "larger than 64 KiB") {
		t.Errorf("big file: %v", err)
	}
	if _, err := readSecretFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestDefaultValues(t *testing.T) {
	c := mustParse(t, `routes:
  - upstream: echo
  - {path_prefix: /x, upstream: "http://127.0.0.1:81"}
customer_auth:
  - module: db
  - module: db
    dsn: mysql://u:p@h:3306/otrs
customer_user:
  - module: db
    params: {dsn: "sqlite://first.db"}
  - module: db
    params: {dsn: "sqlite://second.db"}
sessions:
  store: redis
`)
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", name, got, want)
		}
	}
	s := c.Server
	check("server.listen", s.Listen, "127.0.0.1:8080")
	check("server.public_url", s.PublicURL, "http://127.0.0.1:8080")
	check("server.trusted_proxies", s.TrustedProxies, []string{"127.0.0.1/32", "::1/128"})
	check("server timeouts", []time.Duration{s.ShutdownTimeout, s.IdleTimeout, s.ReadHeaderTimeout}, []time.Duration{15 * time.Second, 75 * time.Second, 10 * time.Second})
	check("admin.listen", c.Admin.Listen, "127.0.0.1:9091")
	ss := c.Sessions
	check("cookie", []string{ss.Cookie.Name, ss.Cookie.SameSite}, []string{"gatehouse_session", "lax"})
	check("cookie.secure (http on loopback)", *ss.Cookie.Secure, false)
	check("idle/max", []time.Duration{ss.IdleTimeout, ss.MaxLifetime}, []time.Duration{2 * time.Hour, 16 * time.Hour})
	check("redis", []any{ss.Redis.URL, ss.Redis.KeyPrefix, ss.Redis.Timeout}, []any{"redis://127.0.0.1:6379/0", "gatehouse:", 2 * time.Second})
	check("route names", []string{c.Routes[0].Name, c.Routes[1].Name}, []string{"route0", "route1"})
	check("route prefix", c.Routes[0].PathPrefix, "/")

	a0, a1 := c.CustomerAuth[0], c.CustomerAuth[1]
	check("auth[0]", a0, AuthModule{Module: "db", Name: "db", DSN: "sqlite://first.db", Table: "customer_user", CustomerKey: "login", CustomerPassword: "pw", CryptType: "bcrypt", BcryptCost: 12})
	check("auth[1] name and own dsn", []string{a1.Name, a1.DSN}, []string{"db1", "mysql://u:p@h:3306/otrs"})

	u0, u1 := c.CustomerUser[0], c.CustomerUser[1]
	check("source names", []string{u0.Name, u1.Name}, []string{"Database Backend", "Database Backend 1"})
	check("params", []string{u0.Params.Table, u0.Params.GroupsTable}, []string{"customer_user", "permission_groups"})
	check("keys", []string{u0.CustomerKey, u0.CustomerID, u0.CustomerValid}, []string{"login", "customer_id", "valid_id"})
	check("list fields", u0.CustomerUserListFields, []string{"first_name", "last_name", "email"})
	check("search fields", u0.CustomerUserSearchFields, []string{"login", "first_name", "last_name", "customer_id"})
	check("search prefix/suffix", []string{u0.CustomerUserSearchPrefix, u0.CustomerUserSearchSuffix}, []string{"*", "*"})
	check("search limit", u0.CustomerUserSearchListLimit, 250)
	check("postmaster fields", u0.CustomerUserPostmasterSearchFields, []string{"email"})
	check("name fields", u0.CustomerUserNameFields, []string{"title", "first_name", "last_name"})
	check("name join", *u0.CustomerUserNameFieldsJoin, " ")
	check("cache ttl", *u0.CacheTTL, time.Duration(0))
	check("map", u0.Map, DefaultMap())
	check("map size", len(u0.Map), 16)
	check("ValidID row", u0.Map[15], MapRow{Var: "ValidID", Label: "Valid", Storage: "valid_id", Required: true, Type: "int"})
	check("UserCustomerID row", u0.Map[6], MapRow{Var: "UserCustomerID", Label: "CustomerID", Storage: "customer_id", Required: true, Type: "var"})
	check("UserTitle row", u0.Map[0], MapRow{Var: "UserTitle", Label: "Title or salutation", Storage: "title", Shown: true, Type: "var"})

	check("always groups", [][]string{c.CustomerGroup.AlwaysGroups, c.CustomerGroup.CompanyAlwaysGroups}, [][]string{{"users"}, {"users"}})
	check("claims headers", c.Claims.Headers, map[string]string{
		"Remote-User": "UserLogin", "X-Customer-User-Email": "UserEmail", "X-Customer-User-Name": "UserFullname",
		"X-Customer-ID": "UserCustomerID", "X-Customer-IDs": "UserCustomerIDs", "X-Customer-User-Groups": "UserGroups",
		"X-Customer-User-Source": "UserSource"})
	check("max header value", c.Claims.MaxHeaderValue, 4096)
	check("assertion", []any{c.Claims.Assertion.Header, c.Claims.Assertion.TTL, c.Claims.Assertion.Enabled}, []any{"X-Gatehouse-Assertion", 60 * time.Second, false})
	check("log", []any{c.Log.Level, c.Log.Format, *c.Log.AccessLog}, []any{"info", "text", true})
	l := c.Limits
	check("limits", []int64{l.MaxBodySize, int64(l.MaxLoginBody), int64(l.PasswordWorkers), int64(l.PasswordQueue), int64(l.UpstreamMaxConns)}, []int64{0, 16384, 0, 64, 1024})

	// Applying the defaults again changes nothing, and the result validates.
	before := *c
	c.ApplyDefaults()
	check("idempotent", *c, before)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestExplicitValuesKept: a key the file sets, even to "" or [], is not replaced by its default.
func TestExplicitValuesKept(t *testing.T) {
	c := mustParse(t, base+`    customer_user_search_prefix: ""
    customer_user_name_fields_join: ""
    cache_ttl: 1m
    customer_valid: ""
admin:
  listen: ""
server:
  trusted_proxies: []
customer_group:
  always_groups: []
claims:
  headers: {}
log:
  access_log: false
`)
	s := c.CustomerUser[0]
	if s.CustomerUserSearchPrefix != "" || s.CustomerUserSearchSuffix != "*" || *s.CustomerUserNameFieldsJoin != "" ||
		*s.CacheTTL != time.Minute || s.CustomerValid != "" {
		t.Errorf("source: %+v", s)
	}
	if c.Admin.Listen != "" || len(c.Server.TrustedProxies) != 0 || len(c.CustomerGroup.AlwaysGroups) != 0 ||
		len(c.CustomerGroup.CompanyAlwaysGroups) != 1 || len(c.Claims.Headers) != 0 || *c.Log.AccessLog {
		t.Errorf("got %+v %+v %+v %+v", c.Admin, c.Server, c.CustomerGroup, c.Claims)
	}
	// A null is "not set": the default applies.
	c = mustParse(t, base+"admin:\n  listen: ~\n")
	if c.Admin.Listen != DefaultAdminListen {
		t.Errorf("null admin.listen: %q", c.Admin.Listen)
	}
}

func TestCookieSecure(t *testing.T) {
	tests := []struct {
		publicURL string
		secure    *bool
		want      bool
	}{
		{"http://127.0.0.1:8080", nil, false},
		{"http://localhost:8080", nil, false},
		{"http://app.localhost", nil, false},
		{"http://[::1]:8080", nil, false},
		{"http://127.8.9.10", nil, false},
		{"http://portal.example.com", nil, true},
		{"http://10.0.0.1:8080", nil, true},
		{"https://127.0.0.1:8443", nil, true},
		{"https://portal.example.com", nil, true},
		{"", nil, true},
		{"http://127.0.0.1:8080", ptr(true), true},
		{"https://portal.example.com", ptr(false), false},
	}
	for _, tt := range tests {
		c := &Config{Server: Server{PublicURL: tt.publicURL}, Sessions: Sessions{Cookie: Cookie{Secure: tt.secure}}}
		if got := c.CookieSecure(); got != tt.want {
			t.Errorf("%q secure=%v: got %v", tt.publicURL, tt.secure, got)
		}
	}
	c := mustParse(t, base+"server: {public_url: \"https://portal.example.com\"}\n")
	if !*c.Sessions.Cookie.Secure {
		t.Error("https public url: cookie not secure")
	}
}

func TestMapRowForms(t *testing.T) {
	c := mustParse(t, strings.Replace(base, `    params: {dsn: "sqlite://test.db"}`, `    params: {dsn: "sqlite://test.db"}
    map:
      - [UserLogin, Username, login, 1, 1, var, "", 0]
      - [UserEmail, Email, email, 2, 1, var, "mailto:[% Data.UserEmail %]", 1, _blank, AsPopup]
      - {var: UserRoom, label: Room, storage: room, shown: true, required: no, type: var, link: "", readonly: yes}
      - {var: UserDept, storage: dept}
      - [DynamicField_Dept, ~, Dept, 0, 0, dynamic_field, ~, 0, ~, ~]`, 1))
	want := []MapRow{
		{Var: "UserLogin", Label: "Username", Storage: "login", Shown: true, Required: true, Type: "var"},
		{Var: "UserEmail", Label: "Email", Storage: "email", Shown: true, Required: true, Type: "var", Link: "mailto:[% Data.UserEmail %]", ReadOnly: true},
		{Var: "UserRoom", Label: "Room", Storage: "room", Shown: true, Type: "var", ReadOnly: true},
		{Var: "UserDept", Storage: "dept", Type: "var"},
		{Var: "DynamicField_Dept", Storage: "Dept", Type: "dynamic_field"},
	}
	if !reflect.DeepEqual(c.CustomerUser[0].Map, want) {
		t.Errorf("got %+v", c.CustomerUser[0].Map)
	}
}

// TestAnchorsAndMerge: YAML anchors, aliases and merge keys work, and own keys win over merged ones.
func TestAnchorsAndMerge(t *testing.T) {
	c := mustParse(t, `x-db: &db
  module: db
  params: {dsn: "sqlite://shared.db", table: customer_user}
  customer_user_search_list_limit: 100
routes: [{upstream: echo}]
customer_auth: [{module: db}]
customer_user:
  - <<: *db
    name: first
  - <<: *db
    name: second
    customer_user_search_list_limit: 5
`)
	u := c.CustomerUser
	if u[0].Name != "first" || u[1].Name != "second" || u[1].Params.DSN != "sqlite://shared.db" ||
		u[1].CustomerUserSearchListLimit != 5 || u[0].CustomerUserSearchListLimit != 100 {
		t.Errorf("got %+v", u)
	}
	// Only top-level keys may start with x-; below, they are unknown keys like any other.
	_, errs := parseTest(t, base+"log: {x-level: 1}\n")
	if len(errs) != 1 || errs[0].Path != "log.x-level" {
		t.Errorf("got %v", errs)
	}
}

func TestAliasBomb(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h"} {
		src += n + ": &" + n + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = n
	}
	src += "server: {trusted_proxies: *h}\n"
	_, errs := parseTest(t, src)
	if len(errs) == 0 {
		t.Fatal("no error")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(p, []byte(base+"log: {level: loud}\n"), 0o600)
	_, err := Load(p)
	if err == nil || err.Error() != p+`:8: log.level: unknown log level "loud" (want debug, info, warn, error)` {
		t.Errorf("got %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(p, []byte(base), 0o600)
	if c, err := Load(p); err != nil || c.Routes[0].Upstream != "echo" {
		t.Errorf("got %v, %v", c, err)
	}
}

func TestEmptyFile(t *testing.T) {
	for _, src := range []string{"", "# nothing\n", "---\n", "~\n"} {
		_, errs := parseTest(t, src)
		var paths []string
		for _, e := range errs {
			paths = append(paths, e.Path)
		}
		if strings.Join(paths, " ") != "routes customer_auth customer_user" {
			t.Errorf("%q: got %v", src, errs)
		}
	}
}

// TestValidateInGo: a Config built in Go is checked the same way, by key path without lines.
func TestValidateInGo(t *testing.T) {
	c := Default()
	c.CustomerUser[0].CustomerKey = "login; DROP TABLE x"
	c.Sessions.Store = "disk"
	err := c.Validate()
	want := `sessions.store: unknown session store "disk" (want memory, redis)
customer_user[0].customer_key: "login; DROP TABLE x" is not a plain SQL identifier: letters, digits and _, not starting with a digit, at most 64 characters (table and column names from the config go into SQL as they are, so nothing else is allowed)`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}

	var empty Config
	empty.ApplyDefaults()
	if err := empty.Validate(); err == nil || !strings.Contains(err.Error(), "routes: at least one route") {
		t.Errorf("got %v", err)
	}
}

// TestAliasCycles: an alias or merge that refers to its own container is an error, quickly.
func TestAliasCycles(t *testing.T) {
	tests := []struct{ src, want string }{
		{"x-a: &a {<<: *a}\nlog: *a\n", `c.yaml:1: log["<<"]: merges a mapping that contains this merge`},
		{"log: &a {<<: [*a, *a]}\n", `c.yaml:1: log["<<"]: merges a mapping that contains this merge`},
		{"server: {trusted_proxies: &a [*a]}\n", `c.yaml:1: server.trusted_proxies[0]: an alias refers to a value that contains it`},
		{"customer_user: &a [{map: *a}]\n", `c.yaml:1: customer_user[0].map: an alias refers to a value that contains it`},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := parse([]byte(tt.src), "c.yaml", testOptions())
		if err == nil || !strings.HasPrefix(err.Error(), tt.want+"\n") {
			t.Errorf("%q: got %v", tt.src, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%q: took %v", tt.src, d)
		}
	}
}

func TestBareSecondsAndDefaultYAML(t *testing.T) {
	c := mustParse(t, base+"sessions: {idle_timeout: 7200, max_lifetime: 57600}\n")
	if c.Sessions.IdleTimeout != 2*time.Hour || c.Sessions.MaxLifetime != 16*time.Hour {
		t.Errorf("got %v %v", c.Sessions.IdleTimeout, c.Sessions.MaxLifetime)
	}
	b := DefaultYAML()
	b[0] = 'X' // a copy
	if DefaultYAML()[0] == 'X' || !strings.Contains(string(DefaultYAML()), "sqlite://gatehouse-data/gatehouse.db") {
		t.Error("DefaultYAML")
	}
}
