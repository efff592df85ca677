package radius

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

func boolp(b bool) *bool { return &b }

func newModule(t testing.TB, cfg configs.AuthModule) *Module {
	t.Helper()
	if cfg.Password == "" {
		cfg.Password = testSecret
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	m, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func login(m *Module, user, pass string) (authn.Result, error) {
	return m.Authenticate(context.Background(), authn.Credentials{Login: user, Password: pass})
}

// TestRealServer runs the same credentials against both real FreeRADIUS instances: the one
// that signs its replies with the Message-Authenticator required (the default), and Debian's
// plain 3.2.1 with require_message_authenticator: false.
func TestRealServer(t *testing.T) {
	env := testenv.Radius(t)
	servers := []struct {
		name string
		cfg  configs.AuthModule
	}{
		{"signed replies, MA required", configs.AuthModule{Host: []string{env.Addr}, Password: env.Secret}},
		{"signed replies, NAS-Identifier", configs.AuthModule{Host: []string{env.Addr}, Password: env.Secret, NASIdentifier: "gatehouse-test"}},
		{"plain 3.2.1, MA not required", configs.AuthModule{Host: []string{env.NoMAAddr}, Password: env.Secret, RequireMessageAuthenticator: boolp(false)}},
		{"signed replies, MA not required", configs.AuthModule{Host: []string{env.Addr}, Password: env.Secret, RequireMessageAuthenticator: boolp(false)}},
	}
	cases := []struct {
		user, pass string
		want       authn.Outcome
	}{
		{"alice", "alicepass", authn.Authenticated},
		{"bob", "bobpass", authn.Authenticated},
		{"josé", "josepass", authn.Authenticated}, // UTF-8 User-Name
		{"alice", "wrongpass", authn.Rejected},
		{"alice", "alicepass ", authn.Rejected}, // the password is sent untouched
		{"Alice", "alicepass", authn.Rejected},  // the users file is case-sensitive
		{"mallory", "mallorypass", authn.Rejected},
		{"nobody", "whatever", authn.Rejected},
		{"alice", strings.Repeat("p", 128), authn.Rejected}, // the longest PAP password
	}
	for _, s := range servers {
		m := newModule(t, s.cfg)
		for _, c := range cases {
			t.Run(s.name+"/"+c.user+"/"+c.pass, func(t *testing.T) {
				res, err := login(m, c.user, c.pass)
				if err != nil {
					t.Fatalf("fault: %v", err)
				}
				if res.Outcome != c.want {
					t.Fatalf("%v, want %v", res.Outcome, c.want)
				}
				if c.want == authn.Authenticated && res.Login != c.user {
					t.Fatalf("login %q, want the typed %q", res.Login, c.user)
				}
			})
		}
	}
}

// TestRealServerFaults: what must not authenticate, and must not be taken for a reject either.
func TestRealServerFaults(t *testing.T) {
	env := testenv.Radius(t)
	const timeout = 400 * time.Millisecond
	cases := []struct {
		name    string
		cfg     configs.AuthModule
		wantErr error
		min     time.Duration // the fault must take at least …
		max     time.Duration // … and at most this long
	}{
		{
			// FreeRADIUS drops a request whose Message-Authenticator does not verify:
			// no answer at all, so a fault after the timeout.
			name:    "wrong shared secret",
			cfg:     configs.AuthModule{Host: []string{env.Addr}, Password: "wrongsecret", Timeout: timeout},
			wantErr: ErrNoAnswer, min: timeout, max: timeout + 300*time.Millisecond,
		},
		{
			name:    "wrong shared secret, plain server",
			cfg:     configs.AuthModule{Host: []string{env.NoMAAddr}, Password: "wrongsecret", Timeout: timeout},
			wantErr: ErrNoAnswer, min: timeout, max: timeout + 300*time.Millisecond,
		},
		{
			name:    "wrong shared secret, one retry",
			cfg:     configs.AuthModule{Host: []string{env.Addr}, Password: "wrongsecret", Timeout: timeout, Retries: 1},
			wantErr: ErrNoAnswer, min: 2 * timeout, max: 2*timeout + 300*time.Millisecond,
		},
		{
			// The reply comes, authentic by its Response Authenticator, but unsigned: it is not
			// believed (BlastRADIUS forges exactly such a reply). Immediate, no timeout.
			name:    "reply without Message-Authenticator while required",
			cfg:     configs.AuthModule{Host: []string{env.NoMAAddr}, Password: env.Secret, Timeout: timeout},
			wantErr: ErrNoMessageAuthenticator, max: timeout / 2,
		},
		{
			name:    "server down",
			cfg:     configs.AuthModule{Host: []string{testenv.DeadUDPAddr(t)}, Password: env.Secret, Timeout: timeout},
			wantErr: ErrAllServersFailed, max: timeout + 300*time.Millisecond,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newModule(t, c.cfg)
			start := time.Now()
			res, err := login(m, "alice", "alicepass")
			took := time.Since(start)
			if err == nil {
				t.Fatalf("no fault: %v", res.Outcome)
			}
			if !errors.Is(err, c.wantErr) || !errors.Is(err, ErrAllServersFailed) {
				t.Fatalf("err = %v, want %v (and ErrAllServersFailed)", err, c.wantErr)
			}
			if res.Outcome == authn.Authenticated {
				t.Fatal("a fault authenticated")
			}
			if took < c.min || took > c.max {
				t.Fatalf("took %v, want %v..%v", took, c.min, c.max)
			}
			if strings.Contains(err.Error(), "alicepass") || strings.Contains(err.Error(), env.Secret) {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

// TestFailover: a dead first host (ICMP port unreachable) and a silent one (the full timeout)
// both hand over to the next host, in order.
func TestFailover(t *testing.T) {
	env := testenv.Radius(t)
	const timeout = 300 * time.Millisecond
	silent := testenv.StartSilentUDP(t)
	cases := []struct {
		name     string
		hosts    []string
		min, max time.Duration
	}{
		{"first host dead", []string{testenv.DeadUDPAddr(t), env.Addr}, 0, timeout},
		{"first two dead", []string{testenv.DeadUDPAddr(t), testenv.DeadUDPAddr(t), env.Addr}, 0, timeout},
		{"first host silent", []string{silent.Addr(), env.Addr}, timeout, 2 * timeout},
		{"first host without MA, second signs", []string{env.NoMAAddr, env.Addr}, 0, timeout},
		{"first host answers: second never asked", []string{env.Addr, silent.Addr()}, 0, timeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newModule(t, configs.AuthModule{Host: c.hosts, Password: env.Secret, Timeout: timeout})
			for _, cred := range []struct {
				pass string
				want authn.Outcome
			}{{"alicepass", authn.Authenticated}, {"bad", authn.Rejected}} {
				start := time.Now()
				res, err := login(m, "alice", cred.pass)
				took := time.Since(start)
				if err != nil || res.Outcome != cred.want {
					t.Fatalf("%s: %v %v, want %v", cred.pass, res.Outcome, err, cred.want)
				}
				if took < c.min || took > c.max {
					t.Fatalf("took %v, want %v..%v", took, c.min, c.max)
				}
			}
		})
	}
}

// second is a module that authenticates everyone: proof that the chain moved on.
type second struct{}

func (second) Name() string { return "second" }
func (second) Authenticate(_ context.Context, c authn.Credentials) (authn.Result, error) {
	return authn.Result{Outcome: authn.Authenticated, Login: c.Login}, nil
}

type lookup struct{}

func (lookup) Get(_ context.Context, login string) (*directory.CustomerUser, error) {
	return &directory.CustomerUser{Login: login, ValidID: 1}, nil
}

// TestAllServersDownInChain: both hosts down; with die false the chain goes on to the next
// module, with die true the login is answered ErrBackendUnavailable (503).
func TestAllServersDownInChain(t *testing.T) {
	env := testenv.Radius(t)
	hosts := []string{testenv.DeadUDPAddr(t), testenv.StartSilentUDP(t).Addr()}
	for _, die := range []bool{false, true} {
		m := newModule(t, configs.AuthModule{Host: hosts, Password: env.Secret, Timeout: 200 * time.Millisecond, Die: die})
		chain, err := authn.NewChain([]authn.Entry{{Module: m, Die: die}, {Module: second{}}}, lookup{}, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := chain.Login(context.Background(), authn.Credentials{Login: "alice", Password: "alicepass"})
		if die {
			if !errors.Is(err, authn.ErrBackendUnavailable) {
				t.Fatalf("die: err = %v, want ErrBackendUnavailable", err)
			}
			continue
		}
		if err != nil || ok.Module != "second" {
			t.Fatalf("no die: %+v %v, want the second module", ok, err)
		}
	}
	// And a working Radius host wins before the second module.
	m := newModule(t, configs.AuthModule{Host: []string{env.Addr}, Password: env.Secret})
	chain, _ := authn.NewChain([]authn.Entry{{Module: m, Die: true}, {Module: second{}}}, lookup{}, slog.New(slog.DiscardHandler), nil)
	if ok, err := chain.Login(context.Background(), authn.Credentials{Login: "alice", Password: "alicepass"}); err != nil || ok.Module != "radius" {
		t.Fatalf("%+v %v, want radius", ok, err)
	}
}

// TestEmptyCredentialsSendNothing: an empty login or password is Rejected and no datagram
// leaves (the "server" is a local socket that counts what it receives). A non-empty pair is
// the control: it arrives.
func TestEmptyCredentialsSendNothing(t *testing.T) {
	srv := testenv.StartSilentUDP(t)
	m := newModule(t, configs.AuthModule{Host: []string{srv.Addr()}, Timeout: 200 * time.Millisecond})
	for _, c := range []struct{ user, pass string }{
		{"", ""}, {"alice", ""}, {"", "alicepass"},
		{strings.Repeat("u", 254), "x"}, {"alice", strings.Repeat("p", 129)}, // cannot be encoded
	} {
		res, err := login(m, c.user, c.pass)
		if err != nil || res.Outcome != authn.Rejected {
			t.Fatalf("%q/%d bytes: %v %v, want rejected without a fault", c.user, len(c.pass), res.Outcome, err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(srv.Packets()); n != 0 {
		t.Fatalf("%d packets sent for empty credentials", n)
	}
	if _, err := login(m, "alice", "alicepass"); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("control: err = %v, want ErrNoAnswer", err)
	}
	if n := len(srv.Packets()); n != 1 {
		t.Fatalf("control: %d packets, want 1", n)
	}
}

// TestRequestOnTheWire: what one Access-Request holds, as a silent server receives it.
func TestRequestOnTheWire(t *testing.T) {
	cases := []struct {
		name    string
		nasID   string
		retries int
	}{
		{"NAS-IP-Address", "", 0},
		{"NAS-Identifier", "portal-1", 0},
		{"two retries", "", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := testenv.StartSilentUDP(t)
			m := newModule(t, configs.AuthModule{Host: []string{srv.Addr()}, Timeout: 100 * time.Millisecond, Retries: c.retries, NASIdentifier: c.nasID})
			if _, err := login(m, "josé", "pässword"); !errors.Is(err, ErrNoAnswer) {
				t.Fatalf("err = %v", err)
			}
			pkts := srv.Packets()
			if len(pkts) != c.retries+1 {
				t.Fatalf("%d packets, want %d", len(pkts), c.retries+1)
			}
			for _, p := range pkts[1:] {
				if !bytes.Equal(p, pkts[0]) {
					t.Fatal("a resend differs: it must keep identifier and authenticator (RFC 2865 §2.5)")
				}
			}
			wire := pkts[0]
			if err := VerifyRequest(wire, []byte(testSecret)); err != nil {
				t.Fatalf("Message-Authenticator: %v", err)
			}
			if off, _ := findMessageAuthenticator(wire); off != headerLen+2 {
				t.Fatalf("Message-Authenticator at %d, want first (%d)", off, headerLen+2)
			}
			p, err := radius.Parse(wire, []byte(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			if p.Code != radius.CodeAccessRequest {
				t.Fatalf("code %v", p.Code)
			}
			if u := rfc2865.UserName_GetString(p); u != "josé" {
				t.Fatalf("User-Name %q", u)
			}
			if pw := rfc2865.UserPassword_GetString(p); pw != "pässword" {
				t.Fatalf("User-Password does not decrypt to the password")
			}
			if bytes.Contains(wire, []byte("pässword")) {
				t.Fatal("the password is in clear on the wire")
			}
			nasIP, nasID := rfc2865.NASIPAddress_Get(p), rfc2865.NASIdentifier_GetString(p)
			if c.nasID != "" {
				if nasID != c.nasID || nasIP != nil {
					t.Fatalf("NAS-Identifier %q, NAS-IP-Address %v", nasID, nasIP)
				}
			} else if !nasIP.Equal(net.IPv4(127, 0, 0, 1)) || nasID != "" {
				t.Fatalf("NAS-IP-Address %v (want the local address 127.0.0.1), NAS-Identifier %q", nasIP, nasID)
			}
			var types []int
			for _, a := range p.Attributes {
				types = append(types, int(a.Type))
			}
			sort.Ints(types)
			if want := []int{1, 2, 4, 80}; c.nasID != "" {
				want = []int{1, 2, 32, 80}
				if !slices.Equal(types, want) {
					t.Fatalf("attributes %v, want %v", types, want)
				}
			} else if !slices.Equal(types, want) {
				t.Fatalf("attributes %v, want %v", types, want)
			}
		})
	}
}

// fake is a scripted RADIUS server: for each request it sends what reply returns, in order.
func fake(t *testing.T, reply func(req *radius.Packet, wire []byte) [][]byte) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			wire := append([]byte(nil), buf[:n]...)
			req, err := radius.Parse(wire, []byte(testSecret))
			if err != nil || VerifyRequest(wire, []byte(testSecret)) != nil {
				continue // as FreeRADIUS does
			}
			for _, out := range reply(req, wire) {
				_, _ = c.WriteTo(out, from)
			}
		}
	}()
	return c.LocalAddr().String()
}

// encode builds a reply; ma adds a Message-Authenticator signed with secret (or, with bad,
// one that does not verify).
func encode(t *testing.T, req *radius.Packet, code radius.Code, ma, bad bool, secret string) []byte {
	t.Helper()
	r := req.Response(code)
	r.Secret = []byte(secret)
	_ = rfc2865.ReplyMessage_SetString(r, "scripted")
	if ma {
		_ = rfc2869.MessageAuthenticator_Set(r, make([]byte, 16))
	}
	// Sign the MA over the reply before the Response Authenticator is computed over it.
	b, err := r.MarshalBinary()
	if err != nil {
		t.Error(err)
		return nil
	}
	if ma {
		if err := SignResponse(b, req.Authenticator, []byte(secret)); err != nil {
			t.Error(err)
		}
		if bad {
			b[len(b)-1] ^= 0xff
		}
		q, _ := radius.Parse(b, []byte(secret))
		q.Authenticator = req.Authenticator
		b, _ = q.Encode()
		return b
	}
	b, _ = r.Encode()
	return b
}

// TestScriptedReplies covers replies FreeRADIUS cannot be made to send.
func TestScriptedReplies(t *testing.T) {
	cases := []struct {
		name      string
		requireMA *bool
		reply     func(t *testing.T, req *radius.Packet, wire []byte) [][]byte
		want      authn.Outcome
		wantErr   error
	}{
		{
			name: "Access-Challenge is not a login",
			reply: func(t *testing.T, req *radius.Packet, _ []byte) [][]byte {
				return [][]byte{encode(t, req, radius.CodeAccessChallenge, true, false, testSecret)}
			},
			want: authn.Rejected,
		},
		{
			name: "invalid Message-Authenticator",
			reply: func(t *testing.T, req *radius.Packet, _ []byte) [][]byte {
				return [][]byte{encode(t, req, radius.CodeAccessAccept, true, true, testSecret)}
			},
			wantErr: ErrBadMessageAuthenticator,
		},
		{
			name:      "invalid Message-Authenticator, even when not required",
			requireMA: boolp(false),
			reply: func(t *testing.T, req *radius.Packet, _ []byte) [][]byte {
				return [][]byte{encode(t, req, radius.CodeAccessAccept, true, true, testSecret)}
			},
			wantErr: ErrBadMessageAuthenticator,
		},
		{
			name:      "unsigned Accept, not required",
			requireMA: boolp(false),
			reply: func(t *testing.T, req *radius.Packet, _ []byte) [][]byte {
				return [][]byte{encode(t, req, radius.CodeAccessAccept, false, false, testSecret)}
			},
			want: authn.Authenticated,
		},
		{
			// Forgeries and strays before the real reply are dropped; the real one counts.
			name: "strays dropped, then the real Accept",
			reply: func(t *testing.T, req *radius.Packet, wire []byte) [][]byte {
				other := *req
				other.Identifier++
				return [][]byte{
					[]byte("junk"),
					encode(t, req, radius.CodeAccessAccept, true, false, "another-secret"), // bad Response Authenticator
					encode(t, &other, radius.CodeAccessAccept, true, false, testSecret),    // other identifier
					wire, // its own request echoed
					encode(t, req, radius.CodeAccessAccept, true, false, testSecret),
				}
			},
			want: authn.Authenticated,
		},
		{
			name: "Reject signed",
			reply: func(t *testing.T, req *radius.Packet, _ []byte) [][]byte {
				return [][]byte{encode(t, req, radius.CodeAccessReject, true, false, testSecret)}
			},
			want: authn.Rejected,
		},
		{
			name: "an Accounting-Response is no answer",
			reply: func(t *testing.T, req *radius.Packet, _ []byte) [][]byte {
				return [][]byte{encode(t, req, radius.CodeAccountingResponse, true, false, testSecret)}
			},
			wantErr: ErrUnexpectedCode,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := fake(t, func(req *radius.Packet, wire []byte) [][]byte { return c.reply(t, req, wire) })
			m := newModule(t, configs.AuthModule{Host: []string{addr}, Timeout: 300 * time.Millisecond, RequireMessageAuthenticator: c.requireMA})
			res, err := login(m, "alice", "alicepass")
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil || res.Outcome != c.want {
				t.Fatalf("%v %v, want %v", res.Outcome, err, c.want)
			}
		})
	}
}

func TestContextCancel(t *testing.T) {
	srv := testenv.StartSilentUDP(t)
	m := newModule(t, configs.AuthModule{Host: []string{srv.Addr(), srv.Addr()}, Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Authenticate(ctx, authn.Credentials{Login: "alice", Password: "alicepass"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %v: the context was not honoured", took)
	}
	if n := len(srv.Packets()); n != 1 {
		t.Fatalf("%d packets: the second host must not be tried after the context ended", n)
	}
}

func TestNew(t *testing.T) {
	ok := []struct {
		hosts, want []string
	}{
		{[]string{"radius.example.com"}, []string{"radius.example.com:1812"}},
		{[]string{"10.0.0.1:1645", "10.0.0.2"}, []string{"10.0.0.1:1645", "10.0.0.2:1812"}},
		{[]string{"::1"}, []string{"[::1]:1812"}},
		{[]string{"[::1]"}, []string{"[::1]:1812"}},
		{[]string{"[::1]:11812"}, []string{"[::1]:11812"}},
	}
	for _, c := range ok {
		m, err := New(configs.AuthModule{Host: c.hosts, Password: "s"}, nil)
		if err != nil {
			t.Fatalf("%v: %v", c.hosts, err)
		}
		if got := m.Hosts(); !slices.Equal(got, c.want) {
			t.Errorf("%v: hosts %v, want %v", c.hosts, got, c.want)
		}
		if m.Name() != "radius" || m.timeout != DefaultTimeout || !m.requireMA {
			t.Errorf("defaults: name %q, timeout %v, requireMA %v", m.Name(), m.timeout, m.requireMA)
		}
	}
	bad := []configs.AuthModule{
		{Password: "s"},
		{Host: []string{"h"}},
		{Host: []string{""}, Password: "s"},
		{Host: []string{":1812"}, Password: "s"},
		{Host: []string{"h"}, Password: "s", Retries: -1},
		{Host: []string{"h"}, Password: "s", Timeout: -time.Second},
		{Host: []string{"h"}, Password: "s", NASIdentifier: strings.Repeat("n", 254)},
	}
	for _, cfg := range bad {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("%+v: no error", cfg)
		} else if strings.Contains(err.Error(), "s\"") {
			t.Errorf("error shows the secret: %v", err)
		}
	}
}

// BenchmarkRadiusLogin: one accepted PAP login against the real FreeRADIUS that signs its
// replies (Message-Authenticator computed and verified on both sides).
func BenchmarkRadiusLogin(b *testing.B) {
	env := testenv.Radius(b)
	m := newModule(b, configs.AuthModule{Host: []string{env.Addr}, Password: env.Secret})
	ctx := context.Background()
	cr := authn.Credentials{Login: "alice", Password: "alicepass"}
	b.ReportAllocs()
	for b.Loop() {
		res, err := m.Authenticate(ctx, cr)
		if err != nil || res.Outcome != authn.Authenticated {
			b.Fatalf("%v %v", res.Outcome, err)
		}
	}
}
