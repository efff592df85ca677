package configs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// base is a minimal valid file; tests append to it or replace it.
const base = `routes:
  - upstream: echo
customer_auth:
  - module: db
customer_user:
  - module: db
    params: {dsn: "sqlite://test.db"}
`

// testEnv and testFiles stand in for the environment and the file system.
var (
	testEnv = map[string]string{
		"PW":        "s3cret",
		"REDIS_DB":  "3",
		"EMPTY":     "",
		"TIMEOUT":   "5s",
		"PUBLICURL": "https://portal.example.com",
	}
	testFiles = map[string]string{
		"/secrets/dsn":   "postgres://otrs:pw@db:5432/otrs\n",
		"/secrets/hash":  "BCRYPT:12:q3Zk8LmN2pR7sT1v:o4yCMxxz21WMCheGxLSfSXbX3v9Nkv2\n\n",
		"/secrets/pw":    "redispw\r\n",
		"/secrets/empty": "\n",
	}
)

func testOptions() options {
	return options{
		env: func(k string) (string, bool) { v, ok := testEnv[k]; return v, ok },
		readFile: func(p string) (string, error) {
			v, ok := testFiles[p]
			if !ok {
				return "", &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
			}
			v = strings.TrimSuffix(v, "\n")
			return strings.TrimSuffix(v, "\r"), nil
		},
	}
}

// parseTest parses src as gatehouse.yaml with the test environment and files.
func parseTest(t *testing.T, src string) (*Config, Errors) {
	t.Helper()
	c, err := parse([]byte(src), "gatehouse.yaml", testOptions())
	if err == nil {
		if c == nil {
			t.Fatal("no config and no error")
		}
		return c, nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, not Errors: %v", err, err)
	}
	if c != nil {
		t.Fatal("config returned with errors")
	}
	return nil, errs
}

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, errs := parseTest(t, src)
	if errs != nil {
		t.Fatalf("unexpected errors:\n%v", errs)
	}
	return c
}

// TestErrors checks each kind of error: its line, key path and message. want holds
// "LINE PATH: MESSAGE" lines (the file name left out); every error must be listed.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown top-level key", base + "servr:\n  listen: 127.0.0.1:1\n",
			[]string{`8 servr: unknown key (did you mean "server"?)`}},
		{"unknown nested key", base + "server:\n  listen: 127.0.0.1:1\n  publicurl: x\n",
			[]string{`10 server.publicurl: unknown key (did you mean "public_url"?)`}},
		{"unknown key, nothing close", base + "frobnicate: 1\n",
			[]string{`8 frobnicate: unknown key`}},
		{"wrong type: integer", base + "limits:\n  max_login_body: lots\n",
			[]string{`9 limits.max_login_body: want an integer, got "lots"`}},
		{"wrong type: list", base + "admin:\n  users: root\n",
			[]string{`9 admin.users: want a list, got "root"`}},
		{"wrong type: list of strings", base + "server:\n  trusted_proxies: {a: b}\n",
			[]string{`9 server.trusted_proxies: want a list, got a mapping`}},
		{"wrong type: mapping", base + "server: 8080\n",
			[]string{`8 server: want a mapping of keys, got "8080"`}},
		{"wrong type: scalar", base + "log:\n  level: [info]\n",
			[]string{`9 log.level: want a single value, got a list`}},
		{"wrong type: duration", base + "sessions:\n  idle_timeout: 2 hours\n",
			[]string{`9 sessions.idle_timeout: want a duration such as 90s, 15m or 2h (a bare number is seconds), got "2 hours"`}},
		{"wrong type: bool", base + "log:\n  access_log: maybe\n",
			[]string{`9 log.access_log: want true or false, got "maybe"`}},
		{"key set twice", base + "log:\n  level: info\n  level: debug\n",
			[]string{`10 log.level: key set twice (first on line 9)`}},
		{"crypt type", strings.Replace(base, "  - module: db\ncustomer_user", "  - module: db\n    crypt_type: sha3\ncustomer_user", 1),
			[]string{`5 customer_auth[0].crypt_type: unknown crypt type "sha3" (want bcrypt, sha2, sha512, sha1, md5, apr1, crypt, plain)`}},
		{"bcrypt cost", strings.Replace(base, "  - module: db\ncustomer_user", "  - module: db\n    bcrypt_cost: 4\ncustomer_user", 1),
			[]string{`5 customer_auth[0].bcrypt_cost: must be from 9 to 31 (OTRS clamps to this range), got 4`}},
		{"unknown auth module and its db keys", strings.Replace(base, "  - module: db\ncustomer_user", "  - module: db\n  - module: kerberos\n    table: users\ncustomer_user", 1),
			[]string{`5 customer_auth[1].module: unknown module "kerberos" (want db, http_basic_auth, ldap, oidc, radius)`, `6 customer_auth[1].table: only for module db (this is module "kerberos")`}},
		{"auth module missing", strings.Replace(base, "  - module: db\ncustomer_user", "  - module: db\n  - die: true\ncustomer_user", 1),
			[]string{`5 customer_auth[1].module: required (want db, http_basic_auth, ldap, oidc, radius)`}},
		{"no routes", strings.Replace(base, "routes:\n  - upstream: echo\n", "", 1),
			[]string{`0 routes: at least one route is required (e.g. path_prefix: / with an upstream)`}},
		{"empty routes list", strings.Replace(base, "routes:\n  - upstream: echo\n", "routes: []\n", 1),
			[]string{`1 routes: at least one route is required (e.g. path_prefix: / with an upstream)`}},
		{"route checks", strings.Replace(base, "  - upstream: echo\n", "  - upstream: echo\n  - {name: a, path_prefix: app, upstream: ftp://x}\n  - {name: a, host: https://h.example.com/x, upstream: http://h:99999}\n  - {name: c, path_prefix: /.gatehouse/x, upstream: echo}\n  - {name: d, path_prefix: /x/../y, upstream: \"\"}\n  - {name: e, upstream: echo, public: true, require: {groups: {billing: \"r w\"}}}\n  - {name: f, host: h:80, upstream: http://u@h}\n", 1),
			[]string{
				`3 routes[1].path_prefix: must start with /, got "app"`,
				`3 routes[1].upstream: want an absolute http:// or https:// URL, got "ftp://x"`,
				`4 routes[2].name: route name "a" is also used by routes[1]`,
				`4 routes[2].host: want a host name without scheme, e.g. "h.example.com"`,
				`4 routes[2].upstream: port "99999" is not a number from 1 to 65535`,
				`5 routes[3].path_prefix: /.gatehouse/ is reserved for gatehouse itself`,
				`6 routes[4].path_prefix: want a clean path (no //, .., \, ? or #), got "/x/../y"`,
				`6 routes[4].upstream: required: an http(s)://host:port URL or "echo"`,
				`7 routes[5].path_prefix: routes[0] already has this host and path prefix`,
				`7 routes[5].require: a public route has no authentication, so it cannot require groups or customer ids`,
				`7 routes[5].require.groups.billing: want a permission such as ro or rw, got "r w"`,
				`8 routes[6].host: want a host name without a port, got "h:80"`,
				`8 routes[6].upstream: must not contain user info`,
			}},
		{"too many auth modules", "routes: [{upstream: echo}]\ncustomer_user: [{module: db, params: {dsn: sqlite://x}}]\ncustomer_auth:\n" + strings.Repeat("  - module: db\n", 12),
			[]string{`3 customer_auth: at most 11 modules (Customer::AuthModule, AuthModule1 … AuthModule10), got 12`}},
		{"bad dsn scheme", strings.Replace(base, "sqlite://test.db", "oracle://u:topsecret@h/db", 1),
			[]string{`7 customer_user[0].params.dsn: unknown database scheme "oracle" (want postgres://, postgresql://, mysql:// or sqlite://)`}},
		{"dsn without scheme", strings.Replace(base, "sqlite://test.db", "u:topsecret@tcp(h)/db", 1),
			[]string{`7 customer_user[0].params.dsn: want a URL starting with postgres://, postgresql://, mysql:// or sqlite://`}},
		{"sqlite without path", strings.Replace(base, "sqlite://test.db", "sqlite://", 1),
			[]string{`7 customer_user[0].params.dsn: sqlite:// needs a file path: sqlite://data/gatehouse.db (relative to the working directory) or sqlite:///var/lib/gatehouse/gatehouse.db`}},
		{"missing dsn", strings.Replace(base, `    params: {dsn: "sqlite://test.db"}`, "    name: x", 1),
			[]string{`6 customer_user[0].params.dsn: required (or params.dsn_file)`}},
		{"upstream without scheme", strings.Replace(base, "upstream: echo", "upstream: 127.0.0.1:8081", 1),
			[]string{`2 routes[0].upstream: want an absolute http:// or https:// URL, got "127.0.0.1:8081"`}},
		{"auth dsn of its own", strings.Replace(base, "  - module: db\ncustomer_user", "  - module: db\n    dsn: \"oracle://x\"\ncustomer_user", 1),
			[]string{`5 customer_auth[0].dsn: unknown database scheme "oracle" (want postgres://, postgresql://, mysql:// or sqlite://)`}},
		{"unknown source module", strings.Replace(base, "  - module: db\n    params", "  - module: nis\n    params", 1),
			[]string{`4 customer_auth[0].dsn: required: customer_user has no db data source to take it from`, `6 customer_user[0].module: unknown module "nis" (want db, ldap)`}},
		{"duplicate source names", base + "  - {name: Database Backend, module: db, params: {dsn: sqlite://y}}\n",
			[]string{`8 customer_user[1].name: name "Database Backend" is also used by customer_user[0]`}},
		{"admin listen equals server listen", base + "server: {listen: 127.0.0.1:9000}\nadmin: {listen: 0.0.0.0:9000}\n",
			[]string{`9 admin.listen: must differ from server.listen (127.0.0.1:9000): the admin listener is never the public port`}},
		{"bad listen", base + "server: {listen: localhost}\n",
			[]string{`8 server.listen: not a host:port address: "localhost"`}},
		{"public url required on all interfaces", base + "server: {listen: 0.0.0.0:8080}\n",
			[]string{`8 server.public_url: required when server.listen (0.0.0.0:8080) listens on every interface: the URL customers use, e.g. https://portal.example.com`}},
		{"public url", base + "server: {public_url: portal.example.com}\n",
			[]string{`8 server.public_url: want an absolute http:// or https:// URL, got "portal.example.com"`}},
		{"trusted proxies", base + "server:\n  trusted_proxies: [10.0.0.0/8, 10.1.2.3, 10.0.0.0/33, proxy]\n",
			[]string{`9 server.trusted_proxies[2]: not an IP address or CIDR: "10.0.0.0/33"`, `9 server.trusted_proxies[3]: not an IP address or CIDR: "proxy"`}},
		{"timeouts", base + "sessions:\n  idle_timeout: 0\n  max_lifetime: 1h\n  store: disk\n",
			[]string{`9 sessions.idle_timeout: must be more than 0, got 0s`, `11 sessions.store: unknown session store "disk" (want memory, redis)`}},
		{"max lifetime below idle", base + "sessions:\n  idle_timeout: 4h\n  max_lifetime: 1h\n",
			[]string{`10 sessions.max_lifetime: must be at least sessions.idle_timeout (4h0m0s), got 1h0m0s`}},
		{"same_site none needs secure", base + "sessions:\n  cookie: {same_site: none, secure: false}\n",
			[]string{`9 sessions.cookie.same_site: none requires secure cookies (browsers drop SameSite=None cookies without Secure)`}},
		{"same_site unknown", base + "sessions:\n  cookie: {same_site: loose}\n",
			[]string{`9 sessions.cookie.same_site: unknown same_site value "loose" (want lax, strict, none)`}},
		{"redis url and addrs", base + "sessions:\n  store: redis\n  redis:\n    url: redis://r:6379\n    addrs: [r1:6379]\n",
			[]string{`10 sessions.redis: set url (one server) or addrs (Sentinel or Cluster), not both`}},
		{"redis without store", base + "sessions:\n  redis: {url: redis://r:6379}\n",
			[]string{`9 sessions.redis: redis servers are set but sessions.store is "memory" (set store: redis)`}},
		{"redis sentinel and cluster", base + "sessions:\n  store: redis\n  redis:\n    addrs: [r1]\n    master_name: m\n    cluster: true\n    db: 2\n",
			[]string{`11 sessions.redis.addrs[0]: not a host:port address: "r1"`, `13 sessions.redis.cluster: Cluster and Sentinel (master_name) exclude each other`, `14 sessions.redis.db: Redis Cluster has only database 0`}},
		{"claims headers", base + "claims:\n  headers:\n    Cookie: UserLogin\n    \"X User\": UserLogin\n    X-Room: UserRoom\n    remote_user: UserLogin\n    Remote-User: UserEmail\n    X-Empty: \"\"\n",
			[]string{
				`10 claims.headers.Cookie: Cookie is reserved (hop-by-hop, framing, cookies, authentication, forwarding or set by browsers); gatehouse strips its claim headers from requests, so pick another name`,
				`11 claims.headers["X User"]: "X User" is not a valid header name (letters, digits and !#$%&'*+-.^_` + "`" + `|~)`,
				`12 claims.headers.X-Room: "UserRoom" is neither a variable of a customer_user map nor one of UserFullname, UserCustomerIDs, UserGroups, UserSource, UserAuthModule`,
				`13 claims.headers.remote_user: same header as "Remote-User" (header names ignore case, and _ counts as -)`,
				`15 claims.headers.X-Empty: want a Map variable (UserLogin, UserEmail, …) or one of UserFullname, UserCustomerIDs, UserGroups, UserSource, UserAuthModule`,
			}},
		{"log", base + "log: {level: verbose, format: xml}\n",
			[]string{`8 log.level: unknown log level "verbose" (want debug, info, warn, error)`, `8 log.format: unknown log format "xml" (want text, json)`}},
		{"limits", base + "limits: {max_login_body: 0, password_queue: -1}\n",
			[]string{`8 limits.max_login_body: must be at least 1, got 0`, `8 limits.password_queue: must be at least 0, got -1`}},
		{"admin users", base + "admin:\n  users:\n    - {login: admin}\n    - {password_hash: x}\n",
			[]string{`10 admin.users[0].password_hash: required: make one with ` + "`gatehouse hash-password`" + ` (or use password_hash_file)`, `11 admin.users[1].login: required`}},
		{"yaml syntax", base + "server:\n  listen: [\n",
			[]string{`9 : YAML: did not find expected node content`}},
		{"two documents", base + "---\nserver: {}\n",
			[]string{`9 : more than one YAML document (remove the extra ---)`}},
		{"not a mapping", "- a\n- b\n",
			[]string{`1 : want a mapping of keys, got a list`}},
		{"unset variable", base + "server:\n  public_url: ${NOPE}\n",
			[]string{`9 server.public_url: environment variable NOPE is not set (write ${NOPE:-default} to give a default)`}},
		{"unterminated variable", base + "server:\n  public_url: ${PW\n",
			[]string{`9 server.public_url: unterminated "${" (write "$${" for a literal "${")`}},
		{"secret and file both set", base + "admin:\n  users:\n    - {login: a, password_hash: x, password_hash_file: /secrets/hash}\n",
			[]string{`10 admin.users[0].password_hash_file: password_hash and password_hash_file are both set; use one`}},
		{"secret file missing", base + "admin:\n  users:\n    - login: a\n      password_hash_file: /secrets/nope\n",
			[]string{`11 admin.users[0].password_hash_file: cannot read the file: open /secrets/nope: file does not exist`}},
		{"listen port", base + "server: {listen: \"127.0.0.1:70000\"}\nadmin: {listen: \"bad host!:1\"}\n",
			[]string{`8 server.listen: port "70000" is not a number from 0 to 65535`, `9 admin.listen: host "bad host!" is neither an IP address nor a host name`}},
		{"cookie", base + "sessions:\n  cookie: {name: \"__Host-gh\", domain: example.com}\n",
			[]string{`9 sessions.cookie.name: a __Host- cookie needs secure and no domain`}},
		{"cookie name and domain", base + "sessions:\n  cookie: {name: \"a;b\", domain: \"http://x\"}\n",
			[]string{"9 sessions.cookie.name: \"a;b\" is not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~)", `9 sessions.cookie.domain: want a domain such as example.com, got "http://x"`}},
		{"portal", base + "portal:\n  login_url: //evil.example.com\n  logout_url: /bye\n  allowed_redirect_hosts: [.example.com, \"https://x.example.com\"]\n",
			[]string{`9 portal.login_url: want an absolute http:// or https:// URL, got "//evil.example.com"`, `11 portal.allowed_redirect_hosts[1]: want a host name such as portal.example.com, or .example.com for every subdomain (no scheme or path), got "https://x.example.com"`}},
		{"duration overflow", base + "sessions: {idle_timeout: 99999999999999}\n",
			[]string{`8 sessions.idle_timeout: want a duration such as 90s, 15m or 2h (a bare number is seconds), got "99999999999999"`}},
		{"source limits", base + "    customer_user_search_list_limit: 0\n    cache_ttl: -1s\n",
			[]string{`8 customer_user[0].customer_user_search_list_limit: must be more than 0, got 0`, `9 customer_user[0].cache_ttl: must not be negative`}},
		{"map row checks", strings.Replace(base, `    params: {dsn: "sqlite://test.db"}`, `    params: {dsn: "sqlite://test.db"}
    map:
      - [UserEmail, Email, email, 1, 1, var, "", 0]
      - [UserEmail, Email, mail, 1, 1, var, "", 0]
      - [UserX, X, x, 1, 1, string, "", 0]
      - [UserY, Y, y, 1, 1, var]
      - {var: UserZ, storage: "z;", colour: red}
      - [DynamicField_Z, ~, "Z-1", 0, 0, dynamic_field, ~, 0, ~, ~]
      - [UserShown, S, s, 3, 0, var, "", 0]`, 1),
			[]string{
				`8 customer_user[0].map: UserLogin must be mapped (OTRS needs the login, e.g. [UserLogin, Username, login, 1, 1, var, "", 0])`,
				`10 customer_user[0].map[1].var: UserEmail is also mapped by customer_user[0].map[0]`,
				`11 customer_user[0].map[2].type: unknown map type "string" (want var, int, dynamic_field)`,
				`12 customer_user[0].map[3]: a map row has 8 items [var, label, storage, shown, required, type, link, readonly], got 6`,
				`13 customer_user[0].map[4].colour: unknown key`,
				`13 customer_user[0].map[4].storage: "z;" is not a plain SQL identifier: letters, digits and _, not starting with a digit, at most 64 characters (table and column names from the config go into SQL as they are, so nothing else is allowed)`,
				`14 customer_user[0].map[5].storage: want a dynamic field name (letters and digits), got "Z-1"`,
				`15 customer_user[0].map[6].shown: want true or false, got "3"`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parseTest(t, tt.src)
			var got []string
			for _, e := range errs {
				if e.File != "gatehouse.yaml" {
					t.Errorf("file %q", e.File)
				}
				got = append(got, fmt.Sprintf("%d %s: %s", e.Line, e.Path, e.Msg))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
