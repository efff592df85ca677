package oidc

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-sso/gatehouse/authn"
)

// maxBearerBytes bounds a bearer token; longer values are refused before any parsing.
const maxBearerBytes = 16 << 10

// AuthenticateRequest implements authn.RequestModule for `Authorization: Bearer <JWT>`.
//
// No Authorization header, another scheme, or accept_bearer off: NotMine. Otherwise the JWT
// is verified against the provider's JWKS (cached; refetched on an unknown kid, so key
// rotation is followed): signature with an allowed algorithm, issuer, expiry, and an aud that
// is one of bearer_audiences (default [client_id]). The login claim is read from the token
// alone — userinfo is not called per request, so the provider must put the claim into its
// access tokens (email also needs email_verified there). Any JWT the provider signed for an
// accepted audience passes: a JWT access token, or the client's ID token (as Kubernetes
// accepts them); opaque access tokens are not supported (they would need introspection).
//
// A token that fails any check, or names no usable login, returns an error wrapping
// ErrInvalidToken (the gateway answers 401 invalid_token); an unreachable provider is an
// ErrUnavailable fault.
func (p *Provider) AuthenticateRequest(ctx context.Context, r authn.RequestView) (authn.Result, error) {
	if !p.cfg.AcceptBearer || r == nil {
		return authn.Result{Outcome: authn.NotMine}, nil
	}
	raw, ok := bearerToken(r.Header("Authorization"))
	if !ok {
		return authn.Result{Outcome: authn.NotMine}, nil
	}
	login, err := p.VerifyBearer(ctx, raw)
	if err != nil {
		return authn.Result{}, err
	}
	return authn.Result{Outcome: authn.Authenticated, Login: login}, nil
}

// VerifyBearer checks a bearer JWT as AuthenticateRequest does and returns the login.
func (p *Provider) VerifyBearer(ctx context.Context, raw string) (string, error) {
	if len(raw) > maxBearerBytes || strings.Count(raw, ".") != 2 {
		return "", fmt.Errorf("oidc %s: %w: not a JWT", p.name, ErrInvalidToken)
	}
	d, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	t, err := verify(p.httpContext(ctx), d.bearer, raw)
	if err != nil {
		return "", p.verifyError("bearer token", err)
	}
	if !slices.ContainsFunc(t.Audience, func(a string) bool { return slices.Contains(p.audiences, a) }) {
		return "", fmt.Errorf("oidc %s: %w: audience %q not accepted", p.name, ErrInvalidToken, t.Audience)
	}
	var c tokenClaims
	if err := t.Claims(&c); err != nil {
		return "", fmt.Errorf("oidc %s: %w: claims: %v", p.name, ErrInvalidToken, err)
	}
	login, err := p.login(c)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return login, nil
}

// bearerToken extracts the token of an RFC 6750 Authorization header (scheme case-insensitive).
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
