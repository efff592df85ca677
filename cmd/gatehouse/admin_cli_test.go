package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// cliConfig writes a config over dsn whose Map has the custom column room (added to the
// table first) and turns customer_group.support on.
func cliConfig(t *testing.T, dsn string) string {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := sqldb.Migrate(context.Background(), db, sqldb.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().Exec("ALTER TABLE customer_user ADD room VARCHAR(50) NULL"); err != nil {
		t.Fatal(err)
	}
	cfg := `customer_auth: [{module: db, crypt_type: sha2}]
routes: [{upstream: echo}]
log: {level: info}
customer_group: {support: true, always_groups: [users]}
customer_user:
  - module: db
    params: {dsn: "` + dsn + `"}
    customer_user_email_uniq_check: true
    map:
      - [UserTitle, Title or salutation, title, 1, 0, var, "", 0]
      - [UserFirstname, Firstname, first_name, 1, 1, var, "", 0]
      - [UserLastname, Lastname, last_name, 1, 1, var, "", 0]
      - [UserLogin, Username, login, 1, 1, var, "", 0]
      - [UserPassword, Password, pw, 0, 0, var, "", 0]
      - [UserEmail, Email, email, 1, 1, var, "", 0]
      - [UserCustomerID, CustomerID, customer_id, 0, 1, var, "", 0]
      - [UserCity, City, city, 1, 0, var, "", 0]
      - [UserRoom, Room, room, 1, 0, var, "", 0]
      - [ValidID, Valid, valid_id, 0, 1, int, "", 0]
`
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type cli struct {
	t   *testing.T
	cfg string
}

// ok runs a command that must succeed and returns its stdout.
func (c cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	code, out, errs := runCmd(stdin, append(append([]string{}, args...), "--config", c.cfg)...)
	if code != 0 {
		c.t.Fatalf("gatehouse %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fails runs a command that must fail with exit 1 and returns its stderr.
func (c cli) fails(args ...string) string {
	c.t.Helper()
	code, out, errs := runCmd("", append(append([]string{}, args...), "--config", c.cfg)...)
	if code != 1 {
		c.t.Fatalf("gatehouse %s: exit %d, want 1\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return errs
}

func (c cli) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok("", append(append([]string{}, args...), "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("gatehouse %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// The CLI on the real databases: the add rules, the custom column, tables and --json,
// passwords, validity, groups and effective permissions.
func TestAdminCLI(t *testing.T) {
	for _, d := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"postgres", testenv.PostgresDB}, {"mariadb", testenv.MySQLDB}, {"sqlite", testenv.SQLiteDSN}} {
		t.Run(d.name, func(t *testing.T) {
			c := cli{t: t, cfg: cliConfig(t, d.dsn(t))}
			add := []string{"customer-user", "add", "UserLogin=jdoe", "UserFirstname=John", "UserLastname=Doe",
				"UserEmail=jdoe@example.com", "UserCustomerID=ACME", "room=B-101"}

			if errs := c.fails(add...); !strings.Contains(errs, "no customer exists yet") {
				t.Fatalf("no customer: %s", errs)
			}
			out := c.ok("", "customer", "add", "CustomerID=ACME", "CustomerCompanyName=Acme Inc", "CustomerCompanyCity=Berlin")
			if !regexp.MustCompile(`CustomerCompanyCity\s+Berlin`).MatchString(out) {
				t.Fatalf("customer add table:\n%s", out)
			}
			c.fails("customer", "add", "CustomerID=acme", "CustomerCompanyName=Other")
			out = c.ok("", "customer", "list")
			if !regexp.MustCompile(`(?m)^CUSTOMER ID\s+NAME.*\nACME\s+Acme Inc\s+Berlin\s+valid`).MatchString(out) {
				t.Fatalf("customer list:\n%s", out)
			}
			c.ok("", "customer", "set", "acme", "CustomerCompanyCountry=Germany")

			// Required fields, email syntax, unknown customer, unknown field.
			if errs := c.fails(add[:len(add)-3]...); !strings.Contains(errs, "UserEmail") {
				t.Fatalf("missing email: %s", errs)
			}
			bad := append([]string{}, add...)
			bad[5] = "UserEmail=john at example.com"
			if errs := c.fails(bad...); !strings.Contains(errs, "not a valid address") {
				t.Fatalf("bad email: %s", errs)
			}
			bad = append(append([]string{}, add[:6]...), "UserCustomerID=NOPE")
			if errs := c.fails(bad...); !strings.Contains(errs, `customer "NOPE" does not exist`) {
				t.Fatalf("unknown customer: %s", errs)
			}
			if code, _, errs := runCmd("", append(append([]string{}, add...), "ShoeSize=44", "--config", c.cfg)...); code != 2 || !strings.Contains(errs, "unknown field") {
				t.Fatalf("unknown field: %d %s", code, errs)
			}

			// Added with a generated password, shown once; the custom column by its storage name.
			var rec map[string]any
			c.json(&rec, add...)
			if pw, _ := rec["UserPassword"].(string); !regexp.MustCompile(`^[0-9A-Za-z]{16}$`).MatchString(pw) {
				t.Fatalf("generated password: %v", rec)
			}
			if rec["UserRoom"] != "B-101" || rec["ValidID"] != float64(1) {
				t.Fatalf("record: %v", rec)
			}
			if errs := c.fails(add...); !strings.Contains(errs, "already exists") {
				t.Fatalf("duplicate login: %s", errs)
			}
			dup := append(append([]string{"customer-user", "add", "UserLogin=jane"}, add[3:5]...), "UserEmail=JDOE@example.com", "UserCustomerID=ACME")
			if errs := c.fails(dup...); !strings.Contains(errs, "already used") {
				t.Fatalf("duplicate email: %s", errs)
			}
			out = c.ok("", "customer-user", "add", "UserLogin=jane", "UserFirstname=Jane", "UserLastname=Roe",
				"UserEmail=jane@example.com", "UserCustomerID=ACME", "UserPassword=Secret123!")
			if strings.Contains(out, "Generated password") || strings.Contains(out, "Secret123!") {
				t.Fatalf("a given password was shown:\n%s", out)
			}

			// Edit, list, search (tables and JSON).
			c.json(&rec, "customer-user", "set", "JDOE", "UserRoom=C-7", "UserCity=Hamburg")
			if rec["UserRoom"] != "C-7" || rec["UserCity"] != "Hamburg" {
				t.Fatalf("set: %v", rec)
			}
			out = c.ok("", "customer-user", "list")
			if !regexp.MustCompile(`(?m)^LOGIN\s+NAME\s+EMAIL\s+CUSTOMER ID\s+VALID\s+SOURCE\n`).MatchString(out) ||
				!regexp.MustCompile(`(?m)^jane\s+Jane Roe\s+jane@example.com\s+ACME\s+valid\s+Database Backend$`).MatchString(out) {
				t.Fatalf("list table:\n%s", out)
			}
			var list []map[string]any
			c.json(&list, "customer-user", "search", "jd*")
			if len(list) != 1 || list[0]["UserLogin"] != "jdoe" || list[0]["UserRoom"] != "C-7" {
				t.Fatalf("search: %v", list)
			}
			c.json(&list, "customer-user", "list", "--limit", "1", "--offset", "1")
			if len(list) != 1 || list[0]["UserLogin"] != "jdoe" {
				t.Fatalf("paged list: %v", list)
			}

			// Passwords and validity.
			out = c.ok("", "customer-user", "set-password", "jdoe")
			if !regexp.MustCompile(`Generated password for jdoe \(shown only now\): [0-9A-Za-z]{16}\n`).MatchString(out) {
				t.Fatalf("set-password: %s", out)
			}
			if out = c.ok("NewSecret1\n", "customer-user", "set-password", "jdoe", "--password-stdin"); !strings.Contains(out, "set") {
				t.Fatalf("set-password stdin: %s", out)
			}
			code, out, errs := runCmd("", "customer-user", "set-valid", "jdoe", "invalid-temporarily", "--config", c.cfg)
			if code != 0 || !strings.Contains(out, "jdoe is now invalid-temporarily") || !strings.Contains(errs, "note: sessions.store is memory") {
				t.Fatalf("set-valid: %d %s %s", code, out, errs)
			}
			if !strings.Contains(errs, "action=customer_user.update") || !strings.Contains(errs, "by=cli") {
				t.Fatalf("no audit line on stderr: %s", errs)
			}
			c.fails("customer-user", "set-valid", "jdoe", "sometimes")

			// Groups and effective permissions.
			c.ok("", "group", "add", "billing", "--comment", "Billing")
			c.ok("", "group", "add", "support")
			c.fails("group", "add", "billing")
			c.ok("", "group", "grant", "billing", "--user", "jdoe", "--permission", "ro")
			c.ok("", "group", "grant", "support", "--customer", "ACME", "--permission", "rw")
			var eff struct {
				Header string
				Groups map[string][]string
			}
			c.json(&eff, "group", "effective", "jdoe")
			if eff.Header != "billing:ro,support:rw,users:rw" {
				t.Fatalf("effective: %+v", eff)
			}
			out = c.ok("", "group", "effective", "jdoe")
			if !regexp.MustCompile(`(?m)^billing\s+ro$`).MatchString(out) || !strings.Contains(out, "X-Customer-User-Groups: billing:ro,support:rw,users:rw") {
				t.Fatalf("effective table:\n%s", out)
			}
			c.ok("", "group", "revoke", "billing", "--user", "jdoe")
			c.json(&eff, "group", "effective", "jdoe")
			if eff.Header != "support:rw,users:rw" {
				t.Fatalf("after revoke: %+v", eff)
			}
			if out = c.ok("", "group", "list"); !regexp.MustCompile(`(?m)^\d+\s+billing\s+valid\s+Billing$`).MatchString(out) {
				t.Fatalf("group list:\n%s", out)
			}
			if code, _, _ := runCmd("", "group", "grant", "billing", "--config", c.cfg); code != 2 {
				t.Fatal("grant without member accepted")
			}
		})
	}
}

// customer-user import: every row validated first, bad rows reported with line numbers,
// nothing loaded; --skip-bad loads the rest; a progress line on stderr.
func TestImportCLI(t *testing.T) {
	c := cli{t: t, cfg: cliConfig(t, testenv.SQLiteDSN(t))}
	c.ok("", "customer", "add", "CustomerID=ACME", "CustomerCompanyName=Acme")
	c.ok("", "customer-user", "add", "UserLogin=taken", "UserFirstname=T", "UserLastname=T", "UserEmail=taken@example.com", "UserCustomerID=ACME")
	csv := "UserLogin,UserFirstname,UserLastname,UserEmail,UserCustomerID,room\n" +
		"u1,One,A,u1@example.com,ACME,R1\n" +
		"u2,,B,u2@example.com,ACME,R2\n" + // line 3: first name
		"u3,Three,C,u3-at-example.com,ACME,R3\n" + // line 4: email
		"TAKEN,Four,D,u4@example.com,ACME,R4\n" + // line 5: login exists
		"u5,Five,E,u5@example.com,NOPE,R5\n" + // line 6: customer
		"u6,Six,F,u6@example.com,ACME\n" + // line 7: field count
		"u7,Seven,G,u7@example.com,acme,R7\n"
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd("", "customer-user", "import", path, "--config", c.cfg)
	if code != 1 || !strings.Contains(errs, "5 of 7 rows are bad; nothing imported") {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	for _, l := range []int{3, 4, 5, 6, 7} {
		if !strings.Contains(errs, fmt.Sprintf("users.csv:%d: ", l)) {
			t.Errorf("line %d not reported:\n%s", l, errs)
		}
	}
	if strings.Contains(errs, "users.csv:2:") || strings.Contains(errs, "users.csv:8:") {
		t.Errorf("good rows reported:\n%s", errs)
	}
	if !strings.Contains(errs, "validating [") {
		t.Errorf("no progress line:\n%s", errs)
	}
	var list []map[string]any
	c.json(&list, "customer-user", "list")
	if len(list) != 1 {
		t.Fatalf("rows loaded despite errors: %v", list)
	}
	code, out, errs = runCmd("", "customer-user", "import", path, "--skip-bad", "--config", c.cfg)
	if code != 0 || !strings.Contains(out, "imported 2 customer users") || !strings.Contains(errs, "importing") {
		t.Fatalf("skip-bad: %d %s %s", code, out, errs)
	}
	c.json(&list, "customer-user", "search", "u*")
	if len(list) != 2 || list[1]["UserRoom"] != "R7" || list[1]["UserCustomerID"] != "ACME" {
		t.Fatalf("imported: %v", list)
	}
	// --json report.
	var rep struct {
		Imported int
		Bad      []struct{ Line int }
	}
	code, out, _ = runCmd("", "customer-user", "import", path, "--json", "--config", c.cfg)
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || len(rep.Bad) != 7 || rep.Imported != 0 {
		t.Fatalf("json report: %d %v %s", code, err, out)
	}
}
