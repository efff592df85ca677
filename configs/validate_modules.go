package configs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"golang.org/x/text/encoding/ianaindex"
)

// The checks of the ldap, radius, http_basic_auth and oidc auth modules and of the ldap data
// source; the registries are authModules and sourceModules in validate.go.

// Allowed values of these modules.
var (
	ldapUserAttrs   = []string{"DN", "UID"}
	ldapScopes      = []string{"sub", "one", "base"}
	oidcLoginClaims = []string{"preferred_username", "email", "sub"}
	// oidcAlgorithms are the asymmetric JWS algorithms (RFC 7518, RFC 8037) an oidc module accepts.
	oidcAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

var (
	// ldapAttribute is an LDAP attribute description by name (RFC 4512 keystring).
	ldapAttribute = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
	// oidcName is an oidc module name: a URL path segment in /.gatehouse/oidc/{name}/start.
	oidcName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	// perlOnlyRegexp spots Perl constructs RE2 lacks: lookaround, backreferences, atomic groups,
	// possessive quantifiers.
	perlOnlyRegexp = regexp.MustCompile(`\(\?<?[=!]|\(\?>|\\[1-9]|\\g|\\k<|[*+?}]\+`)
)

// maxRadiusRetries bounds customer_auth[].retries of radius modules.
const maxRadiusRetries = 5

// attribute checks a required LDAP attribute name.
func (v *checker) attribute(path, val string) {
	switch {
	case val == "":
		v.addf(path, "required: an LDAP attribute name")
	case !ldapAttribute.MatchString(val):
		v.addf(path, "%q is not an LDAP attribute name (a letter, then letters, digits and -)", val)
	}
}

// attributes checks a list of LDAP attribute names.
func (v *checker) attributes(path string, vals []string) {
	for i, val := range vals {
		v.attribute(fmt.Sprintf("%s[%d]", path, i), val)
	}
}

// dn checks a distinguished name; empty is accepted.
func (v *checker) dn(path, val string) {
	if val == "" {
		return
	}
	if _, err := ldap.ParseDN(val); err != nil {
		v.addf(path, "not an LDAP DN such as ou=people,dc=example,dc=com: %s", ldapErr(err))
	}
}

// ldapFilter checks an LDAP filter (RFC 4515); empty is accepted.
func (v *checker) ldapFilter(path, f string) {
	if f == "" {
		return
	}
	if err := compileFilter(f); err != nil {
		v.addf(path, "not an LDAP filter such as (objectclass=inetOrgPerson) (RFC 4515, in parentheses): %s", ldapErr(err))
	}
}

func compileFilter(f string) (err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("cannot be parsed")
		}
	}()
	_, err = ldap.CompileFilter(f)
	return err
}

// ldapErr is the message of a go-ldap error without its result-code wrapping, on one line.
func ldapErr(err error) string {
	var le *ldap.Error
	if errors.As(err, &le) && le.Err != nil {
		err = le.Err
	}
	return strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "ldap: ")), " ")
}

// charset checks a character set name known to golang.org/x/text/encoding/ianaindex.
func (v *checker) charset(path, name string) {
	if name == "" {
		v.addf(path, "required: a character set such as utf-8 or iso-8859-1")
		return
	}
	if enc, err := ianaindex.IANA.Encoding(name); err != nil || enc == nil {
		v.addf(path, "unknown or unsupported character set %q (want an IANA name such as utf-8, iso-8859-1 or windows-1252)", name)
	}
}

// ldapHosts checks a list of ldap:// and ldaps:// URLs.
func (v *checker) ldapHosts(path string, hosts []string, startTLS bool) {
	if len(hosts) == 0 {
		v.addf(path, "required: one or more ldap:// or ldaps:// URLs, e.g. ldaps://ldap.example.com")
		return
	}
	for i, h := range hosts {
		hp := fmt.Sprintf("%s[%d]", path, i)
		u, err := url.Parse(h)
		switch {
		case err != nil || u.Scheme != "ldap" && u.Scheme != "ldaps" || u.Host == "" || u.Opaque != "":
			if !strings.Contains(h, "://") && h != "" {
				v.addf(hp, "want an ldap:// or ldaps:// URL such as ldap://%s, got %q", h, h)
			} else {
				v.addf(hp, "want an ldap:// or ldaps:// URL such as ldaps://ldap.example.com, got %q", h)
			}
		case u.User != nil:
			v.addf(hp, "must not contain user info (the bind DN and password have their own keys)")
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
			v.addf(hp, "must not have a path, query or fragment (the base DN has its own key), got %q", h)
		case !validHost(u.Hostname()):
			v.addf(hp, "host %q is neither an IP address nor a host name", u.Hostname())
		case u.Port() != "" && !validPort(u.Port()):
			v.addf(hp, "port %q is not a number from 1 to 65535", u.Port())
		case startTLS && u.Scheme == "ldaps":
			v.addf(hp, "start_tls is for ldap:// URLs; ldaps:// is TLS from the start")
		}
	}
}

// ldapParams checks Net::LDAP->new options.
func (v *checker) ldapParams(path string, p LDAPParams) {
	if p.Port < 0 || p.Port > 65535 {
		v.addf(path+".port", "must be from 1 to 65535 (0 or left out: 389 for ldap://, 636 for ldaps://), got %d", p.Port)
	}
	if p.Timeout < 0 {
		v.addf(path+".timeout", "must not be negative")
	}
	if p.Version != 0 && p.Version != 3 {
		v.addf(path+".version", "only LDAP version 3 is supported, got %d", p.Version)
	}
}

// bothOrNeither checks a bind DN and its password; the error names the key that is set.
func (v *checker) bothOrNeither(dnPath, dn, pwPath, pw string) {
	switch {
	case dn != "" && pw == "" && v.present[pwPath+"_file"]:
		// Unreadable files are reported (and this path silenced) by the decoder.
		v.addf(pwPath+"_file", "the file is empty; %s needs a password", lastKey(dnPath))
	case dn != "" && pw == "":
		v.addf(dnPath, "needs %s (or %s_file) too; leave both out to bind anonymously", lastKey(pwPath), lastKey(pwPath))
	case dn == "" && pw != "":
		v.addf(pwPath, "needs %s too; leave both out to bind anonymously", lastKey(dnPath))
	}
}

func lastKey(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}

func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return h != "" && !strings.HasPrefix(h, ".") && !strings.Contains(h, ":") && hostName.MatchString(h)
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && p[0] != '+'
}

// regexp checks a Go (RE2) regular expression; Perl constructs RE2 lacks are named in the error.
func (v *checker) regexp(path, re string) (*regexp.Regexp, bool) {
	r, err := regexp.Compile(re)
	if err == nil {
		return r, true
	}
	msg := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
	if perlOnlyRegexp.MatchString(re) {
		v.addf(path, "not a Go (RE2) regular expression: %s; unlike Perl (OTRS), RE2 has no lookahead, lookbehind, backreferences, atomic groups or possessive quantifiers", msg)
	} else {
		v.addf(path, "not a Go (RE2) regular expression: %s", msg)
	}
	return nil, false
}

// replaceRegexp checks replace_regexp: a regular expression whose match is replaced by $1.
func (v *checker) replaceRegexp(path, re string) {
	if re == "" {
		return
	}
	if r, ok := v.regexp(path, re); ok && r.NumSubexp() == 0 {
		v.addf(path, "needs a capture group: the match is replaced by $1, as OTRS does (s/<re>/$1/), e.g. ^(.+)@example\\.com$")
	}
}

func checkAuthLDAP(v *checker, c *Config, p string, a *AuthModule) {
	v.ldapHosts(p+".host", a.Host, a.StartTLS)
	v.attribute(p+".uid", a.UID)
	v.dn(p+".base_dn", a.BaseDN) // required by OTRS but may be empty
	v.dn(p+".search_user_dn", a.SearchUserDN)
	v.bothOrNeither(p+".search_user_dn", a.SearchUserDN, p+".search_user_pw", a.SearchUserPw)
	v.ldapFilter(p+".always_filter", a.AlwaysFilter)
	switch {
	case a.GroupDN != "" && a.AccessAttr == "":
		v.addf(p+".group_dn", "group_dn and access_attr work only together (OTRS checks the group only when both are set): set access_attr too, e.g. memberUid")
	case a.GroupDN == "" && a.AccessAttr != "":
		v.addf(p+".access_attr", "group_dn and access_attr work only together (OTRS checks the group only when both are set): set group_dn too")
	case a.GroupDN != "":
		v.dn(p+".group_dn", a.GroupDN)
		v.attribute(p+".access_attr", a.AccessAttr)
	}
	v.oneOf(p+".user_attr", "user_attr", a.UserAttr, ldapUserAttrs)
	v.charset(p+".charset", a.Charset)
	v.positive(p+".timeout", a.Timeout)
	v.ldapParams(p+".params", a.Params)
}

func checkAuthRadius(v *checker, c *Config, p string, a *AuthModule) {
	if len(a.Host) == 0 {
		v.addf(p+".host", "required: one or more RADIUS servers, host or host:port (default port %s), tried in this order", DefaultRadiusPort)
	}
	for i, h := range a.Host {
		hp := fmt.Sprintf("%s.host[%d]", p, i)
		host, port, err := net.SplitHostPort(h)
		switch {
		case strings.Contains(h, "://"):
			v.addf(hp, "want host or host:port without a scheme, got %q", h)
		case err != nil:
			v.addf(hp, "want host or host:port (IPv6 in brackets: [2001:db8::1]:1812), got %q", h)
		case !validHost(host):
			v.addf(hp, "host %q is neither an IP address nor a host name", host)
		case !validPort(port):
			v.addf(hp, "port %q is not a number from 1 to 65535", port)
		}
	}
	if a.Password == "" {
		v.addf(p+".password", "required: the RADIUS shared secret (Customer::AuthModule::Radius::Password), or password_file")
	}
	v.positive(p+".timeout", a.Timeout)
	if a.Retries < 0 || a.Retries > maxRadiusRetries {
		v.addf(p+".retries", "must be from 0 to %d, got %d", maxRadiusRetries, a.Retries)
	}
	if len(a.NASIdentifier) > 253 {
		v.addf(p+".nas_identifier", "at most 253 bytes (a RADIUS attribute's limit), got %d", len(a.NASIdentifier))
	}
}

func checkAuthHTTPBasic(v *checker, c *Config, p string, a *AuthModule) {
	switch {
	case a.Header == "":
		v.addf(p+".header", "required: the header a trusted proxy puts the login in, e.g. Remote-User")
	case !isToken(a.Header):
		v.addf(p+".header", "%q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~)", a.Header)
	}
	if len(c.Server.TrustedProxies) == 0 {
		v.addf(p+".header", "the header is believed only from server.trusted_proxies, which is empty: list the proxy that sets it")
	}
	if a.RequiredLoginHeader != "" && !isToken(a.RequiredLoginHeader) {
		v.addf(p+".required_login_header", "%q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~)", a.RequiredLoginHeader)
	}
	switch {
	case a.RequiredLoginHeaderValue != "" && a.RequiredLoginHeaderValueRegexp != "":
		v.addf(p+".required_login_header_value_regexp", "set required_login_header_value or required_login_header_value_regexp, not both")
	case a.RequiredLoginHeader == "" && a.RequiredLoginHeaderValue != "":
		v.addf(p+".required_login_header_value", "needs required_login_header (the header whose value is checked)")
	case a.RequiredLoginHeader == "" && a.RequiredLoginHeaderValueRegexp != "":
		v.addf(p+".required_login_header_value_regexp", "needs required_login_header (the header whose value is checked)")
	case a.RequiredLoginHeaderValueRegexp != "":
		v.regexp(p+".required_login_header_value_regexp", a.RequiredLoginHeaderValueRegexp)
	}
	v.replaceRegexp(p+".replace_regexp", a.ReplaceRegexp)
}

// oidcURL checks an issuer or redirect URL: absolute, https unless the host is loopback.
func (v *checker) oidcURL(path, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		v.addf(path, "want an absolute https:// URL, got %q", s)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		v.addf(path, "must be https:// (http:// only for a loopback host such as 127.0.0.1 or localhost), got %q", s)
	case u.User != nil:
		v.addf(path, "must not contain user info")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		v.addf(path, "must not contain a query or fragment")
	}
}

func checkAuthOIDC(v *checker, c *Config, p string, a *AuthModule) {
	if a.Name != "" && !oidcName.MatchString(a.Name) {
		v.addf(p+".name", "%q cannot be an oidc module name: it is a URL path segment (/.gatehouse/oidc/{name}/start), so lower-case letters, digits, _ and -, starting with a letter or digit", a.Name)
	}
	if a.Issuer == "" {
		v.addf(p+".issuer", "required: the OpenID Provider's issuer URL, e.g. https://login.example.com/realms/customers")
	} else {
		v.oidcURL(p+".issuer", a.Issuer)
	}
	if a.ClientID == "" {
		v.addf(p+".client_id", "required: the client id registered at the provider")
	}
	if !slices.Contains(a.Scopes, "openid") {
		v.addf(p+".scopes", "must contain openid (OpenID Connect needs it)")
	}
	for i, s := range a.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			v.addf(fmt.Sprintf("%s.scopes[%d]", p, i), "want one scope per list item, got %q", s)
		}
	}
	if a.RedirectURL == "" {
		v.addf(p+".redirect_url", "required: set it, or server.public_url to get <public_url>/.gatehouse/oidc/%s/callback", a.Name)
	} else {
		v.oidcURL(p+".redirect_url", a.RedirectURL)
	}
	v.oneOf(p+".login_claim", "login claim", a.LoginClaim, oidcLoginClaims)
	if a.Label == "" {
		v.addf(p+".label", "required: the login button's text")
	}
	if a.AutoCreate {
		if strings.TrimSpace(a.DefaultCustomerID) == "" {
			v.addf(p+".default_customer_id", "required with auto_create: the customer id of auto-created customer users")
		}
		checkAutoCreateSource(v, c, p+".auto_create_source", a.AutoCreateSource)
	} else {
		for _, k := range []struct{ key, val string }{{"default_customer_id", a.DefaultCustomerID}, {"auto_create_source", a.AutoCreateSource}} {
			if k.val != "" {
				v.addf(p+"."+k.key, "only with auto_create: true")
			}
		}
	}
	if a.AcceptBearer && len(a.BearerAudiences) == 0 {
		v.addf(p+".bearer_audiences", "required with accept_bearer: the aud values a bearer token may have (default: client_id)")
	}
	for i, aud := range a.BearerAudiences {
		if aud == "" {
			v.addf(fmt.Sprintf("%s.bearer_audiences[%d]", p, i), "audience is empty")
		}
	}
	if len(a.SigningAlgorithms) == 0 {
		v.addf(p+".signing_algorithms", "at least one algorithm is required (want %s)", strings.Join(oidcAlgorithms, ", "))
	}
	for i, alg := range a.SigningAlgorithms {
		ap := fmt.Sprintf("%s.signing_algorithms[%d]", p, i)
		switch {
		case slices.Contains(oidcAlgorithms, alg):
		case strings.HasPrefix(strings.ToUpper(alg), "HS"):
			v.addf(ap, "%s is symmetric (HMAC with the client secret), which is not allowed: want one of %s", alg, strings.Join(oidcAlgorithms, ", "))
		case strings.EqualFold(alg, "none"):
			v.addf(ap, "unsigned tokens (none) are not allowed: want one of %s", strings.Join(oidcAlgorithms, ", "))
		default:
			v.addf(ap, "unknown signing algorithm %q (want %s)", alg, strings.Join(oidcAlgorithms, ", "))
		}
	}
	v.replaceRegexp(p+".replace_regexp", a.ReplaceRegexp)
}

// checkAutoCreateSource checks that name is a writable db customer_user source.
func checkAutoCreateSource(v *checker, c *Config, path, name string) {
	if name == "" {
		v.addf(path, "required with auto_create: customer_user has no db data source to create customer users in")
		return
	}
	for _, s := range c.CustomerUser {
		if s.Name != name {
			continue
		}
		switch {
		case s.Module != "db":
			v.addf(path, "customer_user source %q is module %s; auto-created users need a db source", name, s.Module)
		case s.ReadOnly:
			v.addf(path, "customer_user source %q is read_only; auto-created users need a writable source", name)
		}
		return
	}
	v.addf(path, "no customer_user source is named %q", name)
}

func checkSourceLDAP(v *checker, c *Config, p string, s *CustomerUserSource) {
	sp := &s.Params
	v.ldapHosts(p+".params.host", sp.Host, sp.StartTLS)
	if sp.BaseDN == "" {
		v.addf(p+".params.base_dn", "required: where customer users are searched, e.g. ou=customers,dc=example,dc=com")
	} else {
		v.dn(p+".params.base_dn", sp.BaseDN)
	}
	v.oneOf(p+".params.sscope", "search scope", sp.SScope, ldapScopes)
	v.dn(p+".params.user_dn", sp.UserDN)
	v.bothOrNeither(p+".params.user_dn", sp.UserDN, p+".params.user_pw", sp.UserPw)
	v.ldapFilter(p+".params.always_filter", sp.AlwaysFilter)
	v.charset(p+".params.source_charset", sp.SourceCharset)
	v.ldapParams(p+".params.params", sp.Params)
	v.ldapFilter(p+".customer_user_valid_filter", s.CustomerUserValidFilter)

	v.attribute(p+".customer_key", s.CustomerKey)
	v.attribute(p+".customer_id", s.CustomerID)
	for _, f := range []struct {
		key  string
		vals []string
	}{
		{"customer_user_list_fields", s.CustomerUserListFields},
		{"customer_user_search_fields", s.CustomerUserSearchFields},
		{"customer_user_postmaster_search_fields", s.CustomerUserPostmasterSearchFields},
		{"customer_user_name_fields", s.CustomerUserNameFields},
	} {
		v.attributes(p+"."+f.key, f.vals)
	}
	if s.CustomerUserSearchListLimit <= 0 {
		v.addf(p+".customer_user_search_list_limit", "must be more than 0, got %d", s.CustomerUserSearchListLimit)
	}
	if !s.ReadOnly {
		v.addf(p+".read_only", "LDAP sources are always read-only (OTRS's LDAP back end refuses every write): leave read_only out or set it to true")
	}
	if s.CacheTTL != nil && *s.CacheTTL < 0 {
		v.addf(p+".cache_ttl", "must not be negative")
	}
	checkMap(v, p+".map", s.Map, v.attribute)
}
