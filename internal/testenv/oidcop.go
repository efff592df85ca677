package testenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"
	"golang.org/x/text/language"
)

// OIDCProvider is a real OpenID provider (zitadel/oidc v3's pkg/op with the example storage
// and a login form like the example's) running in-process on 127.0.0.1 for the test. Its clients and users are its own (not the
// example storage's package-global client map), so tests may start several in parallel.
//
// Endpoints: discovery /.well-known/openid-configuration, authorize /auth, token
// /oauth/token, userinfo /userinfo, JWKS /keys, end session /end_session; the login form is
// /login/username. The ID token carries no email or names when an access token is issued
// (they come from userinfo) unless the client sets UserinfoInIDToken; JWT access tokens carry
// preferred_username, email and email_verified (as Keycloak's do).
type OIDCProvider struct {
	// Issuer is the issuer URL, http://127.0.0.1:PORT/ (with the trailing slash).
	Issuer string

	store      *opStorage
	handler    http.Handler
	srv        *http.Server
	down       atomic.Bool
	keyFetches atomic.Int64
}

// OIDCClient is a client registered at the test provider.
type OIDCClient struct {
	ID     string
	Secret string // empty: a public client (auth method none, PKCE only)
	// RedirectURIs are the allowed redirect_uri values (http allowed: dev mode).
	RedirectURIs []string
	// PostLogoutRedirectURIs are the allowed post_logout_redirect_uri values.
	PostLogoutRedirectURIs []string
	// JWTAccessToken issues JWT access tokens (aud = the client id) instead of opaque ones.
	JWTAccessToken bool
	// IDTokenLifetime defaults to one hour.
	IDTokenLifetime time.Duration
	// UserinfoInIDToken puts the profile and email claims into the ID token as well.
	UserinfoInIDToken bool
}

// OIDCUser is a user of the test provider.
type OIDCUser struct {
	ID, Username, Password string
	FirstName, LastName    string
	Email                  string
	EmailVerified          bool
}

// DefaultOIDCUsers are the users every test provider starts with.
var DefaultOIDCUsers = []OIDCUser{
	{ID: "u-alice", Username: "alice", Password: "alicepass", FirstName: "Alice", LastName: "Example", Email: "alice@example.com", EmailVerified: true},
	{ID: "u-bob", Username: "bob", Password: "bobpass", FirstName: "Bob", LastName: "Builder", Email: "bob@example.com", EmailVerified: true},
	{ID: "u-jmuller", Username: "jmuller", Password: "jmullerpass", FirstName: "Jürgen", LastName: "Müller", Email: "jmuller@example.com", EmailVerified: true},
	// eve's address is not verified: login_claim email must refuse her unless allowed.
	{ID: "u-eve", Username: "eve", Password: "evepass", FirstName: "Eve", LastName: "Unverified", Email: "eve@example.com", EmailVerified: false},
}

// StartOIDCProvider starts a provider with DefaultOIDCUsers and the given clients; it stops
// with the test.
func StartOIDCProvider(t testing.TB, clients ...OIDCClient) *OIDCProvider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := fmt.Sprintf("http://%s/", ln.Addr().String())
	users := &opUsers{users: map[string]*storage.User{}}
	for _, u := range DefaultOIDCUsers {
		users.add(u)
	}
	st := &opStorage{
		// The example storage is used for auth requests, codes, tokens and the login form;
		// clients and keys are answered by opStorage. The client map given here stays empty.
		Storage: storage.NewStorageWithClients(users, map[string]*storage.Client{}),
		users:   users,
		clients: map[string]*OIDCClient{},
	}
	st.rotate(false)
	for _, c := range clients {
		st.addClient(c)
	}
	o := &OIDCProvider{Issuer: issuer, store: st}
	router, err := newOPRouter(issuer, st)
	if err != nil {
		t.Fatal(err)
	}
	o.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.down.Load() {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		}
		if r.URL.Path == "/keys" {
			o.keyFetches.Add(1)
		}
		router.ServeHTTP(w, r)
	})
	o.serve(ln)
	t.Cleanup(o.shutdown)
	return o
}

func (o *OIDCProvider) serve(ln net.Listener) {
	o.srv = &http.Server{Handler: o.handler, ReadHeaderTimeout: 10 * time.Second}
	srv := o.srv
	go func() { _ = srv.Serve(ln) }()
}

func (o *OIDCProvider) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = o.srv.Shutdown(ctx)
}

// Stop simulates an outage: until Restart, every connection is closed without an answer (the
// client sees a transport error, as from a crashed provider). The port stays bound, so no
// other process can take it meanwhile; state (keys, clients, users) is kept.
func (o *OIDCProvider) Stop() {
	o.down.Store(true)
	o.srv.SetKeepAlivesEnabled(false)
}

// Restart ends the outage Stop began.
func (o *OIDCProvider) Restart(t testing.TB) {
	t.Helper()
	o.down.Store(false)
	o.srv.SetKeepAlivesEnabled(true)
}

// AddClient registers (or replaces) a client.
func (o *OIDCProvider) AddClient(c OIDCClient) { o.store.addClient(c) }

// AddUser adds (or replaces) a user.
func (o *OIDCProvider) AddUser(u OIDCUser) { o.store.users.add(u) }

// RotateKey makes a new RSA signing key current. keepOld keeps the old public key in the
// JWKS (a graceful rotation); otherwise the JWKS holds only the new key. It returns the new
// key id.
func (o *OIDCProvider) RotateKey(keepOld bool) string { return o.store.rotate(keepOld) }

// KeyID returns the current signing key id.
func (o *OIDCProvider) KeyID() string {
	o.store.mu.RLock()
	defer o.store.mu.RUnlock()
	return o.store.keys[0].id
}

// KeyFetches counts GET /keys (JWKS) requests served.
func (o *OIDCProvider) KeyFetches() int64 { return o.keyFetches.Load() }

// Login plays the browser from authURL (the provider's authorization URL): it follows the
// redirects to the login form, posts username and password, and follows the provider's
// redirects until one leaves the provider (the client's redirect_uri), which it returns with
// its code, state or error parameters, without requesting it. client keeps the provider's
// cookies between calls; nil uses a fresh cookie jar.
func (o *OIDCProvider) Login(client *http.Client, authURL, username, password string) (*url.URL, error) {
	c := o.browser(client)
	resp, err := c.Get(authURL)
	if err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "" { // straight back to the client (an error)
		return resp.Request.URL.Parse(loc)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Request.URL.Path, "/login/username") {
		return nil, fmt.Errorf("authorize: %s at %s: %.200s", resp.Status, resp.Request.URL, body)
	}
	id := resp.Request.URL.Query().Get("authRequestID")
	form := url.Values{"id": {id}, "username": {username}, "password": {password}}
	resp, err = c.PostForm(o.Issuer+"login/username", form)
	if err != nil {
		return nil, fmt.Errorf("login form: %w", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%w: %s: %.300s", ErrOIDCLoginFailed, resp.Status, body)
	}
	return resp.Request.URL.Parse(loc)
}

// Tokens runs the code flow (with PKCE) for client c as user username and returns the token
// response: access token, ID token (tok.Extra("id_token")), for tests that need a bearer
// token without a gateway. scopes default to openid, profile and email.
func (o *OIDCProvider) Tokens(t testing.TB, c OIDCClient, username, password string, scopes ...string) *oauth2.Token {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile", "email"}
	}
	if len(c.RedirectURIs) == 0 {
		t.Fatal("oidc test provider: client has no redirect URI")
	}
	cfg := oauth2.Config{
		ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: c.RedirectURIs[0], Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: o.Issuer + "auth", TokenURL: o.Issuer + "oauth/token"},
	}
	verifier := oauth2.GenerateVerifier()
	state := RandomName("state-")
	cb, err := o.Login(nil, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", RandomName("n-"))), username, password)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query().Get("state") != state || cb.Query().Get("code") == "" {
		t.Fatalf("oidc test provider: bad callback %s", cb.Redacted())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := cfg.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("oidc test provider: token exchange: %v", err)
	}
	return tok
}

// ErrOIDCLoginFailed: the provider's login form did not accept the user (it shows the form
// again with an error).
var ErrOIDCLoginFailed = errors.New("oidc test provider: login refused")

// browser returns an http.Client that follows redirects within the provider only.
func (o *OIDCProvider) browser(client *http.Client) *http.Client {
	c := &http.Client{Timeout: 10 * time.Second}
	if client != nil {
		*c = *client
	}
	if c.Jar == nil {
		c.Jar, _ = cookiejar.New(nil)
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 10 {
			return errors.New("too many redirects")
		}
		if !strings.HasPrefix(req.URL.String(), o.Issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return c
}

// newOPRouter assembles the provider as zitadel's exampleop.SetupServer does (same op.Config,
// the /auth endpoint, the login form at /login/username) without exampleop's request log,
// which writes every request to slog's default logger and would flood test output. (The OP
// still warns there about the requests it refuses.)
func newOPRouter(issuer string, st *opStorage) (http.Handler, error) {
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                sha256.Sum256([]byte("gatehouse test op")),
		CryptoKeyId:              "crypto1",
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
	}, st, op.StaticIssuer(issuer),
		op.WithAllowInsecure(),
		op.WithCustomAuthEndpoint(op.NewEndpoint("auth")),
	)
	if err != nil {
		return nil, err
	}
	callback := op.AuthCallbackURL(provider)
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/username", func(w http.ResponseWriter, r *http.Request) {
		renderOPLogin(w, r.URL.Query().Get("authRequestID"), "")
	})
	mux.Handle("POST /login/username", interceptor.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.FormValue("id")
		if err := st.CheckUsernamePassword(r.FormValue("username"), r.FormValue("password"), id); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			renderOPLogin(w, id, err.Error())
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	}))
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "signed out successfully")
	})
	mux.Handle("/", provider)
	return mux, nil
}

var opLoginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html><head><title>Test OP login</title></head><body>
<form method="POST" action="/login/username">
<input type="hidden" name="id" value="{{.ID}}">
<label>Username <input name="username"></label>
<label>Password <input type="password" name="password"></label>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<button type="submit">Login</button>
</form></body></html>`))

func renderOPLogin(w http.ResponseWriter, id, errMsg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = opLoginPage.Execute(w, struct{ ID, Error string }{id, errMsg})
}

// opStorage is the example storage with our clients, users and rotating keys.
type opStorage struct {
	*storage.Storage
	users *opUsers

	mu      sync.RWMutex
	clients map[string]*OIDCClient
	keys    []*opKey // keys[0] signs; all are published
}

var _ op.Storage = (*opStorage)(nil)

func (s *opStorage) addClient(c OIDCClient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = &c
}

func (s *opStorage) rotate(keepOld bool) string {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	k := &opKey{id: RandomName("kid-"), key: key}
	s.mu.Lock()
	defer s.mu.Unlock()
	if keepOld {
		s.keys = append([]*opKey{k}, s.keys...)
	} else {
		s.keys = []*opKey{k}
	}
	return k.id
}

// GetClientByClientID implements op.Storage.
func (s *opStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, errors.New("client not found")
	}
	return opClient{c}, nil
}

// AuthorizeClientIDSecret implements op.Storage.
func (s *opStorage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok || c.Secret != secret {
		return errors.New("invalid client")
	}
	return nil
}

// SigningKey implements op.Storage: the current key (asked for each token).
func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys[0], nil
}

// SignatureAlgorithms implements op.Storage.
func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.Storage: the published keys (the JWKS).
func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]op.Key, len(s.keys))
	for i, k := range s.keys {
		out[i] = opPublicKey{k}
	}
	return out, nil
}

// GetPrivateClaimsFromScopes implements op.Storage: JWT access tokens carry the user's
// preferred_username, email and email_verified.
func (s *opStorage) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	claims, err := s.Storage.GetPrivateClaimsFromScopes(ctx, userID, clientID, scopes)
	if err != nil {
		return nil, err
	}
	if u := s.users.GetUserByID(userID); u != nil {
		if claims == nil {
			claims = map[string]any{}
		}
		claims["preferred_username"] = u.Username
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	return claims, nil
}

type opKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *opKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *opKey) Key() any                                    { return k.key }
func (k *opKey) ID() string                                  { return k.id }

type opPublicKey struct{ k *opKey }

func (p opPublicKey) ID() string                         { return p.k.id }
func (p opPublicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p opPublicKey) Use() string                        { return "sig" }
func (p opPublicKey) Key() any                           { return &p.k.key.PublicKey }

// opClient adapts OIDCClient to op.Client.
type opClient struct{ c *OIDCClient }

func (c opClient) GetID() string                    { return c.c.ID }
func (c opClient) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c opClient) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c opClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c opClient) AuthMethod() zoidc.AuthMethod {
	if c.c.Secret == "" {
		return zoidc.AuthMethodNone
	}
	return zoidc.AuthMethodBasic
}
func (c opClient) ResponseTypes() []zoidc.ResponseType {
	return []zoidc.ResponseType{zoidc.ResponseTypeCode}
}
func (c opClient) GrantTypes() []zoidc.GrantType {
	return []zoidc.GrantType{zoidc.GrantTypeCode, zoidc.GrantTypeRefreshToken}
}
func (c opClient) LoginURL(id string) string { return "/login/username?authRequestID=" + id }
func (c opClient) AccessTokenType() op.AccessTokenType {
	if c.c.JWTAccessToken {
		return op.AccessTokenTypeJWT
	}
	return op.AccessTokenTypeBearer
}
func (c opClient) IDTokenLifetime() time.Duration {
	if c.c.IDTokenLifetime > 0 {
		return c.c.IDTokenLifetime
	}
	return time.Hour
}
func (c opClient) DevMode() bool { return true }
func (c opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c opClient) IsScopeAllowed(string) bool           { return false }
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return c.c.UserinfoInIDToken }
func (c opClient) ClockSkew() time.Duration             { return 0 }

// opUsers implements storage.UserStore, guarded so tests may add users while it runs.
type opUsers struct {
	mu    sync.RWMutex
	users map[string]*storage.User
}

func (u *opUsers) add(x OIDCUser) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.users[x.ID] = &storage.User{
		ID: x.ID, Username: x.Username, Password: x.Password,
		FirstName: x.FirstName, LastName: x.LastName,
		Email: x.Email, EmailVerified: x.EmailVerified,
		PreferredLanguage: language.English,
	}
}

func (u *opUsers) GetUserByID(id string) *storage.User {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return u.users[id]
}

func (u *opUsers) GetUserByUsername(name string) *storage.User {
	u.mu.RLock()
	defer u.mu.RUnlock()
	for _, x := range u.users {
		if x.Username == name {
			return x
		}
	}
	return nil
}

func (u *opUsers) ExampleClientID() string { return storage.ServiceUserID }
