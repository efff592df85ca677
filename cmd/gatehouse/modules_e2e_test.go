package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

func parseConfig(t *testing.T, yaml string) *configs.Config {
	t.Helper()
	cfg, err := configs.Parse([]byte(yaml), "e2e.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// TestLDAPThroughGateway: customers in a real OpenLDAP sign in through the gateway (LDAP auth
// module with a posixGroup check), are looked up in the LDAP data source ahead of the OTRS
// table, and the upstream receives the claims of the LDAP Map.
func TestLDAPThroughGateway(t *testing.T) {
	l := testenv.LDAP(t)
	dsn := sqliteOTRS(t)
	up, upURL := startRecorder(t)
	gh := start(t, parseConfig(t, fmt.Sprintf(`
server: {listen: 127.0.0.1:0, public_url: "http://127.0.0.1:8080"}
admin: {listen: ""}
routes: [{name: helpdesk, upstream: %q}]
customer_auth:
  - module: ldap
    host: %s
    base_dn: %q
    uid: uid
    search_user_dn: %q
    search_user_pw: %q
    group_dn: %q
    access_attr: memberUid
    user_attr: UID
  - module: db
    dsn: %q
    crypt_type: sha2
customer_user:
  - name: LDAP
    module: ldap
    params: {host: %s, base_dn: %q, user_dn: %q, user_pw: %q}
  - name: OTRS
    module: db
    params: {dsn: %q}
log: {level: warn}
`, upURL, l.URL, l.BaseDN, l.ReadOnlyDN, l.ReadOnlyPassword, l.DevelopersDN, dsn,
		l.URL, l.PeopleDN, l.ReadOnlyDN, l.ReadOnlyPassword, dsn)))

	for _, tc := range []struct {
		login, pw, name string
	}{
		{"alice", "alicepass", "Alice Anders"},
		{"jmuller", "jmullerpass", "José Müller"},
	} {
		status, body, c := gh.apiLogin(t, tc.login, tc.pw)
		if status != 200 {
			t.Fatalf("%s: %d %s", tc.login, status, body)
		}
		gh.get(t, "/", c, map[string]string{"Remote-User": "admin"})
		h := up.last()
		if h.Get("Remote-User") != tc.login || h.Get("X-Customer-User-Source") != "LDAP" ||
			h.Get("X-Customer-User-Email") != tc.login+"@example.com" || h.Get("X-Customer-User-Name") != tc.name {
			t.Errorf("%s: upstream headers %v", tc.login, h)
		}
	}
	// bob is in the directory but not in the developers posixGroup.
	if status, _, _ := gh.apiLogin(t, "bob", "bobpass"); status != http.StatusUnauthorized {
		t.Errorf("bob passed the group check: %d", status)
	}
	if status, _, _ := gh.apiLogin(t, "alice", "wrong"); status != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", status)
	}
	// A DB customer user still logs in through the second module and the second source.
	if status, _, c := gh.apiLogin(t, "u-sha2", vectorPassword); status != 200 {
		t.Errorf("db user behind ldap: %d", status)
	} else if gh.get(t, "/", c, nil); up.last().Get("X-Customer-User-Source") != "OTRS" {
		t.Errorf("db user's source %q", up.last().Get("X-Customer-User-Source"))
	}
}

// TestRadiusThroughGateway: a customer authenticated by a real FreeRADIUS (with
// Message-Authenticator, BlastRADIUS-safe) and found in the OTRS table reaches the upstream.
func TestRadiusThroughGateway(t *testing.T) {
	r := testenv.Radius(t)
	dsn := sqliteOTRS(t)
	db := openTestDB(t, dsn)
	for _, login := range []string{"alice", "bob"} {
		if _, err := db.SQL().Exec(db.Rebind(`INSERT INTO customer_user (login, email, customer_id, first_name, last_name, valid_id,
			create_time, create_by, change_time, change_by) VALUES (?, ?, 'RAD', 'R', 'User', ?, CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, 1)`),
			login, login+"@radius.example", map[string]int{"alice": 1, "bob": 2}[login]); err != nil {
			t.Fatal(err)
		}
	}
	up, upURL := startRecorder(t)
	dead := testenv.DeadUDPAddr(t)
	gh := start(t, parseConfig(t, fmt.Sprintf(`
server: {listen: 127.0.0.1:0, public_url: "http://127.0.0.1:8080"}
admin: {listen: ""}
routes: [{name: helpdesk, upstream: %q}]
customer_auth:
  - module: radius
    host: [%q, %q]
    password: %q
    timeout: 2s
  - module: db
    dsn: %q
    crypt_type: sha2
customer_user: [{name: OTRS, module: db, params: {dsn: %q}}]
log: {level: warn}
`, upURL, dead, r.Addr, r.Secret, dsn, dsn)))
	status, body, c := gh.apiLogin(t, "alice", "alicepass")
	if status != 200 {
		t.Fatalf("alice via radius (after failover from a dead host): %d %s", status, body)
	}
	gh.get(t, "/", c, nil)
	if h := up.last(); h.Get("Remote-User") != "alice" || h.Get("X-Customer-Id") != "RAD" {
		t.Fatalf("upstream headers %v", h)
	}
	for login, pw := range map[string]string{"alice": "wrong", "mallory": "mallorypass", "bob": "bobpass"} {
		if status, _, _ := gh.apiLogin(t, login, pw); status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401 (rejected, or invalid customer user)", login, status)
		}
	}
}

// TestLDAPOutage stops a private slapd under a running gatehouse: readyz reports the
// directory, logins through LDAP fall through to the DB module (die: false) and the LDAP
// source is skipped, and everything recovers when slapd is back.
func TestLDAPOutage(t *testing.T) {
	l := testenv.StartLDAPServer(t)
	dsn := sqliteOTRS(t)
	_, upURL := startRecorder(t)
	gh := start(t, parseConfig(t, fmt.Sprintf(`
server: {listen: 127.0.0.1:0, public_url: "http://127.0.0.1:8080"}
admin: {listen: ""}
routes: [{name: helpdesk, upstream: %q}]
customer_auth:
  - {module: ldap, host: %s, base_dn: %q, uid: uid, search_user_dn: %q, search_user_pw: %q, timeout: 2s}
  - {module: db, dsn: %q, crypt_type: sha2}
customer_user:
  - {name: LDAP, module: ldap, params: {host: %s, base_dn: %q, user_dn: %q, user_pw: %q}}
  - {name: OTRS, module: db, params: {dsn: %q}}
log: {level: error}
`, upURL, l.URL, l.BaseDN, l.ReadOnlyDN, l.ReadOnlyPassword, dsn, l.URL, l.PeopleDN, l.ReadOnlyDN, l.ReadOnlyPassword, dsn)))
	ready := func() int { return gh.get(t, "/.gatehouse/readyz", nil, nil).StatusCode }
	if s := ready(); s != 200 {
		t.Fatalf("readyz %d", s)
	}
	l.Stop()
	if s := ready(); s != http.StatusServiceUnavailable {
		t.Errorf("readyz with slapd down: %d, want 503", s)
	}
	if status, _, _ := gh.apiLogin(t, "alice", "alicepass"); status != http.StatusUnauthorized {
		t.Errorf("ldap user with slapd down: %d", status)
	}
	if status, body, _ := gh.apiLogin(t, "u-sha2", vectorPassword); status != 200 {
		t.Errorf("db user with slapd down (ldap module and source skipped): %d %s", status, body)
	}
	l.Start()
	if s := ready(); s != 200 {
		t.Errorf("readyz after restart: %d", s)
	}
	if status, _, _ := gh.apiLogin(t, "alice", "alicepass"); status != 200 {
		t.Errorf("ldap user after restart: %d", status)
	}
}

// TestCustomMapColumnHeader: a column added to the table and to the Map (room → UserRoom)
// reaches the upstream through claims.headers with no code change, and the client's own
// copy of that header is removed.
func TestCustomMapColumnHeader(t *testing.T) {
	dsn := sqliteOTRS(t)
	db := openTestDB(t, dsn)
	for _, q := range []string{"ALTER TABLE customer_user ADD COLUMN room VARCHAR(50)", "UPDATE customer_user SET room = 'B-204' WHERE login = 'u-sha2'"} {
		if _, err := db.SQL().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	up, upURL := startRecorder(t)
	gh := start(t, parseConfig(t, fmt.Sprintf(`
server: {listen: 127.0.0.1:0, public_url: "http://127.0.0.1:8080"}
admin: {listen: ""}
routes: [{name: helpdesk, upstream: %q}]
customer_auth: [{module: db, dsn: %q, crypt_type: sha2}]
customer_user:
  - name: OTRS
    module: db
    params: {dsn: %q}
    map:
      - [UserFirstname, Firstname, first_name, 1, 1, var, "", 0]
      - [UserLastname, Lastname, last_name, 1, 1, var, "", 0]
      - [UserLogin, Username, login, 1, 1, var, "", 0]
      - [UserPassword, Password, pw, 0, 0, var, "", 0]
      - [UserEmail, Email, email, 1, 1, var, "", 0]
      - [UserCustomerID, CustomerID, customer_id, 0, 1, var, "", 0]
      - [UserCity, City, city, 1, 0, var, "", 0]
      - [UserRoom, Room, room, 1, 0, var, "", 0]
      - [ValidID, Valid, valid_id, 0, 1, int, "", 0]
claims:
  headers: {Remote-User: UserLogin, X-Customer-Room: UserRoom, X-Customer-City: UserCity}
log: {level: warn}
`, upURL, dsn, dsn)))
	_, _, c := gh.apiLogin(t, "u-sha2", vectorPassword)
	gh.get(t, "/", c, map[string]string{"X-Customer-Room": "spoofed", "X_Customer_Room": "spoofed"})
	h := up.last()
	if v := h.Values("X-Customer-Room"); len(v) != 1 || v[0] != "B-204" || h.Get("X-Customer-City") != "Köln" {
		t.Fatalf("upstream headers %v", h)
	}
	if h.Get("X-Customer-Id") != "" {
		t.Fatal("a header outside claims.headers was sent")
	}
}
