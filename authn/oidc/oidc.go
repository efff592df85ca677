// Package oidc is the OpenID Connect module: sign-in with an OpenID provider (authorization
// code flow with PKCE S256, state and nonce) and, optionally, acceptance of the provider's
// signed JWTs as `Authorization: Bearer` tokens.
//
// It is framework-free: the gateway's handlers call Start (GET /.gatehouse/oidc/{name}/start),
// Callback (GET …/callback) and EndSessionURL (logout), and run the Provider as an
// authn.RequestModule for bearer tokens. After Callback or AuthenticateRequest proved a login,
// the gateway hands it to authn.Chain.Complete for the customer-user lookup and validity.
//
// Discovery is lazy: a provider that is down when gatehouse starts does not stop it; discovery
// is retried on use (at most once per retryInterval) and a failure then is a fault
// (ErrUnavailable).
package oidc

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// Sentinel errors. Callback and AuthenticateRequest wrap them; *ProviderError is the one
// typed error (the provider's own error response).
var (
	// ErrUnavailable is a fault: discovery, the token, userinfo or JWKS endpoint could not be
	// reached or answered 5xx. The gateway answers 503 (or tries the next module).
	ErrUnavailable = errors.New("openid provider unavailable")
	// ErrInvalidState: the state cookie is missing, expired, tampered with, for another
	// provider, does not match the state parameter, or was already used. The browser should
	// start the login again.
	ErrInvalidState = errors.New("invalid or expired login state")
	// ErrCodeRejected: the token endpoint refused the authorization code (invalid_grant: a
	// wrong PKCE verifier, an expired or reused code).
	ErrCodeRejected = errors.New("the openid provider refused the authorization code")
	// ErrInvalidToken: an ID token or bearer token failed verification (signature, issuer,
	// audience, expiry, nonce, algorithm) or names no usable login. For a bearer token the
	// gateway answers 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
	ErrInvalidToken = errors.New("invalid token")
	// ErrNoLoginClaim: the configured login claim is absent or empty (wrapped together with
	// ErrInvalidToken for bearer tokens).
	ErrNoLoginClaim = errors.New("login claim missing")
	// ErrEmailNotVerified: login_claim is email and email_verified is not true, while
	// allow_unverified_email is off.
	ErrEmailNotVerified = errors.New("email address not verified by the openid provider")
)

// Defaults.
const (
	// DefaultTimeout bounds each call to the provider when the config sets none.
	DefaultTimeout = 10 * time.Second
	// StateLifetime is how long a started login may take at the provider.
	StateLifetime = 10 * time.Minute
	// retryInterval spaces discovery attempts while the provider is down, so a burst of bearer
	// requests does not become a burst of discovery requests.
	retryInterval = 5 * time.Second
)

// Login claims.
const (
	ClaimPreferredUsername = "preferred_username"
	ClaimEmail             = "email"
	ClaimSub               = "sub"
)

// supportedAlgs are the asymmetric JWS algorithms go-oidc verifies; "none" and HMAC are never
// accepted (an HMAC key would be the client secret, which the provider also knows).
var supportedAlgs = []string{
	gooidc.RS256, gooidc.RS384, gooidc.RS512,
	gooidc.ES256, gooidc.ES384, gooidc.ES512,
	gooidc.PS256, gooidc.PS384, gooidc.PS512,
	gooidc.EdDSA,
}

// Provider is one configured OpenID provider. It is safe for concurrent use.
type Provider struct {
	name          string
	label         string
	cfg           configs.AuthModule
	log           *slog.Logger
	client        *http.Client
	scopes        []string
	audiences     []string
	replaceRegexp *regexp.Regexp
	cookieName    string
	aead          cipher.AEAD
	used          *usedStates

	// now is the clock for token expiry, state lifetime and JWKS refetch spacing; tests move it.
	now func() time.Time
	// retry spaces discovery attempts (retryInterval; tests shorten it).
	retry time.Duration

	disc    atomic.Pointer[discovered]
	mu      sync.Mutex // serialises discovery attempts
	lastTry time.Time
	lastErr error
}

// discovered is what discovery yields; immutable once built.
type discovered struct {
	op         *gooidc.Provider
	oauth      oauth2.Config
	keys       *keySet
	idVerifier *gooidc.IDTokenVerifier
	bearer     *gooidc.IDTokenVerifier
	endSession string
}

// New builds the provider for cfg. stateKey (32 bytes, from the gateway) seals the state
// cookie. Discovery is tried once, bounded by the timeout; if the provider is down the
// failure is logged and retried on first use, so New only fails on a bad configuration.
func New(ctx context.Context, cfg configs.AuthModule, stateKey []byte, log *slog.Logger) (*Provider, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		return nil, errors.New("oidc: name is required")
	}
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, fmt.Errorf("oidc %s: issuer and client_id are required", cfg.Name)
	}
	if len(stateKey) < 32 {
		return nil, fmt.Errorf("oidc %s: state key must be at least 32 bytes, got %d", cfg.Name, len(stateKey))
	}
	switch cfg.LoginClaim {
	case "":
		cfg.LoginClaim = ClaimPreferredUsername
	case ClaimPreferredUsername, ClaimEmail, ClaimSub:
	default:
		return nil, fmt.Errorf("oidc %s: login_claim %q: want preferred_username, email or sub", cfg.Name, cfg.LoginClaim)
	}
	if cfg.LoginClaim == ClaimPreferredUsername {
		// Some providers let users choose it (Keycloak with username editing, multi-tenant
		// Azure AD, social logins): whoever picks a customer's login would sign in as them.
		log.Warn("oidc login_claim is preferred_username: only safe when the provider does not let users set or reuse it; otherwise use sub or a verified email",
			"provider", cfg.Name)
	}
	for _, a := range cfg.SigningAlgorithms {
		if !slices.Contains(supportedAlgs, a) {
			return nil, fmt.Errorf("oidc %s: signing algorithm %q not supported (want one of %s)", cfg.Name, a, strings.Join(supportedAlgs, ", "))
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	p := &Provider{
		name:       cfg.Name,
		label:      cfg.Label,
		cfg:        cfg,
		log:        log.With("module", cfg.Name),
		client:     &http.Client{Timeout: cfg.Timeout},
		scopes:     cfg.Scopes,
		audiences:  cfg.BearerAudiences,
		cookieName: CookieName(cfg.Name),
		used:       newUsedStates(maxUsedStates),
		now:        time.Now,
		retry:      retryInterval,
	}
	if p.label == "" {
		p.label = cfg.Name
	}
	if len(p.scopes) == 0 {
		p.scopes = []string{gooidc.ScopeOpenID, "profile", "email"}
	}
	if !slices.Contains(p.scopes, gooidc.ScopeOpenID) {
		// Without openid there is no ID token, and so no proof of who signed in.
		p.scopes = append([]string{gooidc.ScopeOpenID}, p.scopes...)
	}
	if len(p.audiences) == 0 {
		p.audiences = []string{cfg.ClientID}
	}
	if cfg.ReplaceRegexp != "" {
		re, err := regexp.Compile(cfg.ReplaceRegexp)
		if err != nil {
			return nil, fmt.Errorf("oidc %s: replace_regexp: %w", cfg.Name, err)
		}
		p.replaceRegexp = re
	}
	aead, err := stateAEAD(stateKey, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("oidc %s: %w", cfg.Name, err)
	}
	p.aead = aead

	if _, err := p.discover(ctx); err != nil {
		p.log.Warn("openid provider discovery failed; retried on first use", "issuer", cfg.Issuer, "err", err)
	}
	return p, nil
}

// Name implements authn.Module: the provider's name (the URL segment).
func (p *Provider) Name() string { return p.name }

// Label is the text of the provider's button on the login page.
func (p *Provider) Label() string { return p.label }

// CookieName is the state cookie's name (also StateCookie.Name).
func (p *Provider) CookieName() string { return p.cookieName }

// Authenticate implements authn.Module: an OpenID provider never checks passwords.
func (p *Provider) Authenticate(context.Context, authn.Credentials) (authn.Result, error) {
	return authn.Result{Outcome: authn.NotMine}, nil
}

// CookieName returns the state cookie name for provider name: gatehouse_oidc_<name>, with any
// byte that is not a letter, digit, '-' or '_' replaced by '_' (cookie-name safe).
func CookieName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return "gatehouse_oidc_" + string(b)
}

// httpContext carries the module's HTTP client (with its timeout) to go-oidc and oauth2.
func (p *Provider) httpContext(ctx context.Context) context.Context {
	return gooidc.ClientContext(ctx, p.client)
}

// Ready reports whether discovery has succeeded (for readiness checks; it does not call the
// provider).
func (p *Provider) Ready() bool { return p.disc.Load() != nil }

// discover returns the discovery result, fetching it if needed. While the provider is down,
// attempts are spaced by retryInterval; callers in between get the last error at once.
func (p *Provider) discover(ctx context.Context) (*discovered, error) {
	if d := p.disc.Load(); d != nil {
		return d, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.disc.Load(); d != nil {
		return d, nil
	}
	if p.lastErr != nil && time.Since(p.lastTry) < p.retry {
		return nil, fmt.Errorf("oidc %s: %w: discovery: %v", p.name, ErrUnavailable, p.lastErr)
	}
	p.lastTry = time.Now()
	d, err := p.fetchDiscovery(ctx)
	if err != nil {
		p.lastErr = err
		return nil, fmt.Errorf("oidc %s: %w: discovery: %v", p.name, ErrUnavailable, err)
	}
	p.lastErr = nil
	p.disc.Store(d)
	p.log.Info("openid provider discovered", "issuer", p.cfg.Issuer)
	return d, nil
}

func (p *Provider) fetchDiscovery(ctx context.Context) (*discovered, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	// go-oidc refuses a discovery document whose issuer differs from the configured one, and
	// every token's iss is then checked against it.
	op, err := gooidc.NewProvider(p.httpContext(ctx), p.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		JWKSURI    string   `json:"jwks_uri"`
		EndSession string   `json:"end_session_endpoint"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	if meta.JWKSURI == "" {
		return nil, errors.New("discovery document has no jwks_uri")
	}
	algs := p.cfg.SigningAlgorithms
	if len(algs) == 0 {
		// The provider's advertised algorithms, minus anything go-oidc does not verify.
		for _, a := range meta.Algs {
			if slices.Contains(supportedAlgs, a) {
				algs = append(algs, a)
			}
		}
		if len(algs) == 0 {
			algs = []string{gooidc.RS256}
		}
	}
	now := func() time.Time { return p.now() }
	keys := newKeySet(meta.JWKSURI, p.client, algs, p.log, now)
	return &discovered{
		op: op,
		oauth: oauth2.Config{
			ClientID:     p.cfg.ClientID,
			ClientSecret: p.cfg.ClientSecret,
			Endpoint:     op.Endpoint(),
			RedirectURL:  p.cfg.RedirectURL,
			Scopes:       p.scopes,
		},
		keys: keys,
		idVerifier: gooidc.NewVerifier(p.cfg.Issuer, keys, &gooidc.Config{
			ClientID:             p.cfg.ClientID,
			SupportedSigningAlgs: algs,
			Now:                  now,
		}),
		// The audience of a bearer token is checked against bearer_audiences afterwards.
		bearer: gooidc.NewVerifier(p.cfg.Issuer, keys, &gooidc.Config{
			SkipClientIDCheck:    true,
			SupportedSigningAlgs: algs,
			Now:                  now,
		}),
		endSession: meta.EndSession,
	}, nil
}
