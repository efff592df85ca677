package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/authn/oidc"
	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// RequestModule is a chain module that authenticates from the request alone: the trusted
// header (OTRS HTTPBasicAuth) or an OIDC bearer token.
type RequestModule struct {
	// Module is the module.
	Module authn.RequestModule
	// TrustedOnly consults the module only for peers inside server.trusted_proxies: a login
	// header is only believed from the front proxy that set it.
	TrustedOnly bool
	// Header is the module's input header. It is removed from every request before the
	// upstream sees it, and noted in the log when an untrusted peer sends it.
	Header string
	// Session creates a session after success, so later requests skip the module.
	Session bool
	// Die answers 503 on a fault of the module instead of trying the next one.
	Die bool
	// Bearer marks a bearer-token module: a bad token is answered 401 invalid_token.
	Bearer bool
}

const localNewSession = "gatehouse.new_session"

// ErrInvalidToken is what bearer modules wrap for a token that is present but not valid
// (authn/oidc's sentinel).
var ErrInvalidToken = oidc.ErrInvalidToken

// requestIdentity runs the request modules for a request without a session. It returns the
// claim set of the first module that authenticates (nil if none did), or an error answer
// already written to c (done = true).
//
// forForwardAuth leaves out the trusted-header modules: the peer of a forward-auth request is
// the proxy, but the proxy copies the client's own headers into it, so a login header there
// is the client's word.
func (g *Gateway) requestIdentity(c *fiber.Ctx, forForwardAuth bool) (set *claims.Set, done bool, err error) {
	if len(g.deps.RequestModules) == 0 {
		return nil, false, nil
	}
	trusted := g.trustedPeer(remoteAddr(c)) && !forForwardAuth
	view := fiberRequest{c}
	ctx, cancel := context.WithTimeout(c.UserContext(), 30*time.Second)
	defer cancel()
	for _, rm := range g.deps.RequestModules {
		name := rm.Module.Name()
		if rm.TrustedOnly && !trusted {
			if rm.Header != "" && c.Get(rm.Header) != "" {
				g.repeat.untrustedLogin.log(g.log, slog.LevelWarn, "login header from an untrusted peer ignored", "module", name, "header", rm.Header,
					"remote", remoteAddr(c).String(), "request_id", c.Locals(localRequestID))
			}
			continue
		}
		res, err := rm.Module.AuthenticateRequest(ctx, view)
		if err != nil {
			if rm.Bearer && errors.Is(err, ErrInvalidToken) {
				g.metrics.ObserveLogin(name, "invalid_token")
				c.Set(headerWWWAuthenticate, `Bearer realm="gatehouse", error="invalid_token"`)
				return nil, true, c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "invalid_token", "message": "The bearer token is not valid."})
			}
			g.metrics.ObserveLogin(name, "fault")
			if rm.Die {
				g.repeat.requestModuleDie.log(g.log, slog.LevelError, "request module fault; die is set", "module", name, "err", err)
				c.Set(fiber.HeaderRetryAfter, "10")
				return nil, true, g.plainError(c, fiber.StatusServiceUnavailable, msgBackendDown)
			}
			g.repeat.requestModuleFault.log(g.log, slog.LevelWarn, "request module fault; trying the next module", "module", name, "err", err)
			continue
		}
		if res.Outcome != authn.Authenticated {
			continue
		}
		// A module that makes a session is a login (OTRS bookkeeping); one checked on every
		// request (bearer tokens, session: false) is only verified.
		complete := g.deps.Chain.Verify
		if rm.Session {
			complete = g.deps.Chain.Complete
		}
		ok, err := complete(ctx, res.Login, name)
		if err != nil {
			return nil, true, g.refuse(c, err)
		}
		if rm.Bearer {
			// The provider's token stays here: an upstream could replay it elsewhere.
			c.Request().Header.Del(fiber.HeaderAuthorization)
		}
		s, err := g.claimSet(ctx, ok)
		if err != nil {
			g.log.Error("request login: claims", "err", err)
			return nil, true, g.plainError(c, fiber.StatusServiceUnavailable, msgBackendDown)
		}
		if rm.Session {
			start := time.Now()
			id, _, err := g.deps.Sessions.Create(ctx, s, remoteAddr(c).String(), g.withHeaders(&s))
			g.metrics.observeSession("create", start, err)
			if err != nil {
				return nil, true, g.storeDown(c, err)
			}
			// Set after the upstream's answer has replaced the response (see proxy).
			c.Locals(localNewSession, g.cookie.session(id))
			g.log.Info("login", "login", s.Login, "module", name, "source", s.Source, "request_id", c.Locals(localRequestID))
		}
		return &s, false, nil
	}
	return nil, false, nil
}

// refuse answers a proven login that may not enter (no record, invalid, back end down).
func (g *Gateway) refuse(c *fiber.Ctx, err error) error {
	switch {
	case errors.Is(err, authn.ErrNoRecord):
		return g.plainError(c, fiber.StatusForbidden, msgNoRecord)
	case errors.Is(err, authn.ErrInvalidUser):
		g.log.Info("login refused", "reason", err.Error(), "request_id", c.Locals(localRequestID))
		return g.plainError(c, fiber.StatusForbidden, msgLoginFailed)
	}
	g.repeat.backendDown.log(g.log, slog.LevelError, "login refused: back end unavailable", "err", err)
	c.Set(fiber.HeaderRetryAfter, "10")
	return g.plainError(c, fiber.StatusServiceUnavailable, msgBackendDown)
}

// Reasons OTRS appends to CustomerPanelLoginURL.
const (
	reasonLoginFailed      = "LoginFailed"
	reasonInvalidSessionID = "InvalidSessionID"
)

// portalLoginURL is portal.login_url with RequestedURL (and Reason), as OTRS builds it; ""
// when no login_url is configured.
func (g *Gateway) portalLoginURL(requested, reason string) string {
	base := g.cfg.Portal.LoginURL
	if base == "" {
		return ""
	}
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	q := u.Query()
	if reason != "" {
		q.Set("Reason", reason)
	}
	if requested != "" {
		q.Set("RequestedURL", requested)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// absoluteURL is the public URL of the request's original target.
func (g *Gateway) absoluteURL(c *fiber.Ctx) string {
	return g.publicURL.Scheme + "://" + g.publicURL.Host + c.OriginalURL()
}

// absoluteRedirect makes a validated rd absolute for an external login page; "" if rd is
// not acceptable.
func (g *Gateway) absoluteRedirect(rd string) string {
	t := g.redirects.safe(rd)
	if t == "" || t[0] != '/' {
		return t
	}
	return g.publicURL.Scheme + "://" + g.publicURL.Host + t
}

// proxyUserChanged reports whether a trusted-header module, asked about this request from a
// trusted peer, names a login other than the session's (a shared browser: the old session
// must end and the header decide). Only the header and the rewrite are consulted (no
// directory lookup), and only when a login header is present.
func (g *Gateway) proxyUserChanged(c *fiber.Ctx, sess *sessions.Session) bool {
	return g.userChanged(c.UserContext(), fiberRequest{c}, sess)
}

// userChanged is proxyUserChanged on any view of the request (the fast path has its own).
func (g *Gateway) userChanged(ctx context.Context, r authn.RequestView, sess *sessions.Session) bool {
	if !g.hasTrustedHeader || !g.trustedPeer(r.RemoteAddr()) {
		return false
	}
	for _, rm := range g.deps.RequestModules {
		if !rm.TrustedOnly || rm.Header == "" || r.Header(rm.Header) == "" {
			continue
		}
		res, err := rm.Module.AuthenticateRequest(ctx, r)
		if err == nil && res.Outcome == authn.Authenticated && !strings.EqualFold(res.Login, sess.Claims.Login) {
			return true
		}
	}
	return false
}
