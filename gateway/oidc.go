package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/authn/oidc"
	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// OIDCLogin is one OpenID provider's sign-in (module oidc) as the gateway serves it.
type OIDCLogin struct {
	// Provider runs the code flow.
	Provider *oidc.Provider
	// AutoCreate creates a missing customer user in AutoCreateSource with DefaultCustomerID.
	AutoCreate        bool
	AutoCreateSource  string
	DefaultCustomerID string
	// ProviderLogout sends the browser to the provider's end_session_endpoint after logout.
	ProviderLogout bool
}

// CustomerUserAdder creates customer users (auto_create); directory.Directory is one.
type CustomerUserAdder interface {
	Add(ctx context.Context, source string, attrs map[string]string, by string) (*directory.CustomerUser, error)
}

// Reserved OIDC paths: /.gatehouse/oidc/{provider}/start and /callback.
const (
	pathOIDCStart    = "/.gatehouse/oidc/:provider/start"
	pathOIDCCallback = "/.gatehouse/oidc/:provider/callback"
)

func (g *Gateway) oidcLogin(name string) *OIDCLogin {
	for i := range g.deps.OIDC {
		if g.deps.OIDC[i].Provider.Name() == name {
			return &g.deps.OIDC[i]
		}
	}
	return nil
}

// oidcStart sends the browser to the provider with a sealed state cookie.
func (g *Gateway) oidcStart(c *fiber.Ctx) error {
	ol := g.oidcLogin(c.Params("provider"))
	if ol == nil {
		return g.notFound(c)
	}
	authURL, ck, err := ol.Provider.Start(g.redirects.safe(c.Query(paramRedirect)))
	if err != nil {
		g.log.Error("oidc start", "provider", ol.Provider.Name(), "err", err)
		return g.plainError(c, fiber.StatusServiceUnavailable, msgBackendDown)
	}
	c.Cookie(g.oidcCookie(ck.Name, ck.Value, ck.MaxAge, ol.Provider.Name()))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(authURL, fiber.StatusFound)
}

func (g *Gateway) oidcCookie(name, value string, maxAge time.Duration, provider string) *fiber.Cookie {
	ck := &fiber.Cookie{Name: name, Value: value, Path: "/.gatehouse/oidc/" + provider + "/",
		Secure: g.cookie.secure, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, MaxAge: int(maxAge.Seconds())}
	if value == "" {
		ck.MaxAge = -1
		ck.Expires = time.Unix(1, 0)
	}
	return ck
}

// oidcCallback finishes the code flow and then does what a password login does: the
// customer-user lookup, validity, claims, a new session, the redirect to rd.
func (g *Gateway) oidcCallback(c *fiber.Ctx) error {
	ol := g.oidcLogin(c.Params("provider"))
	if ol == nil {
		return g.notFound(c)
	}
	p := ol.Provider
	name := p.Name()
	cookieName := p.CookieName()
	stateCookie := c.Cookies(cookieName)
	c.Cookie(g.oidcCookie(cookieName, "", 0, name)) // one use only
	query, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		return g.showLogin(c, fiber.StatusBadRequest, "", "", "The sign-in answer was malformed. Please try again.")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 30*time.Second)
	defer cancel()
	id, err := p.Callback(ctx, query, stateCookie)
	if err != nil {
		var pe *oidc.ProviderError
		switch {
		case errors.As(err, &pe):
			g.metrics.ObserveLogin(name, "provider_error")
			msg := fmt.Sprintf("%s did not sign you in (%s).", p.Label(), pe.Code)
			if pe.Description != "" {
				msg = fmt.Sprintf("%s did not sign you in (%s: %s).", p.Label(), pe.Code, pe.Description)
			}
			return g.showLogin(c, fiber.StatusUnauthorized, "", "", msg)
		case errors.Is(err, oidc.ErrInvalidState):
			g.metrics.ObserveLogin(name, "invalid_state")
			return g.showLogin(c, fiber.StatusBadRequest, "", "", "The sign-in expired or was already used. Please try again.")
		case errors.Is(err, oidc.ErrUnavailable):
			g.metrics.ObserveLogin(name, "fault")
			g.log.Error("oidc callback: provider unavailable", "provider", name, "err", err)
			return g.showLogin(c, fiber.StatusServiceUnavailable, "", "", msgBackendDown)
		}
		g.metrics.ObserveLogin(name, "rejected")
		g.log.Warn("oidc callback refused", "provider", name, "err", err)
		return g.showLogin(c, fiber.StatusUnauthorized, "", "", msgLoginFailed)
	}
	ok, err := g.deps.Chain.Complete(ctx, id.Login, name)
	if errors.Is(err, authn.ErrNoRecord) && ol.AutoCreate {
		if err = g.autoCreate(ctx, ol, id); err == nil {
			ok, err = g.deps.Chain.Complete(ctx, id.Login, name)
		}
	}
	if err != nil {
		if errors.Is(err, authn.ErrNoRecord) {
			return g.showLogin(c, fiber.StatusUnauthorized, "", "", msgNoRecord)
		}
		if errors.Is(err, authn.ErrInvalidUser) {
			g.log.Info("login refused", "reason", err.Error(), "module", name)
			return g.showLogin(c, fiber.StatusUnauthorized, "", "", msgLoginFailed)
		}
		g.log.Error("oidc login", "provider", name, "err", err)
		return g.showLogin(c, fiber.StatusServiceUnavailable, "", "", msgBackendDown)
	}
	set, err := g.claimSet(ctx, ok)
	if err != nil {
		g.log.Error("oidc login: claims", "err", err)
		return g.showLogin(c, fiber.StatusServiceUnavailable, "", "", msgBackendDown)
	}
	g.endPreLoginSession(ctx, c)
	start := time.Now()
	sid, _, err := g.deps.Sessions.Create(ctx, set, remoteAddr(c).String(), sessions.WithIDToken(id.IDToken), g.withHeaders(&set))
	g.metrics.observeSession("create", start, err)
	if err != nil {
		return g.storeDown(c, err)
	}
	c.Locals(localLogin, set.Login)
	g.log.Info("login", "login", set.Login, "module", name, "source", set.Source, "request_id", c.Locals(localRequestID))
	c.Cookie(g.cookie.session(sid))
	target := g.redirects.safe(id.RD)
	if target == "" {
		target = "/"
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

// autoCreate adds the customer user the provider vouched for (auto_create: true).
func (g *Gateway) autoCreate(ctx context.Context, ol *OIDCLogin, id *oidc.Identity) error {
	if g.deps.Adder == nil {
		return errors.New("auto_create: no writable directory")
	}
	first, last := id.GivenName, id.FamilyName
	if first == "" && last == "" {
		first, last, _ = strings.Cut(id.Name, " ")
	}
	if first == "" {
		first = id.Login
	}
	if last == "" {
		last = "-"
	}
	// Only an address the provider verified (oidc leaves Email empty otherwise): OTRS matches
	// inbound mail to customer users by it.
	email := id.Email
	if email == "" {
		return fmt.Errorf("auto_create %q: the provider gave no verified email address: %w", id.Login, directory.ErrInvalid)
	}
	_, err := g.deps.Adder.Add(ctx, ol.AutoCreateSource, map[string]string{
		directory.VarLogin: id.Login, directory.VarEmail: email, directory.VarFirstname: first, directory.VarLastname: last,
		directory.VarCustomerID: ol.DefaultCustomerID, directory.VarValidID: "1",
	}, "gatehouse-oidc")
	if err != nil {
		g.log.Error("oidc auto_create failed", "provider", ol.Provider.Name(), "login", id.Login, "err", err)
		return err
	}
	g.log.Info("oidc auto_create", "provider", ol.Provider.Name(), "login", id.Login, "source", ol.AutoCreateSource)
	return nil
}

// providerLogoutURL is where the browser goes after a local logout of an OIDC session with
// provider_logout: the provider's end_session_endpoint with id_token_hint.
func (g *Gateway) providerLogoutURL(s *sessions.Session) string {
	if s == nil || s.IDToken == "" {
		return ""
	}
	ol := g.oidcLogin(s.Claims.AuthModule)
	if ol == nil || !ol.ProviderLogout {
		return ""
	}
	back := g.cfg.Portal.LogoutURL
	if back == "" {
		back = g.publicURL.Scheme + "://" + g.publicURL.Host + PathLogout
	}
	u, ok := ol.Provider.EndSessionURL(s.IDToken, back)
	if !ok {
		return ""
	}
	return u
}

// oidcButton is one provider's button on the login page.
type oidcButton struct{ Label, Href string }

func (g *Gateway) oidcButtons(rd string) []oidcButton {
	var bs []oidcButton
	for _, ol := range g.deps.OIDC {
		href := "/.gatehouse/oidc/" + ol.Provider.Name() + "/start"
		if rd != "" {
			href += "?" + paramRedirect + "=" + url.QueryEscape(rd)
		}
		bs = append(bs, oidcButton{Label: ol.Provider.Label(), Href: href})
	}
	return bs
}
