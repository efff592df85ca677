package header

import (
	"context"
	"errors"
	"net/netip"
	"net/textproto"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// req is a RequestView with canonicalised header names (as the gateway's view does).
type req struct {
	addr netip.Addr
	h    map[string]string
}

func (r req) Header(name string) string { return r.h[textproto.CanonicalMIMEHeaderKey(name)] }
func (r req) RemoteAddr() netip.Addr    { return r.addr }
func (r req) TLS() bool                 { return false }

func newReq(addr string, kv ...string) req {
	r := req{h: map[string]string{}}
	if addr != "" {
		r.addr = netip.MustParseAddr(addr)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		r.h[textproto.CanonicalMIMEHeaderKey(kv[i])] = kv[i+1]
	}
	return r
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}

// The expectations were produced by Perl itself, running HTTPBasicAuth.pm's two lines
// ($l =~ s/^\Q$Replace\E//; $l =~ s/$ReplaceRegExp/$1/;) on each input.
var rewriteCases = []struct {
	login, replace, re, want string
}{
	// The OTRS documentation's two examples.
	{`example_domain\jdoe`, `example_domain\`, ``, `jdoe`},
	{`jdoe@example.com`, ``, `^(.+?)@.+?$`, `jdoe`},
	{`jdoe@EXAMPLE.COM`, ``, `^(.+?)@.+?$`, `jdoe`}, // Kerberos principal
	{`EXAMPLE\jdoe@example.com`, `EXAMPLE\`, `^(.+?)@.+?$`, `jdoe`},
	// The prefix is removed only at the start, only once, and literally.
	{`xexample_domain\jdoe`, `example_domain\`, ``, `xexample_domain\jdoe`},
	{`example_domain\example_domain\jdoe`, `example_domain\`, ``, `example_domain\jdoe`},
	{`jdoe`, `example_domain\`, ``, `jdoe`},
	{`a.b\c`, `a.b\`, ``, `c`},
	{`axb\c`, `a.b\`, ``, `axb\c`}, // "." is literal (\Q…\E)
	// The first match only, and only the matched part is replaced.
	{`a@b@c`, ``, `^(.+?)@.+?$`, `a`},
	{`a@b@c`, ``, `@`, `ab@c`},     // no group: $1 is empty
	{`a@b@c`, ``, `(\w)@`, `ab@c`}, // first match "a@" -> "a"
	{`a@b@c`, ``, `(x)?@`, `ab@c`}, // non-participating group: empty
	{`jdoe@example.com`, ``, `(@.*)`, `jdoe@example.com`},
	{`jdoe`, ``, `^(.+?)@.+?$`, `jdoe`}, // no match: unchanged
	{`@example.com`, ``, `^(.+?)@.+?$`, `@example.com`},
	{`jdoe@`, ``, `^(.+?)@.+?$`, `jdoe@`},
	{`DOMAIN\jdoe`, ``, `^[^\\]+\\(.+)$`, `jdoe`},
	// Rewriting to nothing.
	{`jdoe@example.com`, `jdoe@example.com`, ``, ``},
	{`josé@exämple.com`, ``, `^(.+?)@.+?$`, `josé`},
}

func TestRewrite(t *testing.T) {
	for _, c := range rewriteCases {
		t.Run(c.login+"|"+c.replace+"|"+c.re, func(t *testing.T) {
			var re *regexp.Regexp
			if c.re != "" {
				re = regexp.MustCompile(c.re)
			}
			if got := Rewrite(c.login, c.replace, re); got != c.want {
				t.Fatalf("Rewrite(%q, %q, %q) = %q, want %q", c.login, c.replace, c.re, got, c.want)
			}
		})
	}
}

func boolp(b bool) *bool { return &b }

func TestAuthenticateRequest(t *testing.T) {
	cases := []struct {
		name    string
		cfg     configs.AuthModule
		trusted []netip.Prefix
		r       authn.RequestView
		want    authn.Outcome
		login   string
	}{
		{"default header", configs.AuthModule{}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe"), authn.Authenticated, "jdoe"},
		{"header name case-insensitive", configs.AuthModule{Header: "x-remote-user"}, loopback, newReq("127.0.0.1", "X-Remote-User", "jdoe"), authn.Authenticated, "jdoe"},
		{"IPv6 loopback", configs.AuthModule{}, loopback, newReq("::1", "Remote-User", "jdoe"), authn.Authenticated, "jdoe"},
		{"IPv4-mapped peer", configs.AuthModule{}, loopback, newReq("::ffff:127.0.0.1", "Remote-User", "jdoe"), authn.Authenticated, "jdoe"},
		{"IPv4-mapped prefix", configs.AuthModule{}, []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}, newReq("10.1.2.3", "Remote-User", "jdoe"), authn.Authenticated, "jdoe"},
		{"prefix", configs.AuthModule{}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, newReq("10.9.8.7", "Remote-User", "jdoe"), authn.Authenticated, "jdoe"},
		{"untrusted peer", configs.AuthModule{}, loopback, newReq("192.0.2.1", "Remote-User", "jdoe"), authn.NotMine, ""},
		{"outside prefix", configs.AuthModule{}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, newReq("11.0.0.1", "Remote-User", "jdoe"), authn.NotMine, ""},
		{"no trusted prefixes: nobody", configs.AuthModule{}, nil, newReq("127.0.0.1", "Remote-User", "jdoe"), authn.NotMine, ""},
		{"invalid peer address", configs.AuthModule{}, loopback, newReq("", "Remote-User", "jdoe"), authn.NotMine, ""},
		{"nil request", configs.AuthModule{}, loopback, nil, authn.NotMine, ""},
		{"no header", configs.AuthModule{}, loopback, newReq("127.0.0.1"), authn.NotMine, ""},
		{"empty header", configs.AuthModule{}, loopback, newReq("127.0.0.1", "Remote-User", ""), authn.NotMine, ""},
		{"other header configured", configs.AuthModule{Header: "X-User"}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe"), authn.NotMine, ""},
		{"replace", configs.AuthModule{Replace: `example_domain\`}, loopback, newReq("127.0.0.1", "Remote-User", `example_domain\jdoe`), authn.Authenticated, "jdoe"},
		{"replace_regexp", configs.AuthModule{ReplaceRegexp: `^(.+?)@.+?$`}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe@EXAMPLE.COM"), authn.Authenticated, "jdoe"},
		{"rewritten to empty", configs.AuthModule{Replace: "jdoe"}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe"), authn.Rejected, ""},
		{"rewritten to empty by regexp", configs.AuthModule{ReplaceRegexp: `^.*$`}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe"), authn.Rejected, ""},
		{"required header present", configs.AuthModule{RequiredLoginHeader: "X-Auth-Method"}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe", "X-Auth-Method", "kerberos"), authn.Authenticated, "jdoe"},
		{"required header missing", configs.AuthModule{RequiredLoginHeader: "X-Auth-Method"}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe"), authn.NotMine, ""},
		{"required value equal", configs.AuthModule{RequiredLoginHeader: "X-Auth-Method", RequiredLoginHeaderValue: "kerberos"}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe", "X-Auth-Method", "kerberos"), authn.Authenticated, "jdoe"},
		{"required value differs", configs.AuthModule{RequiredLoginHeader: "X-Auth-Method", RequiredLoginHeaderValue: "kerberos"}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe", "X-Auth-Method", "Kerberos"), authn.NotMine, ""},
		{"required value is exact, not a prefix", configs.AuthModule{RequiredLoginHeader: "X-Auth-Method", RequiredLoginHeaderValue: "kerberos"}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe", "X-Auth-Method", "kerberos2"), authn.NotMine, ""},
		{"required regexp matches", configs.AuthModule{RequiredLoginHeader: "X-Auth-Method", RequiredLoginHeaderValueRegexp: `^(kerberos|basic)$`}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe", "X-Auth-Method", "basic"), authn.Authenticated, "jdoe"},
		{"required regexp fails", configs.AuthModule{RequiredLoginHeader: "X-Auth-Method", RequiredLoginHeaderValueRegexp: `^(kerberos|basic)$`}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe", "X-Auth-Method", "basic2"), authn.NotMine, ""},
		{"required regexp unanchored", configs.AuthModule{RequiredLoginHeader: "X-Auth-Method", RequiredLoginHeaderValueRegexp: `kerb`}, loopback, newReq("127.0.0.1", "Remote-User", "jdoe", "X-Auth-Method", "x-kerberos"), authn.Authenticated, "jdoe"},
		{"required header checked before trust? no: trust first", configs.AuthModule{RequiredLoginHeader: "X-Auth-Method"}, loopback, newReq("192.0.2.1", "Remote-User", "jdoe", "X-Auth-Method", "kerberos"), authn.NotMine, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(c.cfg, c.trusted)
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.AuthenticateRequest(context.Background(), c.r)
			if err != nil {
				t.Fatalf("error %v: the module never faults", err)
			}
			if res.Outcome != c.want || res.Login != c.login {
				t.Fatalf("got %v %q, want %v %q", res.Outcome, res.Login, c.want, c.login)
			}
		})
	}
}

func TestAuthenticateIsNeverMine(t *testing.T) {
	m, err := New(configs.AuthModule{}, loopback)
	if err != nil {
		t.Fatal(err)
	}
	// Even with a trusted request carrying the header: passwords are not this module's.
	res, err := m.Authenticate(context.Background(), authn.Credentials{
		Login: "jdoe", Password: "secret", Request: newReq("127.0.0.1", "Remote-User", "jdoe"),
	})
	if err != nil || res.Outcome != authn.NotMine {
		t.Fatalf("got %v, %v; want not_mine", res, err)
	}
}

func TestAccessors(t *testing.T) {
	cases := []struct {
		cfg     configs.AuthModule
		name    string
		header  string
		session bool
	}{
		{configs.AuthModule{}, "http_basic_auth", "Remote-User", true},
		{configs.AuthModule{Name: "kerberos", Header: "X-Remote-User", Session: boolp(false)}, "kerberos", "X-Remote-User", false},
		{configs.AuthModule{Session: boolp(true)}, "http_basic_auth", "Remote-User", true},
	}
	for _, c := range cases {
		m, err := New(c.cfg, loopback)
		if err != nil {
			t.Fatal(err)
		}
		if m.Name() != c.name || m.Header() != c.header || m.Session() != c.session {
			t.Errorf("%+v: got %q %q %v, want %q %q %v", c.cfg, m.Name(), m.Header(), m.Session(), c.name, c.header, c.session)
		}
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		name    string
		cfg     configs.AuthModule
		trusted []netip.Prefix
	}{
		{"bad replace_regexp", configs.AuthModule{ReplaceRegexp: "(("}, nil},
		{"perl-only syntax", configs.AuthModule{ReplaceRegexp: `^(?<u>.+)(?=@)`}, nil},
		{"bad required regexp", configs.AuthModule{RequiredLoginHeader: "X", RequiredLoginHeaderValueRegexp: "(("}, nil},
		{"value without header", configs.AuthModule{RequiredLoginHeaderValue: "x"}, nil},
		{"regexp without header", configs.AuthModule{RequiredLoginHeaderValueRegexp: "x"}, nil},
		{"value and regexp", configs.AuthModule{RequiredLoginHeader: "X", RequiredLoginHeaderValue: "x", RequiredLoginHeaderValueRegexp: "x"}, nil},
		{"invalid prefix", configs.AuthModule{}, []netip.Prefix{{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := New(c.cfg, c.trusted); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

// otrsEmailRe is the OTRS documentation's ReplaceRegExp.
var otrsEmailRe = regexp.MustCompile(`^(.+?)@.+?$`)

// FuzzRewrite: Rewrite never panics and never lengthens the login; without a regexp it is a
// literal prefix cut; with the OTRS e-mail regexp it is idempotent (its result holds no "@"
// after the first character, so it cannot match again) and keeps no domain part.
func FuzzRewrite(f *testing.F) {
	for _, c := range rewriteCases {
		f.Add(c.login, c.replace, c.re)
	}
	f.Add("", "", "")
	f.Add("\xff\xfe@x", "\xff", "(.)")
	f.Add("aaa", "a", "a*")
	f.Fuzz(func(t *testing.T, login, replace, pattern string) {
		// Any pattern RE2 accepts (bounded so the fuzzer spends its time on inputs).
		if len(pattern) > 64 {
			return
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			re = nil
		}
		got := Rewrite(login, replace, re)
		if len(got) > len(login) {
			t.Fatalf("Rewrite(%q, %q, %q) = %q is longer than the input", login, replace, pattern, got)
		}
		// Prefix only: exactly strings.TrimPrefix.
		if p := Rewrite(login, replace, nil); p != strings.TrimPrefix(login, replace) {
			t.Fatalf("prefix cut of %q by %q = %q", login, replace, p)
		}
		// The regexp step changes at most the first match's span: what precedes it survives.
		if re != nil {
			cut := strings.TrimPrefix(login, replace)
			if loc := re.FindStringIndex(cut); loc != nil {
				if !strings.HasPrefix(got, cut[:loc[0]]) || !strings.HasSuffix(got, cut[loc[1]:]) {
					t.Fatalf("Rewrite(%q, %q, %q) = %q touched text outside the first match", login, replace, pattern, got)
				}
			} else if got != cut {
				t.Fatalf("no match, yet %q became %q", cut, got)
			}
		}
		// The OTRS e-mail rewrite is idempotent and leaves no "@" after position 0.
		once := Rewrite(login, "", otrsEmailRe)
		if twice := Rewrite(once, "", otrsEmailRe); twice != once {
			t.Fatalf("not idempotent: %q -> %q -> %q", login, once, twice)
		}
		if otrsEmailRe.MatchString(login) && strings.Contains(once[1:], "@") {
			t.Fatalf("%q -> %q still has a domain", login, once)
		}
	})
}

// FuzzRequiredHeader: the required-header check never panics and agrees with its definition:
// present, and equal to the value or matching the regexp; the login header alone decides
// nothing when the required header fails.
func FuzzRequiredHeader(f *testing.F) {
	f.Add("kerberos", "kerberos", "", "jdoe")
	f.Add("Kerberos", "kerberos", "", "jdoe")
	f.Add("basic", "", "^(kerberos|basic)$", "jdoe")
	f.Add("", "", "", "jdoe")
	f.Add("x", "", "", "")
	f.Add("\x00", "\x00", "", "\xff")
	f.Fuzz(func(t *testing.T, got, value, pattern, login string) {
		if len(pattern) > 64 {
			return
		}
		if _, err := regexp.Compile(pattern); err != nil {
			return
		}
		if value != "" && pattern != "" {
			return // refused by New, covered by TestNewErrors
		}
		cfg := configs.AuthModule{
			RequiredLoginHeader:            "X-Auth-Method",
			RequiredLoginHeaderValue:       value,
			RequiredLoginHeaderValueRegexp: pattern,
		}
		m, err := New(cfg, loopback)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		res, err := m.AuthenticateRequest(context.Background(), newReq("127.0.0.1", "Remote-User", login, "X-Auth-Method", got))
		if err != nil {
			t.Fatal(err)
		}
		ok := got != ""
		switch {
		case pattern != "":
			ok = ok && regexp.MustCompile(pattern).MatchString(got)
		case value != "":
			ok = ok && got == value
		}
		want := authn.NotMine
		if ok && login != "" {
			want = authn.Authenticated
		}
		if res.Outcome != want {
			t.Fatalf("header %q, value %q, regexp %q, login %q: got %v, want %v", got, value, pattern, login, res.Outcome, want)
		}
		if want == authn.Authenticated && res.Login != login {
			t.Fatalf("login %q became %q", login, res.Login)
		}
		// An untrusted peer never gets past, whatever the headers say.
		res, _ = m.AuthenticateRequest(context.Background(), newReq("192.0.2.7", "Remote-User", login, "X-Auth-Method", got))
		if res.Outcome != authn.NotMine {
			t.Fatalf("untrusted peer: %v", res.Outcome)
		}
	})
}
