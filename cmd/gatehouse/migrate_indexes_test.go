package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// migrate adds gatehouse's indexes only with --indexes, once, and --drop-indexes takes them
// away again; on every database gatehouse supports.
func TestMigrateIndexesCommand(t *testing.T) {
	for _, tt := range []struct {
		name string
		dsn  func(testing.TB) string
		want string // one index that must be there afterwards
	}{
		{"postgres", testenv.PostgresDB, "gatehouse_customer_user_login_lower_trgm"},
		{"mariadb", testenv.MySQLDB, "gatehouse_customer_user_search"},
		{"sqlite", testenv.SQLiteDSN, "gatehouse_customer_user_login_lower"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dsn := tt.dsn(t)
			path := filepath.Join(t.TempDir(), "gh.yaml")
			cfg := "customer_auth: [{module: db}]\ncustomer_user: [{module: db, params: {dsn: \"" + dsn + "\"}}]\nroutes: [{upstream: echo}]\n"
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			indexes := func() []string {
				db, err := sqldb.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				ix, err := sqldb.GatehouseIndexes(context.Background(), db)
				if err != nil {
					t.Fatal(err)
				}
				return ix
			}

			if code, out, errs := runCmd("", "migrate", "--config", path); code != 0 || !strings.Contains(out, "created valid, customer_user") {
				t.Fatalf("plain migrate: %d %s %s", code, out, errs)
			}
			if ix := indexes(); len(ix) != 0 {
				t.Fatalf("plain migrate created indexes: %v", ix)
			}

			code, out, errs := runCmd("", "migrate", "--indexes", "--config", path)
			if code != 0 || !strings.Contains(out, "created index "+tt.want) || !strings.Contains(out, "statistics refreshed") {
				t.Fatalf("migrate --indexes: %d\n%s%s", code, out, errs)
			}
			created := indexes()
			if !strings.Contains(strings.Join(created, " "), tt.want) {
				t.Fatalf("after migrate --indexes: %v", created)
			}
			t.Logf("migrate --indexes:\n%s", out)

			code, out, errs = runCmd("", "migrate", "--indexes", "--config", path)
			if code != 0 || strings.Contains(out, "created index") || !strings.Contains(out, "all indexes present, nothing changed") {
				t.Fatalf("second migrate --indexes: %d\n%s%s", code, out, errs)
			}
			if again := indexes(); strings.Join(again, " ") != strings.Join(created, " ") {
				t.Errorf("second run changed the indexes: %v, then %v", created, again)
			}

			code, out, errs = runCmd("", "migrate", "--drop-indexes", "--config", path)
			if code != 0 || strings.Count(out, "dropped index ") != len(created) {
				t.Fatalf("migrate --drop-indexes: %d\n%s%s", code, out, errs)
			}
			if ix := indexes(); len(ix) != 0 {
				t.Errorf("left after --drop-indexes: %v", ix)
			}
		})
	}
	if code, _, errs := runCmd("", "migrate", "--indexes", "--drop-indexes"); code != 2 || !strings.Contains(errs, "exclude each other") {
		t.Errorf("both flags: %d %q", code, errs)
	}
}
