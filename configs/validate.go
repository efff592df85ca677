package configs

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validation, in the style of oauth2-proxy's pkg/validation: a table of rules, one per section,
// each appending every problem it finds (with its key path) instead of stopping at the first.
// The allowed values and the per-module keys are tables too, so that a new module or value is
// one line.

// Validate checks c, whose defaults must already be applied (Parse does both), and returns
// Errors listing every problem by key path (without lines: c has no file), or nil.
func (c *Config) Validate() error {
	l := &errorList{}
	validate(l, c, nil)
	if len(l.errs) > 0 {
		return l.errs.sorted()
	}
	return nil
}

// rules are the validation rules, one per configuration section.
var rules = []struct {
	section string
	check   func(v *checker, c *Config)
}{
	{"server", checkServer},
	{"admin", checkAdmin},
	{"portal", checkPortal},
	{"sessions", checkSessions},
	{"routes", checkRoutes},
	{"customer_auth", checkCustomerAuth},
	{"customer_user", checkCustomerUser},
	{"customer_group", checkCustomerGroup},
	{"claims", checkClaims},
	{"log", checkLog},
	{"limits", checkLimits},
	{"password_policy", checkPasswordPolicy},
}

// authModules are the customer_auth modules (Customer::AuthModule = Kernel::System::CustomerAuth::*)
// with the keys only they may set and their own checks. A new module is one entry here; a key
// several modules share (host, timeout, replace, …) is listed under each of them.
var authModules = map[string]struct {
	keys  []string
	check func(v *checker, c *Config, path string, a *AuthModule)
}{
	"db": {keys: []string{"dsn", "table", "customer_key", "customer_password", "crypt_type", "bcrypt_cost"}, check: checkAuthDB},
	"ldap": {keys: []string{"host", "timeout", "base_dn", "uid", "search_user_dn", "search_user_pw", "search_user_pw_file",
		"always_filter", "user_suffix", "group_dn", "access_attr", "user_attr", "start_tls", "ca_file", "insecure_skip_verify",
		"charset", "params"}, check: checkAuthLDAP},
	"radius": {keys: []string{"host", "timeout", "password", "password_file", "retries", "nas_identifier",
		"require_message_authenticator"}, check: checkAuthRadius},
	"http_basic_auth": {keys: []string{"replace", "replace_regexp", "header", "required_login_header",
		"required_login_header_value", "required_login_header_value_regexp", "session"}, check: checkAuthHTTPBasic},
	"oidc": {keys: []string{"replace", "replace_regexp", "issuer", "client_id", "client_secret", "client_secret_file",
		"scopes", "redirect_url", "login_claim", "allow_unverified_email", "label", "auto_create", "default_customer_id",
		"auto_create_source", "provider_logout", "accept_bearer", "bearer_audiences", "signing_algorithms"}, check: checkAuthOIDC},
}

// sourceModules are the customer_user back ends (Kernel::System::CustomerUser::*) with the keys
// (paths below the source) only they may set and their own checks.
var sourceModules = map[string]struct {
	keys  []string
	check func(v *checker, c *Config, path string, s *CustomerUserSource)
}{
	"db": {keys: []string{"params.dsn", "params.dsn_file", "params.table", "params.case_sensitive", "params.search_case_sensitive",
		"params.foreign_db", "params.groups_table", "params.max_open_conns", "customer_valid"}, check: checkSourceDB},
	"ldap": {keys: []string{"params.host", "params.base_dn", "params.sscope", "params.user_dn", "params.user_pw", "params.user_pw_file",
		"params.always_filter", "params.source_charset", "params.die", "params.start_tls", "params.ca_file",
		"params.insecure_skip_verify", "params.params", "customer_user_valid_filter"}, check: checkSourceLDAP},
}

// owners maps each module-specific key to the modules that may set it, sorted.
func owners(modules map[string][]string) map[string][]string {
	o := map[string][]string{}
	for _, m := range slices.Sorted(maps.Keys(modules)) {
		for _, k := range modules[m] {
			o[k] = append(o[k], m)
		}
	}
	return o
}

var (
	authKeyOwners = owners(func() map[string][]string {
		m := map[string][]string{}
		for name, spec := range authModules {
			m[name] = spec.keys
		}
		return m
	}())
	sourceKeyOwners = owners(func() map[string][]string {
		m := map[string][]string{}
		for name, spec := range sourceModules {
			m[name] = spec.keys
		}
		return m
	}())
)

// foreignKeys refuses the keys below p that the file (or a Go caller) sets but that belong to
// modules other than module; rv is the module's struct value.
func (v *checker) foreignKeys(p string, rv reflect.Value, module string, keyOwners map[string][]string) {
	for _, k := range sortedKeys(keyOwners) {
		mods := keyOwners[k]
		if slices.Contains(mods, module) || !v.set(p+"."+k, fieldByPath(rv, k)) {
			continue
		}
		if len(mods) == 1 {
			v.addf(p+"."+k, "only for module %s (this is module %q)", mods[0], module)
		} else {
			v.addf(p+"."+k, "only for modules %s (this is module %q)", strings.Join(mods, ", "), module)
		}
	}
}

// fieldByPath returns the field of struct value rv at a dotted key path ("params.dsn").
func fieldByPath(rv reflect.Value, path string) reflect.Value {
	for k := range strings.SplitSeq(path, ".") {
		i, ok := fieldsOf(rv.Type()).index[k]
		if !ok {
			panic("configs: no key " + path + " in " + rv.Type().String())
		}
		rv = rv.Field(i)
	}
	return rv
}

// Allowed values.
var (
	cryptTypes    = []string{"bcrypt", "sha2", "sha512", "sha1", "md5", "apr1", "crypt", "plain"}
	sessionStores = []string{"memory", "redis"}
	sameSites     = []string{"lax", "strict", "none"}
	mapTypes      = []string{"var", "int", "dynamic_field"}
	logLevels     = []string{"debug", "info", "warn", "error"}
	logFormats    = []string{"text", "json"}
	dsnSchemes    = []string{"postgres", "postgresql", "mysql", "sqlite"}
	redisSchemes  = []string{"redis", "rediss", "unix"}
	// computedClaims are the claim values that are not Map variables (see Claims.Headers).
	computedClaims = []string{"UserFullname", "UserCustomerIDs", "UserGroups", "UserSource", "UserAuthModule"}

	// assertionAlgorithms are the JWS algorithms of claims.assertion.
	assertionAlgorithms = []string{"ES256", "RS256", "EdDSA"}
)

// reservedHeaders may not carry claims: gatehouse strips claim headers from every client request,
// so these would break HTTP framing, hop-by-hop handling, cookies, authentication or forwarding.
var reservedHeaders = []string{
	"host", "cookie", "set-cookie", "content-length", "content-type", "content-encoding", "content-range",
	"transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
	"proxy-authenticate", "proxy-authorization", "authorization", "www-authenticate", "expect",
	"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
	"x-real-ip", "via", "accept", "accept-encoding", "accept-language", "user-agent", "referer", "origin",
	"range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range",
	"cache-control", "pragma", "date",
}

var (
	// sqlIdentifier is a plain SQL identifier: table and column names from the config are put
	// into SQL as names, so nothing that could quote, comment or chain statements is allowed.
	sqlIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	// mapVarName is a Map variable (UserLogin, UserEmail, DynamicField_X).
	mapVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// dynamicFieldName is an OTRS dynamic field name.
	dynamicFieldName = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	// hostName is a DNS name or IPv4 address, optionally with a leading dot (a domain) and a port.
	hostName = regexp.MustCompile(`^\.?[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?)*\.?(:[0-9]{1,5})?$`)
	// permissionName is a group permission (ro, rw, …).
	permissionName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// checker collects errors; present holds the key paths the file sets (nil for a Config built in Go).
type checker struct {
	*errorList
	present map[string]bool
}

func validate(l *errorList, c *Config, present map[string]bool) {
	v := &checker{errorList: l, present: present}
	for _, r := range rules {
		r.check(v, c)
	}
}

// oneOf checks that val is one of allowed; what names the kind of value in the message.
func (v *checker) oneOf(path, what, val string, allowed []string) bool {
	if slices.Contains(allowed, val) {
		return true
	}
	if val == "" {
		v.addf(path, "required (want %s)", strings.Join(allowed, ", "))
	} else {
		v.addf(path, "unknown %s %q (want %s)", what, val, strings.Join(allowed, ", "))
	}
	return false
}

// identifier checks a table or column name from the config.
func (v *checker) identifier(path, val string) {
	switch {
	case val == "":
		v.addf(path, "required")
	case !sqlIdentifier.MatchString(val):
		v.addf(path, "%q is not a plain SQL identifier: letters, digits and _, not starting with a digit, "+
			"at most 64 characters (table and column names from the config go into SQL as they are, so nothing else is allowed)", val)
	}
}

// identifiers checks a list of column names.
func (v *checker) identifiers(path string, vals []string) {
	for i, val := range vals {
		v.identifier(fmt.Sprintf("%s[%d]", path, i), val)
	}
}

func (v *checker) positive(path string, d time.Duration) {
	if d <= 0 {
		v.addf(path, "must be more than 0, got %s", d)
	}
}

// listen checks a host:port listen address and returns its host and port.
func (v *checker) listen(path, addr string) (host string, port int, ok bool) {
	if addr == "" {
		v.addf(path, "required: a host:port address such as 127.0.0.1:8080")
		return "", 0, false
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		v.addf(path, "not a host:port address: %q", addr)
		return "", 0, false
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		v.addf(path, "port %q is not a number from 0 to 65535", p)
		return "", 0, false
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil && !hostName.MatchString(host) {
		v.addf(path, "host %q is neither an IP address nor a host name", host)
		return "", 0, false
	}
	return host, port, true
}

// httpURL checks an absolute http(s) URL without user info, query or fragment.
func (v *checker) httpURL(path, s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		v.addf(path, "want an absolute http:// or https:// URL, got %q", s)
	case u.User != nil:
		v.addf(path, "must not contain user info")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		v.addf(path, "must not contain a query or fragment")
	default:
		return u, true
	}
	return nil, false
}

// dsn checks a data source name; it never repeats the DSN, which may hold a password.
func (v *checker) dsn(path, dsn string) {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok || !slices.Contains(dsnSchemes, scheme) {
		if ok && validEnvName(scheme) {
			v.addf(path, "unknown database scheme %q (want postgres://, postgresql://, mysql:// or sqlite://)", scheme)
		} else {
			v.addf(path, "want a URL starting with postgres://, postgresql://, mysql:// or sqlite://")
		}
		return
	}
	if scheme == "sqlite" {
		if rest == "" {
			v.addf(path, "sqlite:// needs a file path: sqlite://data/gatehouse.db (relative to the working directory) or sqlite:///var/lib/gatehouse/gatehouse.db")
		}
		return
	}
	u, err := url.Parse(dsn)
	if err != nil {
		v.addf(path, "not a valid %s:// URL (escape special characters in the user name and password as %%XX)", scheme)
		return
	}
	if u.Host == "" {
		v.addf(path, "%s:// needs a host: %s://user:password@host:port/database", scheme, scheme)
	}
}

// set reports whether a key is set: present in the file, or not zero.
func (v *checker) set(path string, val reflect.Value) bool {
	return v.present[path] || !val.IsZero()
}

func checkServer(v *checker, c *Config) {
	s := &c.Server
	_, _, ok := v.listen("server.listen", s.Listen)
	if s.PublicURL == "" {
		if ok {
			v.addf("server.public_url", "required when server.listen (%s) listens on every interface: the URL customers use, e.g. https://portal.example.com", s.Listen)
		}
	} else if u, ok := v.httpURL("server.public_url", s.PublicURL); ok && u.Path != "" && u.Path != "/" {
		v.addf("server.public_url", "must not have a path (gatehouse serves from the root): %q", u.Path)
	}
	for i, p := range s.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			v.addf(fmt.Sprintf("server.trusted_proxies[%d]", i), "not an IP address or CIDR: %q", p)
		}
	}
	v.positive("server.shutdown_timeout", s.ShutdownTimeout)
	v.positive("server.idle_timeout", s.IdleTimeout)
	v.positive("server.read_header_timeout", s.ReadHeaderTimeout)
}

func checkAdmin(v *checker, c *Config) {
	a := &c.Admin
	if a.Listen != "" {
		host, port, ok := v.listen("admin.listen", a.Listen)
		sh, sp, sok := net.SplitHostPort(c.Server.Listen)
		if ok && sok == nil && port != 0 && sp == strconv.Itoa(port) &&
			(strings.EqualFold(host, sh) || host == "" || sh == "" || unspecified(host) || unspecified(sh)) {
			v.addf("admin.listen", "must differ from server.listen (%s): the admin listener is never the public port", c.Server.Listen)
		}
	}
	logins := map[string]bool{}
	for i, u := range a.Users {
		p := fmt.Sprintf("admin.users[%d]", i)
		switch {
		case u.Login == "":
			v.addf(p+".login", "required")
		case logins[u.Login]:
			v.addf(p+".login", "admin user %q is listed twice", u.Login)
		}
		logins[u.Login] = true
		if u.PasswordHash == "" {
			v.addf(p+".password_hash", "required: make one with `gatehouse hash-password` (or use password_hash_file)")
		}
	}
}

func checkPortal(v *checker, c *Config) {
	p := &c.Portal
	for _, f := range []struct{ path, s string }{{"portal.login_url", p.LoginURL}, {"portal.logout_url", p.LogoutURL}} {
		path, s := f.path, f.s
		if s == "" || strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.ContainsAny(s, "\\\r\n") {
			continue
		}
		v.httpURL(path, s)
	}
	for i, h := range p.AllowedRedirectHosts {
		if !hostName.MatchString(h) {
			v.addf(fmt.Sprintf("portal.allowed_redirect_hosts[%d]", i), "want a host name such as portal.example.com, or .example.com for every subdomain (no scheme or path), got %q", h)
		}
	}
}

func checkSessions(v *checker, c *Config) {
	s := &c.Sessions
	v.oneOf("sessions.store", "session store", s.Store, sessionStores)
	ck := &s.Cookie
	switch {
	case ck.Name == "":
		v.addf("sessions.cookie.name", "required")
	case !isToken(ck.Name):
		v.addf("sessions.cookie.name", "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~)", ck.Name)
	case strings.HasPrefix(ck.Name, "__Host-") && (!c.CookieSecure() || ck.Domain != ""):
		v.addf("sessions.cookie.name", "a __Host- cookie needs secure and no domain")
	case strings.HasPrefix(ck.Name, "__Secure-") && !c.CookieSecure():
		v.addf("sessions.cookie.name", "a __Secure- cookie needs secure")
	}
	if ck.Domain != "" && (!hostName.MatchString(ck.Domain) || strings.Contains(ck.Domain, ":")) {
		v.addf("sessions.cookie.domain", "want a domain such as example.com, got %q", ck.Domain)
	}
	if v.oneOf("sessions.cookie.same_site", "same_site value", ck.SameSite, sameSites) && ck.SameSite == "none" && !c.CookieSecure() {
		v.addf("sessions.cookie.same_site", "none requires secure cookies (browsers drop SameSite=None cookies without Secure)")
	}
	v.positive("sessions.idle_timeout", s.IdleTimeout)
	if s.MaxLifetime < s.IdleTimeout {
		v.addf("sessions.max_lifetime", "must be at least sessions.idle_timeout (%s), got %s", s.IdleTimeout, s.MaxLifetime)
	}
	switch touch := TouchInterval(s.IdleTimeout); {
	case s.LocalCacheTTL < 0:
		v.addf("sessions.local_cache_ttl", "must not be negative (0 disables the cache), got %s", s.LocalCacheTTL)
	case s.IdleTimeout > 0 && s.LocalCacheTTL > touch/2:
		// The store's LastSeen already lags the real last use by up to a touch interval;
		// a cached copy may lag by its age on top, so keep that well inside the interval.
		v.addf("sessions.local_cache_ttl", "must be at most half the touch interval (idle_timeout/10, at most %s): %s, got %s",
			MaxTouchInterval, touch/2, s.LocalCacheTTL)
	}
	if s.LocalCacheSize < 0 {
		v.addf("sessions.local_cache_size", "must not be negative (0 disables the cache), got %d", s.LocalCacheSize)
	}

	r := &s.Redis
	if s.Store != "redis" {
		if r.URL != "" || len(r.Addrs) > 0 || r.MasterName != "" || r.Cluster {
			v.addf("sessions.redis", "redis servers are set but sessions.store is %q (set store: redis)", s.Store)
		}
		return
	}
	switch {
	case r.URL != "" && len(r.Addrs) > 0:
		v.addf("sessions.redis", "set url (one server) or addrs (Sentinel or Cluster), not both")
	case r.URL != "":
		if u, err := url.Parse(r.URL); err != nil || !slices.Contains(redisSchemes, u.Scheme) {
			v.addf("sessions.redis.url", "want a redis://, rediss:// or unix:// URL")
		}
		if r.MasterName != "" || r.Cluster {
			v.addf("sessions.redis.url", "master_name and cluster need addrs instead of url")
		}
	case len(r.Addrs) == 0:
		v.addf("sessions.redis", "set url (one server) or addrs (Sentinel or Cluster)")
	}
	for i, a := range r.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			v.addf(fmt.Sprintf("sessions.redis.addrs[%d]", i), "not a host:port address: %q", a)
		}
	}
	if r.MasterName != "" && r.Cluster {
		v.addf("sessions.redis.cluster", "Cluster and Sentinel (master_name) exclude each other")
	}
	if r.DB < 0 {
		v.addf("sessions.redis.db", "must not be negative")
	}
	if r.Cluster && r.DB != 0 {
		v.addf("sessions.redis.db", "Redis Cluster has only database 0")
	}
	v.positive("sessions.redis.timeout", r.Timeout)
}

func checkRoutes(v *checker, c *Config) {
	if len(c.Routes) == 0 {
		v.addf("routes", "at least one route is required (e.g. path_prefix: / with an upstream)")
	}
	names := map[string]int{}
	where := map[string]int{}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if r.Name == "" {
			v.addf(p+".name", "required")
		} else if j, dup := names[r.Name]; dup {
			v.addf(p+".name", "route name %q is also used by routes[%d]", r.Name, j)
		} else {
			names[r.Name] = i
		}
		hostOK := checkRouteHost(v, p+".host", r.Host)
		pp := r.PathPrefix
		switch {
		case !strings.HasPrefix(pp, "/"):
			v.addf(p+".path_prefix", "must start with /, got %q", pp)
		case strings.ContainsAny(pp, "?#\\") || strings.Contains(pp, "//") || slices.Contains(strings.Split(pp, "/"), ".."):
			v.addf(p+".path_prefix", "want a clean path (no //, .., \\, ? or #), got %q", pp)
		case pp == "/.gatehouse" || strings.HasPrefix(pp, "/.gatehouse/"):
			v.addf(p+".path_prefix", "/.gatehouse/ is reserved for gatehouse itself")
		default:
			key := strings.ToLower(r.Host) + " /" + strings.Trim(pp, "/")
			if j, dup := where[key]; dup && hostOK {
				v.addf(p+".path_prefix", "routes[%d] already has this host and path prefix", j)
			}
			where[key] = i
		}
		switch {
		case r.Upstream == "":
			v.addf(p+".upstream", `required: an http(s)://host:port URL or "echo"`)
		case r.Upstream != "echo":
			if u, ok := v.httpURL(p+".upstream", r.Upstream); ok && u.Port() != "" {
				if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
					v.addf(p+".upstream", "port %q is not a number from 1 to 65535", u.Port())
				}
			}
		}
		if r.Public && (len(r.Require.Groups) > 0 || len(r.Require.CustomerIDs) > 0) {
			v.addf(p+".require", "a public route has no authentication, so it cannot require groups or customer ids")
		}
		for _, g := range sortedKeys(r.Require.Groups) {
			gp := join(p+".require.groups", g)
			if strings.TrimSpace(g) == "" {
				v.addf(gp, "group name is empty")
			}
			if perm := r.Require.Groups[g]; !permissionName.MatchString(perm) {
				v.addf(gp, "want a permission such as ro or rw, got %q", perm)
			}
		}
		for j, id := range r.Require.CustomerIDs {
			if strings.TrimSpace(id) == "" {
				v.addf(fmt.Sprintf("%s.require.customer_ids[%d]", p, j), "customer id is empty")
			}
		}
		if r.MaxBodySize < 0 {
			v.addf(p+".max_body_size", "must not be negative")
		}
	}
}

// checkRouteHost checks a route's host: a bare host name, without scheme, port or path.
func checkRouteHost(v *checker, path, h string) bool {
	switch {
	case h == "":
		return true
	case strings.Contains(h, "://"):
		v.addf(path, "want a host name without scheme, e.g. %q", strings.SplitN(strings.SplitN(h, "://", 2)[1], "/", 2)[0])
	case strings.Contains(h, "/"):
		v.addf(path, "want a host name without a path, got %q", h)
	case strings.Contains(h, ":"):
		v.addf(path, "want a host name without a port, got %q", h)
	case !hostName.MatchString(h) || strings.HasPrefix(h, "."):
		v.addf(path, "not a host name: %q", h)
	default:
		return true
	}
	return false
}

func checkCustomerAuth(v *checker, c *Config) {
	switch n := len(c.CustomerAuth); {
	case n == 0:
		v.addf("customer_auth", "at least one authentication module is required (Customer::AuthModule), e.g. module: db")
	case n > MaxSlots:
		v.addf("customer_auth", "at most %d modules (Customer::AuthModule, AuthModule1 … AuthModule10), got %d", MaxSlots, n)
	}
	known := slices.Sorted(maps.Keys(authModules))
	names := map[string]int{}
	for i := range c.CustomerAuth {
		a := &c.CustomerAuth[i]
		p := fmt.Sprintf("customer_auth[%d]", i)
		ok := v.oneOf(p+".module", "module", a.Module, known)
		v.foreignKeys(p, reflect.ValueOf(a).Elem(), a.Module, authKeyOwners)
		if a.Name != "" {
			if j, dup := names[a.Name]; dup {
				v.addf(p+".name", "name %q is also used by customer_auth[%d]", a.Name, j)
			}
			names[a.Name] = i
		} else if ok {
			v.addf(p+".name", "required")
		}
		if ok {
			authModules[a.Module].check(v, c, p, a)
		}
	}
}

func checkAuthDB(v *checker, c *Config, p string, a *AuthModule) {
	// An empty dsn takes the first db data source's, which is checked there (and may be empty
	// only because of an error reported there).
	var first *CustomerUserSource
	for i := range c.CustomerUser {
		if c.CustomerUser[i].Module == "db" {
			first = &c.CustomerUser[i]
			break
		}
	}
	switch {
	case a.DSN == "" && first == nil:
		v.addf(p+".dsn", "required: customer_user has no db data source to take it from")
	case a.DSN != "" && (first == nil || a.DSN != first.Params.DSN):
		v.dsn(p+".dsn", a.DSN)
	}
	v.identifier(p+".table", a.Table)
	v.identifier(p+".customer_key", a.CustomerKey)
	v.identifier(p+".customer_password", a.CustomerPassword)
	v.oneOf(p+".crypt_type", "crypt type", a.CryptType, cryptTypes)
	if a.BcryptCost < 9 || a.BcryptCost > 31 {
		v.addf(p+".bcrypt_cost", "must be from 9 to 31 (OTRS clamps to this range), got %d", a.BcryptCost)
	}
}

func checkCustomerUser(v *checker, c *Config) {
	switch n := len(c.CustomerUser); {
	case n == 0:
		v.addf("customer_user", "at least one data source is required (CustomerUser), e.g. module: db")
	case n > MaxSlots:
		v.addf("customer_user", "at most %d data sources (CustomerUser, CustomerUser1 … CustomerUser10), got %d", MaxSlots, n)
	}
	known := slices.Sorted(maps.Keys(sourceModules))
	names := map[string]int{}
	for i := range c.CustomerUser {
		s := &c.CustomerUser[i]
		p := fmt.Sprintf("customer_user[%d]", i)
		if s.Name == "" {
			v.addf(p+".name", "required")
		} else if j, dup := names[s.Name]; dup {
			v.addf(p+".name", "name %q is also used by customer_user[%d]", s.Name, j)
		} else {
			names[s.Name] = i
		}
		if v.oneOf(p+".module", "module", s.Module, known) {
			v.foreignKeys(p, reflect.ValueOf(s).Elem(), s.Module, sourceKeyOwners)
			sourceModules[s.Module].check(v, c, p, s)
		}
	}
}

func checkSourceDB(v *checker, c *Config, p string, s *CustomerUserSource) {
	if s.Params.DSN == "" {
		v.addf(p+".params.dsn", "required (or params.dsn_file)")
	} else {
		v.dsn(p+".params.dsn", s.Params.DSN)
	}
	for _, f := range []struct{ key, val string }{
		{"params.table", s.Params.Table},
		{"params.groups_table", s.Params.GroupsTable},
		{"customer_key", s.CustomerKey},
		{"customer_id", s.CustomerID},
	} {
		v.identifier(p+"."+f.key, f.val)
	}
	if s.CustomerValid != "" {
		v.identifier(p+".customer_valid", s.CustomerValid)
	}
	for _, f := range []struct {
		key  string
		vals []string
	}{
		{"customer_user_list_fields", s.CustomerUserListFields},
		{"customer_user_search_fields", s.CustomerUserSearchFields},
		{"customer_user_postmaster_search_fields", s.CustomerUserPostmasterSearchFields},
		{"customer_user_name_fields", s.CustomerUserNameFields},
	} {
		v.identifiers(p+"."+f.key, f.vals)
	}
	if s.CustomerUserSearchListLimit <= 0 {
		v.addf(p+".customer_user_search_list_limit", "must be more than 0, got %d", s.CustomerUserSearchListLimit)
	}
	if s.CacheTTL != nil && *s.CacheTTL < 0 {
		v.addf(p+".cache_ttl", "must not be negative")
	}
	if s.Params.MaxOpenConns < 0 {
		v.addf(p+".params.max_open_conns", "must not be negative")
	}
	checkMap(v, p+".map", s.Map, v.identifier)
}

// checkMap checks an OTRS Map: unique variables, UserLogin present, known types, safe storage names
// (storage checks a column or attribute name).
func checkMap(v *checker, p string, rows []MapRow, storage func(path, val string)) {
	vars := map[string]int{}
	for i, r := range rows {
		rp := fmt.Sprintf("%s[%d]", p, i)
		switch {
		case r.Var == "":
			v.addf(rp+".var", "required")
		case !mapVarName.MatchString(r.Var):
			v.addf(rp+".var", "%q is not a variable name (letters, digits and _)", r.Var)
		default:
			if j, dup := vars[r.Var]; dup {
				v.addf(rp+".var", "%s is also mapped by %s[%d]", r.Var, p, j)
			}
			vars[r.Var] = i
		}
		if !v.oneOf(rp+".type", "map type", r.Type, mapTypes) {
			continue
		}
		if r.Type == "dynamic_field" {
			if !dynamicFieldName.MatchString(r.Storage) {
				v.addf(rp+".storage", "want a dynamic field name (letters and digits), got %q", r.Storage)
			}
		} else {
			storage(rp+".storage", r.Storage)
		}
	}
	if _, ok := vars["UserLogin"]; !ok {
		v.addf(p, "UserLogin must be mapped (OTRS needs the login, e.g. [UserLogin, Username, login, 1, 1, var, \"\", 0])")
	}
}

func checkCustomerGroup(v *checker, c *Config) {
	g := &c.CustomerGroup
	for _, f := range []struct {
		key  string
		list []string
	}{{"customer_group.always_groups", g.AlwaysGroups}, {"customer_group.company_always_groups", g.CompanyAlwaysGroups}} {
		for i, name := range f.list {
			if strings.TrimSpace(name) == "" {
				v.addf(fmt.Sprintf("%s[%d]", f.key, i), "group name is empty")
			}
		}
	}
}

func checkClaims(v *checker, c *Config) {
	cl := &c.Claims
	// Known values: the computed ones, OTRS's standard variables (a source that does not map one
	// just sends no header for it) and every variable some source maps.
	known := map[string]bool{}
	for _, k := range computedClaims {
		known[k] = true
	}
	for _, r := range DefaultMap() {
		known[r.Var] = true
	}
	for _, s := range c.CustomerUser {
		for _, r := range s.Map {
			known[r.Var] = true
		}
	}
	seen := map[string]string{}
	assertion := canonicalHeader(cl.Assertion.Header)
	for _, h := range sortedKeys(cl.Headers) {
		p := join("claims.headers", h)
		if checkHeaderName(v, p, h) {
			k := canonicalHeader(h)
			if other, dup := seen[k]; dup {
				v.addf(p, "same header as %q (header names ignore case, and _ counts as -)", other)
			}
			seen[k] = h
			if k == assertion {
				v.addf(p, "is claims.assertion.header")
			}
		}
		switch val := cl.Headers[h]; {
		case val == "":
			v.addf(p, "want a Map variable (UserLogin, UserEmail, …) or one of %s", strings.Join(computedClaims, ", "))
		case !known[val]:
			v.addf(p, "%q is neither a variable of a customer_user map nor one of %s", val, strings.Join(computedClaims, ", "))
		}
	}
	if cl.MaxHeaderValue <= 0 {
		v.addf("claims.max_header_value", "must be more than 0, got %d", cl.MaxHeaderValue)
	}
	checkHeaderName(v, "claims.assertion.header", cl.Assertion.Header)
	v.positive("claims.assertion.ttl", cl.Assertion.TTL)
	a := &cl.Assertion
	v.oneOf("claims.assertion.algorithm", "algorithm", a.Algorithm, assertionAlgorithms)
	switch {
	case a.RotateAfter < 0:
		v.addf("claims.assertion.rotate_after", "must not be negative, got %s", a.RotateAfter)
	case a.RotateAfter > 0 && a.KeyFile != "":
		v.addf("claims.assertion.rotate_after", "rotation needs generated keys; key_file is a fixed key (leave one of them out)")
	}
	if a.Enabled && a.KeyFile == "" && strings.TrimSpace(a.KeyDir) == "" {
		v.addf("claims.assertion.key_dir", "required: a directory for the generated signing keys (or set key_file)")
	}
	if a.Audience != "" && (strings.TrimSpace(a.Audience) != a.Audience || strings.ContainsAny(a.Audience, "\r\n")) {
		v.addf("claims.assertion.audience", "want a host name or URI without surrounding spaces or line breaks, got %q", a.Audience)
	}
}

// checkHeaderName checks a header name gatehouse sets (and strips from client requests).
func checkHeaderName(v *checker, path, h string) bool {
	switch {
	case h == "":
		v.addf(path, "required: a header name")
	case !isToken(h):
		v.addf(path, "%q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~)", h)
	case slices.Contains(reservedHeaders, canonicalHeader(h)):
		v.addf(path, "%s is reserved (hop-by-hop, framing, cookies, authentication, forwarding or set by browsers); gatehouse strips its claim headers from requests, so pick another name", h)
	default:
		return true
	}
	return false
}

func checkLog(v *checker, c *Config) {
	v.oneOf("log.level", "log level", c.Log.Level, logLevels)
	v.oneOf("log.format", "log format", c.Log.Format, logFormats)
}

func checkPasswordPolicy(v *checker, c *Config) {
	if n := c.PasswordPolicy.MaxLoginFailed; n < 0 {
		v.addf("password_policy.max_login_failed", "must be at least 0 (0 never locks), got %d", n)
	}
}

func checkLimits(v *checker, c *Config) {
	l := &c.Limits
	for _, f := range []struct {
		key      string
		val, min int64
	}{
		{"max_body_size", l.MaxBodySize, 0},
		{"max_login_body", int64(l.MaxLoginBody), 1},
		{"password_workers", int64(l.PasswordWorkers), 0},
		{"password_queue", int64(l.PasswordQueue), 0},
		{"upstream_max_conns", int64(l.UpstreamMaxConns), 1},
	} {
		if f.val < f.min {
			v.addf("limits."+f.key, "must be at least %d, got %d", f.min, f.val)
		}
	}
}

// isToken reports whether s is an RFC 9110 token (header and cookie names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// canonicalHeader folds a header name the way gatehouse compares them: case-insensitive, _ as -.
func canonicalHeader(h string) string {
	return strings.ReplaceAll(strings.ToLower(h), "_", "-")
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
