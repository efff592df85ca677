package oidc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// The redirect URI is registered at the provider but never requested: the test plays the
// gateway and calls Callback with the query the browser would have brought.
const redirectURI = "http://127.0.0.1:9/.gatehouse/oidc/test/callback"

var (
	gwClient = testenv.OIDCClient{ID: "gateway", Secret: "gwsecret", RedirectURIs: []string{redirectURI},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1:9/bye"}, JWTAccessToken: true}
	otherClient  = testenv.OIDCClient{ID: "other", Secret: "othersecret", RedirectURIs: []string{redirectURI}, JWTAccessToken: true}
	publicClient = testenv.OIDCClient{ID: "public", RedirectURIs: []string{redirectURI}, JWTAccessToken: true,
		UserinfoInIDToken: true}
)

var stateKey = bytes.Repeat([]byte{7}, 32)

func startOP(t *testing.T) *testenv.OIDCProvider {
	t.Helper()
	return testenv.StartOIDCProvider(t, gwClient, otherClient, publicClient)
}

func baseConfig(op *testenv.OIDCProvider) configs.AuthModule {
	return configs.AuthModule{
		Module: "oidc", Name: "test", Issuer: op.Issuer,
		ClientID: gwClient.ID, ClientSecret: gwClient.Secret, RedirectURL: redirectURI,
		Timeout: 5 * time.Second, AcceptBearer: true, ProviderLogout: true,
	}
}

func newProvider(t testing.TB, cfg configs.AuthModule) *Provider {
	t.Helper()
	p, err := New(context.Background(), cfg, stateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// browse runs Start and the provider's login form as user; it returns the callback query and
// the state cookie, as the browser would bring them to the gateway.
func browse(t *testing.T, op *testenv.OIDCProvider, p *Provider, user, pass string) (url.Values, StateCookie) {
	t.Helper()
	authURL, cookie, err := p.Start("/after/login?x=1")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := op.Login(nil, authURL, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cb.String(), redirectURI+"?") {
		t.Fatalf("callback %s, want %s", cb.Redacted(), redirectURI)
	}
	return cb.Query(), cookie
}

func TestCodeFlow(t *testing.T) {
	t.Parallel()
	op := startOP(t)
	tests := []struct {
		name      string
		cfg       func(*configs.AuthModule)
		user, pw  string
		wantLogin string
		wantEmail string
		wantName  string
	}{
		{name: "preferred_username, email from userinfo", user: "alice", pw: "alicepass",
			wantLogin: "alice", wantEmail: "alice@example.com", wantName: "Alice Example"},
		{name: "email", cfg: func(c *configs.AuthModule) { c.LoginClaim = ClaimEmail }, user: "bob", pw: "bobpass",
			wantLogin: "bob@example.com", wantEmail: "bob@example.com", wantName: "Bob Builder"},
		{name: "sub", cfg: func(c *configs.AuthModule) { c.LoginClaim = ClaimSub }, user: "alice", pw: "alicepass",
			wantLogin: "u-alice", wantEmail: "alice@example.com", wantName: "Alice Example"},
		{name: "email rewritten by replace_regexp", cfg: func(c *configs.AuthModule) {
			c.LoginClaim = ClaimEmail
			c.ReplaceRegexp = `^(.+)@example\.com$`
		}, user: "jmuller", pw: "jmullerpass", wantLogin: "jmuller", wantEmail: "jmuller@example.com", wantName: "Jürgen Müller"},
		{name: "prefix removed by replace", cfg: func(c *configs.AuthModule) { c.LoginClaim = ClaimSub; c.Replace = "u-" },
			user: "bob", pw: "bobpass", wantLogin: "bob", wantEmail: "bob@example.com", wantName: "Bob Builder"},
		{name: "public client, claims in the id token", cfg: func(c *configs.AuthModule) {
			c.ClientID, c.ClientSecret = publicClient.ID, ""
		}, user: "alice", pw: "alicepass", wantLogin: "alice", wantEmail: "alice@example.com", wantName: "Alice Example"},
		{name: "unverified email allowed", cfg: func(c *configs.AuthModule) {
			c.LoginClaim = ClaimEmail
			c.AllowUnverifiedEmail = true
		}, user: "eve", pw: "evepass", wantLogin: "eve@example.com", wantEmail: "eve@example.com", wantName: "Eve Unverified"},
		{name: "unverified email not passed on", user: "eve", pw: "evepass", wantLogin: "eve", wantEmail: "", wantName: "Eve Unverified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(op)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			p := newProvider(t, cfg)
			q, cookie := browse(t, op, p, tt.user, tt.pw)
			id, err := p.Callback(context.Background(), q, cookie.Value)
			if err != nil {
				t.Fatal(err)
			}
			if id.Login != tt.wantLogin || id.Email != tt.wantEmail || id.Name != tt.wantName {
				t.Errorf("identity %q %q %q, want %q %q %q", id.Login, id.Email, id.Name, tt.wantLogin, tt.wantEmail, tt.wantName)
			}
			if id.RD != "/after/login?x=1" || id.IDToken == "" || !strings.HasPrefix(id.Subject, "u-") || id.GivenName == "" || id.FamilyName == "" {
				t.Errorf("identity %+v", id)
			}
		})
	}
}

func TestStartURLAndCookie(t *testing.T) {
	t.Parallel()
	op := startOP(t)
	p := newProvider(t, baseConfig(op))
	authURL, cookie, err := p.Start("/x")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": "gateway", "redirect_uri": redirectURI,
		"code_challenge_method": "S256", "scope": "openid profile email"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("%s = %q: want 256 bits", k, q.Get(k))
		}
	}
	if _, _, err := p.Start("/" + strings.Repeat("x", MaxRDBytes)); !errors.Is(err, ErrRDTooLong) {
		t.Errorf("long rd: %v", err)
	}
	long, c2, err := p.Start("/" + strings.Repeat("x", MaxRDBytes-1))
	if err != nil || long == "" || len(c2.Name)+len(c2.Value) > 4000 {
		t.Errorf("longest rd: %v, cookie %d bytes", err, len(c2.Value))
	}
	if _, err := p.open(c2.Value); err != nil {
		t.Errorf("longest rd: %v", err)
	}
	if cookie.Name != "gatehouse_oidc_test" || cookie.MaxAge != 10*time.Minute {
		t.Errorf("cookie %s max-age %v", cookie.Name, cookie.MaxAge)
	}
	// Sealed: neither the verifier, the nonce nor rd can be read from the cookie.
	s, err := p.open(cookie.Value)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(cookie.Value)
	for _, secret := range []string{s.Verifier, s.Nonce, s.State, "/x"} {
		if bytes.Contains(raw, []byte(secret)) || strings.Contains(cookie.Value, secret) {
			t.Errorf("cookie shows %q", secret)
		}
	}
	if s.State != q.Get("state") || s.Nonce != q.Get("nonce") {
		t.Error("cookie does not bind the URL's state and nonce")
	}
}

func TestCallbackRefused(t *testing.T) {
	t.Parallel()
	op := startOP(t)
	p := newProvider(t, baseConfig(op))
	other := newProvider(t, func() configs.AuthModule { c := baseConfig(op); c.Name = "other"; return c }())
	ctx := context.Background()

	// reseal returns the cookie with its content changed by f (the test holds the key).
	reseal := func(t *testing.T, value string, f func(*loginState)) string {
		t.Helper()
		s, err := p.open(value)
		if err != nil {
			t.Fatal(err)
		}
		f(&s)
		v, err := p.seal(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	tests := []struct {
		name string
		// run returns the query and cookie value to call Callback with.
		run  func(t *testing.T) (url.Values, string)
		want error
	}{
		{"no cookie", func(t *testing.T) (url.Values, string) {
			q, _ := browse(t, op, p, "alice", "alicepass")
			return q, ""
		}, ErrInvalidState},
		{"tampered cookie", func(t *testing.T) (url.Values, string) {
			q, c := browse(t, op, p, "alice", "alicepass")
			b, _ := base64.RawURLEncoding.DecodeString(c.Value)
			b[len(b)/2] ^= 1
			return q, base64.RawURLEncoding.EncodeToString(b)
		}, ErrInvalidState},
		{"cookie of another provider", func(t *testing.T) (url.Values, string) {
			_, c := browse(t, op, other, "alice", "alicepass")
			q, _ := browse(t, op, p, "alice", "alicepass")
			return q, c.Value
		}, ErrInvalidState},
		{"state mismatch", func(t *testing.T) (url.Values, string) {
			q, _ := browse(t, op, p, "alice", "alicepass")
			_, c2 := browse(t, op, p, "alice", "alicepass")
			return q, c2.Value
		}, ErrInvalidState},
		{"expired cookie", func(t *testing.T) (url.Values, string) {
			q, c := browse(t, op, p, "alice", "alicepass")
			return q, reseal(t, c.Value, func(s *loginState) { s.Expires = time.Now().Add(-time.Second).Unix() })
		}, ErrInvalidState},
		{"PKCE: wrong verifier refused by the token endpoint", func(t *testing.T) (url.Values, string) {
			q, c := browse(t, op, p, "alice", "alicepass")
			return q, reseal(t, c.Value, func(s *loginState) { s.Verifier = strings.Repeat("A", 43) })
		}, ErrCodeRejected},
		{"PKCE: another flow's cookie for this code", func(t *testing.T) (url.Values, string) {
			q, _ := browse(t, op, p, "alice", "alicepass")
			q2, c2 := browse(t, op, p, "alice", "alicepass")
			q.Set("state", q2.Get("state")) // the state matches c2; the code is the first flow's
			return q, c2.Value
		}, ErrCodeRejected},
		{"wrong nonce", func(t *testing.T) (url.Values, string) {
			// The first flow's code and verifier (so the exchange succeeds) with the second
			// flow's nonce: the ID token's nonce is the first flow's.
			q, c := browse(t, op, p, "alice", "alicepass")
			_, c2 := browse(t, op, p, "alice", "alicepass")
			s2, _ := p.open(c2.Value)
			return q, reseal(t, c.Value, func(s *loginState) { s.Nonce = s2.Nonce })
		}, ErrInvalidToken},
		{"no code", func(t *testing.T) (url.Values, string) {
			q, c := browse(t, op, p, "alice", "alicepass")
			q.Del("code")
			return q, c.Value
		}, ErrCodeRejected},
		{"code of another client", func(t *testing.T) (url.Values, string) {
			q, _ := browse(t, op, other, "alice", "alicepass")
			_, c := browse(t, op, p, "alice", "alicepass")
			q2, _ := url.ParseQuery(q.Encode())
			s, _ := p.open(c.Value)
			q2.Set("state", s.State)
			return q2, c.Value
		}, ErrCodeRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, c := tt.run(t)
			id, err := p.Callback(ctx, q, c)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Callback = %+v, %v; want %v", id, err, tt.want)
			}
			t.Log(err)
		})
	}
}

func TestUnverifiedEmailRefused(t *testing.T) {
	t.Parallel()
	op := startOP(t)
	cfg := baseConfig(op)
	cfg.LoginClaim = ClaimEmail
	p := newProvider(t, cfg)
	q, c := browse(t, op, p, "eve", "evepass")
	if _, err := p.Callback(context.Background(), q, c.Value); !errors.Is(err, ErrEmailNotVerified) {
		t.Fatalf("err = %v, want ErrEmailNotVerified", err)
	}
}

func TestReplayedState(t *testing.T) {
	t.Parallel()
	op := startOP(t)
	p := newProvider(t, baseConfig(op))
	q, c := browse(t, op, p, "alice", "alicepass")
	if _, err := p.Callback(context.Background(), q, c.Value); err != nil {
		t.Fatal(err)
	}
	_, err := p.Callback(context.Background(), q, c.Value)
	if !errors.Is(err, ErrInvalidState) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replay: %v, want ErrInvalidState (already used)", err)
	}
}

func TestProviderError(t *testing.T) {
	t.Parallel()
	op := startOP(t)
	p := newProvider(t, baseConfig(op))
	ctx := context.Background()

	// A real error redirect: prompt=none without a session at the provider.
	authURL, c, err := p.Start("/")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := op.Login(nil, authURL+"&prompt=none", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var pe *ProviderError
	if _, err := p.Callback(ctx, cb.Query(), c.Value); !errors.As(err, &pe) || pe.Code != "login_required" {
		t.Fatalf("prompt=none: %v, want ProviderError login_required", err)
	}

	_, c, _ = p.Start("/")
	s, _ := p.open(c.Value)
	tests := []struct {
		name, state, cookie, wantDesc string
	}{
		{"state matches: description shown", s.State, c.Value, "The user\tcancelled."},
		{"state does not match: description dropped", "forged", c.Value, ""},
		{"no cookie: description dropped", s.State, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"error": {"access_denied"}, "error_description": {"The user\tcancelled.\r\n"}, "state": {tt.state}}
			_, err := p.Callback(ctx, q, tt.cookie)
			var pe *ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ProviderError", err)
			}
			want := strings.ReplaceAll(tt.wantDesc, "\t", "")
			if pe.Code != "access_denied" || pe.Description != want {
				t.Errorf("ProviderError %q %q, want access_denied %q", pe.Code, pe.Description, want)
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	op := startOP(t)

	t.Run("issuer mismatch", func(t *testing.T) {
		cfg := baseConfig(op)
		cfg.Issuer = strings.Replace(op.Issuer, "127.0.0.1", "localhost", 1)
		p := newProvider(t, cfg) // not fatal at start
		if p.Ready() {
			t.Fatal("ready with a mismatched issuer")
		}
		p.retry = 0
		if _, _, err := p.Start("/"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "did not match") {
			t.Fatalf("Start: %v, want ErrUnavailable (issuer mismatch)", err)
		}
	})

	t.Run("provider down at start, up later", func(t *testing.T) {
		op2 := startOP(t)
		op2.Stop()
		p := newProvider(t, baseConfig(op2))
		if p.Ready() {
			t.Fatal("ready while the provider is down")
		}
		if _, _, err := p.Start("/"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Start while down: %v", err)
		}
		// Within the retry interval the provider is not asked again.
		op2.Restart(t)
		if _, _, err := p.Start("/"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Start within the retry interval: %v", err)
		}
		p.retry = 0
		q, c := browse(t, op2, p, "alice", "alicepass")
		id, err := p.Callback(context.Background(), q, c.Value)
		if err != nil || id.Login != "alice" {
			t.Fatalf("after restart: %+v %v", id, err)
		}
		if tok := op2.Tokens(t, gwClient, "bob", "bobpass"); tok.AccessToken == "" {
			t.Fatal("no access token")
		}
	})

	t.Run("bad configuration", func(t *testing.T) {
		for _, mut := range []func(*configs.AuthModule){
			func(c *configs.AuthModule) { c.LoginClaim = "name" },
			func(c *configs.AuthModule) { c.SigningAlgorithms = []string{"HS256"} },
			func(c *configs.AuthModule) { c.SigningAlgorithms = []string{"none"} },
			func(c *configs.AuthModule) { c.ReplaceRegexp = "(" },
			func(c *configs.AuthModule) { c.Issuer = "" },
		} {
			cfg := baseConfig(op)
			mut(&cfg)
			if _, err := New(context.Background(), cfg, stateKey, nil); err == nil {
				t.Errorf("New(%+v) accepted", cfg)
			}
		}
		if _, err := New(context.Background(), baseConfig(op), stateKey[:16], nil); err == nil {
			t.Error("short state key accepted")
		}
	})
}

func TestEndSessionURL(t *testing.T) {
	t.Parallel()
	op := startOP(t)
	p := newProvider(t, baseConfig(op))
	q, c := browse(t, op, p, "alice", "alicepass")
	id, err := p.Callback(context.Background(), q, c.Value)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := p.EndSessionURL(id.IDToken, "http://127.0.0.1:9/bye")
	if !ok || !strings.HasPrefix(u, op.Issuer+"end_session?") {
		t.Fatalf("EndSessionURL = %q, %v", u, ok)
	}
	// The provider accepts it and sends the browser to the post-logout URL.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "http://127.0.0.1:9/bye") {
		t.Errorf("end_session answered %s, Location %q", resp.Status, loc)
	}

	cfg := baseConfig(op)
	cfg.ProviderLogout = false
	if u, ok := newProvider(t, cfg).EndSessionURL(id.IDToken, ""); ok || u != "" {
		t.Errorf("provider_logout off: %q %v", u, ok)
	}
}

// view is an authn.RequestView with headers only.
type view map[string]string

func (v view) Header(name string) string { return v[name] }
func (v view) RemoteAddr() netip.Addr    { return netip.MustParseAddr("127.0.0.1") }
func (v view) TLS() bool                 { return false }

func bearer(tok string) view { return view{"Authorization": "Bearer " + tok} }

// signed returns a JWT over claims signed by key with kid.
func signed(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBearer(t *testing.T) {
	t.Parallel()
	op := startOP(t)
	op2 := testenv.StartOIDCProvider(t, gwClient) // another issuer, same client id
	p := newProvider(t, baseConfig(op))
	ctx := context.Background()

	alice := op.Tokens(t, gwClient, "alice", "alicepass")
	eve := op.Tokens(t, gwClient, "eve", "evepass")
	otherTok := op.Tokens(t, otherClient, "bob", "bobpass")
	foreign := op2.Tokens(t, gwClient, "alice", "alicepass")
	idToken, _ := alice.Extra("id_token").(string)

	rogue, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	good := map[string]any{"iss": op.Issuer, "aud": "gateway", "sub": "u-alice", "preferred_username": "alice",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	flipSig := func(tok string) string {
		i := strings.LastIndex(tok, ".")
		sig := []byte(tok[i+1:])
		if sig[5] == 'A' {
			sig[5] = 'B'
		} else {
			sig[5] = 'A'
		}
		return tok[:i+1] + string(sig)
	}
	noneTok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+op.Issuer+`","aud":"gateway","sub":"u-alice","preferred_username":"alice","exp":9999999999}`)) + "."

	tests := []struct {
		name    string
		cfg     func(*configs.AuthModule)
		req     view
		clock   time.Duration // moves the verifier's clock
		want    authn.Outcome
		login   string
		wantErr error
	}{
		{name: "no header", req: view{}, want: authn.NotMine},
		{name: "basic auth", req: view{"Authorization": "Basic YTpi"}, want: authn.NotMine},
		{name: "accept_bearer off", cfg: func(c *configs.AuthModule) { c.AcceptBearer = false }, req: bearer(alice.AccessToken), want: authn.NotMine},
		{name: "JWT access token", req: bearer(alice.AccessToken), want: authn.Authenticated, login: "alice"},
		{name: "scheme case-insensitive", req: view{"Authorization": "bearer  " + alice.AccessToken}, want: authn.Authenticated, login: "alice"},
		{name: "the client's ID token (no preferred_username in it)", cfg: func(c *configs.AuthModule) { c.LoginClaim = ClaimSub }, req: bearer(idToken), want: authn.Authenticated, login: "u-alice"},
		{name: "email claim from the access token", cfg: func(c *configs.AuthModule) { c.LoginClaim = ClaimEmail },
			req: bearer(alice.AccessToken), want: authn.Authenticated, login: "alice@example.com"},
		{name: "unverified email", cfg: func(c *configs.AuthModule) { c.LoginClaim = ClaimEmail },
			req: bearer(eve.AccessToken), wantErr: ErrEmailNotVerified},
		{name: "another audience", req: bearer(otherTok.AccessToken), wantErr: ErrInvalidToken},
		{name: "another audience, accepted", cfg: func(c *configs.AuthModule) { c.BearerAudiences = []string{"gateway", "other"} },
			req: bearer(otherTok.AccessToken), want: authn.Authenticated, login: "bob"},
		{name: "expired", req: bearer(alice.AccessToken), clock: 6 * time.Minute, wantErr: ErrInvalidToken},
		{name: "another issuer", req: bearer(foreign.AccessToken), wantErr: ErrInvalidToken},
		{name: "tampered signature", req: bearer(flipSig(alice.AccessToken)), wantErr: ErrInvalidToken},
		{name: "key not in the JWKS, provider's kid", req: bearer(signed(t, jose.RS256, rogue, op.KeyID(), good)), wantErr: ErrInvalidToken},
		{name: "key not in the JWKS, unknown kid", req: bearer(signed(t, jose.RS256, rogue, "rogue", good)), wantErr: ErrInvalidToken},
		{name: "HS256 with the client secret", req: bearer(signed(t, jose.HS256, []byte("gwsecret-gwsecret-gwsecret-gwsecret"), "", good)), wantErr: ErrInvalidToken},
		{name: "alg none", req: bearer(noneTok), wantErr: ErrInvalidToken},
		{name: "algorithm not allowed", cfg: func(c *configs.AuthModule) { c.SigningAlgorithms = []string{"ES256"} },
			req: bearer(alice.AccessToken), wantErr: ErrInvalidToken},
		{name: "garbage", req: bearer("abc"), wantErr: ErrInvalidToken},
		{name: "opaque token", req: bearer(strings.Repeat("x", 40)), wantErr: ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pp := p
			if tt.cfg != nil {
				cfg := baseConfig(op)
				tt.cfg(&cfg)
				pp = newProvider(t, cfg)
			}
			if tt.clock != 0 {
				pp = newProvider(t, baseConfig(op))
				pp.now = func() time.Time { return time.Now().Add(tt.clock) }
			}
			res, err := pp.AuthenticateRequest(ctx, tt.req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("= %v, %v; want %v (and ErrInvalidToken)", res, err, tt.wantErr)
				}
				return
			}
			if err != nil || res.Outcome != tt.want || res.Login != tt.login {
				t.Fatalf("= %+v, %v; want %v %q", res, err, tt.want, tt.login)
			}
		})
	}

	t.Run("password module", func(t *testing.T) {
		res, err := p.Authenticate(ctx, authn.Credentials{Login: "alice", Password: "alicepass"})
		if err != nil || res.Outcome != authn.NotMine {
			t.Fatalf("Authenticate = %v %v", res, err)
		}
		if p.Name() != "test" || p.Label() != "test" {
			t.Errorf("Name %q Label %q", p.Name(), p.Label())
		}
	})

	t.Run("provider down: a fault, not an invalid token", func(t *testing.T) {
		op3 := startOP(t)
		tok := op3.Tokens(t, gwClient, "alice", "alicepass")
		p3 := newProvider(t, baseConfig(op3)) // discovered, keys not fetched yet
		op3.Stop()
		_, err := p3.AuthenticateRequest(ctx, bearer(tok.AccessToken))
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
			t.Fatalf("err = %v, want ErrUnavailable only", err)
		}
	})
}

// TestKeyRotation proves that a rotated signing key is followed (the unknown kid makes the
// key set refetch the JWKS), that the keys are cached otherwise, and that made-up key ids
// cannot make gatehouse fetch the JWKS more than once per minRefetch.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	op := startOP(t)
	p := newProvider(t, baseConfig(op))
	ctx := context.Background()
	clock := time.Now()
	p.now = func() time.Time { return clock }

	check := func(tok, want string) {
		t.Helper()
		res, err := p.AuthenticateRequest(ctx, bearer(tok))
		if want == "" {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("= %v %v, want ErrInvalidToken", res, err)
			}
			return
		}
		if err != nil || res.Login != want {
			t.Fatalf("= %+v %v, want %q", res, err, want)
		}
	}
	fetches := func(want int64) {
		t.Helper()
		if got := op.KeyFetches(); got != want {
			t.Fatalf("JWKS fetched %d times, want %d", got, want)
		}
	}

	old := op.Tokens(t, gwClient, "alice", "alicepass")
	for range 100 {
		check(old.AccessToken, "alice")
	}
	fetches(1) // cached

	// Graceful rotation: the old key stays published.
	clock = clock.Add(minRefetch + time.Second)
	op.RotateKey(true)
	rotated := op.Tokens(t, gwClient, "bob", "bobpass")
	check(rotated.AccessToken, "bob")
	fetches(2)
	check(old.AccessToken, "alice")
	fetches(2)

	// Hard rotation: only the new key is published. A token of the withdrawn key is refused
	// once the key set has been refetched.
	clock = clock.Add(minRefetch + time.Second)
	op.RotateKey(false)
	hard := op.Tokens(t, gwClient, "alice", "alicepass")
	check(hard.AccessToken, "alice")
	fetches(3)
	check(old.AccessToken, "")
	fetches(3) // within minRefetch: no refetch for it

	// A flood of made-up key ids: at most one fetch per minRefetch.
	rogue, _ := rsa.GenerateKey(rand.Reader, 2048)
	claims := map[string]any{"iss": op.Issuer, "aud": "gateway", "sub": "x", "preferred_username": "x", "exp": clock.Add(time.Hour).Unix()}
	for i := range 50 {
		check(signed(t, jose.RS256, rogue, "rogue-"+string(rune('a'+i%26)), claims), "")
	}
	fetches(3)
	clock = clock.Add(minRefetch + time.Second)
	for range 50 {
		check(signed(t, jose.RS256, rogue, "rogue", claims), "")
	}
	fetches(4)
	// Genuine tokens keep working from the cache meanwhile.
	check(hard.AccessToken, "alice")
	fetches(4)
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"access_denied": "access_denied", "": "error", "a\"b\\c\r\nd<é>": "abcd<>",
		strings.Repeat("x", 100): strings.Repeat("x", 64),
	} {
		if got := cleanErrorCode(in); got != want {
			t.Errorf("cleanErrorCode(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cleanDescription(strings.Repeat("é", 150)); len(got) != 200 {
		t.Errorf("cleanDescription: %d bytes", len(got))
	}
	for in, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Bearer": "", "Bearer ": "", "Basic abc": "", "": ""} {
		if got, ok := bearerToken(in); got != want || ok != (want != "") {
			t.Errorf("bearerToken(%q) = %q %v", in, got, ok)
		}
	}
	for in, want := range map[string]flexBool{`true`: true, `false`: false, `"true"`: true, `"TRUE"`: true, `"false"`: false, `1`: false, `null`: false} {
		var f flexBool
		if err := f.UnmarshalJSON([]byte(in)); err != nil || f != want {
			t.Errorf("flexBool(%s) = %v %v", in, f, err)
		}
	}
	if got := CookieName("corp-sso_1"); got != "gatehouse_oidc_corp-sso_1" {
		t.Error(got)
	}
	if got := CookieName("a b;c"); got != "gatehouse_oidc_a_b_c" {
		t.Error(got)
	}

	u := newUsedStates(2)
	if ok, _ := u.consume("a", 100, 10); !ok {
		t.Error("fresh state refused")
	}
	if ok, _ := u.consume("a", 100, 20); ok {
		t.Error("replay accepted")
	}
	if ok, _ := u.consume("b", 100, 20); !ok {
		t.Error("second state refused")
	}
	if _, err := u.consume("c", 100, 20); err == nil {
		t.Error("full set accepted a state")
	}
	if ok, err := u.consume("c", 300, 200); !ok || err != nil { // a and b expired: swept
		t.Errorf("after expiry: %v %v", ok, err)
	}
}

// BenchmarkVerifyBearer measures bearer-token verification with cached keys (one RS256
// signature check, claim parsing, audience and login claim).
func BenchmarkVerifyBearer(b *testing.B) {
	op := testenv.StartOIDCProvider(b, gwClient)
	p := newProvider(b, baseConfig(op))
	tok := op.Tokens(b, gwClient, "alice", "alicepass").AccessToken
	ctx := context.Background()
	if _, err := p.VerifyBearer(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.VerifyBearer(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.VerifyBearer(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	if n := op.KeyFetches(); n != 1 {
		b.Fatalf("JWKS fetched %d times", n)
	}
}
