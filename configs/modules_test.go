package configs

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// modBase is a valid file without auth modules; tests append modules after its line 5.
const modBase = `routes: [{upstream: echo}]
customer_user:
  - module: db
    params: {dsn: "sqlite://test.db"}
customer_auth:
`

// gotErrors formats errs as "LINE PATH: MESSAGE" lines.
func gotErrors(errs Errors) string {
	var got []string
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%d %s: %s", e.Line, e.Path, e.Msg))
	}
	return strings.Join(got, "\n")
}

// TestModuleErrors checks the errors of each auth module and the ldap data source: line, key path
// and message; every error must be listed.
func TestModuleErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// ldap
		{"ldap: host and uid required", modBase + "  - module: ldap\n",
			[]string{
				`6 customer_auth[0].host: required: one or more ldap:// or ldaps:// URLs, e.g. ldaps://ldap.example.com`,
				`6 customer_auth[0].uid: required: an LDAP attribute name`,
			}},
		{"ldap: hosts", modBase + "  - module: ldap\n    uid: uid\n    start_tls: true\n    host:\n      - ldap.example.com\n      - http://ldap.example.com\n      - ldap://u:p@ldap.example.com\n      - ldap://ldap.example.com/dc=example\n      - ldap://ldap.example.com:99999\n      - ldaps://ldap.example.com\n      - ldap://[::1]:389\n",
			[]string{
				`10 customer_auth[0].host[0]: want an ldap:// or ldaps:// URL such as ldap://ldap.example.com, got "ldap.example.com"`,
				`11 customer_auth[0].host[1]: want an ldap:// or ldaps:// URL such as ldaps://ldap.example.com, got "http://ldap.example.com"`,
				`12 customer_auth[0].host[2]: must not contain user info (the bind DN and password have their own keys)`,
				`13 customer_auth[0].host[3]: must not have a path, query or fragment (the base DN has its own key), got "ldap://ldap.example.com/dc=example"`,
				`14 customer_auth[0].host[4]: port "99999" is not a number from 1 to 65535`,
				`15 customer_auth[0].host[5]: start_tls is for ldap:// URLs; ldaps:// is TLS from the start`,
			}},
		{"ldap: group check needs both keys", modBase + "  - {module: ldap, host: ldap://l, uid: uid, group_dn: \"cn=otrs,ou=groups,dc=example,dc=com\"}\n  - {module: ldap, host: ldap://l, uid: uid, access_attr: memberUid}\n",
			[]string{
				`6 customer_auth[0].group_dn: group_dn and access_attr work only together (OTRS checks the group only when both are set): set access_attr too, e.g. memberUid`,
				`7 customer_auth[1].access_attr: group_dn and access_attr work only together (OTRS checks the group only when both are set): set group_dn too`,
			}},
		{"ldap: values", modBase + `  - module: ldap
    host: ldap://ldap.example.com
    uid: "uid)(x"
    base_dn: "dc=example,,=x"
    search_user_dn: cn=search,dc=example,dc=com
    always_filter: objectclass=person
    group_dn: "cn=otrs,dc=example,dc=com"
    access_attr: member of
    user_attr: dn
    charset: klingon
    timeout: 0s
    params: {port: 70000, timeout: -1s, version: 2}
`,
			[]string{
				`8 customer_auth[0].uid: "uid)(x" is not an LDAP attribute name (a letter, then letters, digits and -)`,
				`9 customer_auth[0].base_dn: not an LDAP DN such as ou=people,dc=example,dc=com: ` + dnErr("dc=example,,=x"),
				`10 customer_auth[0].search_user_dn: needs search_user_pw (or search_user_pw_file) too; leave both out to bind anonymously`,
				`11 customer_auth[0].always_filter: not an LDAP filter such as (objectclass=inetOrgPerson) (RFC 4515, in parentheses): filter does not start with an '('`,
				`13 customer_auth[0].access_attr: "member of" is not an LDAP attribute name (a letter, then letters, digits and -)`,
				`14 customer_auth[0].user_attr: unknown user_attr "dn" (want DN, UID)`,
				`15 customer_auth[0].charset: unknown or unsupported character set "klingon" (want an IANA name such as utf-8, iso-8859-1 or windows-1252)`,
				`16 customer_auth[0].timeout: must be more than 0, got 0s`,
				`17 customer_auth[0].params.port: must be from 1 to 65535 (0 or left out: 389 for ldap://, 636 for ldaps://), got 70000`,
				`17 customer_auth[0].params.timeout: must not be negative`,
				`17 customer_auth[0].params.version: only LDAP version 3 is supported, got 2`,
			}},
		{"ldap: empty password file", modBase + "  - {module: ldap, host: ldap://l, uid: uid, search_user_dn: cn=s, search_user_pw_file: /secrets/empty}\n",
			[]string{`6 customer_auth[0].search_user_pw_file: the file is empty; search_user_dn needs a password`}},
		{"ldap: password without dn", modBase + "  - {module: ldap, host: ldap://l, uid: uid, search_user_pw: x}\n",
			[]string{`6 customer_auth[0].search_user_pw: needs search_user_dn too; leave both out to bind anonymously`}},

		// radius
		{"radius: host and secret required", modBase + "  - module: radius\n",
			[]string{
				`6 customer_auth[0].host: required: one or more RADIUS servers, host or host:port (default port 1812), tried in this order`,
				`6 customer_auth[0].password: required: the RADIUS shared secret (Customer::AuthModule::Radius::Password), or password_file`,
			}},
		{"radius: values", modBase + "  - module: radius\n    password: s\n    host: [\"radius://r\", \"r:0\", \"a b\", \"r:1:2\"]\n    retries: 6\n    timeout: -1s\n    nas_identifier: " + strings.Repeat("n", 254) + "\n",
			[]string{
				`8 customer_auth[0].host[0]: want host or host:port without a scheme, got "radius://r"`,
				`8 customer_auth[0].host[1]: port "0" is not a number from 1 to 65535`,
				`8 customer_auth[0].host[2]: want host or host:port (IPv6 in brackets: [2001:db8::1]:1812), got "a b"`,
				`8 customer_auth[0].host[3]: want host or host:port (IPv6 in brackets: [2001:db8::1]:1812), got "r:1:2"`,
				`9 customer_auth[0].retries: must be from 0 to 5, got 6`,
				`10 customer_auth[0].timeout: must be more than 0, got -1s`,
				`11 customer_auth[0].nas_identifier: at most 253 bytes (a RADIUS attribute's limit), got 254`,
			}},
		{"radius: secret file missing", modBase + "  - {module: radius, host: r, password_file: /secrets/none}\n",
			[]string{`6 customer_auth[0].password_file: cannot read the file: open /secrets/none: file does not exist`}},

		// http_basic_auth
		{"http_basic_auth: values", modBase + `  - module: http_basic_auth
    header: "Remote User"
    required_login_header: X-Auth(1)
    required_login_header_value: x
    required_login_header_value_regexp: y
    replace_regexp: "^.+@example\\.com$"
  - module: http_basic_auth
    required_login_header_value_regexp: "(?=x)"
    replace_regexp: "(?<=x)(y)"
  - {module: http_basic_auth, required_login_header: X-A, required_login_header_value_regexp: "(a"}
`,
			[]string{
				`7 customer_auth[0].header: "Remote User" is not a valid header name (letters, digits and !#$%&'*+-.^_` + "`" + `|~)`,
				`8 customer_auth[0].required_login_header: "X-Auth(1)" is not a valid header name (letters, digits and !#$%&'*+-.^_` + "`" + `|~)`,
				`10 customer_auth[0].required_login_header_value_regexp: set required_login_header_value or required_login_header_value_regexp, not both`,
				`11 customer_auth[0].replace_regexp: needs a capture group: the match is replaced by $1, as OTRS does (s/<re>/$1/), e.g. ^(.+)@example\.com$`,
				`13 customer_auth[1].required_login_header_value_regexp: needs required_login_header (the header whose value is checked)`,
				"14 customer_auth[1].replace_regexp: not a Go (RE2) regular expression: invalid named capture: `(?<=x)(y)`; unlike Perl (OTRS), RE2 has no lookahead, lookbehind, backreferences, atomic groups or possessive quantifiers",
				"15 customer_auth[2].required_login_header_value_regexp: not a Go (RE2) regular expression: missing closing ): `(a`",
			}},
		{"http_basic_auth: no trusted proxies", modBase + "  - module: http_basic_auth\nserver: {trusted_proxies: []}\n",
			[]string{`6 customer_auth[0].header: the header is believed only from server.trusted_proxies, which is empty: list the proxy that sets it`}},
		{"http_basic_auth: backreference", modBase + "  - {module: http_basic_auth, replace_regexp: '(a)\\1'}\n",
			[]string{"6 customer_auth[0].replace_regexp: not a Go (RE2) regular expression: invalid escape sequence: `\\1`; unlike Perl (OTRS), RE2 has no lookahead, lookbehind, backreferences, atomic groups or possessive quantifiers"}},

		// oidc
		{"oidc: issuer and client_id required", modBase + "  - module: oidc\n",
			[]string{
				`6 customer_auth[0].issuer: required: the OpenID Provider's issuer URL, e.g. https://login.example.com/realms/customers`,
				`6 customer_auth[0].client_id: required: the client id registered at the provider`,
			}},
		{"oidc: values", modBase + `  - module: oidc
    name: Keycloak
    issuer: http://login.example.com
    client_id: gatehouse
    scopes: openid profile
    redirect_url: https://portal.example.com/cb?x=1
    login_claim: upn
    label: ""
    auto_create: true
    auto_create_source: LDAP
    bearer_audiences: [""]
    signing_algorithms: [HS256, none, RS1, EdDSA]
`,
			[]string{
				`6 customer_auth[0].default_customer_id: required with auto_create: the customer id of auto-created customer users`,
				`7 customer_auth[0].name: "Keycloak" cannot be an oidc module name: it is a URL path segment (/.gatehouse/oidc/{name}/start), so lower-case letters, digits, _ and -, starting with a letter or digit`,
				`8 customer_auth[0].issuer: must be https:// (http:// only for a loopback host such as 127.0.0.1 or localhost), got "http://login.example.com"`,
				`10 customer_auth[0].scopes: must contain openid (OpenID Connect needs it)`,
				`10 customer_auth[0].scopes[0]: want one scope per list item, got "openid profile"`,
				`11 customer_auth[0].redirect_url: must not contain a query or fragment`,
				`12 customer_auth[0].login_claim: unknown login claim "upn" (want preferred_username, email, sub)`,
				`13 customer_auth[0].label: required: the login button's text`,
				`15 customer_auth[0].auto_create_source: no customer_user source is named "LDAP"`,
				`16 customer_auth[0].bearer_audiences[0]: audience is empty`,
				`17 customer_auth[0].signing_algorithms[0]: HS256 is symmetric (HMAC with the client secret), which is not allowed: want one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA`,
				`17 customer_auth[0].signing_algorithms[1]: unsigned tokens (none) are not allowed: want one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA`,
				`17 customer_auth[0].signing_algorithms[2]: unknown signing algorithm "RS1" (want RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)`,
			}},
		{"oidc: auto_create into a read-only source", strings.Replace(modBase, "module: db\n", "module: db\n    read_only: true\n", 1) + "  - {module: oidc, issuer: https://i, client_id: c, auto_create: true, default_customer_id: X}\n" +
			"  - {module: oidc, issuer: https://i, client_id: c, default_customer_id: X, auto_create_source: Database Backend}\n",
			[]string{
				`7 customer_auth[0].auto_create_source: customer_user source "Database Backend" is read_only; auto-created users need a writable source`,
				`8 customer_auth[1].default_customer_id: only with auto_create: true`,
				`8 customer_auth[1].auto_create_source: only with auto_create: true`,
			}},
		{"oidc: no redirect_url without public_url", modBase + "  - {module: oidc, issuer: https://i, client_id: c}\nserver: {listen: 0.0.0.0:8080}\n",
			[]string{
				`6 customer_auth[0].redirect_url: required: set it, or server.public_url to get <public_url>/.gatehouse/oidc/oidc/callback`,
				`7 server.public_url: required when server.listen (0.0.0.0:8080) listens on every interface: the URL customers use, e.g. https://portal.example.com`,
			}},

		// key owners
		{"keys of other modules", modBase + "  - {module: db, replace: x, host: h, password: p}\n  - {module: http_basic_auth, password: p, issuer: https://i}\n  - {module: radius, host: r, password: p, uid: uid}\n",
			[]string{
				`6 customer_auth[0].host: only for modules ldap, radius (this is module "db")`,
				`6 customer_auth[0].password: only for module radius (this is module "db")`,
				`6 customer_auth[0].replace: only for modules http_basic_auth, oidc (this is module "db")`,
				`7 customer_auth[1].issuer: only for module oidc (this is module "http_basic_auth")`,
				`7 customer_auth[1].password: only for module radius (this is module "http_basic_auth")`,
				`8 customer_auth[2].uid: only for module ldap (this is module "radius")`,
			}},

		// ldap data source
		{"ldap source: required", "routes: [{upstream: echo}]\ncustomer_auth: [{module: http_basic_auth}]\ncustomer_user:\n  - module: ldap\n",
			[]string{
				`4 customer_user[0].params.host: required: one or more ldap:// or ldaps:// URLs, e.g. ldaps://ldap.example.com`,
				`4 customer_user[0].params.base_dn: required: where customer users are searched, e.g. ou=customers,dc=example,dc=com`,
			}},
		{"ldap source: values", `routes: [{upstream: echo}]
customer_auth: [{module: http_basic_auth}]
customer_user:
  - module: ldap
    params:
      host: ldaps://ldap.example.com
      base_dn: ou=customers,dc=example,dc=com
      sscope: subtree
      user_pw: x
      always_filter: "(objectclass=person"
      source_charset: ""
      table: customer_user
      params: {version: 2}
    customer_key: "login;x"
    customer_id: ""
    customer_valid: valid_id
    customer_user_valid_filter: "(!(description=locked)"
    customer_user_list_fields: [cn, first_name]
    read_only: false
    map:
      - [UserLogin, Login, uid, 1, 1, var, "", 0]
      - [UserEmail, Email, "mail address", 1, 1, var, "", 0]
`,
			[]string{
				`8 customer_user[0].params.sscope: unknown search scope "subtree" (want sub, one, base)`,
				`9 customer_user[0].params.user_pw: needs user_dn too; leave both out to bind anonymously`,
				`10 customer_user[0].params.always_filter: not an LDAP filter such as (objectclass=inetOrgPerson) (RFC 4515, in parentheses): ` + filterErr("(objectclass=person"),
				`11 customer_user[0].params.source_charset: required: a character set such as utf-8 or iso-8859-1`,
				`12 customer_user[0].params.table: only for module db (this is module "ldap")`,
				`13 customer_user[0].params.params.version: only LDAP version 3 is supported, got 2`,
				`14 customer_user[0].customer_key: "login;x" is not an LDAP attribute name (a letter, then letters, digits and -)`,
				`15 customer_user[0].customer_id: required: an LDAP attribute name`,
				`16 customer_user[0].customer_valid: only for module db (this is module "ldap")`,
				`17 customer_user[0].customer_user_valid_filter: not an LDAP filter such as (objectclass=inetOrgPerson) (RFC 4515, in parentheses): ` + filterErr("(!(description=locked)"),
				`18 customer_user[0].customer_user_list_fields[1]: "first_name" is not an LDAP attribute name (a letter, then letters, digits and -)`,
				`19 customer_user[0].read_only: LDAP sources are always read-only (OTRS's LDAP back end refuses every write): leave read_only out or set it to true`,
				`22 customer_user[0].map[1].storage: "mail address" is not an LDAP attribute name (a letter, then letters, digits and -)`,
			}},
		{"ldap keys on a db source", strings.Replace(base, `params: {dsn: "sqlite://test.db"}`, `params: {dsn: "sqlite://test.db", base_dn: "dc=x", params: {port: 1}}`, 1) + "    customer_user_valid_filter: (x=y)\n",
			[]string{
				`7 customer_user[0].params.base_dn: only for module ldap (this is module "db")`,
				`7 customer_user[0].params.params: only for module ldap (this is module "db")`,
				`8 customer_user[0].customer_user_valid_filter: only for module ldap (this is module "db")`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parseTest(t, tt.src)
			if got, want := gotErrors(errs), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("got errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func dnErr(dn string) string {
	var v checker
	v.errorList = &errorList{}
	v.dn("x", dn)
	if len(v.errs) != 1 {
		return "(no error)"
	}
	return strings.TrimPrefix(v.errs[0].Msg, "not an LDAP DN such as ou=people,dc=example,dc=com: ")
}

func filterErr(f string) string {
	if err := compileFilter(f); err != nil {
		return ldapErr(err)
	}
	return "(no error)"
}

// TestModuleKeyOwners: a key several modules own is accepted on each of them and refused elsewhere.
func TestModuleKeyOwners(t *testing.T) {
	c := mustParse(t, modBase+"  - {module: oidc, issuer: https://i, client_id: c, replace: 'EXAMPLE\\'}\n  - {module: http_basic_auth, replace: 'EXAMPLE\\'}\n")
	eq(t, "replace", []string{c.CustomerAuth[0].Replace, c.CustomerAuth[1].Replace}, []string{`EXAMPLE\`, `EXAMPLE\`})
	_, errs := parseTest(t, modBase+"  - {module: db, replace: x}\n")
	eq(t, "db replace", gotErrors(errs), `6 customer_auth[0].replace: only for modules http_basic_auth, oidc (this is module "db")`)

	// A Go-built config: set fields count, whatever module they belong to.
	cfg := &Config{Routes: []Route{{Upstream: "echo"}},
		CustomerUser: []CustomerUserSource{{Module: "db", Params: SourceParams{DSN: "sqlite://x"}}},
		CustomerAuth: []AuthModule{{Module: "db", Timeout: time.Second, Session: ptr(false)}}}
	cfg.ApplyDefaults()
	err := cfg.Validate()
	eq(t, "Go config", fmt.Sprint(err), `customer_auth[0].session: only for module http_basic_auth (this is module "db")
customer_auth[0].timeout: only for modules ldap, radius (this is module "db")`)
}

// TestModuleRegistries: every key in the registries is a field, and every module-specific field
// of AuthModule and SourceParams belongs to a module.
func TestModuleRegistries(t *testing.T) {
	for k := range authKeyOwners {
		fieldByPath(reflect.ValueOf(AuthModule{}), k)
	}
	for k := range sourceKeyOwners {
		fieldByPath(reflect.ValueOf(CustomerUserSource{}), k)
	}
	for _, k := range fieldsOf(reflect.TypeFor[AuthModule]()).names {
		if _, ok := authKeyOwners[k]; !ok && !slices.Contains([]string{"module", "name", "die"}, k) {
			t.Errorf("customer_auth key %s belongs to no module", k)
		}
	}
	for _, k := range fieldsOf(reflect.TypeFor[SourceParams]()).names {
		if _, ok := sourceKeyOwners["params."+k]; !ok {
			t.Errorf("customer_user key params.%s belongs to no module", k)
		}
	}
}

// TestScalarAsList: a single value where a list of strings is wanted is a one-element list; ""
// is an empty list; other lists still want a list.
func TestScalarAsList(t *testing.T) {
	c := mustParse(t, modBase+"  - {module: ldap, host: ldap://ldap.example.com, uid: uid}\n  - {module: radius, host: \"${RADIUS:-r.example.com}\", password: s}\n"+
		"server: {trusted_proxies: 10.0.0.0/8}\ncustomer_group: {always_groups: \"\"}\n")
	eq(t, "ldap host", c.CustomerAuth[0].Host, []string{"ldap://ldap.example.com"})
	eq(t, "radius host", c.CustomerAuth[1].Host, []string{"r.example.com:1812"})
	eq(t, "trusted proxies", c.Server.TrustedProxies, []string{"10.0.0.0/8"})
	eq(t, "always groups", c.CustomerGroup.AlwaysGroups, []string{})

	_, errs := parseTest(t, modBase+"  - {module: ldap, host: ldap.example.com, uid: uid}\n")
	eq(t, "error on [0]", gotErrors(errs), `6 customer_auth[0].host[0]: want an ldap:// or ldaps:// URL such as ldap://ldap.example.com, got "ldap.example.com"`)
	_, errs = parseTest(t, modBase+"  - module: db\nadmin:\n  users: {login: x}\n")
	eq(t, "struct list", gotErrors(errs), `8 admin.users: want a list, got a mapping`)
}

// TestModuleDefaults checks the defaults of each module and of the ldap data source.
func TestModuleDefaults(t *testing.T) {
	c := mustParse(t, `routes: [{upstream: echo}]
customer_user:
  - module: ldap
    params: {host: ldap://ldap.example.com, base_dn: "ou=customers,dc=example,dc=com"}
  - module: db
    params: {dsn: "sqlite://test.db"}
customer_auth:
  - {module: ldap, host: [ldap://a, ldaps://b], uid: uid}
  - {module: radius, host: [r1, "r2:1645", "::1", "10.0.0.1"], password: s}
  - {module: http_basic_auth}
  - {module: oidc, issuer: https://login.example.com, client_id: gatehouse, auto_create: true, default_customer_id: ACME}
  - module: db
`)
	ldapA, rad, hba, oidc := c.CustomerAuth[0], c.CustomerAuth[1], c.CustomerAuth[2], c.CustomerAuth[3]
	eq(t, "names", []string{ldapA.Name, rad.Name, hba.Name, oidc.Name, c.CustomerAuth[4].Name}, []string{"ldap", "radius1", "http_basic_auth2", "oidc3", "db4"})

	eq(t, "ldap timeout", ldapA.Timeout, 5*time.Second)
	eq(t, "ldap user_attr", ldapA.UserAttr, "DN")
	eq(t, "ldap charset", ldapA.Charset, "utf-8")
	eq(t, "ldap params", ldapA.Params, LDAPParams{})

	eq(t, "radius hosts", rad.Host, []string{"r1:1812", "r2:1645", "[::1]:1812", "10.0.0.1:1812"})
	eq(t, "radius timeout", rad.Timeout, 5*time.Second)
	eq(t, "radius retries", rad.Retries, 0)
	eq(t, "radius message authenticator", *rad.RequireMessageAuthenticator, true)
	eq(t, "radius session", rad.Session, (*bool)(nil))

	eq(t, "header", hba.Header, "Remote-User")
	eq(t, "session", *hba.Session, true)
	eq(t, "hba timeout", hba.Timeout, time.Duration(0))

	eq(t, "scopes", oidc.Scopes, []string{"openid", "profile", "email"})
	eq(t, "redirect", oidc.RedirectURL, "http://127.0.0.1:8080/.gatehouse/oidc/oidc3/callback")
	eq(t, "login claim", oidc.LoginClaim, "preferred_username")
	eq(t, "label", oidc.Label, "Sign in with oidc3")
	eq(t, "auto create source", oidc.AutoCreateSource, "Database Backend 1")
	eq(t, "audiences", oidc.BearerAudiences, []string{"gatehouse"})
	eq(t, "algorithms", oidc.SigningAlgorithms, []string{"RS256", "ES256", "PS256", "EdDSA"})
	eq(t, "db dsn", c.CustomerAuth[4].DSN, "sqlite://test.db")

	s := c.CustomerUser[0]
	eq(t, "source name", s.Name, "LDAP Backend")
	eq(t, "sscope", s.Params.SScope, "sub")
	eq(t, "source charset", s.Params.SourceCharset, "utf-8")
	eq(t, "keys", []string{s.CustomerKey, s.CustomerID, s.CustomerValid}, []string{"uid", "mail", ""})
	eq(t, "limit", s.CustomerUserSearchListLimit, 200)
	eq(t, "read only", s.ReadOnly, true)
	eq(t, "list fields", s.CustomerUserListFields, []string{"cn", "mail"})
	eq(t, "search fields", s.CustomerUserSearchFields, []string{"uid", "cn", "mail"})
	eq(t, "postmaster fields", s.CustomerUserPostmasterSearchFields, []string{"mail"})
	eq(t, "name fields", []any{s.CustomerUserNameFields, *s.CustomerUserNameFieldsJoin}, []any{[]string{"givenname", "sn"}, " "})
	eq(t, "prefix suffix", []string{s.CustomerUserSearchPrefix, s.CustomerUserSearchSuffix}, []string{"", "*"})
	eq(t, "map", s.Map, DefaultLDAPMap())
	eq(t, "cache", *s.CacheTTL, time.Duration(0))
	eq(t, "db params untouched", []string{s.Params.Table, s.Params.GroupsTable}, []string{"", ""})
	eq(t, "second source", []string{c.CustomerUser[1].Name, c.CustomerUser[1].Params.GroupsTable}, []string{"Database Backend 1", "permission_groups"})

	// Defaults never alias the package's default lists.
	oidc.Scopes[0] = "changed"
	eq(t, "default scopes", DefaultOIDCScopes[0], "openid")

	// The same defaults for a Config built in Go.
	g := &Config{Routes: []Route{{Upstream: "echo"}},
		CustomerUser: []CustomerUserSource{{Module: "ldap", Params: SourceParams{Host: []string{"ldap://l"}, BaseDN: "dc=x"}}},
		CustomerAuth: []AuthModule{{Module: "http_basic_auth"}}}
	g.ApplyDefaults()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	eq(t, "Go ldap source", []any{g.CustomerUser[0].Name, g.CustomerUser[0].ReadOnly, g.CustomerUser[0].CustomerKey}, []any{"LDAP Backend", true, "uid"})
}

// TestModuleSecrets: the new *_file keys fill their values; both set is an error.
func TestModuleSecrets(t *testing.T) {
	c := mustParse(t, modBase+`  - {module: ldap, host: ldap://l, uid: uid, search_user_dn: "cn=s,dc=x", search_user_pw_file: /secrets/pw}
  - {module: radius, host: r, password_file: /secrets/pw}
  - {module: oidc, issuer: https://i, client_id: c, client_secret_file: /secrets/pw}
`)
	eq(t, "secrets", []string{c.CustomerAuth[0].SearchUserPw, c.CustomerAuth[1].Password, c.CustomerAuth[2].ClientSecret}, []string{"redispw", "redispw", "redispw"})

	c = mustParse(t, "routes: [{upstream: echo}]\ncustomer_auth: [{module: http_basic_auth}]\ncustomer_user:\n  - {module: ldap, params: {host: ldap://l, base_dn: dc=x, user_dn: cn=r, user_pw_file: /secrets/pw}}\n")
	eq(t, "user_pw", c.CustomerUser[0].Params.UserPw, "redispw")

	_, errs := parseTest(t, modBase+"  - {module: oidc, issuer: https://i, client_id: c, client_secret: x, client_secret_file: /secrets/pw}\n")
	eq(t, "both", gotErrors(errs), `6 customer_auth[0].client_secret_file: client_secret and client_secret_file are both set; use one`)
}

// TestCharsets: charset names are IANA names (aliases and any case).
func TestCharsets(t *testing.T) {
	for _, name := range []string{"utf-8", "UTF-8", "iso-8859-1", "latin1", "ISO-8859-15", "windows-1252"} {
		l := &errorList{}
		(&checker{errorList: l}).charset("x", name)
		if len(l.errs) > 0 {
			t.Errorf("%s: %v", name, l.errs)
		}
	}
	l := &errorList{}
	(&checker{errorList: l}).charset("x", "ebcdic-klingon")
	if len(l.errs) != 1 {
		t.Error("unknown charset accepted")
	}
}
