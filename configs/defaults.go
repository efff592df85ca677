package configs

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// This file is the one place gatehouse's defaults live.
//
// A default fills a key that the file leaves out (or sets to null). A key the file sets, even to
// "" or [], keeps its value: admin.listen: "" disables the admin listener, always_groups: []
// means no always-groups, customer_user_search_prefix: "" is OTRS's code default. For a Config
// built in Go (ApplyDefaults), a zero value counts as left out.

// Default values that other packages may want to name.
const (
	// DefaultListen is server.listen's default.
	DefaultListen = "127.0.0.1:8080"
	// DefaultAdminListen is admin.listen's default.
	DefaultAdminListen = "127.0.0.1:9091"
	// DefaultCookieName is sessions.cookie.name's default.
	DefaultCookieName = "gatehouse_session"
	// DefaultRedisURL is sessions.redis.url's default when store is redis and no server is named.
	DefaultRedisURL = "redis://127.0.0.1:6379/0"
	// DefaultLocalCacheTTL is sessions.local_cache_ttl's default, capped at half the touch
	// interval (TouchInterval) for short idle timeouts.
	DefaultLocalCacheTTL = 2 * time.Second
	// DefaultLocalCacheSize is sessions.local_cache_size's default: at about 1–2 KB a session,
	// some 20 MB at most.
	DefaultLocalCacheSize = 10000
	// MaxTouchInterval caps the touch interval (see TouchInterval).
	MaxTouchInterval = time.Minute
	// DefaultSourceName is the first customer_user source's default name (OTRS's "Database
	// Backend"); later sources get the slot number appended ("Database Backend 1").
	DefaultSourceName = "Database Backend"
	// DefaultCryptType is customer_auth[].crypt_type's default for db modules. OTRS's default is
	// sha2 (unsalted SHA-256); new installs get bcrypt, and the examples for existing OTRS databases
	// set sha2 explicitly so that OTRS writes and gatehouse writes look alike.
	DefaultCryptType = "bcrypt"
	// DefaultBcryptCost is Customer::AuthModule::DB::bcryptCost's default.
	DefaultBcryptCost = 12
	// DefaultLDAPSourceName is an ldap customer_user source's default name; as for db sources,
	// sources after the first get the slot number appended ("LDAP Backend 1").
	DefaultLDAPSourceName = "LDAP Backend"
	// DefaultLDAPTimeout is customer_auth[].timeout's default for ldap modules.
	DefaultLDAPTimeout = 5 * time.Second
	// DefaultRadiusTimeout is customer_auth[].timeout's default for radius modules (Radius.pm's 5 s).
	DefaultRadiusTimeout = 5 * time.Second
	// DefaultRadiusPort is the port of a radius host given without one (/etc/services radius).
	DefaultRadiusPort = "1812"
	// DefaultLoginHeader is customer_auth[].header's default for http_basic_auth modules: the
	// header OTRS's HTTPBasicAuth falls back to (HTTP_REMOTE_USER).
	DefaultLoginHeader = "Remote-User"
	// DefaultCharset is the default of an ldap module's charset and an ldap source's source_charset.
	DefaultCharset = "utf-8"
	// DefaultAssertionAlgorithm is claims.assertion.algorithm's default.
	DefaultAssertionAlgorithm = "ES256"
	// DefaultAssertionKeyDir is claims.assertion.key_dir's default: generated signing keys are
	// kept below the working directory, next to the default SQLite database.
	DefaultAssertionKeyDir = "./gatehouse-data/keys"
)

// Default lists of the oidc module.
var (
	// DefaultOIDCScopes is customer_auth[].scopes' default for oidc modules.
	DefaultOIDCScopes = []string{"openid", "profile", "email"}
	// DefaultOIDCSigningAlgorithms is customer_auth[].signing_algorithms' default for oidc modules.
	DefaultOIDCSigningAlgorithms = []string{"RS256", "ES256", "PS256", "EdDSA"}
)

// MaxSlots is the number of customer_auth modules and customer_user sources, as OTRS's
// Customer::AuthModule, AuthModule1 … AuthModule10 and CustomerUser, CustomerUser1 … CustomerUser10.
const MaxSlots = 11

// Slot returns the OTRS config-key suffix of the i-th module or source: "" for 0, "1" … "10"
// (what OTRS stores in the UserAuthBackend preference).
func Slot(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprint(i)
}

// DefaultMap returns the OTRS default Map of Kernel::System::CustomerUser::DB (Kernel/Config/Defaults.pm),
// used for a db source that sets no map.
func DefaultMap() []MapRow {
	row := func(v, label, storage string, shown, required bool, typ string) MapRow {
		return MapRow{Var: v, Label: label, Storage: storage, Shown: shown, Required: required, Type: typ}
	}
	return []MapRow{
		row("UserTitle", "Title or salutation", "title", true, false, "var"),
		row("UserFirstname", "Firstname", "first_name", true, true, "var"),
		row("UserLastname", "Lastname", "last_name", true, true, "var"),
		row("UserLogin", "Username", "login", true, true, "var"),
		row("UserPassword", "Password", "pw", false, false, "var"),
		row("UserEmail", "Email", "email", true, true, "var"),
		row("UserCustomerID", "CustomerID", "customer_id", false, true, "var"),
		row("UserPhone", "Phone", "phone", true, false, "var"),
		row("UserFax", "Fax", "fax", true, false, "var"),
		row("UserMobile", "Mobile", "mobile", true, false, "var"),
		row("UserStreet", "Street", "street", true, false, "var"),
		row("UserZip", "Zip", "zip", true, false, "var"),
		row("UserCity", "City", "city", true, false, "var"),
		row("UserCountry", "Country", "country", true, false, "var"),
		row("UserComment", "Comment", "comments", true, false, "var"),
		row("ValidID", "Valid", "valid_id", false, true, "int"),
	}
}

// DefaultLDAPMap returns the OTRS default Map of Kernel::System::CustomerUser::LDAP (the LDAP example
// in Kernel/Config/Defaults.pm), used for an ldap source that sets no map.
func DefaultLDAPMap() []MapRow {
	row := func(v, label, storage string, shown, required bool) MapRow {
		return MapRow{Var: v, Label: label, Storage: storage, Shown: shown, Required: required, Type: "var"}
	}
	return []MapRow{
		row("UserTitle", "Title or salutation", "title", true, false),
		row("UserFirstname", "Firstname", "givenname", true, true),
		row("UserLastname", "Lastname", "sn", true, true),
		row("UserLogin", "Username", "uid", true, true),
		row("UserEmail", "Email", "mail", true, true),
		row("UserCustomerID", "CustomerID", "mail", false, true),
		row("UserPhone", "Phone", "telephonenumber", true, false),
		row("UserAddress", "Address", "postaladdress", true, false),
		row("UserComment", "Comment", "description", true, false),
	}
}

// DefaultClaimHeaders returns claims.headers' default: header name → Map variable or computed value.
func DefaultClaimHeaders() map[string]string {
	return map[string]string{
		"Remote-User":            "UserLogin",
		"X-Customer-User-Email":  "UserEmail",
		"X-Customer-User-Name":   "UserFullname",
		"X-Customer-ID":          "UserCustomerID",
		"X-Customer-IDs":         "UserCustomerIDs",
		"X-Customer-User-Groups": "UserGroups",
		"X-Customer-User-Source": "UserSource",
	}
}

// ApplyDefaults fills the settings c leaves unset (zero) with their defaults. Parse and Load
// already apply them (and, unlike this, keep a value the file sets explicitly to "" or []);
// this is for a Config built in Go. It is idempotent.
func (c *Config) ApplyDefaults() { applyDefaults(c, nil) }

// TouchInterval is how stale a session's stored last use may become before it is written
// back (sliding expiry): a tenth of idle, at most MaxTouchInterval. sessions.Manager uses it;
// it lives here because sessions.local_cache_ttl is checked against it.
func TouchInterval(idle time.Duration) time.Duration { return min(idle/10, MaxTouchInterval) }

// defaulter sets a default when a key is unset: zero in Go and not present in the file.
type defaulter map[string]bool

func (d defaulter) str(p *string, path, def string) {
	if *p == "" && !d[path] {
		*p = def
	}
}

func (d defaulter) dur(p *time.Duration, path string, def time.Duration) {
	if *p == 0 && !d[path] {
		*p = def
	}
}

func (d defaulter) int(p *int, path string, def int) {
	if *p == 0 && !d[path] {
		*p = def
	}
}

func (d defaulter) list(p *[]string, path string, def ...string) {
	if len(*p) == 0 && !d[path] {
		*p = def
	}
}

func ptr[T any](v T) *T { return &v }

func applyDefaults(c *Config, present map[string]bool) {
	d := defaulter(present)

	s := &c.Server
	d.str(&s.Listen, "server.listen", DefaultListen)
	if s.PublicURL == "" {
		// Only for a specific host: on 0.0.0.0 or [::] the URL customers use is unknown, and
		// validation asks for it.
		if host, _, err := net.SplitHostPort(s.Listen); err == nil && host != "" && !unspecified(host) {
			s.PublicURL = "http://" + s.Listen
		}
	}
	d.list(&s.TrustedProxies, "server.trusted_proxies", "127.0.0.1/32", "::1/128")
	d.dur(&s.ShutdownTimeout, "server.shutdown_timeout", 15*time.Second)
	d.dur(&s.IdleTimeout, "server.idle_timeout", 75*time.Second)
	d.dur(&s.ReadHeaderTimeout, "server.read_header_timeout", 10*time.Second)

	d.str(&c.Admin.Listen, "admin.listen", DefaultAdminListen)

	ss := &c.Sessions
	d.str(&ss.Store, "sessions.store", "memory")
	d.str(&ss.Cookie.Name, "sessions.cookie.name", DefaultCookieName)
	d.str(&ss.Cookie.SameSite, "sessions.cookie.same_site", "lax")
	if ss.Cookie.Secure == nil {
		ss.Cookie.Secure = ptr(c.CookieSecure())
	}
	d.dur(&ss.IdleTimeout, "sessions.idle_timeout", 2*time.Hour)  // OTRS SessionMaxIdleTime 7200
	d.dur(&ss.MaxLifetime, "sessions.max_lifetime", 16*time.Hour) // OTRS SessionMaxTime 57600
	if ss.IdleTimeout > 0 {
		d.dur(&ss.LocalCacheTTL, "sessions.local_cache_ttl", min(DefaultLocalCacheTTL, TouchInterval(ss.IdleTimeout)/2))
	}
	d.int(&ss.LocalCacheSize, "sessions.local_cache_size", DefaultLocalCacheSize)
	r := &ss.Redis
	if ss.Store == "redis" && r.URL == "" && len(r.Addrs) == 0 {
		r.URL = DefaultRedisURL
	}
	d.str(&r.KeyPrefix, "sessions.redis.key_prefix", "gatehouse:")
	d.dur(&r.Timeout, "sessions.redis.timeout", 2*time.Second)

	for i := range c.Routes {
		rt := &c.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		d.str(&rt.Name, p+".name", fmt.Sprintf("route%d", i))
		d.str(&rt.PathPrefix, p+".path_prefix", "/")
	}

	for i := range c.CustomerUser {
		defaultSource(d, &c.CustomerUser[i], i)
	}
	for i := range c.CustomerAuth {
		defaultAuth(d, c, &c.CustomerAuth[i], i)
	}

	g := &c.CustomerGroup
	d.list(&g.AlwaysGroups, "customer_group.always_groups", "users")
	d.list(&g.CompanyAlwaysGroups, "customer_group.company_always_groups", "users")

	cl := &c.Claims
	if len(cl.Headers) == 0 && !d["claims.headers"] {
		cl.Headers = DefaultClaimHeaders()
	}
	d.int(&cl.MaxHeaderValue, "claims.max_header_value", 4096)
	d.str(&cl.Assertion.Header, "claims.assertion.header", "X-Gatehouse-Assertion")
	d.dur(&cl.Assertion.TTL, "claims.assertion.ttl", 60*time.Second)
	d.str(&cl.Assertion.Algorithm, "claims.assertion.algorithm", DefaultAssertionAlgorithm)
	d.str(&cl.Assertion.KeyDir, "claims.assertion.key_dir", DefaultAssertionKeyDir)

	d.str(&c.Log.Level, "log.level", "info")
	d.str(&c.Log.Format, "log.format", "text")
	if c.Log.AccessLog == nil {
		c.Log.AccessLog = ptr(true)
	}

	l := &c.Limits
	// max_body_size 0: unlimited (bodies are streamed); password_workers 0: one per CPU.
	d.int(&l.MaxLoginBody, "limits.max_login_body", 16384)
	d.int(&l.PasswordQueue, "limits.password_queue", 64)
	d.int(&l.UpstreamMaxConns, "limits.upstream_max_conns", 1024)
}

// defaultSource fills a customer_user source; db and ldap sources get OTRS's Kernel/Config/Defaults.pm values.
func defaultSource(d defaulter, s *CustomerUserSource, i int) {
	p := fmt.Sprintf("customer_user[%d]", i)
	if s.Name == "" && !d[p+".name"] {
		s.Name = DefaultSourceName
		if s.Module == "ldap" {
			s.Name = DefaultLDAPSourceName
		}
		if i > 0 {
			s.Name += " " + Slot(i)
		}
	}
	switch s.Module {
	case "db":
		defaultSourceDB(d, s, p)
	case "ldap":
		defaultSourceLDAP(d, s, p)
	default:
		return
	}
	d.str(&s.CustomerUserSearchSuffix, p+".customer_user_search_suffix", "*")
	if s.CustomerUserNameFieldsJoin == nil {
		s.CustomerUserNameFieldsJoin = ptr(" ")
	}
	// No cache by default. OTRS caches CustomerUserDataGet for 24h (CacheTTL 86400), but OTRS
	// clears its own cache on its own writes; a gateway beside OTRS would not see OTRS's direct
	// writes (a customer user set invalid, a changed email) until its cache expired. Set cache_ttl
	// only when the data source is written through gatehouse alone, or a short delay is acceptable.
	if s.CacheTTL == nil {
		s.CacheTTL = ptr(time.Duration(0))
	}
	for j := range s.Map {
		d.str(&s.Map[j].Type, fmt.Sprintf("%s.map[%d].type", p, j), "var")
	}
}

func defaultSourceDB(d defaulter, s *CustomerUserSource, p string) {
	d.str(&s.Params.Table, p+".params.table", "customer_user")
	d.str(&s.Params.GroupsTable, p+".params.groups_table", "permission_groups") // OTRS 6: groups
	d.str(&s.CustomerKey, p+".customer_key", "login")
	d.str(&s.CustomerID, p+".customer_id", "customer_id")
	d.str(&s.CustomerValid, p+".customer_valid", "valid_id")
	d.list(&s.CustomerUserListFields, p+".customer_user_list_fields", "first_name", "last_name", "email")
	d.list(&s.CustomerUserSearchFields, p+".customer_user_search_fields", "login", "first_name", "last_name", "customer_id")
	d.str(&s.CustomerUserSearchPrefix, p+".customer_user_search_prefix", "*")
	d.int(&s.CustomerUserSearchListLimit, p+".customer_user_search_list_limit", 250)
	d.list(&s.CustomerUserPostmasterSearchFields, p+".customer_user_postmaster_search_fields", "email")
	d.list(&s.CustomerUserNameFields, p+".customer_user_name_fields", "title", "first_name", "last_name")
	if len(s.Map) == 0 && !d[p+".map"] {
		s.Map = DefaultMap()
	}
}

// defaultSourceLDAP fills an ldap source with the values of OTRS's LDAP example in Defaults.pm
// and the LDAP.pm code defaults (search prefix "", suffix "*", limit 200).
func defaultSourceLDAP(d defaulter, s *CustomerUserSource, p string) {
	d.str(&s.Params.SScope, p+".params.sscope", "sub")
	d.str(&s.Params.SourceCharset, p+".params.source_charset", DefaultCharset)
	d.str(&s.CustomerKey, p+".customer_key", "uid")
	d.str(&s.CustomerID, p+".customer_id", "mail")
	d.list(&s.CustomerUserListFields, p+".customer_user_list_fields", "cn", "mail")
	d.list(&s.CustomerUserSearchFields, p+".customer_user_search_fields", "uid", "cn", "mail")
	d.int(&s.CustomerUserSearchListLimit, p+".customer_user_search_list_limit", 200)
	d.list(&s.CustomerUserPostmasterSearchFields, p+".customer_user_postmaster_search_fields", "mail")
	d.list(&s.CustomerUserNameFields, p+".customer_user_name_fields", "givenname", "sn")
	// LDAP is always read-only (OTRS's LDAP back end refuses every write); an explicit
	// read_only: false is kept for validation to refuse.
	if !d[p+".read_only"] {
		s.ReadOnly = true
	}
	if len(s.Map) == 0 && !d[p+".map"] {
		s.Map = DefaultLDAPMap()
	}
}

// defaultAuth fills a customer_auth module with its module's defaults: db modules get OTRS's
// Customer::AuthModule::DB values and, without a dsn, the first db data source's.
func defaultAuth(d defaulter, c *Config, a *AuthModule, i int) {
	p := fmt.Sprintf("customer_auth[%d]", i)
	if a.Module == "" {
		return
	}
	d.str(&a.Name, p+".name", a.Module+Slot(i))
	switch a.Module {
	case "db":
		if a.DSN == "" {
			for _, s := range c.CustomerUser {
				if s.Module == "db" {
					a.DSN = s.Params.DSN
					break
				}
			}
		}
		d.str(&a.Table, p+".table", "customer_user")
		d.str(&a.CustomerKey, p+".customer_key", "login")
		d.str(&a.CustomerPassword, p+".customer_password", "pw")
		d.str(&a.CryptType, p+".crypt_type", DefaultCryptType)
		d.int(&a.BcryptCost, p+".bcrypt_cost", DefaultBcryptCost)
	case "ldap":
		d.dur(&a.Timeout, p+".timeout", DefaultLDAPTimeout)
		d.str(&a.UserAttr, p+".user_attr", "DN") // LDAP.pm's code default
		d.str(&a.Charset, p+".charset", DefaultCharset)
	case "radius":
		d.dur(&a.Timeout, p+".timeout", DefaultRadiusTimeout)
		for j, h := range a.Host {
			a.Host[j] = withDefaultPort(h, DefaultRadiusPort)
		}
		if a.RequireMessageAuthenticator == nil {
			a.RequireMessageAuthenticator = ptr(true)
		}
	case "http_basic_auth":
		d.str(&a.Header, p+".header", DefaultLoginHeader)
		if a.Session == nil {
			a.Session = ptr(true)
		}
	case "oidc":
		d.list(&a.Scopes, p+".scopes", slices.Clone(DefaultOIDCScopes)...)
		d.str(&a.LoginClaim, p+".login_claim", "preferred_username")
		d.str(&a.Label, p+".label", "Sign in with "+a.Name)
		if a.RedirectURL == "" && !d[p+".redirect_url"] && c.Server.PublicURL != "" && a.Name != "" {
			a.RedirectURL = strings.TrimSuffix(c.Server.PublicURL, "/") + "/.gatehouse/oidc/" + url.PathEscape(a.Name) + "/callback"
		}
		if a.AutoCreate && a.AutoCreateSource == "" && !d[p+".auto_create_source"] {
			for _, s := range c.CustomerUser {
				if s.Module == "db" {
					a.AutoCreateSource = s.Name
					break
				}
			}
		}
		if a.ClientID != "" {
			d.list(&a.BearerAudiences, p+".bearer_audiences", a.ClientID)
		}
		d.list(&a.SigningAlgorithms, p+".signing_algorithms", slices.Clone(DefaultOIDCSigningAlgorithms)...)
	}
}

// withDefaultPort appends port to a host (name, IPv4 or bare IPv6 address) that has none; anything
// else is returned as it is, for validation to judge.
func withDefaultPort(h, port string) string {
	if _, _, err := net.SplitHostPort(h); err == nil || h == "" {
		return h
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return net.JoinHostPort(a.String(), port)
	}
	if !strings.Contains(h, ":") && hostName.MatchString(h) {
		return net.JoinHostPort(h, port)
	}
	return h
}

// CookieSecure reports whether the session cookie gets the Secure attribute: sessions.cookie.secure
// if set, else true unless server.public_url is http:// on a loopback host (localhost, 127.0.0.0/8, ::1).
func (c *Config) CookieSecure() bool {
	if c.Sessions.Cookie.Secure != nil {
		return *c.Sessions.Cookie.Secure
	}
	u, err := url.Parse(c.Server.PublicURL)
	if err != nil || u.Scheme != "http" {
		return true
	}
	return !loopback(u.Hostname())
}

// loopback reports whether host is localhost (or a name below .localhost) or a loopback address.
func loopback(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// unspecified reports whether host is 0.0.0.0 or :: (every interface).
func unspecified(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}
