package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-sso/gatehouse/authn/header"
)

// MaxRDBytes bounds the rd that Start carries in the state cookie.
const MaxRDBytes = 2048

// ErrRDTooLong: Start's rd is longer than MaxRDBytes.
var ErrRDTooLong = errors.New("redirect target too long")

// ProviderError is the provider's error response on the callback (error, error_description;
// RFC 6749 §4.1.2.1), e.g. access_denied when the user cancelled. The gateway shows it on the
// login page (HTML-escaped, as every template value).
type ProviderError struct {
	// Code is the error parameter, restricted to RFC 6749's character set.
	Code string
	// Description is error_description, kept only when the callback's state matched the
	// state cookie, so that a crafted link cannot put arbitrary text on gatehouse's login page.
	// Control characters are removed and it is cut to 200 bytes.
	Description string
}

func (e *ProviderError) Error() string {
	if e.Description == "" {
		return "openid provider: " + e.Code
	}
	return "openid provider: " + e.Code + ": " + e.Description
}

// Identity is who signed in, as the provider said.
type Identity struct {
	// Login is the login claim after replace / replace_regexp: the customer-user login to look up.
	Login string
	// Email is the email claim ("" when absent or, unless allow_unverified_email, unverified).
	Email string
	// GivenName, FamilyName and Name are the profile claims (for auto_create).
	GivenName, FamilyName, Name string
	// Subject is the provider's sub.
	Subject string
	// IDToken is the raw ID token, for id_token_hint on logout. Never log it.
	IDToken string
	// RD is the redirect target given to Start. The gateway validates it again before use.
	RD string
}

// Start begins a login: it returns the provider's authorization URL (code flow, PKCE S256,
// state, nonce) and the state cookie to set before redirecting the browser there. rd is
// carried through unchanged and returned in Identity.RD; validate it before and after. An rd
// longer than MaxRDBytes is refused (ErrRDTooLong): browsers drop cookies over 4 KiB.
// A discovery failure is an ErrUnavailable fault.
func (p *Provider) Start(rd string) (authURL string, cookie StateCookie, err error) {
	if len(rd) > MaxRDBytes {
		return "", StateCookie{}, fmt.Errorf("oidc %s: %w", p.name, ErrRDTooLong)
	}
	d, err := p.discover(context.Background())
	if err != nil {
		return "", StateCookie{}, err
	}
	var s loginState
	if s.State, err = randomString(32); err == nil {
		if s.Nonce, err = randomString(32); err == nil {
			s.Verifier = oauth2.GenerateVerifier() // 32 random bytes, RFC 7636 §4.1
		}
	}
	if err != nil {
		return "", StateCookie{}, fmt.Errorf("oidc %s: random: %w", p.name, err)
	}
	s.Provider = p.name
	s.RD = rd
	s.Expires = p.now().Add(StateLifetime).Unix()
	value, err := p.seal(s)
	if err != nil {
		return "", StateCookie{}, fmt.Errorf("oidc %s: seal state: %w", p.name, err)
	}
	authURL = d.oauth.AuthCodeURL(s.State, gooidc.Nonce(s.Nonce), oauth2.S256ChallengeOption(s.Verifier))
	return authURL, StateCookie{Name: p.cookieName, Value: value, MaxAge: StateLifetime}, nil
}

// Callback completes a login from the callback's query and the state cookie's value. In order:
// the provider's error parameter (*ProviderError); the state cookie (authentic, this provider,
// not expired) against the state parameter, constant time, and not used before (ErrInvalidState);
// the code exchange with the PKCE verifier (ErrCodeRejected, or ErrUnavailable); the ID token
// (signature against the JWKS, issuer, audience = client_id, expiry, allowed algorithms,
// nonce, at_hash: ErrInvalidToken); then the login claim, from userinfo when the ID token lacks
// it (ErrNoLoginClaim, ErrEmailNotVerified), rewritten by replace / replace_regexp.
//
// The gateway clears the state cookie whatever the outcome.
func (p *Provider) Callback(ctx context.Context, query url.Values, cookieValue string) (*Identity, error) {
	if code := query.Get("error"); code != "" {
		pe := &ProviderError{Code: cleanErrorCode(code)}
		if s, err := p.open(cookieValue); err == nil && stateEqual(s.State, query.Get("state")) {
			pe.Description = cleanDescription(query.Get("error_description"))
			_, _ = p.used.consume(s.State, s.Expires, p.now().Unix())
		}
		p.log.Info("openid provider returned an error", "error", pe.Code)
		return nil, pe
	}
	s, err := p.open(cookieValue)
	if err != nil {
		return nil, fmt.Errorf("oidc %s: %w: %v", p.name, ErrInvalidState, err)
	}
	if !stateEqual(s.State, query.Get("state")) {
		return nil, fmt.Errorf("oidc %s: %w: state parameter does not match the cookie", p.name, ErrInvalidState)
	}
	fresh, err := p.used.consume(s.State, s.Expires, p.now().Unix())
	if err != nil {
		return nil, fmt.Errorf("oidc %s: %w: %v", p.name, ErrUnavailable, err)
	}
	if !fresh {
		p.log.Warn("replayed login state refused")
		return nil, fmt.Errorf("oidc %s: %w: state already used", p.name, ErrInvalidState)
	}
	code := query.Get("code")
	if code == "" {
		return nil, fmt.Errorf("oidc %s: %w: no code", p.name, ErrCodeRejected)
	}
	d, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}

	hctx := p.httpContext(ctx)
	tok, err := d.oauth.Exchange(hctx, code, oauth2.VerifierOption(s.Verifier))
	if err != nil {
		return nil, p.exchangeError(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, fmt.Errorf("oidc %s: %w: token response has no id_token", p.name, ErrInvalidToken)
	}
	idt, err := verify(hctx, d.idVerifier, rawID)
	if err != nil {
		return nil, p.verifyError("id token", err)
	}
	if !stateEqual(idt.Nonce, s.Nonce) {
		return nil, fmt.Errorf("oidc %s: %w: nonce does not match", p.name, ErrInvalidToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, fmt.Errorf("oidc %s: %w: at_hash: %v", p.name, ErrInvalidToken, err)
		}
	}
	var c tokenClaims
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("oidc %s: %w: claims: %v", p.name, ErrInvalidToken, err)
	}
	if c.needUserinfo(p.cfg.LoginClaim) && d.op.UserInfoEndpoint() != "" {
		// zitadel and others put email and names only in userinfo when an access token is
		// issued (OpenID Connect Core §5.4).
		ui, err := d.op.UserInfo(hctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, fmt.Errorf("oidc %s: %w: userinfo: %v", p.name, ErrUnavailable, err)
		}
		var uc tokenClaims
		if err := ui.Claims(&uc); err != nil {
			return nil, fmt.Errorf("oidc %s: %w: userinfo claims: %v", p.name, ErrUnavailable, err)
		}
		// Core §5.3.2: the userinfo sub must be the ID token's, else the answer is not
		// about this user.
		if uc.Sub != c.Sub {
			return nil, fmt.Errorf("oidc %s: %w: userinfo sub differs from the id token's", p.name, ErrInvalidToken)
		}
		c.fill(uc)
	}
	login, err := p.login(c)
	if err != nil {
		p.log.Info("openid login refused", "sub", c.Sub, "err", err)
		return nil, err
	}
	id := &Identity{
		Login:      login,
		GivenName:  c.GivenName,
		FamilyName: c.FamilyName,
		Name:       c.Name,
		Subject:    c.Sub,
		IDToken:    rawID,
		RD:         s.RD,
	}
	if bool(c.EmailVerified) || p.cfg.AllowUnverifiedEmail {
		id.Email = c.Email
	}
	return id, nil
}

// exchangeError sorts a token endpoint failure into a refusal or a fault.
func (p *Provider) exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		return fmt.Errorf("oidc %s: %w: %s", p.name, ErrCodeRejected, cleanErrorCode(re.ErrorCode))
	}
	return fmt.Errorf("oidc %s: %w: token endpoint: %v", p.name, ErrUnavailable, err)
}

// verify runs v and returns a JWKS fault as such (go-oidc reports it as text only).
func verify(ctx context.Context, v *gooidc.IDTokenVerifier, raw string) (*gooidc.IDToken, error) {
	box := &faultBox{}
	t, err := v.Verify(context.WithValue(ctx, faultKey{}, box), raw)
	if err != nil && box.err != nil {
		return nil, box.err
	}
	return t, err
}

// verifyError sorts a verification failure: the JWKS being unreachable is a fault, anything
// else makes the token invalid.
func (p *Provider) verifyError(what string, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("oidc %s: %s: %w", p.name, what, err)
	}
	return fmt.Errorf("oidc %s: %w: %s: %v", p.name, ErrInvalidToken, what, err)
}

// EndSessionURL returns the provider's end_session_endpoint with id_token_hint, client_id and
// post_logout_redirect_uri (OpenID Connect RP-Initiated Logout 1.0), and true — or "", false
// when provider_logout is off or the provider has no such endpoint (or is not discovered yet:
// logout never waits for the provider).
func (p *Provider) EndSessionURL(idTokenHint, postLogoutRedirect string) (string, bool) {
	if !p.cfg.ProviderLogout {
		return "", false
	}
	d := p.disc.Load()
	if d == nil || d.endSession == "" {
		return "", false
	}
	u, err := url.Parse(d.endSession)
	if err != nil {
		return "", false
	}
	q := u.Query()
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	q.Set("client_id", p.cfg.ClientID)
	if postLogoutRedirect != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirect)
	}
	u.RawQuery = q.Encode()
	return u.String(), true
}

// stateEqual compares two secrets in constant time; empty never matches.
func stateEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// cleanErrorCode keeps RFC 6749's error character set (%x20-21 / %x23-5B / %x5D-7E), 64 bytes.
func cleanErrorCode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 64; i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "error"
	}
	return b.String()
}

// cleanDescription drops control characters and cuts to 200 bytes on a rune boundary.
func cleanDescription(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			continue
		}
		if b.Len()+len(string(r)) > 200 {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// flexBool reads email_verified as a JSON boolean or as the string "true" (AWS Cognito and
// others send strings).
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*f = flexBool(v)
	case string:
		*f = flexBool(strings.EqualFold(v, "true"))
	default:
		*f = false
	}
	return nil
}

// tokenClaims are the claims gatehouse reads from an ID token, access token or userinfo.
type tokenClaims struct {
	Sub               string   `json:"sub"`
	PreferredUsername string   `json:"preferred_username"`
	Email             string   `json:"email"`
	EmailVerified     flexBool `json:"email_verified"`
	GivenName         string   `json:"given_name"`
	FamilyName        string   `json:"family_name"`
	Name              string   `json:"name"`
}

// needUserinfo: the login claim, the email or the names are missing from the ID token.
func (c *tokenClaims) needUserinfo(loginClaim string) bool {
	return c.claim(loginClaim) == "" || c.Email == "" || (c.Name == "" && c.GivenName == "" && c.FamilyName == "")
}

// fill takes what c lacks from u. email and email_verified go together: a verified flag is
// never combined with an address from another source.
func (c *tokenClaims) fill(u tokenClaims) {
	if c.PreferredUsername == "" {
		c.PreferredUsername = u.PreferredUsername
	}
	if c.Email == "" {
		c.Email, c.EmailVerified = u.Email, u.EmailVerified
	}
	if c.GivenName == "" {
		c.GivenName = u.GivenName
	}
	if c.FamilyName == "" {
		c.FamilyName = u.FamilyName
	}
	if c.Name == "" {
		c.Name = u.Name
	}
}

func (c *tokenClaims) claim(name string) string {
	switch name {
	case ClaimEmail:
		return c.Email
	case ClaimSub:
		return c.Sub
	}
	return c.PreferredUsername
}

// login picks the login claim and rewrites it.
func (p *Provider) login(c tokenClaims) (string, error) {
	v := strings.TrimSpace(c.claim(p.cfg.LoginClaim))
	if v == "" {
		return "", fmt.Errorf("oidc %s: %w: %s", p.name, ErrNoLoginClaim, p.cfg.LoginClaim)
	}
	if p.cfg.LoginClaim == ClaimEmail && !bool(c.EmailVerified) && !p.cfg.AllowUnverifiedEmail {
		return "", fmt.Errorf("oidc %s: %w", p.name, ErrEmailNotVerified)
	}
	// The same rewriting as the trusted-header module (OTRS HTTPBasicAuth: literal prefix
	// replace removed, then the first replace_regexp match replaced by $1).
	v = header.Rewrite(v, p.cfg.Replace, p.replaceRegexp)
	if v == "" {
		return "", fmt.Errorf("oidc %s: %w: %s is empty after replace", p.name, ErrNoLoginClaim, p.cfg.LoginClaim)
	}
	return v, nil
}
