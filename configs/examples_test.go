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
	t.Setenv("LDAP_SEARCH_PW_FILE", secret("ldap", "ldap-secret\n"))
	t.Setenv("RADIUS_SECRET_FILE", secret("radius", "radius-secret\n"))
	t.Setenv("OIDC_CLIENT_SECRET_FILE", secret("oidc", "oidc-secret\n"))

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
		"ldap.yaml": func(t *testing.T, c *Config) {
			l := c.CustomerAuth[0]
			eq(t, "auth modules", []string{l.Module, c.CustomerAuth[1].Module}, []string{"ldap", "db"})
			eq(t, "ldap hosts", l.Host, []string{"ldaps://ldap1.example.com", "ldaps://ldap2.example.com"})
			eq(t, "ldap search", []string{l.BaseDN, l.UID, l.SearchUserDN, l.SearchUserPw}, []string{"ou=people,dc=example,dc=com", "uid", "cn=otrs-search,ou=system,dc=example,dc=com", "ldap-secret"})
			eq(t, "ldap group", []string{l.GroupDN, l.AccessAttr, l.UserAttr}, []string{"cn=otrs-customers,ou=groups,dc=example,dc=com", "memberUid", "UID"})
			eq(t, "ldap die", l.Die, true)
			eq(t, "ldap params", l.Params, LDAPParams{Version: 3})
			eq(t, "auth dsn", c.CustomerAuth[1].DSN, "mysql://otrs:maria-secret@127.0.0.1:3306/otrs")
			s := c.CustomerUser[0]
			eq(t, "source", []any{s.Name, s.Module, s.ReadOnly}, []any{"LDAP Backend", "ldap", true})
			eq(t, "source params", []any{s.Params.Host, s.Params.BaseDN, s.Params.SScope, s.Params.UserPw}, []any{[]string{"ldaps://ldap1.example.com"}, "ou=people,dc=example,dc=com", "sub", "ldap-secret"})
			eq(t, "source keys", []string{s.CustomerKey, s.CustomerID, s.CustomerUserValidFilter}, []string{"uid", "o", "(!(description=locked))"})
			eq(t, "customer id row", s.Map[5].Storage, "o")
			eq(t, "map size", len(s.Map), len(DefaultLDAPMap()))
			eq(t, "db source", []string{c.CustomerUser[1].Name, c.CustomerUser[1].Module}, []string{"Database Backend 1", "db"})
		},
		"radius-header.yaml": func(t *testing.T, c *Config) {
			h, r := c.CustomerAuth[0], c.CustomerAuth[1]
			eq(t, "modules", []string{h.Module, r.Module, c.CustomerAuth[2].Module}, []string{"http_basic_auth", "radius", "db"})
			eq(t, "names", []string{h.Name, r.Name, c.CustomerAuth[2].Name}, []string{"http_basic_auth", "radius1", "db2"})
			eq(t, "header", []string{h.Header, h.Replace, h.ReplaceRegexp, h.RequiredLoginHeader, h.RequiredLoginHeaderValue}, []string{"Remote-User", `EXAMPLE\`, `^(.+?)@EXAMPLE\.COM$`, "X-Auth-Via", "nginx"})
			eq(t, "session", *h.Session, true)
			eq(t, "radius hosts", r.Host, []string{"radius1.example.com:1812", "radius2.example.com:1812"})
			eq(t, "radius", []any{r.Password, r.Timeout, r.Retries, *r.RequireMessageAuthenticator}, []any{"radius-secret", 5 * time.Second, 1, true})
			eq(t, "portal", []string{c.Portal.LoginURL, c.Portal.LogoutURL}, []string{"https://intranet.example.com/login", "https://intranet.example.com/logout"})
			eq(t, "dsn", c.CustomerAuth[2].DSN, "postgres://otrs:secret@db.example.com:5432/otrs?sslmode=verify-full")
		},
		"oidc.yaml": func(t *testing.T, c *Config) {
			o := c.CustomerAuth[0]
			eq(t, "oidc", []string{o.Name, o.Issuer, o.ClientID, o.ClientSecret, o.LoginClaim}, []string{"keycloak", "https://login.example.com/realms/customers", "gatehouse", "oidc-secret", "email"})
			eq(t, "redirect", o.RedirectURL, "https://portal.example.com/.gatehouse/oidc/keycloak/callback")
			eq(t, "auto create", []any{o.AutoCreate, o.DefaultCustomerID, o.AutoCreateSource}, []any{true, "WEB", "Database Backend"})
			eq(t, "bearer", []any{o.AcceptBearer, o.BearerAudiences}, []any{true, []string{"gatehouse", "portal-api"}})
			eq(t, "algorithms", o.SigningAlgorithms, []string{"RS256", "ES256"})
			eq(t, "db", []string{c.CustomerAuth[1].Module, c.CustomerAuth[1].CryptType}, []string{"db", "bcrypt"})
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
