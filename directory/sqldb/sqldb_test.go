package sqldb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// The conformance suite: every test here runs against the real PostgreSQL, MariaDB and
// SQLite (testenv gives each a fresh throwaway database).

type dialectCase struct {
	name string
	file string // testdata suffix
	dsn  func(testing.TB) string
}

var dialects = []dialectCase{
	{"postgres", "postgresql", testenv.PostgresDB},
	{"mariadb", "mysql", testenv.MySQLDB},
	{"sqlite", "sqlite", testenv.SQLiteDSN},
}

// forEachDialect runs fn per dialect with a fresh, open database.
func forEachDialect(t *testing.T, fn func(t *testing.T, db *DB, d dialectCase)) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := openDB(t, d.dsn(t))
			fn(t, db, d)
		})
	}
}

func openDB(t testing.TB, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// migrated opens a fresh database with the OTRS schema.
func migrated(t testing.TB, d dialectCase) *DB {
	t.Helper()
	db := openDB(t, d.dsn(t))
	if _, err := Migrate(context.Background(), db, MigrateOptions{}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// sha2 stands in for authn/passwd: OTRS's sha2 crypt type (unsalted sha256 hex).
func sha2(password, _ string) (string, error) {
	h := sha256.Sum256([]byte(password))
	return hex.EncodeToString(h[:]), nil
}

func row(v, label, storage string, required bool) configs.MapRow {
	return configs.MapRow{Var: v, Label: label, Storage: storage, Shown: true, Required: required, Type: "var"}
}

// otrsConfig is the OTRS default CustomerUser configuration, with UserCustomerIDs stored in
// the comments column (OTRS's schema has no customer_ids column; admins add one or reuse one).
func otrsConfig() configs.CustomerUserSource {
	join := " "
	return configs.CustomerUserSource{
		Name:                               "Database Backend",
		Module:                             "db",
		Params:                             configs.SourceParams{Table: "customer_user"},
		CustomerKey:                        "login",
		CustomerID:                         "customer_id",
		CustomerValid:                      "valid_id",
		CustomerUserListFields:             []string{"first_name", "last_name", "email"},
		CustomerUserSearchFields:           []string{"login", "first_name", "last_name", "customer_id"},
		CustomerUserSearchPrefix:           "*",
		CustomerUserSearchSuffix:           "*",
		CustomerUserSearchListLimit:        250,
		CustomerUserPostmasterSearchFields: []string{"email"},
		CustomerUserNameFields:             []string{"title", "first_name", "last_name"},
		CustomerUserNameFieldsJoin:         &join,
		Map: []configs.MapRow{
			row("UserTitle", "Title", "title", false),
			row("UserFirstname", "Firstname", "first_name", true),
			row("UserLastname", "Lastname", "last_name", true),
			row("UserLogin", "Username", "login", true),
			row("UserPassword", "Password", "pw", false),
			row("UserEmail", "Email", "email", true),
			row("UserCustomerID", "CustomerID", "customer_id", true),
			row("UserCustomerIDs", "CustomerIDs", "comments", false),
			row("UserPhone", "Phone", "phone", false),
			row("UserStreet", "Street", "street", false),
			row("UserCity", "City", "city", false),
			row("ValidID", "Valid", "valid_id", false),
		},
	}
}

func mkSource(t testing.TB, db *DB, cfg configs.CustomerUserSource) *Source {
	t.Helper()
	s, err := NewSource(cfg, db, SourceOptions{Hasher: sha2})
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return s
}

func user(login, first, last, customerID string, extra ...string) map[string]string {
	m := map[string]string{
		"UserLogin": login, "UserFirstname": first, "UserLastname": last,
		"UserEmail": strings.ToLower(login) + "@example.test", "UserCustomerID": customerID,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func mustAdd(t testing.TB, s *Source, attrs map[string]string) *directory.CustomerUser {
	t.Helper()
	u, err := s.Add(context.Background(), attrs, "1")
	if err != nil {
		t.Fatalf("Add %v: %v", attrs["UserLogin"], err)
	}
	return u
}

func execFile(t testing.TB, db *DB, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
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
			if _, err := db.SQL().Exec(stmt); err != nil {
				t.Fatalf("%s: %v\n%s", path, err, stmt)
			}
		}
	}
}

// schemaOf describes a table's definition (columns, types, nullability, defaults, indexes)
// in the dialect's own words, for before/after comparisons.
func schemaOf(t testing.TB, db *DB, table string) string {
	t.Helper()
	var q string
	switch db.Dialect() {
	case Postgres:
		q = `SELECT column_name || ' ' || data_type || ' ' || COALESCE(character_maximum_length::text, '') || ' ' ||
			is_nullable || ' ' || COALESCE(column_default, '') FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1
			UNION ALL SELECT indexdef FROM pg_indexes WHERE tablename = $1
			UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::regclass
			ORDER BY 1`
	case MySQL:
		var name, create string
		if err := db.SQL().QueryRow("SHOW CREATE TABLE `"+table+"`").Scan(&name, &create); err != nil {
			t.Fatalf("schema of %s: %v", table, err)
		}
		return regexp.MustCompile(`AUTO_INCREMENT=\d+ `).ReplaceAllString(create, "")
	default:
		q = "SELECT COALESCE(sql, name) FROM sqlite_master WHERE tbl_name = ? ORDER BY name"
	}
	rows, err := db.SQL().Query(q, table)
	if err != nil {
		t.Fatalf("schema of %s: %v", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		t.Fatalf("schema of %s: no such table", table)
	}
	return strings.Join(out, "\n")
}

var allTables = []string{"valid", "customer_user", "customer_company", "customer_user_customer",
	"customer_preferences", "permission_groups", "group_customer_user", "group_customer"}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		res, err := Migrate(ctx, db, MigrateOptions{})
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if !reflect.DeepEqual(res.Created, allTables) {
			t.Errorf("created %v, want %v", res.Created, allTables)
		}
		t.Run("valid seeds", func(t *testing.T) {
			rows, err := db.SQL().Query("SELECT id, name FROM valid ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var id int
				var name string
				if err := rows.Scan(&id, &name); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%s=%d", name, id))
			}
			want := []string{"valid=1", "invalid=2", "invalid-temporarily=3"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("valid rows %v, want %v", got, want)
			}
		})
		t.Run("columns", func(t *testing.T) {
			cols, err := db.columns(ctx, "customer_user")
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"id", "login", "email", "customer_id", "pw", "title", "first_name", "last_name",
				"phone", "fax", "mobile", "street", "zip", "city", "country", "comments", "valid_id",
				"create_time", "create_by", "change_time", "change_by"}
			if !reflect.DeepEqual(cols, want) {
				t.Errorf("customer_user columns %v, want %v", cols, want)
			}
			for table, want := range map[string][]string{
				"permission_groups": {"id", "name", "comments", "valid_id", "create_time", "create_by", "change_time", "change_by"},
				"group_customer": {"customer_id", "group_id", "permission_key", "permission_value", "permission_context",
					"create_time", "create_by", "change_time", "change_by"},
				"customer_preferences": {"user_id", "preferences_key", "preferences_value"},
			} {
				cols, err := db.columns(ctx, table)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(cols, want) {
					t.Errorf("%s columns %v, want %v", table, cols, want)
				}
			}
		})
		t.Run("twice is harmless", func(t *testing.T) {
			before := map[string]string{}
			for _, tb := range allTables {
				before[tb] = schemaOf(t, db, tb)
			}
			res, err := Migrate(ctx, db, MigrateOptions{})
			if err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			if len(res.Created) != 0 || !reflect.DeepEqual(res.Existing, allTables) {
				t.Errorf("second Migrate created %v, existing %v", res.Created, res.Existing)
			}
			for _, tb := range allTables {
				if after := schemaOf(t, db, tb); after != before[tb] {
					t.Errorf("%s changed:\n%s\n---\n%s", tb, before[tb], after)
				}
			}
			var n int
			if err := db.SQL().QueryRow("SELECT COUNT(*) FROM valid").Scan(&n); err != nil || n != 3 {
				t.Errorf("valid has %d rows (%v), want 3", n, err)
			}
		})
		t.Run("otrs6 groups table", func(t *testing.T) {
			res, err := Migrate(ctx, db, MigrateOptions{GroupsTable: "groups"})
			if err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if !reflect.DeepEqual(res.Created, []string{"groups"}) {
				t.Errorf("created %v, want [groups]", res.Created)
			}
		})
		t.Run("bad groups table", func(t *testing.T) {
			if _, err := Migrate(ctx, db, MigrateOptions{GroupsTable: "g; DROP TABLE valid"}); !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	})
}

// TestExistingOTRSTable: a hand-made OTRS customer_user table (testdata) is used unchanged.
func TestExistingOTRSTable(t *testing.T) {
	ctx := context.Background()
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		execFile(t, db, "testdata/otrs_customer_user."+d.file+".sql")
		before := map[string]string{"customer_user": schemaOf(t, db, "customer_user"), "valid": schemaOf(t, db, "valid")}
		res, err := Migrate(ctx, db, MigrateOptions{})
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if !reflect.DeepEqual(res.Existing, []string{"valid", "customer_user"}) {
			t.Errorf("existing %v, want [valid customer_user]", res.Existing)
		}
		for tb, b := range before {
			if after := schemaOf(t, db, tb); after != b {
				t.Errorf("%s changed by Migrate:\n%s\n---\n%s", tb, b, after)
			}
		}
		var n int
		if err := db.SQL().QueryRow("SELECT COUNT(*) FROM valid").Scan(&n); err != nil || n != 3 {
			t.Errorf("valid has %d rows (%v), want the 3 hand-made ones", n, err)
		}
		s := mkSource(t, db, otrsConfig())
		u, err := s.Get(ctx, "legacy.user")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if u.Login != "Legacy.User" || u.Attrs["UserFullname"] != "Mr. Legacy User" || !u.Valid() {
			t.Errorf("got %+v", u)
		}
		if _, ok := u.Attrs["UserPassword"]; ok {
			t.Error("UserPassword handed out")
		}
		// Writes still work on the unchanged table.
		mustAdd(t, s, user("new.user", "New", "User", "LEGACY"))
	})
}

// TestForeignTable: a table without create_*/change_* columns and with an extra column.
func TestForeignTable(t *testing.T) {
	ctx := context.Background()
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		execFile(t, db, "testdata/foreign_customer_user."+d.file+".sql")
		cfg := otrsConfig()
		cfg.Params = configs.SourceParams{Table: "ext_customers", ForeignDB: true}
		cfg.CustomerUserSearchFields = []string{"login", "last_name"}
		cfg.CustomerUserNameFields = []string{"first_name", "last_name"}
		cfg.Map = []configs.MapRow{
			row("UserFirstname", "Firstname", "first_name", true),
			row("UserLastname", "Lastname", "last_name", true),
			row("UserLogin", "Username", "login", true),
			row("UserPassword", "Password", "pw", false),
			row("UserEmail", "Email", "email", true),
			row("UserCustomerID", "CustomerID", "customer_id", true),
			row("UserRoom", "Room", "room", false),
			row("ValidID", "Valid", "valid_id", false),
		}
		before := schemaOf(t, db, "ext_customers")
		for _, foreign := range []bool{true, false} {
			// Without foreign_db the absent audit columns are simply not written.
			cfg.Params.ForeignDB = foreign
			s := mkSource(t, db, cfg)
			u, err := s.Get(ctx, "EXT.USER")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if u.Login != "Ext.User" || u.Attrs["UserRoom"] != "B-204" || u.Attrs["UserFullname"] != "Ext User" {
				t.Errorf("got %+v", u)
			}
			login := "room.user" + map[bool]string{true: "1", false: "2"}[foreign]
			u = mustAdd(t, s, user(login, "Room", "User", "EXT", "UserRoom", "C-1", "UserPassword", "pw1"))
			if u.Attrs["UserRoom"] != "C-1" {
				t.Errorf("added %+v", u)
			}
			if _, err := s.Update(ctx, login, map[string]string{"UserRoom": "C-2"}, "1"); err != nil {
				t.Fatalf("Update: %v", err)
			}
			got, err := s.Search(ctx, directory.Query{Search: login, ValidOnly: true})
			if err != nil || len(got) != 1 || got[0].Attrs["UserRoom"] != "C-2" {
				t.Errorf("Search = %+v, %v", got, err)
			}
		}
		if after := schemaOf(t, db, "ext_customers"); after != before {
			t.Errorf("ext_customers changed:\n%s\n---\n%s", before, after)
		}
		t.Run("map row naming an absent column", func(t *testing.T) {
			bad := cfg
			bad.Map = append(slices.Clone(cfg.Map), row("UserCity", "City", "city", false))
			_, err := NewSource(bad, db, SourceOptions{})
			if err == nil || !strings.Contains(err.Error(), `"city" does not exist in table ext_customers`) {
				t.Errorf("err = %v", err)
			}
		})
	})
}

func TestIdentifierValidation(t *testing.T) {
	evil := "login; DROP TABLE customer_user"
	tests := []struct {
		name string
		mod  func(*configs.CustomerUserSource)
	}{
		{"customer_key", func(c *configs.CustomerUserSource) { c.CustomerKey = evil }},
		{"customer_id", func(c *configs.CustomerUserSource) { c.CustomerID = "x`y" }},
		{"customer_valid", func(c *configs.CustomerUserSource) { c.CustomerValid = `valid_id"--` }},
		{"table", func(c *configs.CustomerUserSource) { c.Params.Table = "customer_user x" }},
		{"search field", func(c *configs.CustomerUserSource) { c.CustomerUserSearchFields = []string{"login", "1=1"} }},
		{"name field", func(c *configs.CustomerUserSource) { c.CustomerUserNameFields = []string{"a.b"} }},
		{"map storage", func(c *configs.CustomerUserSource) { c.Map[0].Storage = evil }},
		{"too long", func(c *configs.CustomerUserSource) { c.CustomerKey = strings.Repeat("a", 65) }},
	}
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		if _, err := Migrate(context.Background(), db, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cfg := otrsConfig()
				cfg.Map = slices.Clone(cfg.Map)
				tt.mod(&cfg)
				if _, err := NewSource(cfg, db, SourceOptions{}); !errors.Is(err, directory.ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
			})
		}
		if ok, err := db.tableExists(context.Background(), "customer_user"); !ok || err != nil {
			t.Errorf("customer_user gone: %v", err)
		}
	})
}

func TestGet(t *testing.T) {
	ctx := context.Background()
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		if _, err := Migrate(ctx, db, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		s := mkSource(t, db, otrsConfig())
		mustAdd(t, s, user("John.Doe@Example.com", "John", "Doe", "ACME", "UserTitle", "Dr.", "UserCity", "Berlin"))

		t.Run("case-insensitive returns the database spelling", func(t *testing.T) {
			for _, typed := range []string{"john.doe@example.com", "JOHN.DOE@EXAMPLE.COM", "John.Doe@Example.com"} {
				u, err := s.Get(ctx, typed)
				if err != nil {
					t.Fatalf("Get(%q): %v", typed, err)
				}
				if u.Login != "John.Doe@Example.com" || u.Attrs["UserLogin"] != u.Login || u.Source != "Database Backend" {
					t.Errorf("Get(%q) login %q attrs %v", typed, u.Login, u.Attrs)
				}
			}
		})
		t.Run("attributes", func(t *testing.T) {
			u, err := s.Get(ctx, "john.doe@example.com")
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"UserTitle": "Dr.", "UserFirstname": "John", "UserLastname": "Doe", "UserCity": "Berlin",
				"UserEmail": "john.doe@example.com@example.test", "UserCustomerID": "ACME", "ValidID": "1",
				"UserFullname": "Dr. John Doe", "UserPhone": "",
			}
			for k, v := range want {
				if u.Attrs[k] != v {
					t.Errorf("%s = %q, want %q", k, u.Attrs[k], v)
				}
			}
			if _, ok := u.Attrs["UserPassword"]; ok {
				t.Error("UserPassword handed out")
			}
			if u.ValidID != 1 || u.CustomerID != "ACME" || u.ChangeTime.IsZero() {
				t.Errorf("ValidID %d CustomerID %q ChangeTime %v", u.ValidID, u.CustomerID, u.ChangeTime)
			}
			if time.Since(u.ChangeTime) > time.Hour || time.Until(u.ChangeTime) > time.Hour {
				t.Errorf("ChangeTime %v is not now", u.ChangeTime)
			}
		})
		t.Run("not found", func(t *testing.T) {
			for _, login := range []string{"nobody", "", "john.doe"} {
				if _, err := s.Get(ctx, login); !errors.Is(err, directory.ErrNotFound) {
					t.Errorf("Get(%q) err = %v, want ErrNotFound", login, err)
				}
			}
		})
		t.Run("case_sensitive", func(t *testing.T) {
			// MariaDB's utf8mb4_unicode_ci ignores case even for "=", so the exact mode
			// must compare with BINARY there; this test proves it does.
			cfg := otrsConfig()
			cfg.Params.CaseSensitive = true
			cs := mkSource(t, db, cfg)
			if _, err := cs.Get(ctx, "john.doe@example.com"); !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("lower-case login found in case_sensitive mode: %v", err)
			}
			if u, err := cs.Get(ctx, "John.Doe@Example.com"); err != nil || u.Login != "John.Doe@Example.com" {
				t.Errorf("exact login: %v %v", u, err)
			}
		})
		t.Run("name join", func(t *testing.T) {
			cfg := otrsConfig()
			j := ", "
			cfg.CustomerUserNameFieldsJoin = &j
			cfg.CustomerUserNameFields = []string{"last_name", "title", "first_name"}
			js := mkSource(t, db, cfg)
			mustAdd(t, js, user("notitle", "Ann", "Lee", "X"))
			for login, want := range map[string]string{"john.doe@example.com": "Doe, Dr., John", "notitle": "Lee, Ann"} {
				u, err := js.Get(ctx, login)
				if err != nil || u.Attrs["UserFullname"] != want {
					t.Errorf("%s: UserFullname %q (%v), want %q", login, u.Attrs["UserFullname"], err, want)
				}
			}
		})
	})
}

func TestCustomerIDs(t *testing.T) {
	ctx := context.Background()
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		if _, err := Migrate(ctx, db, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		s := mkSource(t, db, otrsConfig())
		admin, err := NewAdmin(db, AdminOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			login, ids string
			cuc        []string
			want       []string
		}{
			{"semi", " A ; B;C ", nil, []string{"A", "B", "C", "P"}},
			{"comma", "A, B ,C", nil, []string{"A", "B", "C", "P"}},
			{"pipe", "A|B | C", nil, []string{"A", "B", "C", "P"}},
			// The first separator of the list ; , | that occurs wins; the others stay literal.
			{"first-wins", "A,B|C;D", nil, []string{"A,B|C", "D", "P"}},
			{"comma-over-pipe", "A|B,C", nil, []string{"A|B", "C", "P"}},
			{"single", " A ", nil, []string{"A", "P"}},
			{"none", "", nil, []string{"P"}},
			{"dup-primary", "P;A", nil, []string{"P", "A"}},
			{"relation", "A", []string{"R2", "R1"}, []string{"A", "P", "R1", "R2"}},
		}
		for _, tt := range tests {
			mustAdd(t, s, user(tt.login, "F", "L", "P", "UserCustomerIDs", tt.ids))
			for _, c := range tt.cuc {
				if err := admin.AddCustomerUserCustomer(ctx, tt.login, c, "1"); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Adding a pair twice changes nothing.
		if err := admin.AddCustomerUserCustomer(ctx, "relation", "R1", "1"); err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(tt.login, func(t *testing.T) {
				got, err := s.CustomerIDs(ctx, tt.login)
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Errorf("CustomerIDs = %q (%v), want %q", got, err, tt.want)
				}
				u, err := s.Get(ctx, strings.ToUpper(tt.login))
				if err != nil || !reflect.DeepEqual(u.CustomerIDs, tt.want) {
					t.Errorf("Get().CustomerIDs = %q (%v), want %q", u.CustomerIDs, err, tt.want)
				}
			})
		}
		t.Run("exclude primary", func(t *testing.T) {
			cfg := otrsConfig()
			cfg.CustomerUserExcludePrimaryCustomerID = true
			ex := mkSource(t, db, cfg)
			got, err := ex.CustomerIDs(ctx, "relation")
			if want := []string{"A", "R1", "R2"}; err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("CustomerIDs = %q (%v), want %q", got, err, want)
			}
		})
		t.Run("unknown login", func(t *testing.T) {
			if got, err := s.CustomerIDs(ctx, "nobody"); err != nil || len(got) != 0 {
				t.Errorf("CustomerIDs = %q, %v", got, err)
			}
		})
		t.Run("relation rows match the login exactly", func(t *testing.T) {
			// customer_user_customer.user_id is compared as passed (OTRS): the typed
			// spelling RELATION finds the user but not its rows.
			got, err := s.CustomerIDs(ctx, "RELATION")
			if want := []string{"A", "P"}; err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("CustomerIDs = %q (%v), want %q", got, err, want)
			}
		})
	})
}

func TestCompanyMerge(t *testing.T) {
	ctx := context.Background()
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		if _, err := Migrate(ctx, db, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		admin, _ := NewAdmin(db, AdminOptions{})
		if err := admin.AddCompany(ctx, Company{CustomerID: "ACME", Name: "Acme Corp", City: "Springfield",
			URL: "https://acme.test", ValidID: directory.InvalidID}, "1"); err != nil {
			t.Fatal(err)
		}
		cfg := otrsConfig()
		cfg.CustomerCompanySupport = true
		s := mkSource(t, db, cfg)
		mustAdd(t, s, user("jdoe", "John", "Doe", "acme", "UserCity", "Berlin"))
		mustAdd(t, s, user("nocomp", "No", "Company", "NONE"))
		u, err := s.Get(ctx, "jdoe")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"CustomerCompanyName": "Acme Corp", "CustomerCompanyCity": "Springfield",
			"CustomerCompanyURL": "https://acme.test", "CustomerCompanyStreet": "",
			"CustomerCompanyValidID": "2",
			// The user's own values win: ValidID stays the user's, UserCity is the user's.
			"ValidID": "1", "UserCity": "Berlin", "UserCustomerID": "acme", "CustomerID": "ACME",
		}
		for k, v := range want {
			if u.Attrs[k] != v {
				t.Errorf("%s = %q, want %q", k, u.Attrs[k], v)
			}
		}
		if !u.Valid() {
			t.Error("an invalid company made the user invalid")
		}
		u, err = s.Get(ctx, "nocomp")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := u.Attrs["CustomerCompanyName"]; ok {
			t.Errorf("company fields without a company: %v", u.Attrs)
		}
	})
}

func TestSearch(t *testing.T) {
	ctx := context.Background()
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		if _, err := Migrate(ctx, db, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		s := mkSource(t, db, otrsConfig())
		for _, u := range []map[string]string{
			user("jdoe", "John", "Doe", "ACME", "UserEmail", "John.Doe@Acme.test"),
			user("jsmith", "Jane", "Smith-Jones (HQ)", "ACME"),
			user("bob", "Bob", "Builder", "BUILD", "ValidID", "2"),
			user("aub", "Under", "Score", "U1"),
			user("axb", "Ex", "Bee!", "U2"),
			user("pcta", "100%", "Percent", "P1"),
			user("pctb", "1000", "Thousand", "P2"),
			user("vdb", "Anna", "van der Berg", "NL"),
		} {
			mustAdd(t, s, u)
		}
		// A login with an underscore, set directly (the Map's UserLogin is plain var).
		if _, err := db.SQL().Exec(db.Rebind("UPDATE customer_user SET login = ? WHERE login = ?"), "a_b", "aub"); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			q    directory.Query
			want []string
		}{
			{"word", directory.Query{Search: "john"}, []string{"jdoe"}},
			{"ignores case", directory.Query{Search: "JOHN"}, []string{"jdoe"}},
			{"prefix and suffix wrap", directory.Query{Search: "oh"}, []string{"jdoe"}},
			{"customer id field", directory.Query{Search: "acme"}, []string{"jdoe", "jsmith"}},
			{"star", directory.Query{Search: "*"}, []string{"a_b", "axb", "bob", "jdoe", "jsmith", "pcta", "pctb", "vdb"}},
			{"inner wildcard", directory.Query{Search: "j*e"}, []string{"jdoe", "jsmith"}},
			{"plus is AND", directory.Query{Search: "acme+doe"}, []string{"jdoe"}},
			{"AND", directory.Query{Search: "acme AND smith"}, []string{"jsmith"}},
			{"&&", directory.Query{Search: "acme&&smith"}, []string{"jsmith"}},
			{"OR", directory.Query{Search: "john OR bob"}, []string{"bob", "jdoe"}},
			{"||", directory.Query{Search: "john||bob"}, []string{"bob", "jdoe"}},
			{"NOT", directory.Query{Search: "acme&&!jane"}, []string{"jdoe"}},
			{"NOT alone", directory.Query{Search: "!a"}, []string{"bob"}},
			{"double NOT is NOT", directory.Query{Search: "!!x"}, []string{"a_b", "bob", "jdoe", "jsmith", "pcta", "pctb", "vdb"}},
			{"whitespace is not an operator", directory.Query{Search: "john doe"}, nil},
			{"words with a space", directory.Query{Search: "van der"}, []string{"vdb"}},
			{"phrase keeps operators", directory.Query{Search: `"(HQ)"`}, []string{"jsmith"}},
			{"phrase keeps AND literal", directory.Query{Search: `"van der" AND anna`}, []string{"vdb"}},
			{"parentheses", directory.Query{Search: "(john OR jane) AND acme"}, []string{"jdoe", "jsmith"}},
			{"AND binds tighter", directory.Query{Search: "bob OR acme AND jane"}, []string{"bob", "jsmith"}},
			{"unbalanced", directory.Query{Search: "(john"}, nil},
			{"stray close", directory.Query{Search: "john)"}, nil},
			{"underscore is literal", directory.Query{Search: "a_b"}, []string{"a_b"}},
			{"percent is literal", directory.Query{Search: "100%"}, []string{"pcta"}},
			{"escape char is literal", directory.Query{Search: "e!"}, []string{"axb"}},
			{"! inside a word is literal", directory.Query{Search: "x!y"}, nil},
			{"user login substring", directory.Query{UserLogin: "DO"}, []string{"jdoe"}},
			{"user login underscore", directory.Query{UserLogin: "_"}, []string{"a_b"}},
			{"postmaster exact", directory.Query{PostMasterSearch: "JOHN.DOE@ACME.TEST"}, []string{"jdoe"}},
			{"postmaster no substring", directory.Query{PostMasterSearch: "john.doe@acme"}, nil},
			{"customer id wildcard", directory.Query{CustomerID: "AC*"}, []string{"jdoe", "jsmith"}},
			{"customer id exact", directory.Query{CustomerID: "build"}, []string{"bob"}},
			{"customer id underscore", directory.Query{CustomerID: "U_"}, nil},
			{"valid only", directory.Query{Search: "b", ValidOnly: true}, []string{"a_b", "axb", "pctb", "vdb"}},
			{"not valid only", directory.Query{Search: "b"}, []string{"a_b", "axb", "bob", "pctb", "vdb"}},
			{"combined", directory.Query{Search: "j*", CustomerID: "ACME", UserLogin: "smith"}, []string{"jsmith"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Search(ctx, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				if logins := loginsOf(got); !reflect.DeepEqual(logins, tt.want) {
					t.Errorf("Search(%+v) = %q, want %q", tt.q, logins, tt.want)
				}
			})
		}
		t.Run("limit offset order", func(t *testing.T) {
			q := directory.Query{Search: "j*", Limit: 1}
			got, err := s.Search(ctx, q)
			if err != nil || !reflect.DeepEqual(loginsOf(got), []string{"jdoe"}) {
				t.Errorf("limit 1: %q %v", loginsOf(got), err)
			}
			q.Offset = 1
			got, err = s.Search(ctx, q)
			if err != nil || !reflect.DeepEqual(loginsOf(got), []string{"jsmith"}) {
				t.Errorf("offset 1: %q %v", loginsOf(got), err)
			}
			cfg := otrsConfig()
			cfg.CustomerUserSearchListLimit = 2
			ls := mkSource(t, db, cfg)
			got, err = ls.Search(ctx, directory.Query{Search: "*"})
			if err != nil || len(got) != 2 {
				t.Errorf("default limit 2: %q %v", loginsOf(got), err)
			}
		})
		t.Run("results carry attributes", func(t *testing.T) {
			got, err := s.Search(ctx, directory.Query{Search: "john"})
			if err != nil || len(got) != 1 {
				t.Fatal(got, err)
			}
			if got[0].Attrs["UserFullname"] != "John Doe" || !reflect.DeepEqual(got[0].CustomerIDs, []string{"ACME"}) {
				t.Errorf("%+v", got[0])
			}
		})
		t.Run("search_case_sensitive", func(t *testing.T) {
			cfg := otrsConfig()
			cfg.Params.SearchCaseSensitive = true
			cs := mkSource(t, db, cfg)
			for _, tt := range []struct {
				q    directory.Query
				want []string
			}{
				{directory.Query{Search: "JOHN"}, nil},
				{directory.Query{Search: "John"}, []string{"jdoe"}},
				{directory.Query{Search: "jOhn"}, nil},
				{directory.Query{Search: "J*n"}, []string{"jdoe", "jsmith"}},
				{directory.Query{Search: "J*e"}, []string{"jsmith"}},
				{directory.Query{Search: "!J"}, []string{"a_b", "axb", "bob", "pcta", "pctb", "vdb"}},
				{directory.Query{Search: "a_b"}, []string{"a_b"}},
				{directory.Query{Search: "acme"}, nil},
				{directory.Query{UserLogin: "DOE"}, nil},
				{directory.Query{CustomerID: "acme"}, nil},
				{directory.Query{CustomerID: "ACME"}, []string{"jdoe", "jsmith"}},
			} {
				got, err := cs.Search(ctx, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				if logins := loginsOf(got); !reflect.DeepEqual(logins, tt.want) {
					t.Errorf("Search(%+v) = %q, want %q", tt.q, logins, tt.want)
				}
			}
		})
	})
}

func loginsOf(us []directory.CustomerUser) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Login)
	}
	slices.Sort(out)
	return out
}

func TestWrites(t *testing.T) {
	ctx := context.Background()
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		if _, err := Migrate(ctx, db, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		s := mkSource(t, db, otrsConfig())
		pwOf := func(login string) (sql.NullString, int64) {
			var pw sql.NullString
			var by int64
			if err := db.SQL().QueryRow(db.Rebind("SELECT pw, create_by FROM customer_user WHERE login = ?"), login).Scan(&pw, &by); err != nil {
				t.Fatalf("read pw of %s: %v", login, err)
			}
			return pw, by
		}
		want, _ := sha2("Secret123!", "")

		t.Run("add with password", func(t *testing.T) {
			u := mustAdd(t, s, user("Writer", "Wri", "Ter", "W", "UserPassword", "Secret123!"))
			if u.Login != "Writer" || u.ValidID != 1 {
				t.Errorf("added %+v", u)
			}
			if pw, by := pwOf("Writer"); pw.String != want || by != 1 {
				t.Errorf("pw %q by %d", pw.String, by)
			}
		})
		t.Run("add without password leaves pw NULL", func(t *testing.T) {
			if _, err := s.Add(ctx, user("nopw", "No", "Pw", "W"), "7"); err != nil {
				t.Fatal(err)
			}
			if pw, by := pwOf("nopw"); pw.Valid || by != 7 {
				t.Errorf("pw %v by %d", pw, by)
			}
		})
		t.Run("duplicate login in any case", func(t *testing.T) {
			for _, login := range []string{"Writer", "writer", "WRITER"} {
				if _, err := s.Add(ctx, user(login, "A", "B", "W"), "1"); !errors.Is(err, directory.ErrExists) {
					t.Errorf("Add(%q) err = %v, want ErrExists", login, err)
				}
			}
		})
		t.Run("missing required", func(t *testing.T) {
			a := user("incomplete", "A", "", "W")
			if _, err := s.Add(ctx, a, "1"); !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			if _, err := s.Add(ctx, map[string]string{"UserFirstname": "x"}, "1"); !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("no login: err = %v, want ErrInvalid", err)
			}
		})
		t.Run("update", func(t *testing.T) {
			u, err := s.Update(ctx, "WRITER", map[string]string{"UserCity": "Hamburg", "ValidID": "2"}, "3")
			if err != nil {
				t.Fatal(err)
			}
			if u.Attrs["UserCity"] != "Hamburg" || u.ValidID != 2 || u.Attrs["UserFirstname"] != "Wri" {
				t.Errorf("updated %+v", u)
			}
			if _, err := s.Update(ctx, "nobody", map[string]string{"UserCity": "x"}, "1"); !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("update unknown: %v", err)
			}
			if _, err := s.Update(ctx, "writer", map[string]string{"UserLogin": "nopw"}, "1"); !errors.Is(err, directory.ErrExists) {
				t.Errorf("rename onto existing: %v", err)
			}
			if _, err := s.Update(ctx, "writer", map[string]string{"UserEmail": ""}, "1"); !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("clearing a required field: %v", err)
			}
		})
		t.Run("rename moves relations", func(t *testing.T) {
			admin, _ := NewAdmin(db, AdminOptions{})
			if err := admin.AddCustomerUserCustomer(ctx, "nopw", "EXTRA", "1"); err != nil {
				t.Fatal(err)
			}
			if err := admin.SetPreference(ctx, "nopw", "UserLanguage", "de"); err != nil {
				t.Fatal(err)
			}
			u, err := s.Update(ctx, "nopw", map[string]string{"UserLogin": "renamed"}, "1")
			if err != nil {
				t.Fatal(err)
			}
			if u.Login != "renamed" || !slices.Contains(u.CustomerIDs, "EXTRA") {
				t.Errorf("renamed %+v", u)
			}
			if p, _ := admin.GetPreferences(ctx, "renamed"); p["UserLanguage"] != "de" {
				t.Errorf("preferences not moved: %v", p)
			}
		})
		t.Run("set password", func(t *testing.T) {
			if err := s.SetPassword(ctx, "RENAMED", "Secret123!"); err != nil {
				t.Fatal(err)
			}
			if pw, _ := pwOf("renamed"); pw.String != want {
				t.Errorf("pw %q", pw.String)
			}
			if err := s.SetPassword(ctx, "nobody", "x"); !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("unknown: %v", err)
			}
			nohash, err := NewSource(otrsConfig(), db, SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := nohash.SetPassword(ctx, "renamed", "x"); err == nil {
				t.Error("password stored without a hasher")
			}
		})
		t.Run("email uniq check", func(t *testing.T) {
			cfg := otrsConfig()
			cfg.CustomerUserEmailUniqCheck = true
			us := mkSource(t, db, cfg)
			a := user("other", "O", "T", "W", "UserEmail", "WRITER@example.test")
			if _, err := us.Add(ctx, a, "1"); !errors.Is(err, directory.ErrExists) {
				t.Errorf("err = %v, want ErrExists", err)
			}
		})
		t.Run("read-only", func(t *testing.T) {
			cfg := otrsConfig()
			cfg.ReadOnly = true
			ro := mkSource(t, db, cfg)
			if _, err := ro.Add(ctx, user("ro", "R", "O", "W"), "1"); !errors.Is(err, directory.ErrReadOnly) {
				t.Errorf("Add: %v", err)
			}
			if _, err := ro.Update(ctx, "writer", map[string]string{"UserCity": "x"}, "1"); !errors.Is(err, directory.ErrReadOnly) {
				t.Errorf("Update: %v", err)
			}
			if err := ro.SetPassword(ctx, "writer", "x"); !errors.Is(err, directory.ErrReadOnly) {
				t.Errorf("SetPassword: %v", err)
			}
			if _, err := ro.Get(ctx, "writer"); err != nil {
				t.Errorf("Get on read-only: %v", err)
			}
		})
	})
}

func TestGroups(t *testing.T) {
	ctx := context.Background()
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		if _, err := Migrate(ctx, db, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		admin, err := NewAdmin(db, AdminOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []string{"billing", "support", "sales", "old", "company", "companyonly"} {
			if _, err := admin.AddGroup(ctx, g, "", "1"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := admin.AddGroup(ctx, "billing", "", "1"); !errors.Is(err, directory.ErrExists) {
			t.Errorf("duplicate group: %v", err)
		}
		if err := admin.SetGroupValid(ctx, "old", directory.InvalidID, "1"); err != nil {
			t.Fatal(err)
		}
		set := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		set(admin.SetUserGroup(ctx, "jdoe", "billing", "ro", true, "1"))
		set(admin.SetUserGroup(ctx, "jdoe", "support", "rw", true, "1"))
		set(admin.SetUserGroup(ctx, "jdoe", "support", "ro", true, "1"))
		set(admin.SetUserGroup(ctx, "jdoe", "old", "rw", true, "1"))
		set(admin.SetUserGroup(ctx, "jdoe", "sales", "ro", true, "1"))
		set(admin.SetUserGroup(ctx, "jdoe", "sales", "ro", false, "1")) // revoked again
		set(admin.SetUserGroup(ctx, "JDOE", "sales", "rw", true, "1"))  // another user_id
		set(admin.SetCompanyGroup(ctx, "ACME", "company", "ro", true, "1"))
		set(admin.SetCompanyGroup(ctx, "OTHER", "sales", "rw", true, "1"))
		// A row in another context never grants anything here.
		if _, err := db.SQL().Exec(db.Rebind("INSERT INTO group_customer (customer_id, group_id, permission_key, permission_value, " +
			"permission_context, create_time, create_by, change_time, change_by) SELECT 'ACME', id, 'rw', 1, " +
			"'Ticket::CustomerID::Other', change_time, 1, change_time, 1 FROM permission_groups WHERE name = 'billing'")); err != nil {
			t.Fatal(err)
		}
		if err := admin.SetUserGroup(ctx, "jdoe", "nosuch", "ro", true, "1"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("unknown group: %v", err)
		}

		tests := []struct {
			name  string
			cfg   configs.CustomerGroup
			login string
			ids   []string
			want  directory.Permissions
		}{
			{"support off: every valid group rw", configs.CustomerGroup{}, "anyone", nil, directory.Permissions{
				"users": {"rw"}, "billing": {"rw"}, "support": {"rw"}, "sales": {"rw"}, "company": {"rw"}, "companyonly": {"rw"},
			}},
			{"user rows, rw subsumes ro, invalid excluded", configs.CustomerGroup{Support: true}, "jdoe", nil, directory.Permissions{
				"billing": {"ro"}, "support": {"rw"},
			}},
			{"company rows and always groups", configs.CustomerGroup{Support: true, AlwaysGroups: []string{"users", "old"},
				CompanyAlwaysGroups: []string{"companyonly"}}, "jdoe", []string{"ACME"}, directory.Permissions{
				"billing": {"ro"}, "support": {"rw"}, "company": {"ro"}, "users": {"rw"}, "companyonly": {"rw"},
			}},
			{"company always groups need a customer id", configs.CustomerGroup{Support: true, AlwaysGroups: []string{"users"},
				CompanyAlwaysGroups: []string{"companyonly"}}, "nobody", nil, directory.Permissions{"users": {"rw"}}},
			{"user_id is exact", configs.CustomerGroup{Support: true}, "JDOE", nil, directory.Permissions{"sales": {"rw"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r, err := NewGroupResolver(db, "", tt.cfg)
				if err != nil {
					t.Fatal(err)
				}
				got, err := r.Permissions(ctx, tt.login, tt.ids)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Permissions = %v, want %v", got, tt.want)
				}
			})
		}
		t.Run("rw implies ro", func(t *testing.T) {
			r, _ := NewGroupResolver(db, "", configs.CustomerGroup{Support: true})
			p, err := r.Permissions(ctx, "jdoe", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Has("support", "ro") || !p.Has("billing", "ro") || p.Has("billing", "rw") || p.Has("old", "ro") {
				t.Errorf("Has wrong for %v", p)
			}
		})
		t.Run("bad table", func(t *testing.T) {
			if _, err := NewGroupResolver(db, "x y", configs.CustomerGroup{}); !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("err = %v", err)
			}
		})
		t.Run("list", func(t *testing.T) {
			gs, err := admin.ListGroups(ctx)
			if err != nil || len(gs) != 7 || gs[0].Name != "billing" {
				t.Errorf("ListGroups = %+v, %v", gs, err)
			}
		})
	})
}

func TestAdmin(t *testing.T) {
	ctx := context.Background()
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		if _, err := Migrate(ctx, db, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		a, _ := NewAdmin(db, AdminOptions{})
		t.Run("companies", func(t *testing.T) {
			if err := a.AddCompany(ctx, Company{CustomerID: "ACME", Name: "Acme", City: "Berlin"}, "1"); err != nil {
				t.Fatal(err)
			}
			if err := a.AddCompany(ctx, Company{CustomerID: "acme", Name: "Other"}, "1"); !errors.Is(err, directory.ErrExists) {
				t.Errorf("duplicate id: %v", err)
			}
			if err := a.AddCompany(ctx, Company{CustomerID: "B_2", Name: "Acme"}, "1"); !errors.Is(err, directory.ErrExists) {
				t.Errorf("duplicate name: %v", err)
			}
			if err := a.AddCompany(ctx, Company{CustomerID: "B_2", Name: "Bee Two"}, "1"); err != nil {
				t.Fatal(err)
			}
			c, err := a.GetCompany(ctx, "acme")
			if err != nil || c.Name != "Acme" || c.City != "Berlin" || c.ValidID != 1 {
				t.Errorf("GetCompany = %+v, %v", c, err)
			}
			if err := a.UpdateCompany(ctx, "ACME", Company{Name: "Acme Inc", Street: "Main St 1"}, "1"); err != nil {
				t.Fatal(err)
			}
			c, _ = a.GetCompany(ctx, "ACME")
			if c.Name != "Acme Inc" || c.Street != "Main St 1" || c.City != "" {
				t.Errorf("after update %+v", c)
			}
			if _, err := a.GetCompany(ctx, "nope"); !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("GetCompany unknown: %v", err)
			}
			for search, want := range map[string][]string{"": {"ACME", "B_2"}, "inc": {"ACME"}, "_": {"B_2"}, "b*two": {"B_2"}} {
				cs, err := a.SearchCompanies(ctx, search, 0)
				var ids []string
				for _, c := range cs {
					ids = append(ids, c.CustomerID)
				}
				if err != nil || !reflect.DeepEqual(ids, want) {
					t.Errorf("SearchCompanies(%q) = %q, %v; want %q", search, ids, err, want)
				}
			}
		})
		t.Run("preferences", func(t *testing.T) {
			for _, v := range []string{"1", "2", "3"} {
				if err := a.SetPreference(ctx, "jdoe", "UserLoginFailed", v); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.SetPreference(ctx, "jdoe", "UserLastLogin", "1700000000"); err != nil {
				t.Fatal(err)
			}
			p, err := a.GetPreferences(ctx, "jdoe")
			want := map[string]string{"UserLoginFailed": "3", "UserLastLogin": "1700000000"}
			if err != nil || !reflect.DeepEqual(p, want) {
				t.Errorf("GetPreferences = %v, %v", p, err)
			}
			var n int
			_ = db.SQL().QueryRow("SELECT COUNT(*) FROM customer_preferences").Scan(&n)
			if n != 2 {
				t.Errorf("%d preference rows, want 2 (delete then insert)", n)
			}
			if p, _ := a.GetPreferences(ctx, "JDOE"); len(p) != 0 {
				t.Errorf("user_id is exact, got %v", p)
			}
		})
	})
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("shared pool", func(t *testing.T) {
		dsn := testenv.SQLiteDSN(t)
		a := openDB(t, dsn)
		b := openDB(t, dsn)
		if a != b || a.SQL() != b.SQL() {
			t.Error("same DSN gave two pools")
		}
	})
	t.Run("sqlite creates the directory", func(t *testing.T) {
		dir := t.TempDir()
		db := openDB(t, "sqlite://"+dir+"/a/b/gh.db")
		if db.Dialect() != SQLite {
			t.Error(db.Dialect())
		}
		if _, err := os.Stat(dir + "/a/b"); err != nil {
			t.Error(err)
		}
	})
	t.Run("sqlite relative", func(t *testing.T) {
		t.Chdir(t.TempDir())
		openDB(t, "sqlite://rel/x.db")
		if _, err := os.Stat("rel/x.db"); err != nil {
			t.Error(err)
		}
	})
	t.Run("errors hide the password", func(t *testing.T) {
		for _, dsn := range []string{
			"postgres://u:s3cretpw@127.0.0.1:1/db?connect_timeout=1",
			"mysql://u:s3cretpw@127.0.0.1:1/db?timeout=1s",
			"oracle://u:s3cretpw@host/db",
		} {
			_, err := Open(ctx, dsn)
			if err == nil || strings.Contains(err.Error(), "s3cretpw") {
				t.Errorf("Open(%s): %v", RedactDSN(dsn), err)
			}
		}
	})
	t.Run("mysql config", func(t *testing.T) {
		cfg, err := mysqlConfig("mysql://us%40r:p%2Fw@db.example:3307/otrs?tls=false")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.User != "us@r" || cfg.Passwd != "p/w" || cfg.Addr != "db.example:3307" || cfg.DBName != "otrs" || !cfg.ParseTime {
			t.Errorf("%+v", cfg)
		}
	})
}

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) {
			db := migrated(b, d)
			s := mkSource(b, db, otrsConfig())
			for _, l := range []string{"alice", "Bob.Builder@Example.com", "carol"} {
				mustAdd(b, s, user(l, "F", "L", "ACME", "UserCustomerIDs", "A;B"))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Get(ctx, "bob.builder@example.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDirectoryOverSQL: the multi-source layer over real sources on two different databases.
func TestDirectoryOverSQL(t *testing.T) {
	ctx := context.Background()
	first := migrated(t, dialects[2])  // SQLite
	second := migrated(t, dialects[0]) // PostgreSQL
	cfg1, cfg2 := otrsConfig(), otrsConfig()
	cfg1.Name, cfg2.Name = "local", "central"
	s1, s2 := mkSource(t, first, cfg1), mkSource(t, second, cfg2)
	mustAdd(t, s1, user("Shared", "Local", "Copy", "L"))
	mustAdd(t, s2, user("shared", "Central", "Copy", "C"))
	mustAdd(t, s2, user("central.only", "Central", "Only", "C"))
	d := directory.New(s1, s2)
	if u, err := d.Get(ctx, "SHARED"); err != nil || u.Source != "local" || u.Login != "Shared" {
		t.Errorf("Get = %+v, %v", u, err)
	}
	if u, err := d.Get(ctx, "central.only"); err != nil || u.Source != "central" {
		t.Errorf("Get = %+v, %v", u, err)
	}
	got, err := d.Search(ctx, directory.Query{Search: "copy"})
	if err != nil || len(got) != 1 || got[0].Source != "local" {
		t.Errorf("Search = %+v, %v", got, err)
	}
	if _, err := d.Add(ctx, "", user("CENTRAL.ONLY", "A", "B", "L"), "1"); !errors.Is(err, directory.ErrExists) {
		t.Errorf("Add of a login in the second source: %v", err)
	}
	if u, err := d.Add(ctx, "central", user("newbie", "A", "B", "C"), "1"); err != nil || u.Source != "central" {
		t.Errorf("Add to named source = %+v, %v", u, err)
	}
	if err := d.Ping(ctx); err != nil {
		t.Error(err)
	}
}

func TestSQLiteMemory(t *testing.T) {
	db := openDB(t, "sqlite://:memory:")
	if _, err := Migrate(context.Background(), db, MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := mkSource(t, db, otrsConfig())
	mustAdd(t, s, user("mem", "M", "E", "X"))
	if _, err := s.Get(context.Background(), "MEM"); err != nil {
		t.Fatal(err)
	}
}
