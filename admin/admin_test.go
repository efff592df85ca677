package admin

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

var alnum16 = regexp.MustCompile(`^[0-9A-Za-z]{16}$`)

// The customer-user rules through the API: no customer yet, required fields, email syntax
// and uniqueness, unknown customer, login unique across sources, generated password stored
// in the crypt type, the custom column, read-only refusal, no delete.
func TestAdminAPICustomerUsers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d.dsn(t), envOpts{second: true, readOnly: true})

		// Authentication.
		if code, _ := e.callRaw("GET", "/api/v1/customers", nil, ""); code != 401 {
			t.Fatalf("no token: %d", code)
		}
		if code, _ := e.callRaw("GET", "/api/v1/customers", nil, testToken+"x"); code != 401 {
			t.Fatalf("wrong token: %d", code)
		}

		// No customer yet.
		m := e.expect("POST", "/api/v1/customer-users", user("jdoe", "ACME"), 409, "UserCustomerID")
		if !strings.Contains(m["error"].(string), "no customer exists yet") {
			t.Fatalf("no-customer message: %v", m["error"])
		}
		e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": "ACME"}, 400, "CustomerCompanyName")
		c := e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": "ACME", "CustomerCompanyName": "Acme Inc",
			"CustomerCompanyCity": "Berlin"}, 201, "")
		if c["ValidID"] != float64(1) || c["CustomerCompanyCity"] != "Berlin" {
			t.Fatalf("customer: %v", c)
		}
		e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": "acme", "CustomerCompanyName": "Other"}, 409, "CustomerID")
		e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": "X", "CustomerCompanyName": "Acme Inc"}, 409, "CustomerCompanyName")

		// Required fields, email syntax, unknown customer, unknown field.
		for _, f := range []string{"UserFirstname", "UserLastname", "UserEmail", "UserLogin", "UserCustomerID"} {
			u := user("jdoe", "ACME")
			delete(u, f)
			e.expect("POST", "/api/v1/customer-users", u, 400, f)
		}
		for _, bad := range []string{"jdoe", "jdoe@", "John <jdoe@example.com>", "a b@example.com", "jdoe@example.com, x@example.com"} {
			u := user("jdoe", "ACME")
			u["UserEmail"] = bad
			e.expect("POST", "/api/v1/customer-users", u, 400, "UserEmail")
		}
		e.expect("POST", "/api/v1/customer-users", user("jdoe", "NOPE"), 400, "UserCustomerID")
		u := user("jdoe", "ACME")
		u["UserShoeSize"] = "44"
		e.expect("POST", "/api/v1/customer-users", u, 400, "UserShoeSize")
		u = user("jdoe", "ACME")
		u["ValidID"] = 7
		e.expect("POST", "/api/v1/customer-users", u, 400, "ValidID")

		// Success: generated password, shown once, stored as sha2; custom column; customer id
		// in its stored spelling.
		u = user("jdoe", "acme")
		u["UserRoom"] = "B-101"
		m = e.expect("POST", "/api/v1/customer-users", u, 201, "")
		pw, _ := m["UserPassword"].(string)
		if !alnum16.MatchString(pw) {
			t.Fatalf("generated password %q", pw)
		}
		if m["UserRoom"] != "B-101" || m["ValidID"] != float64(1) || m["UserCustomerID"] != "ACME" || m["Source"] != "Main" {
			t.Fatalf("created: %v", m)
		}
		stored := storedPassword(t, e.db, "jdoe")
		if passwd.Classify(stored, false) != passwd.FormatSHA256 || !passwd.Check(stored, pw, "jdoe", false) {
			t.Fatalf("stored %q does not check with the generated password", stored)
		}
		m = e.expect("GET", "/api/v1/customer-users/JDOE", nil, 200, "")
		if _, ok := m["UserPassword"]; ok {
			t.Fatal("GET shows UserPassword")
		}
		if m["UserRoom"] != "B-101" || m["UserLogin"] != "jdoe" {
			t.Fatalf("GET: %v", m)
		}
		// A given password is stored and not echoed.
		u = user("given", "ACME")
		u["UserPassword"] = "Secret123!"
		m = e.expect("POST", "/api/v1/customer-users", u, 201, "")
		if _, ok := m["UserPassword"]; ok {
			t.Fatal("a given password was echoed")
		}
		if !passwd.Check(storedPassword(t, e.db, "given"), "Secret123!", "given", false) {
			t.Fatal("given password not stored")
		}

		// Duplicates: login in any letter case, in another source, and in the read-only one;
		// email (uniq check) in any letter case.
		e.expect("POST", "/api/v1/customer-users", user("JDoe", "ACME"), 409, "UserLogin")
		other, _, err := e.svc.AddCustomerUser(context.Background(), "test", "Second", map[string]string{"UserLogin": "elsewhere",
			"UserFirstname": "E", "UserLastname": "W", "UserEmail": "elsewhere@example.com", "UserCustomerID": "ACME"})
		if err != nil || other.Source != "Second" {
			t.Fatalf("add to Second: %v %v", other, err)
		}
		e.expect("POST", "/api/v1/customer-users", user("ELSEWHERE", "ACME"), 409, "UserLogin")
		e.expect("POST", "/api/v1/customer-users", user("ro.user", "ACME"), 409, "UserLogin")
		u = user("jane", "ACME")
		u["UserEmail"] = "JDOE@example.com"
		e.expect("POST", "/api/v1/customer-users", u, 409, "UserEmail")
		u["Source"] = "Readonly"
		u["UserEmail"] = "jane@example.com"
		e.expect("POST", "/api/v1/customer-users", u, 409, "Source")

		// Edit: custom column, email syntax and uniqueness, required, read-only Map row.
		m = e.expect("PATCH", "/api/v1/customer-users/jdoe", map[string]any{"UserRoom": "C-7", "UserCity": "Hamburg"}, 200, "")
		if m["UserRoom"] != "C-7" || m["UserCity"] != "Hamburg" || m["UserFirstname"] != "First jdoe" {
			t.Fatalf("patched: %v", m)
		}
		e.expect("PATCH", "/api/v1/customer-users/jdoe", map[string]any{"UserEmail": "nope"}, 400, "UserEmail")
		e.expect("PATCH", "/api/v1/customer-users/jdoe", map[string]any{"UserEmail": "given@example.com"}, 409, "UserEmail")
		e.expect("PATCH", "/api/v1/customer-users/jdoe", map[string]any{"UserLastname": " "}, 400, "UserLastname")
		e.expect("PATCH", "/api/v1/customer-users/jdoe", map[string]any{"UserCustomerID": "NOPE"}, 400, "UserCustomerID")
		e.expect("PATCH", "/api/v1/customer-users/nobody", map[string]any{"UserCity": "X"}, 404, "UserLogin")
		e.expect("PATCH", "/api/v1/customer-users/jdoe", map[string]any{"UserLogin": "given"}, 409, "UserLogin")

		// Read-only source: listed and readable, never changed.
		m = e.expect("GET", "/api/v1/customer-users/ro.user", nil, 200, "")
		if m["Source"] != "Readonly" || m["ReadOnly"] != true {
			t.Fatalf("read-only record: %v", m)
		}
		m = e.expect("PATCH", "/api/v1/customer-users/ro.user", map[string]any{"UserCity": "X"}, 409, "")
		if !strings.Contains(m["error"].(string), "read-only") {
			t.Fatalf("read-only message: %v", m["error"])
		}
		if _, err := e.svc.SetPassword(context.Background(), "test", "ro.user", ""); !errors.Is(err, directory.ErrReadOnly) {
			t.Fatalf("set password on read-only: %v", err)
		}
		if _, _, err := e.svc.SetCustomerUserValid(context.Background(), "test", "ro.user", "invalid"); !errors.Is(err, directory.ErrReadOnly) {
			t.Fatalf("set valid on read-only: %v", err)
		}

		// No delete.
		for _, p := range []string{"/api/v1/customer-users/jdoe", "/api/v1/customers/ACME"} {
			m = e.expect("DELETE", p, nil, 405, "ValidID")
			if !strings.Contains(m["error"].(string), "validity") {
				t.Fatalf("405 message: %v", m["error"])
			}
		}
		if _, err := e.svc.GetCustomerUser(context.Background(), "jdoe"); err != nil {
			t.Fatalf("jdoe gone after DELETE: %v", err)
		}

		// List (every source, paged), search (OTRS syntax), limit.
		code, l := e.list("/api/v1/customer-users")
		if code != 200 || len(l) != 4 {
			t.Fatalf("list: %d %v", code, l)
		}
		var logins []string
		for _, r := range l {
			logins = append(logins, r["UserLogin"].(string))
		}
		if !slices.Equal(logins, []string{"given", "jdoe", "elsewhere", "ro.user"}) {
			t.Fatalf("list order: %v", logins)
		}
		if _, l = e.list("/api/v1/customer-users?limit=2&offset=1"); len(l) != 2 || l[0]["UserLogin"] != "jdoe" {
			t.Fatalf("page: %v", l)
		}
		if _, l = e.list("/api/v1/customer-users?search=jd*+OR+ro.*"); len(l) != 2 {
			t.Fatalf("search: %v", l)
		}
		if _, l = e.list("/api/v1/customer-users?search=%22First+jdoe%22"); len(l) != 1 || l[0]["UserLogin"] != "jdoe" {
			t.Fatalf("phrase search: %v", l)
		}
		if _, l = e.list("/api/v1/customer-users?search=*e*&limit=1"); len(l) != 1 {
			t.Fatalf("search limit: %v", l)
		}
		if _, l = e.list("/api/v1/customer-users?search=!jdoe+AND+!given"); len(l) != 2 {
			t.Fatalf("search NOT: %v", l)
		}
		e.expect("GET", "/api/v1/customer-users?limit=x", nil, 400, "limit")

		// Customers: list, search, edit, validity, no id change.
		e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": "BETA", "CustomerCompanyName": "Beta GmbH"}, 201, "")
		if _, l = e.list("/api/v1/customers?search=beta"); len(l) != 1 || l[0]["CustomerID"] != "BETA" {
			t.Fatalf("customer search: %v", l)
		}
		m = e.expect("PATCH", "/api/v1/customers/beta", map[string]any{"ValidID": "invalid", "CustomerCompanyURL": "https://beta.example"}, 200, "")
		if m["ValidID"] != float64(2) || m["CustomerCompanyURL"] != "https://beta.example" || m["CustomerCompanyName"] != "Beta GmbH" {
			t.Fatalf("customer patch: %v", m)
		}
		e.expect("PATCH", "/api/v1/customers/BETA", map[string]any{"CustomerID": "GAMMA"}, 400, "CustomerID")
		e.expect("GET", "/api/v1/customers/NOPE", nil, 404, "CustomerID")

		// Customer ids of a customer user.
		m = e.expect("PUT", "/api/v1/customer-users/jdoe/customers/beta", nil, 200, "")
		if !slices.Equal(toStrings(m["CustomerUserCustomers"]), []string{"BETA"}) || !slices.Contains(toStrings(m["CustomerIDs"]), "BETA") {
			t.Fatalf("customer ids: %v", m)
		}
		m = e.expect("GET", "/api/v1/customer-users/jdoe", nil, 200, "")
		if !slices.Equal(toStrings(m["CustomerIDs"]), []string{"ACME", "BETA"}) {
			t.Fatalf("record customer ids (cache dropped?): %v", m["CustomerIDs"])
		}
		e.expect("DELETE", "/api/v1/customer-users/jdoe/customers/BETA", nil, 200, "")
		e.expect("DELETE", "/api/v1/customer-users/jdoe/customers/BETA", nil, 404, "CustomerID")

		// Unknown paths and methods answer JSON.
		e.expect("GET", "/api/v1/nothing", nil, 404, "")
		e.expect("PUT", "/api/v1/customers", nil, 405, "")

		// Every change left an audit line naming the token and the target.
		logs := e.logs.String()
		for _, want := range []string{"action=customer_user.add target=jdoe", "action=customer.add target=ACME",
			"action=customer_user.update target=jdoe", "action=customer_user.customer_add target=jdoe"} {
			if !strings.Contains(logs, want) {
				t.Errorf("audit log lacks %q", want)
			}
		}
		if !strings.Contains(logs, "by=api:") || strings.Contains(logs, pw) || strings.Contains(logs, "Secret123!") {
			t.Errorf("audit log: who missing or a password leaked:\n%s", logs)
		}
	})
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			out = append(out, x.(string))
		}
	}
	return out
}

// Groups through the API and the effective permissions, computed exactly as fact sheet §8,
// for a table of group setups.
func TestAdminEffectivePermissions(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d.dsn(t), envOpts{})
		ctx := context.Background()
		for _, g := range []string{"billing", "support", "sales", "old"} {
			e.expect("POST", "/api/v1/groups", map[string]any{"Name": g, "Comment": "the " + g + " group"}, 201, "")
		}
		e.expect("POST", "/api/v1/groups", map[string]any{"Name": "billing"}, 409, "Name")
		e.expect("PATCH", "/api/v1/groups/old", map[string]any{"ValidID": "invalid"}, 200, "")
		e.expect("PUT", "/api/v1/groups/nope/members/x", map[string]any{"permission": "ro"}, 404, "Name")
		if code, l := e.list("/api/v1/groups"); code != 200 || len(l) != 5 {
			t.Fatalf("groups: %v", l)
		}

		on := func(always, company []string) configs.CustomerGroup {
			return configs.CustomerGroup{Support: true, AlwaysGroups: always, CompanyAlwaysGroups: company}
		}
		users := []string{"users"}
		type grant struct{ path, perm string } // path below /api/v1/groups/, {u} and {c} replaced
		cases := []struct {
			name   string
			groups configs.CustomerGroup
			grants []grant
			revoke []grant
			extra  string // an extra customer id (customer_user_customer)
			want   string
			has    [][2]string // group, permission that Has must grant
		}{
			{name: "support off: every valid group, rw", groups: configs.CustomerGroup{AlwaysGroups: users},
				grants: []grant{{"billing/members/{u}", "ro"}}, want: "billing:rw,sales:rw,support:rw,users:rw"},
			{name: "support on: always groups only", groups: on(users, users), want: "users:rw"},
			{name: "nothing at all", groups: on(nil, nil), want: ""},
			{name: "user ro", groups: on(nil, nil), grants: []grant{{"billing/members/{u}", "ro"}}, want: "billing:ro", has: [][2]string{{"billing", "ro"}}},
			{name: "rw implies ro", groups: on(nil, nil), grants: []grant{{"billing/members/{u}", "ro"}, {"billing/members/{u}", "rw"}},
				want: "billing:rw", has: [][2]string{{"billing", "ro"}, {"billing", "rw"}}},
			{name: "invalid group grants nothing", groups: on([]string{"old"}, []string{"old"}),
				grants: []grant{{"old/members/{u}", "rw"}, {"old/customers/{c}", "rw"}}, want: ""},
			{name: "company group", groups: on(nil, nil), grants: []grant{{"support/customers/{c}", "ro"}}, want: "support:ro"},
			{name: "company always groups", groups: on(nil, []string{"sales"}), want: "sales:rw"},
			{name: "extra customer id brings its company groups", groups: on(users, nil), extra: "SHARED",
				want: "support:ro,users:rw"},
			{name: "user and company union", groups: on(nil, nil),
				grants: []grant{{"billing/members/{u}", "ro"}, {"billing/customers/{c}", "rw"}, {"sales/members/{u}", "ro"}},
				want:   "billing:rw,sales:ro"},
			{name: "revoked", groups: on(nil, nil), grants: []grant{{"billing/members/{u}", "rw"}, {"sales/customers/{c}", "ro"}},
				revoke: []grant{{"billing/members/{u}", ""}, {"sales/customers/{c}", "ro"}}, want: ""},
			{name: "revoke one key keeps the other", groups: on(nil, nil), grants: []grant{{"billing/members/{u}", "ro"}, {"billing/members/{u}", "rw"}},
				revoke: []grant{{"billing/members/{u}", "rw"}}, want: "billing:ro"},
		}
		e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": "SHARED", "CustomerCompanyName": "Shared"}, 201, "")
		e.expect("PUT", "/api/v1/groups/support/customers/SHARED", map[string]any{"permission": "ro"}, 200, "")
		e.expect("PUT", "/api/v1/groups/support/customers/SHARED", map[string]any{"permission": "xx"}, 400, "permission")
		e.expect("PUT", "/api/v1/groups/support/customers/SHARED", nil, 400, "")
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				login, company := "user"+string(rune('a'+i)), "COMP"+string(rune('A'+i))
				e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": company, "CustomerCompanyName": "Company " + company}, 201, "")
				e.expect("POST", "/api/v1/customer-users", user(login, company), 201, "")
				if tc.extra != "" {
					e.expect("PUT", "/api/v1/customer-users/"+login+"/customers/"+tc.extra, nil, 200, "")
				}
				sub := func(p string) string {
					return "/api/v1/groups/" + strings.NewReplacer("{u}", login, "{c}", company).Replace(p)
				}
				for _, g := range tc.grants {
					e.expect("PUT", sub(g.path), map[string]any{"permission": g.perm}, 200, "")
				}
				for _, g := range tc.revoke {
					var body any
					if g.perm != "" {
						body = map[string]any{"permission": g.perm}
					}
					e.expect("DELETE", sub(g.path), body, 200, "")
				}
				svc := e.service(tc.groups)
				eff, err := svc.Permissions(ctx, login)
				if err != nil {
					t.Fatal(err)
				}
				if eff.Header != tc.want {
					t.Fatalf("effective %q, want %q (%v)", eff.Header, tc.want, eff.Groups)
				}
				for _, h := range tc.has {
					if !eff.Groups.Has(h[0], h[1]) {
						t.Errorf("Has(%s, %s) false", h[0], h[1])
					}
				}
				// The same through the API (this env's resolver is the zero configuration:
				// support off), and as the gateway computes it.
				if tc.groups.Support {
					api := NewAPI(svc, []string{testToken}, nil)
					old := e.api
					e.api = api
					m := e.expect("GET", "/api/v1/customer-users/"+login+"/permissions", nil, 200, "")
					e.api = old
					if m["Header"] != tc.want || m["UserLogin"] != login {
						t.Fatalf("API permissions: %v", m)
					}
				}
			})
		}
		m := e.expect("GET", "/api/v1/groups/billing", nil, 200, "")
		if len(m["Members"].([]any)) == 0 {
			t.Fatalf("billing members: %v", m)
		}
		e.expect("GET", "/api/v1/customer-users/nobody/permissions", nil, 404, "UserLogin")
	})
}

// Setting a customer user not valid ends all their sessions at once (memory store), and
// leaves other users' sessions alone; setting valid again ends none.
func TestAdminValidityRevokesSessions(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d.dsn(t), envOpts{})
		ctx := context.Background()
		e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": "ACME", "CustomerCompanyName": "Acme"}, 201, "")
		e.expect("POST", "/api/v1/customer-users", user("jdoe", "ACME"), 201, "")
		e.expect("POST", "/api/v1/customer-users", user("other", "ACME"), 201, "")
		var ids []string
		for range 3 {
			id, _, err := e.mgr.Create(ctx, claims.Set{Login: "jdoe"}, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		otherID, _, _ := e.mgr.Create(ctx, claims.Set{Login: "other"}, "127.0.0.1")

		m := e.expect("PATCH", "/api/v1/customer-users/JDOE", map[string]any{"ValidID": 3}, 200, "")
		if m["SessionsEnded"] != float64(3) || m["ValidID"] != float64(3) {
			t.Fatalf("patch: %v", m)
		}
		for _, id := range ids {
			if _, err := e.mgr.Load(ctx, id); !errors.Is(err, sessions.ErrNotFound) {
				t.Fatalf("session survived: %v", err)
			}
		}
		if _, err := e.mgr.Load(ctx, otherID); err != nil {
			t.Fatalf("other user's session ended: %v", err)
		}
		id, _, _ := e.mgr.Create(ctx, claims.Set{Login: "jdoe"}, "127.0.0.1")
		if _, n, err := e.svc.SetCustomerUserValid(ctx, "test", "jdoe", "valid"); err != nil || n != 0 {
			t.Fatalf("valid again: %d %v", n, err)
		}
		if _, n, err := e.svc.SetCustomerUserValid(ctx, "test", "jdoe", "invalid"); err != nil || n != 1 {
			t.Fatalf("invalid: %d %v", n, err)
		}
		if _, err := e.mgr.Load(ctx, id); !errors.Is(err, sessions.ErrNotFound) {
			t.Fatalf("session survived: %v", err)
		}
		if !strings.Contains(e.logs.String(), "action=sessions.revoke target=jdoe") {
			t.Error("no audit line for the revocation")
		}
		// A new password, generated.
		pw, err := e.svc.SetPassword(ctx, "test", "jdoe", "")
		if err != nil || !alnum16.MatchString(pw) || !passwd.Check(storedPassword(t, e.db, "jdoe"), pw, "jdoe", false) {
			t.Fatalf("set password: %q %v", pw, err)
		}
	})
}

// Taking a permission away ends the sessions that carry it: of the customer user, or of every
// customer user of the customer.
func TestAdminRevokeEndsSessions(t *testing.T) {
	e := newEnv(t, testenv.SQLiteDSN(t), envOpts{})
	ctx := context.Background()
	e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": "ACME", "CustomerCompanyName": "Acme"}, 201, "")
	e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": "OTHER", "CustomerCompanyName": "Other"}, 201, "")
	e.expect("POST", "/api/v1/customer-users", user("jdoe", "ACME"), 201, "")
	e.expect("POST", "/api/v1/customer-users", user("amy", "ACME"), 201, "")
	e.expect("POST", "/api/v1/customer-users", user("zed", "OTHER"), 201, "")
	e.expect("POST", "/api/v1/groups", map[string]any{"Name": "billing"}, 201, "")
	if err := e.svc.Grant(ctx, "test", "billing", MemberUser, "jdoe", "rw"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Grant(ctx, "test", "billing", MemberCustomer, "ACME", "ro"); err != nil {
		t.Fatal(err)
	}
	login := func(l string) string {
		id, _, err := e.mgr.Create(ctx, claims.Set{Login: l}, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	alive := func(id string) bool { _, err := e.mgr.Load(ctx, id); return err == nil }
	j, a, z := login("jdoe"), login("amy"), login("zed")
	if err := e.svc.Revoke(ctx, "test", "billing", MemberUser, "jdoe", "rw"); err != nil {
		t.Fatal(err)
	}
	if alive(j) || !alive(a) || !alive(z) {
		t.Fatalf("after the user revoke: jdoe %v amy %v zed %v", alive(j), alive(a), alive(z))
	}
	j = login("jdoe")
	if err := e.svc.Revoke(ctx, "test", "billing", MemberCustomer, "ACME", ""); err != nil {
		t.Fatal(err)
	}
	if alive(j) || alive(a) || !alive(z) {
		t.Fatalf("after the customer revoke: jdoe %v amy %v zed %v", alive(j), alive(a), alive(z))
	}
}
