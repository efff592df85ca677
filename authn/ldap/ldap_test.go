package ldap_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/authn"
	authldap "github.com/gatehouse-sso/gatehouse/authn/ldap"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	ldapdir "github.com/gatehouse-sso/gatehouse/directory/ldap"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

var quiet = slog.New(slog.DiscardHandler)

// baseCfg is a module searching the whole test directory as the read-only account.
func baseCfg(e testenv.LDAPEnv) configs.AuthModule {
	return configs.AuthModule{
		Module:       "ldap",
		Name:         "ldap-test",
		Host:         []string{e.URL},
		BaseDN:       e.BaseDN,
		UID:          "uid",
		SearchUserDN: e.ReadOnlyDN,
		SearchUserPw: e.ReadOnlyPassword,
		UserAttr:     "DN",
		Charset:      "utf-8",
		Timeout:      3 * time.Second,
	}
}

// counter counts the TCP connections a module opens and the LDAP BindRequests sent on them.
type counter struct {
	dials, binds atomic.Int64
}

func (c *counter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.dials.Add(1)
	return &countingConn{Conn: nc, c: c}, nil
}

type countingConn struct {
	net.Conn
	c *counter
}

// Write spots BindRequests: go-ldap writes each LDAPMessage with one Write. An LDAPMessage is
// SEQUENCE { messageID INTEGER, protocolOp }, and a BindRequest's tag is [APPLICATION 0]
// constructed, 0x60 (RFC 4511 §4.2). Only for plain ldap:// (TLS hides the bytes).
func (cc *countingConn) Write(b []byte) (int, error) {
	if isBindRequest(b) {
		cc.c.binds.Add(1)
	}
	return cc.Conn.Write(b)
}

func isBindRequest(b []byte) bool {
	afterLen := func(i int) int { // i at a BER length octet: the index after the length
		if i >= len(b) {
			return len(b)
		}
		if b[i]&0x80 == 0 {
			return i + 1
		}
		return i + 1 + int(b[i]&0x7f)
	}
	if len(b) < 2 || b[0] != 0x30 { // LDAPMessage SEQUENCE
		return false
	}
	i := afterLen(1)
	if i+1 >= len(b) || b[i] != 0x02 { // messageID INTEGER, short length
		return false
	}
	i += 2 + int(b[i+1])
	return i < len(b) && b[i] == 0x60
}

func newModule(t testing.TB, cfg configs.AuthModule, opts ...ldapdir.Option) *authldap.Module {
	t.Helper()
	m, err := authldap.New(cfg, quiet, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func auth(m *authldap.Module, login, pw string) (authn.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.Authenticate(ctx, authn.Credentials{Login: login, Password: pw})
}

func TestAuthenticate(t *testing.T) {
	e := testenv.LDAP(t)
	withFilter := func(c *configs.AuthModule) { c.AlwaysFilter = "(objectClass=inetOrgPerson)" }
	groupUID := func(c *configs.AuthModule) {
		c.GroupDN, c.AccessAttr, c.UserAttr = e.DevelopersDN, "memberUid", "UID"
	}
	groupDN := func(c *configs.AuthModule) {
		c.GroupDN, c.AccessAttr, c.UserAttr = e.AdminsDN, "member", "DN"
	}
	byCN := func(c *configs.AuthModule) { c.UID = "cn" }
	byMail := func(c *configs.AuthModule) { c.UID, c.UserSuffix = "mail", "@example.com" }
	tests := []struct {
		name      string
		mod       func(*configs.AuthModule)
		login, pw string
		want      authn.Outcome
		wantLogin string
	}{
		{"alice", nil, "alice", "alicepass", authn.Authenticated, "alice"},
		{"login trimmed", nil, "  alice\t", "alicepass", authn.Authenticated, "alice"},
		{"typed spelling returned", nil, "ALICE", "alicepass", authn.Authenticated, "ALICE"},
		{"wrong password", nil, "alice", "wrong", authn.Rejected, ""},
		{"another user's password", nil, "alice", "bobpass", authn.Rejected, ""},
		{"unknown user", nil, "nobody", "x", authn.Rejected, ""},
		{"empty password", nil, "alice", "", authn.NotMine, ""},
		{"empty login", nil, "", "alicepass", authn.NotMine, ""},
		{"blank login", nil, "   ", "alicepass", authn.NotMine, ""},
		{"always_filter", withFilter, "bob", "bobpass", authn.Authenticated, "bob"},
		{"always_filter excludes", func(c *configs.AuthModule) { c.AlwaysFilter = "(employeeType=active)" }, "carol", "carolpass", authn.Rejected, ""},
		// José Müller: a non-ASCII login attribute (cn), UTF-8 on the wire, escaped in the filter.
		{"non-ASCII cn", byCN, "José Müller", "jmullerpass", authn.Authenticated, "José Müller"},
		{"non-ASCII cn, wrong password", byCN, "José Müller", "alicepass", authn.Rejected, ""},
		{"non-ASCII cn, other spelling", byCN, "Jose Muller", "jmullerpass", authn.Rejected, ""},
		{"jmuller by uid", nil, "jmuller", "jmullerpass", authn.Authenticated, "jmuller"},
		// user_suffix is appended before the search and returned.
		{"user_suffix", byMail, "alice", "alicepass", authn.Authenticated, "alice@example.com"},
		{"user_suffix, wrong password", byMail, "alice", "bobpass", authn.Rejected, ""},
		// Group by UID: developers is a posixGroup with memberUid alice and jmuller.
		{"group by UID: member", groupUID, "alice", "alicepass", authn.Authenticated, "alice"},
		{"group by UID: member jmuller", groupUID, "jmuller", "jmullerpass", authn.Authenticated, "jmuller"},
		{"group by UID: bob is not", groupUID, "bob", "bobpass", authn.Rejected, ""},
		// Group by DN: admins is a groupOfNames with member alice and bob.
		{"group by DN: bob is", groupDN, "bob", "bobpass", authn.Authenticated, "bob"},
		{"group by DN: jmuller is not", groupDN, "jmuller", "jmullerpass", authn.Rejected, ""},
		{"group by DN: wrong password", groupDN, "bob", "alicepass", authn.Rejected, ""},
		// Filter injection: each value would match alice if it reached the filter unescaped
		// (a wildcard, a closing parenthesis ANDed by always_filter, a NUL that C servers
		// read as the end), and must find nobody instead.
		{"wildcard", withFilter, "*", "alicepass", authn.Rejected, ""},
		{"prefix wildcard", withFilter, "al*", "alicepass", authn.Rejected, ""},
		{"injected term", withFilter, "alice)(uid=*", "alicepass", authn.Rejected, ""},
		{"injected or", withFilter, "*)(|(uid=*", "alicepass", authn.Rejected, ""},
		{"injected or, no filter", nil, "*)(|(uid=*", "alicepass", authn.Rejected, ""},
		{"NUL", withFilter, "alice\x00", "alicepass", authn.Rejected, ""},
		{"NUL then wildcard", withFilter, "alice\x00*", "alicepass", authn.Rejected, ""},
		{"backslash escape", withFilter, `alic\65`, "alicepass", authn.Rejected, ""},
		{"injection in group check", groupUID, "bob)(memberUid=alice", "bobpass", authn.Rejected, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseCfg(e)
			if tt.mod != nil {
				tt.mod(&cfg)
			}
			m := newModule(t, cfg)
			res, err := auth(m, tt.login, tt.pw)
			if err != nil {
				t.Fatalf("fault: %v", err)
			}
			if res.Outcome != tt.want || res.Login != tt.wantLogin {
				t.Errorf("got %v %q, want %v %q", res.Outcome, res.Login, tt.want, tt.wantLogin)
			}
		})
	}
}

// TestNoBindWithoutPassword proves that an empty password never reaches the server: no
// connection is opened on a fresh module, and no bind is sent on a warm one.
func TestNoBindWithoutPassword(t *testing.T) {
	e := testenv.LDAP(t)
	var c counter
	m := newModule(t, baseCfg(e), ldapdir.WithDial(c.dial))
	for _, login := range []string{"alice", "bob", "*", ""} {
		res, err := auth(m, login, "")
		if err != nil || res.Outcome == authn.Authenticated {
			t.Fatalf("%q with an empty password: %v %v", login, res, err)
		}
	}
	if c.dials.Load() != 0 || c.binds.Load() != 0 {
		t.Fatalf("empty passwords: %d dials, %d binds; want none", c.dials.Load(), c.binds.Load())
	}
	// Warm: a login dials once and sends 3 binds (search identity, user, back to the search
	// identity). The counting itself is checked here, so the zeros above mean something.
	if res, err := auth(m, "alice", "alicepass"); err != nil || res.Outcome != authn.Authenticated {
		t.Fatalf("alice: %v %v", res, err)
	}
	if c.dials.Load() != 1 || c.binds.Load() != 3 {
		t.Fatalf("one login: %d dials, %d binds; want 1 and 3", c.dials.Load(), c.binds.Load())
	}
	if res, err := auth(m, "alice", ""); err != nil || res.Outcome != authn.NotMine {
		t.Fatalf("alice, empty password: %v %v", res, err)
	}
	if c.dials.Load() != 1 || c.binds.Load() != 3 {
		t.Fatalf("after an empty password: %d dials, %d binds; want still 1 and 3", c.dials.Load(), c.binds.Load())
	}
	// The pooled connection is reused: a second login sends 2 binds and dials nothing.
	if res, err := auth(m, "bob", "bobpass"); err != nil || res.Outcome != authn.Authenticated {
		t.Fatalf("bob: %v %v", res, err)
	}
	if c.dials.Load() != 1 || c.binds.Load() != 5 {
		t.Fatalf("second login: %d dials, %d binds; want 1 and 5", c.dials.Load(), c.binds.Load())
	}
}

// TestUserBindDoesNotLeak: after a user's bind, the pooled connection searches as the search
// identity again. bob's bind would let it read only what bob may; cn=readonly reads
// everything, so a group search for alice still works after bob's login on the same
// connection, and a failed bind (anonymous afterwards, RFC 4511) does not break the next search.
func TestUserBindDoesNotLeak(t *testing.T) {
	e := testenv.LDAP(t)
	cfg := baseCfg(e)
	cfg.GroupDN, cfg.AccessAttr, cfg.UserAttr = e.AdminsDN, "member", "DN"
	var c counter
	m := newModule(t, cfg, ldapdir.WithDial(c.dial), ldapdir.WithMaxConns(1))
	steps := []struct {
		login, pw string
		want      authn.Outcome
	}{
		{"bob", "bobpass", authn.Authenticated},
		{"alice", "wrong", authn.Rejected},
		{"alice", "alicepass", authn.Authenticated},
		{"bob", "nope", authn.Rejected},
		{"bob", "bobpass", authn.Authenticated},
	}
	for _, s := range steps {
		res, err := auth(m, s.login, s.pw)
		if err != nil || res.Outcome != s.want {
			t.Fatalf("%s/%s: %v %v, want %v", s.login, s.pw, res, err, s.want)
		}
	}
	if c.dials.Load() != 1 {
		t.Errorf("%d dials for 5 logins on a pool of 1; want 1", c.dials.Load())
	}
}

func TestSearchIdentity(t *testing.T) {
	e := testenv.LDAP(t)
	t.Run("wrong search password is a fault", func(t *testing.T) {
		cfg := baseCfg(e)
		cfg.SearchUserPw = "wrong"
		_, err := auth(newModule(t, cfg), "alice", "alicepass")
		if !errors.Is(err, ldapdir.ErrSearchBind) {
			t.Fatalf("err = %v, want ErrSearchBind", err)
		}
		t.Logf("message: %v", err)
	})
	t.Run("unknown search DN is a fault", func(t *testing.T) {
		cfg := baseCfg(e)
		cfg.SearchUserDN = "cn=nobody," + e.BaseDN
		if _, err := auth(newModule(t, cfg), "alice", "alicepass"); !errors.Is(err, ldapdir.ErrSearchBind) {
			t.Fatalf("err = %v, want ErrSearchBind", err)
		}
	})
	t.Run("anonymous search finds nobody (ACL)", func(t *testing.T) {
		cfg := baseCfg(e)
		cfg.SearchUserDN, cfg.SearchUserPw = "", ""
		res, err := auth(newModule(t, cfg), "alice", "alicepass")
		if err != nil || res.Outcome != authn.Rejected {
			t.Fatalf("got %v %v, want Rejected: the test ACL hides people from anonymous", res, err)
		}
	})
}

func TestTLS(t *testing.T) {
	e := testenv.LDAPWithTLS(t)
	tests := []struct {
		name  string
		mod   func(*configs.AuthModule)
		fault bool
	}{
		{"ldaps with the CA", func(c *configs.AuthModule) { c.Host, c.CAFile = []string{e.LDAPSURL}, e.CAFile }, false},
		{"ldaps without the CA", func(c *configs.AuthModule) { c.Host = []string{e.LDAPSURL} }, true},
		{"ldaps, insecure_skip_verify", func(c *configs.AuthModule) { c.Host, c.InsecureSkipVerify = []string{e.LDAPSURL}, true }, false},
		{"starttls with the CA", func(c *configs.AuthModule) { c.StartTLS, c.CAFile = true, e.CAFile }, false},
		{"starttls without the CA", func(c *configs.AuthModule) { c.StartTLS = true }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseCfg(e)
			tt.mod(&cfg)
			res, err := auth(newModule(t, cfg), "alice", "alicepass")
			if tt.fault {
				if err == nil || !errors.Is(err, ldapdir.ErrUnavailable) {
					t.Fatalf("got %v %v, want a fault", res, err)
				}
				t.Logf("fault: %v", err)
				return
			}
			if err != nil || res.Outcome != authn.Authenticated {
				t.Fatalf("got %v %v", res, err)
			}
		})
	}
}

func TestHostsInOrder(t *testing.T) {
	e := testenv.LDAP(t)
	dead := deadURL(t)
	cfg := baseCfg(e)
	cfg.Host = []string{dead, e.URL}
	res, err := auth(newModule(t, cfg), "alice", "alicepass")
	if err != nil || res.Outcome != authn.Authenticated {
		t.Fatalf("failover: %v %v", res, err)
	}
	cfg.Host = []string{dead}
	_, err = auth(newModule(t, cfg), "alice", "alicepass")
	if !errors.Is(err, ldapdir.ErrUnavailable) {
		t.Fatalf("only a dead host: %v", err)
	}
}

// deadURL is an ldap:// URL on a loopback port nobody listens on.
func deadURL(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "ldap://" + addr
}

// fixed is a second module that authenticates everyone, and a lookup that knows everyone.
type fixed struct{}

func (fixed) Name() string { return "second" }
func (fixed) Authenticate(_ context.Context, c authn.Credentials) (authn.Result, error) {
	return authn.Result{Outcome: authn.Authenticated, Login: c.Login}, nil
}

type anyone struct{}

func (anyone) Get(_ context.Context, login string) (*directory.CustomerUser, error) {
	return &directory.CustomerUser{Login: login, Source: "test"}, nil
}

// TestServerDownAndRestart stops a private slapd under a module: logins are faults (the chain
// moves on, or answers ErrBackendUnavailable with die), and after the restart the same module
// works again, its pooled connections to the old process replaced without an error.
func TestServerDownAndRestart(t *testing.T) {
	srv := testenv.StartLDAPServer(t)
	cfg := baseCfg(srv.LDAPEnv)
	cfg.Timeout = 2 * time.Second
	var c counter
	m := newModule(t, cfg, ldapdir.WithDial(c.dial))
	login := func() (authn.Result, error) { return auth(m, "alice", "alicepass") }
	if res, err := login(); err != nil || res.Outcome != authn.Authenticated {
		t.Fatalf("before: %v %v", res, err)
	}

	// Restart with an idle pooled connection to the old process: the next login must
	// succeed, on a new connection.
	srv.Stop()
	srv.Start()
	if res, err := login(); err != nil || res.Outcome != authn.Authenticated {
		t.Fatalf("after a restart: %v %v", res, err)
	}
	if c.dials.Load() != 2 {
		t.Errorf("%d dials; want 2 (the dead connection replaced once)", c.dials.Load())
	}

	srv.Stop()
	start := time.Now()
	_, err := login()
	if !errors.Is(err, ldapdir.ErrUnavailable) {
		t.Fatalf("server down: err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*cfg.Timeout {
		t.Errorf("the fault took %s", d)
	}
	t.Run("die false: the chain moves on", func(t *testing.T) {
		ch, err := authn.NewChain([]authn.Entry{{Module: m}, {Module: fixed{}}}, anyone{}, quiet, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ch.Login(context.Background(), authn.Credentials{Login: "alice", Password: "alicepass"})
		if err != nil || s.Module != "second" {
			t.Fatalf("got %+v %v, want the second module", s, err)
		}
	})
	t.Run("die true: backend unavailable", func(t *testing.T) {
		ch, err := authn.NewChain([]authn.Entry{{Module: m, Die: true}, {Module: fixed{}}}, anyone{}, quiet, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ch.Login(context.Background(), authn.Credentials{Login: "alice", Password: "alicepass"})
		if !errors.Is(err, authn.ErrBackendUnavailable) {
			t.Fatalf("err = %v, want ErrBackendUnavailable", err)
		}
	})

	srv.Start()
	if res, err := login(); err != nil || res.Outcome != authn.Authenticated {
		t.Fatalf("after the server came back: %v %v", res, err)
	}
}

// TestTimeout: a server that accepts connections but never answers costs at most the
// timeout, and is a fault.
func TestTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); _, _ = io.Copy(io.Discard, c); <-done; _ = c.Close() }()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); close(done); conns.Wait() })
	cfg := configs.AuthModule{Name: "silent", Host: []string{"ldap://" + l.Addr().String()}, UID: "uid",
		SearchUserDN: "cn=x", SearchUserPw: "y", Timeout: 300 * time.Millisecond}
	m := newModule(t, cfg)
	start := time.Now()
	_, err = auth(m, "alice", "alicepass")
	if err == nil {
		t.Fatal("no fault")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s with a 300ms timeout", d)
	}
	// A caller's shorter deadline wins too.
	cfg.Timeout = 10 * time.Second
	m = newModule(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := m.Authenticate(ctx, authn.Credentials{Login: "alice", Password: "x"}); err == nil {
		t.Fatal("no fault")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s with a 200ms context", d)
	}
}

func TestConcurrentLogins(t *testing.T) {
	e := testenv.LDAP(t)
	cfg := baseCfg(e)
	cfg.GroupDN, cfg.AccessAttr, cfg.UserAttr = e.AdminsDN, "member", "DN"
	var c counter
	m := newModule(t, cfg, ldapdir.WithDial(c.dial), ldapdir.WithMaxConns(4))
	var wg sync.WaitGroup
	errs := make(chan string, 400)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				login, pw, want := "alice", "alicepass", authn.Authenticated
				switch (i + j) % 3 {
				case 1:
					login, pw = "bob", "bobpass"
				case 2:
					pw, want = "wrong", authn.Rejected
				}
				res, err := auth(m, login, pw)
				if err != nil || res.Outcome != want {
					errs <- login + "/" + pw + ": " + res.Outcome.String() + " " + errString(err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var got []string
	for s := range errs {
		got = append(got, s)
	}
	sort.Strings(got)
	if len(got) > 0 {
		t.Fatalf("%d wrong answers, e.g. %v", len(got), got[:min(3, len(got))])
	}
	if d := c.dials.Load(); d > 4 {
		t.Errorf("%d dials with a pool of 4", d)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := configs.AuthModule{Name: "x", Host: []string{"ldap://127.0.0.1:389"}, UID: "uid", BaseDN: "dc=example,dc=com"}
	tests := []struct {
		name string
		mod  func(*configs.AuthModule)
	}{
		{"no host", func(c *configs.AuthModule) { c.Host = nil }},
		{"bad scheme", func(c *configs.AuthModule) { c.Host = []string{"http://x"} }},
		{"uid with a filter", func(c *configs.AuthModule) { c.UID = "uid=*)(x" }},
		{"broken always_filter", func(c *configs.AuthModule) { c.AlwaysFilter = "(objectClass=x" }},
		{"always_filter without parentheses", func(c *configs.AuthModule) { c.AlwaysFilter = "objectClass=x" }},
		{"bad access_attr", func(c *configs.AuthModule) { c.GroupDN, c.AccessAttr = "cn=g", "member)(x" }},
		{"bad user_attr", func(c *configs.AuthModule) { c.UserAttr = "CN" }},
		{"unknown charset", func(c *configs.AuthModule) { c.Charset = "klingon" }},
		{"version 2", func(c *configs.AuthModule) { c.Params.Version = 2 }},
		{"missing CA file", func(c *configs.AuthModule) { c.Host, c.CAFile = []string{"ldaps://x"}, "/nonexistent/ca.crt" }},
		{"start_tls on ldaps", func(c *configs.AuthModule) { c.Host, c.StartTLS = []string{"ldaps://x"}, true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			cfg.Host = slices.Clone(good.Host)
			tt.mod(&cfg)
			if _, err := authldap.New(cfg, quiet); err == nil {
				t.Fatal("accepted")
			} else {
				t.Log(err)
			}
		})
	}
	if _, err := authldap.New(good, quiet); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
}

// BenchmarkLDAPLogin is one full login on loopback: search, group check, user bind and the
// re-bind to the search identity, on a warm pool.
func BenchmarkLDAPLogin(b *testing.B) {
	e := testenv.LDAP(b)
	cfg := baseCfg(e)
	cfg.GroupDN, cfg.AccessAttr, cfg.UserAttr = e.AdminsDN, "member", "DN"
	m := newModule(b, cfg)
	ctx := context.Background()
	cr := authn.Credentials{Login: "alice", Password: "alicepass"}
	if res, err := m.Authenticate(ctx, cr); err != nil || res.Outcome != authn.Authenticated {
		b.Fatalf("%v %v", res, err)
	}
	b.ResetTimer()
	for b.Loop() {
		if res, err := m.Authenticate(ctx, cr); err != nil || res.Outcome != authn.Authenticated {
			b.Fatalf("%v %v", res, err)
		}
	}
}
