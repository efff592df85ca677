package gateway

import (
	"net/url"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-sso/gatehouse/claims"
)

// PathAuth is the forward-auth endpoint for proxies that keep their own upstream routing:
// nginx auth_request, Traefik ForwardAuth, Caddy forward_auth.
const PathAuth = "/.gatehouse/auth"

// Headers of the forward-auth protocol.
const (
	headerOriginalURI    = "X-Original-URI"    // nginx: $request_uri
	headerOriginalURL    = "X-Original-URL"    // nginx: $scheme://$http_host$request_uri
	headerOriginalMethod = "X-Original-Method" // nginx: $request_method
	headerForwardedURI   = "X-Forwarded-Uri"   // Traefik, Caddy
	headerForwardedMeth  = "X-Forwarded-Method"
	// HeaderLoginURL tells nginx where to send a browser (error_page 401 = @login).
	HeaderLoginURL = "X-Gatehouse-Login-Url"
)

// forwardedRequest is the original request a proxy asks about.
type forwardedRequest struct {
	method, scheme, host, uri string
	nginx                     bool // nginx style: answer 401 with the login URL, never 302
}

// absolute is the original URL.
func (f forwardedRequest) absolute() string { return f.scheme + "://" + f.host + f.uri }

// forwardAuth answers 200 with the identity headers when the original request may pass, 401
// (nginx, API clients) or 302 to the login page (browsers behind Traefik/Caddy) without an
// identity, and 403 when the route policy of the original URL refuses it. The original
// request is read only from server.trusted_proxies: from anyone else it could be made up, so
// the answer is 403 (fail closed).
func (g *Gateway) forwardAuth(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if !g.trustedPeer(remoteAddr(c)) {
		g.log.Warn("forward-auth request from an untrusted peer", "remote", remoteAddr(c).String())
		return g.plainError(c, fiber.StatusForbidden, "Forward authentication is only answered to trusted proxies.")
	}
	fr := g.originalRequest(c)
	req := c.Request()
	dropTrailers(&req.Header)
	g.scrub(&req.Header, g.owned)

	sess, err := g.currentSession(c)
	if err != nil {
		return g.storeDown(c, err)
	}
	var set *claims.Set
	if sess != nil {
		set = &sess.Claims
	} else {
		var done bool
		if set, done, err = g.requestIdentity(c); done {
			return err
		}
		if ck, ok := c.Locals(localNewSession).(*fiber.Cookie); ok {
			c.Cookie(ck)
		}
	}
	if set == nil {
		login := PathLogin + "?" + paramRedirect + "=" + url.QueryEscape(fr.absolute())
		if u := g.portalLoginURL(fr.absolute(), ""); u != "" {
			login = u
		}
		if !g.publicURL.IsAbs() || strings.HasPrefix(login, "/") {
			login = g.publicURL.Scheme + "://" + g.publicURL.Host + login
		}
		c.Set(HeaderLoginURL, login)
		if !fr.nginx && wantsHTML(c) && (fr.method == fiber.MethodGet || fr.method == fiber.MethodHead) {
			return c.Redirect(login, fiber.StatusFound)
		}
		c.Set(headerWWWAuthenticate, g.challenge())
		return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "unauthorized", "login_url": login})
	}
	c.Locals(localLogin, set.Login)
	np := normalizePath(fr.uri)
	if badPath([]byte(np)) {
		return g.plainError(c, fiber.StatusForbidden, "Malformed request path.")
	}
	if rt := g.routes.match(fr.host, np); rt != nil {
		c.Locals(localRoute, rt.name)
		if !rt.public && !rt.allows(set) {
			g.log.Info("access denied by route policy", "login", set.Login, "route", rt.name, "request_id", c.Locals(localRequestID))
			return g.plainError(c, fiber.StatusForbidden, "You do not have access to this page.")
		}
	}
	for _, h := range g.headers {
		if v := headerValue(set, h); v != "" {
			c.Set(h.name, v)
		}
	}
	if g.deps.Assertion != nil {
		if err := g.assert(c, fiberResponseHeaders{c}, set, hostOnly(fr.host)); err != nil {
			return err
		}
	}
	return c.SendStatus(fiber.StatusOK)
}

// originalRequest reads the original request from nginx's X-Original-* or the
// X-Forwarded-Method/-Proto/-Host/-Uri of Traefik and Caddy.
func (g *Gateway) originalRequest(c *fiber.Ctx) forwardedRequest {
	fr := forwardedRequest{method: fiber.MethodGet, scheme: g.publicURL.Scheme, host: g.publicURL.Host, uri: "/"}
	if full := c.Get(headerOriginalURL); full != "" {
		if u, err := url.Parse(full); err == nil && u.Host != "" {
			fr.scheme, fr.host, fr.uri, fr.nginx = u.Scheme, u.Host, u.RequestURI(), true
			if u.Fragment != "" && u.RawQuery == "" {
				fr.uri += "#" + u.EscapedFragment() // raw '#' is part of the path on the wire
			}
		}
	}
	if v := c.Get(headerOriginalURI); v != "" {
		fr.uri, fr.nginx = v, true
	}
	if v := c.Get(headerOriginalMethod); v != "" {
		fr.method = v
	}
	if v := c.Get(headerForwardedURI); v != "" && !fr.nginx {
		fr.uri = v
	}
	if v := c.Get(headerForwardedMeth); v != "" && c.Get(headerOriginalMethod) == "" {
		fr.method = v
	}
	if v := c.Get(headerXForwardedProto); v == "http" || v == "https" {
		fr.scheme = v
	}
	if v := c.Get(headerXForwardedHost); v != "" && c.Get(headerOriginalURL) == "" {
		fr.host = v
	}
	if !strings.HasPrefix(fr.uri, "/") {
		fr.uri = "/" + fr.uri
	}
	return fr
}

// normalizePath is the path of a request URI as routing sees it for proxied requests:
// the query cut, percent-decoded, backslashes as slashes, dot segments and repeated
// slashes removed — the same rules as the proxy path (fasthttp's normalisation), so a
// forwarded URI cannot slip past a route policy by spelling.
func normalizePath(uri string) string {
	p := uri
	// Only the query is cut: a raw '#' is not a fragment on the wire, and keeping it lets a
	// "/public#/../private" fold to "/private" (fail closed).
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	for i := 0; i < 3 && strings.Contains(p, "%"); i++ { // double-encoded forms too
		d, err := url.PathUnescape(p)
		if err != nil {
			break
		}
		p = d
	}
	p = strings.ReplaceAll(p, "\\", "/")
	p = path.Clean("/" + p)
	return p
}

// fiberResponseHeaders sets response headers (the forward-auth answer carries the identity).
type fiberResponseHeaders struct{ c *fiber.Ctx }

func (f fiberResponseHeaders) Set(k, v string) { f.c.Set(k, v) }
