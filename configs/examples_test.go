package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestExamples loads every file in examples/ and checks its key values. A new example needs an
// entry here.
func TestExamples(t *testing.T) {
	dir := t.TempDir()
	secret := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("GATEHOUSE_PUBLIC_URL", "https://portal.example.com")
	t.Setenv("GATEHOUSE_DSN_FILE", secret("dsn", "postgres://otrs:secret@db.example.com:5432/otrs?sslmode=verify-full\n"))
	t.Setenv("GATEHOUSE_ADMIN_HASH_FILE", secret("hash", "BCRYPT:12:q3Zk8LmN2pR7sT1v:o4yCMxxz21WMCheGxLSfSXbX3v9Nkv2\n"))
	t.Setenv("REDIS_PASSWORD_FILE", secret("redis", "redis-secret\n"))
	t.Setenv("REDIS_HOST", "redis.internal")
	t.Setenv("OTRS_DB_PASSWORD", "maria-secret")

	checks := map[string]func(t *testing.T, c *Config){
		"default.yaml": func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c, Default()) {
				t.Error("Default() differs from examples/default.yaml")
			}
			eq(t, "listen", c.Server.Listen, "127.0.0.1:8080")
			eq(t, "public_url", c.Server.PublicURL, "http://127.0.0.1:8080")
			eq(t, "cookie secure", c.CookieSecure(), false)
			eq(t, "store", c.Sessions.Store, "memory")
			eq(t, "route", []string{c.Routes[0].PathPrefix, c.Routes[0].Upstream}, []string{"/", "echo"})
			eq(t, "auth", []string{c.CustomerAuth[0].Module, c.CustomerAuth[0].CryptType, c.CustomerAuth[0].DSN}, []string{"db", "bcrypt", "sqlite://gatehouse-data/gatehouse.db"})
			eq(t, "source", []string{c.CustomerUser[0].Name, c.CustomerUser[0].Params.DSN}, []string{"Database Backend", "sqlite://gatehouse-data/gatehouse.db"})
			eq(t, "map", c.CustomerUser[0].Map, DefaultMap())
		},
		"postgres-redis.yaml": func(t *testing.T, c *Config) {
			eq(t, "listen", c.Server.Listen, "0.0.0.0:8080")
			eq(t, "public_url", c.Server.PublicURL, "https://portal.example.com")
			eq(t, "cookie secure", *c.Sessions.Cookie.Secure, true)
			eq(t, "admin hash", c.Admin.Users[0].PasswordHash, "BCRYPT:12:q3Zk8LmN2pR7sT1v:o4yCMxxz21WMCheGxLSfSXbX3v9Nkv2")
			eq(t, "store", c.Sessions.Store, "redis")
			eq(t, "redis", []string{c.Sessions.Redis.URL, c.Sessions.Redis.Password}, []string{"redis://redis.internal:6379/0", "redis-secret"})
			eq(t, "routes", len(c.Routes), 3)
			eq(t, "helpdesk", []string{c.Routes[0].Name, c.Routes[0].Host, c.Routes[0].Upstream}, []string{"helpdesk", "helpdesk.example.com", "http://127.0.0.1:8081"})
			eq(t, "billing groups", c.Routes[1].Require.Groups, map[string]string{"billing": "rw"})
			eq(t, "crypt", c.CustomerAuth[0].CryptType, "sha2")
			dsn := "postgres://otrs:secret@db.example.com:5432/otrs?sslmode=verify-full"
			eq(t, "dsn", []string{c.CustomerUser[0].Params.DSN, c.CustomerAuth[0].DSN}, []string{dsn, dsn})
			eq(t, "groups table", c.CustomerUser[0].Params.GroupsTable, "permission_groups")
			eq(t, "cache ttl", *c.CustomerUser[0].CacheTTL, time.Duration(0))
			m := c.CustomerUser[0].Map
			eq(t, "map", m[:16], DefaultMap())
			eq(t, "room", m[16], MapRow{Var: "UserRoom", Label: "Room", Storage: "room", Shown: true, Type: "var"})
			eq(t, "room header", c.Claims.Headers["X-Customer-User-Room"], "UserRoom")
			eq(t, "assertion", c.Claims.Assertion.Enabled, true)
			eq(t, "group support", c.CustomerGroup.Support, true)
			eq(t, "log format", c.Log.Format, "json")
		},
		"mariadb.yaml": func(t *testing.T, c *Config) {
			eq(t, "public_url", c.Server.PublicURL, "https://support.example.com")
			eq(t, "same_site", c.Sessions.Cookie.SameSite, "strict")
			eq(t, "crypt", c.CustomerAuth[0].CryptType, "sha2")
			eq(t, "dsn", c.CustomerUser[0].Params.DSN, "mysql://otrs:maria-secret@127.0.0.1:3306/otrs")
			eq(t, "auth dsn", c.CustomerAuth[0].DSN, "mysql://otrs:maria-secret@127.0.0.1:3306/otrs")
			eq(t, "groups table", c.CustomerUser[0].Params.GroupsTable, "groups")
			eq(t, "name", c.CustomerUser[0].Name, "Database Backend")
			eq(t, "map", c.CustomerUser[0].Map, DefaultMap())
			eq(t, "route", []any{c.Routes[0].PathPrefix, c.Routes[0].PreserveHost}, []any{"/otrs", true})
		},
	}

	files, err := filepath.Glob("examples/*")
	if err != nil || len(files) == 0 {
		t.Fatal("no examples", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("validate again: %v", err)
			}
			check, ok := checks[name]
			if !ok {
				t.Fatalf("no checks for %s: add them to TestExamples", name)
			}
			check(t, c)
		})
	}
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}
