// Package header is the trusted-header authentication module (Kernel::System::CustomerAuth::
// HTTPBasicAuth): a proxy in front of gatehouse (Apache or nginx with Basic auth, Kerberos,
// a corporate SSO agent) has authenticated the user and passes the login in a request header,
// Remote-User by default (OTRS reads it as HTTP_REMOTE_USER).
//
// The header is believed only from server.trusted_proxies. The gateway asks this module only
// for such requests, and strips the header from all others; the module checks the peer address
// once more itself, so a wiring mistake cannot turn the header into a login for anyone.
package header

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// DefaultHeader is the header read when none is configured: what OTRS reads as
// HTTP_REMOTE_USER, and what gatehouse itself sends upstream.
const DefaultHeader = "Remote-User"

// ErrConfig: the module's settings are inconsistent (a bad regular expression, a required
// value without a header to check).
var ErrConfig = errors.New("http_basic_auth: invalid configuration")

// Module is the trusted-header auth module. It implements authn.RequestModule.
type Module struct {
	name     string
	header   string
	replace  string
	re       *regexp.Regexp
	required string         // header that must be present too; "" for none
	reqValue string         // its exact value, or "" for any
	reqRe    *regexp.Regexp // or a pattern it must match
	session  bool
	trusted  []netip.Prefix
}

var _ authn.RequestModule = (*Module)(nil)

// New builds the module. trusted are the peer addresses whose header is believed
// (server.trusted_proxies); nil or empty trusts nobody, so the module then authenticates no
// request at all (it fails closed).
func New(cfg configs.AuthModule, trusted []netip.Prefix) (*Module, error) {
	m := &Module{
		name:     cfg.Name,
		header:   cfg.Header,
		replace:  cfg.Replace,
		required: cfg.RequiredLoginHeader,
		reqValue: cfg.RequiredLoginHeaderValue,
		session:  cfg.Session == nil || *cfg.Session,
	}
	if m.name == "" {
		m.name = "http_basic_auth"
	}
	if m.header == "" {
		m.header = DefaultHeader
	}
	var err error
	if cfg.ReplaceRegexp != "" {
		if m.re, err = regexp.Compile(cfg.ReplaceRegexp); err != nil {
			return nil, fmt.Errorf("%w: %s: replace_regexp: %w", ErrConfig, m.name, err)
		}
	}
	if cfg.RequiredLoginHeaderValueRegexp != "" {
		if m.reqRe, err = regexp.Compile(cfg.RequiredLoginHeaderValueRegexp); err != nil {
			return nil, fmt.Errorf("%w: %s: required_login_header_value_regexp: %w", ErrConfig, m.name, err)
		}
	}
	if m.required == "" && (m.reqValue != "" || m.reqRe != nil) {
		return nil, fmt.Errorf("%w: %s: required_login_header_value(_regexp) without required_login_header", ErrConfig, m.name)
	}
	if m.reqValue != "" && m.reqRe != nil {
		return nil, fmt.Errorf("%w: %s: required_login_header_value and required_login_header_value_regexp together", ErrConfig, m.name)
	}
	for _, p := range trusted {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: %s: invalid trusted prefix %v", ErrConfig, m.name, p)
		}
		// Masked and unmapped, so that ::ffff:10.0.0.1 peers and 10.0.0.1/8 style
		// prefixes compare as the IPv4 they are.
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		m.trusted = append(m.trusted, p)
	}
	return m, nil
}

// Name implements authn.Module.
func (m *Module) Name() string { return m.name }

// Header is the request header the login is read from (canonical spelling as configured);
// the gateway must not strip it before this module has read it.
func (m *Module) Header() string { return m.header }

// Session reports whether a header login creates a session (cookie); otherwise every request
// is authenticated by its header alone.
func (m *Module) Session() bool { return m.session }

// Authenticate implements authn.Module: this module never checks passwords.
func (m *Module) Authenticate(context.Context, authn.Credentials) (authn.Result, error) {
	return authn.Result{Outcome: authn.NotMine}, nil
}

// Trusted reports whether a peer address is inside the trusted prefixes.
func (m *Module) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() {
		return false
	}
	for _, p := range m.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AuthenticateRequest implements authn.RequestModule. NotMine: the peer is not trusted, the
// required login header is missing or has another value, or the login header is absent or
// empty. Rejected: the login is empty after rewriting. Otherwise the rewritten login is
// Authenticated; the gateway looks it up like any other module's login. It never faults.
func (m *Module) AuthenticateRequest(_ context.Context, r authn.RequestView) (authn.Result, error) {
	if r == nil || !m.Trusted(r.RemoteAddr()) {
		return authn.Result{Outcome: authn.NotMine}, nil
	}
	if !m.requiredHeaderOK(r) {
		return authn.Result{Outcome: authn.NotMine}, nil
	}
	raw := r.Header(m.header)
	if raw == "" {
		return authn.Result{Outcome: authn.NotMine}, nil
	}
	login := Rewrite(raw, m.replace, m.re)
	if login == "" {
		return authn.Result{Outcome: authn.Rejected}, nil
	}
	return authn.Result{Outcome: authn.Authenticated, Login: login}, nil
}

// requiredHeaderOK checks required_login_header: present (non-empty) and, when configured,
// equal to required_login_header_value or matching required_login_header_value_regexp
// (unanchored, like Perl's =~; anchor it with ^…$ for a whole-value match).
func (m *Module) requiredHeaderOK(r authn.RequestView) bool {
	if m.required == "" {
		return true
	}
	v := r.Header(m.required)
	switch {
	case v == "":
		return false
	case m.reqRe != nil:
		return m.reqRe.MatchString(v)
	case m.reqValue != "":
		return v == m.reqValue
	}
	return true
}

// Rewrite turns the header's login into the customer login exactly as HTTPBasicAuth.pm does:
// first replace is removed when it is a literal prefix (s/^\Q<replace>\E//), then the FIRST
// match of re, if any, is replaced by its first capture group (s/<re>/$1/, once; a missing or
// non-participating group counts as empty, as Perl's undefined $1). The rest of the string is
// kept. With replace "example_domain\" the login "example_domain\jdoe" becomes "jdoe"; with
// re `^(.+?)@.+?$` the login "jdoe@EXAMPLE.COM" becomes "jdoe". The result is never longer
// than login.
func Rewrite(login, replace string, re *regexp.Regexp) string {
	if replace != "" {
		login = strings.TrimPrefix(login, replace)
	}
	if re == nil {
		return login
	}
	loc := re.FindStringSubmatchIndex(login)
	if loc == nil {
		return login
	}
	group := ""
	if len(loc) >= 4 && loc[2] >= 0 {
		group = login[loc[2]:loc[3]]
	}
	return login[:loc[0]] + group + login[loc[1]:]
}
