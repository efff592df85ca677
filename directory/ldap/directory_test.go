package ldap_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	ldapdir "github.com/gatehouse-sso/gatehouse/directory/ldap"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// sqlSource is a db source on a fresh SQLite file with the OTRS schema, holding "alice" (a
// different person from the directory's alice) and "sqlonly".
func sqlSource(t *testing.T) *sqldb.Source {
	t.Helper()
	ctx := ctx10(t)
	db, err := sqldb.Open(ctx, testenv.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := sqldb.Migrate(ctx, db, sqldb.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	join := " "
	cfg := configs.CustomerUserSource{
		Name: "Database Backend", Module: "db",
		Params:      configs.SourceParams{Table: "customer_user"},
		CustomerKey: "login", CustomerID: "customer_id", CustomerValid: "valid_id",
		CustomerUserSearchFields:    []string{"login", "first_name", "last_name"},
		CustomerUserSearchPrefix:    "*",
		CustomerUserSearchSuffix:    "*",
		CustomerUserSearchListLimit: 250,
		CustomerUserNameFields:      []string{"first_name", "last_name"},
		CustomerUserNameFieldsJoin:  &join,
		Map: []configs.MapRow{
			row("UserFirstname", "first_name"), row("UserLastname", "last_name"), row("UserLogin", "login"),
			row("UserPassword", "pw"), row("UserEmail", "email"), row("UserCustomerID", "customer_id"),
			row("UserCity", "city"), row("ValidID", "valid_id"),
		},
	}
	src, err := sqldb.NewSource(cfg, db, sqldb.SourceOptions{Hasher: func(pw, _ string) (string, error) { return "plain:" + pw, nil }})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []map[string]string{
		{"UserLogin": "alice", "UserFirstname": "Alice", "UserLastname": "Database", "UserEmail": "alice@db.example", "UserCustomerID": "DB"},
		{"UserLogin": "sqlonly", "UserFirstname": "Sql", "UserLastname": "Only", "UserEmail": "sqlonly@db.example", "UserCustomerID": "DB"},
	} {
		if _, err := src.Add(ctx, u, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// TestDirectoryWithSQLAndLDAP: the OTRS multi-source rules over a real SQLite source and the
// real directory.
func TestDirectoryWithSQLAndLDAP(t *testing.T) {
	e := testenv.LDAP(t)
	ctx := ctx10(t)
	sql := sqlSource(t)
	lds := newSource(t, srcCfg(e))
	d, err := directory.NewDirectory(quiet, sql, lds)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		login, wantSource, wantName string
	}{
		{"alice", "Database Backend", "Alice Database"}, // in both: the first source wins
		{"ALICE", "Database Backend", "Alice Database"},
		{"bob", "LDAP", "Bob Builder"}, // only in the second
		{"jmuller", "LDAP", "José Müller"},
		{"sqlonly", "Database Backend", "Sql Only"},
	}
	for _, tt := range tests {
		t.Run("get "+tt.login, func(t *testing.T) {
			u, err := d.Get(ctx, tt.login)
			if err != nil {
				t.Fatal(err)
			}
			if u.Source != tt.wantSource || u.Attrs["UserFullname"] != tt.wantName {
				t.Errorf("got %s %q from %s", u.Login, u.Attrs["UserFullname"], u.Source)
			}
		})
	}
	if _, err := d.Get(ctx, "nobody"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("nobody: %v", err)
	}
	t.Run("search merged, earlier source wins", func(t *testing.T) {
		got, err := d.Search(ctx, directory.Query{UserLogin: "l"})
		if err != nil {
			t.Fatal(err)
		}
		src := map[string]string{}
		for _, u := range got {
			if _, dup := src[u.Login]; dup {
				t.Errorf("%s twice", u.Login)
			}
			src[u.Login] = u.Source
		}
		want := map[string]string{"alice": "Database Backend", "sqlonly": "Database Backend", "jmuller": "LDAP", "carol": "LDAP"}
		for l, s := range want {
			if src[l] != s {
				t.Errorf("%s from %q, want %q (all: %v)", l, src[l], s, src)
			}
		}
	})
	t.Run("customer ids: first non-empty", func(t *testing.T) {
		if ids, err := d.CustomerIDs(ctx, "alice"); err != nil || !slices.Equal(ids, []string{"DB"}) {
			t.Errorf("alice: %v %v", ids, err)
		}
		if ids, err := d.CustomerIDs(ctx, "bob"); err != nil || !slices.Equal(ids, []string{"BUILD"}) {
			t.Errorf("bob: %v %v", ids, err)
		}
	})
	t.Run("add refuses a login of any source", func(t *testing.T) {
		_, err := d.Add(ctx, "", map[string]string{"UserLogin": "bob", "UserFirstname": "B", "UserLastname": "B",
			"UserEmail": "bob@db.example", "UserCustomerID": "DB"}, "admin")
		if !errors.Is(err, directory.ErrExists) {
			t.Fatalf("bob (in LDAP) added to the database: %v", err)
		}
		u, err := d.Add(ctx, "", map[string]string{"UserLogin": "newbie", "UserFirstname": "New", "UserLastname": "Bie",
			"UserEmail": "newbie@db.example", "UserCustomerID": "DB"}, "admin")
		if err != nil || u.Source != "Database Backend" {
			t.Fatalf("newbie: %+v %v", u, err)
		}
	})
	t.Run("writes to an LDAP user are refused", func(t *testing.T) {
		if err := d.SetPassword(ctx, "bob", "x"); !errors.Is(err, directory.ErrReadOnly) {
			t.Errorf("set password: %v", err)
		}
	})
	t.Run("LDAP first", func(t *testing.T) {
		d2, _ := directory.NewDirectory(quiet, lds, sql)
		u, err := d2.Get(ctx, "alice")
		if err != nil || u.Source != "LDAP" {
			t.Fatalf("%+v %v", u, err)
		}
	})
	t.Run("LDAP down", func(t *testing.T) {
		cfg := srcCfg(e)
		cfg.Params.Host = []string{deadURL(t)}
		down := newSource(t, cfg)
		d3, _ := directory.NewDirectory(quiet, sql, down)
		if u, err := d3.Get(ctx, "sqlonly"); err != nil || u.Source != "Database Backend" {
			t.Errorf("sqlonly: %+v %v", u, err)
		}
		// die false: the unreachable source is skipped (logged), as in OTRS.
		if _, err := d3.Get(ctx, "bob"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("bob with LDAP down: %v", err)
		}
		// die true: New connects (and would fail) at once, so the source is built while a
		// private slapd runs, which is then stopped under it.
		srv := testenv.StartLDAPServer(t)
		cfgDie := srcCfg(srv.LDAPEnv)
		cfgDie.Params.Die = true
		dieSrc := newSource(t, cfgDie)
		if !dieSrc.Die() {
			t.Fatal("Die() is false")
		}
		srv.Stop()
		d4, _ := directory.NewDirectory(quiet, sql, dieSrc)
		if _, err := d4.Get(ctx, "bob"); !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("bob with a dying LDAP source down: %v", err)
		}
		if u, err := d4.Get(ctx, "alice"); err != nil || u.Source != "Database Backend" {
			t.Errorf("alice is found before the dying source is asked: %+v %v", u, err)
		}
		srv.Start()
		if u, err := d4.Get(ctx, "bob"); err != nil || u.Source != "LDAP" {
			t.Errorf("after the restart: %+v %v", u, err)
		}
	})
}

// TestDirectoryCache: per-source caches over SQLite and LDAP; the TTL is honoured, a write
// through the directory drops what it changed.
func TestDirectoryCache(t *testing.T) {
	e := testenv.LDAP(t)
	ctx := ctx10(t)
	sql := sqlSource(t)
	var c opCounter
	lds := newSource(t, srcCfg(e), ldapdir.WithDial(c.dial))
	d, err := directory.NewDirectory(quiet, directory.Cached(sql, time.Hour), directory.Cached(lds, 400*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	city := func(login string) string {
		t.Helper()
		u, err := d.Get(ctx, login)
		if err != nil {
			t.Fatal(err)
		}
		return u.Attrs["UserCity"]
	}
	// A change behind the cache's back (another process writing the table) stays invisible…
	city("sqlonly")
	if _, err := sql.DB().SQL().ExecContext(ctx, "UPDATE customer_user SET city = 'Behind' WHERE login = 'sqlonly'"); err != nil {
		t.Fatal(err)
	}
	if got := city("sqlonly"); got != "" {
		t.Errorf("cached value expected, got %q", got)
	}
	// …until a write through the directory drops the source's cache.
	if err := d.SetPassword(ctx, "sqlonly", "new"); err != nil {
		t.Fatal(err)
	}
	if got := city("sqlonly"); got != "Behind" {
		t.Errorf("after SetPassword: %q", got)
	}
	if _, err := d.Update(ctx, "sqlonly", map[string]string{"UserCity": "Through"}, "admin"); err != nil {
		t.Fatal(err)
	}
	if got := city("sqlonly"); got != "Through" {
		t.Errorf("after Update: %q", got)
	}
	// The LDAP source's cache: one search within the TTL, a new one after it.
	for range 3 {
		if u, err := d.Get(ctx, "bob"); err != nil || u.Source != "LDAP" {
			t.Fatalf("%+v %v", u, err)
		}
	}
	if n := c.searches.Load(); n != 1 {
		t.Errorf("%d LDAP searches for 3 lookups within the ttl", n)
	}
	time.Sleep(450 * time.Millisecond)
	if _, err := d.Get(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if n := c.searches.Load(); n != 2 {
		t.Errorf("%d LDAP searches after the ttl; want 2", n)
	}
}
