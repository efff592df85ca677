package gateway

import (
	"log/slog"
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
		g.repeat.untrustedForwardAuth.log(g.log, slog.LevelWarn, "forward-auth request from an untrusted peer", "remote", remoteAddr(c).String())
		return g.plainError(c, fiber.StatusForbidden, "Forward authentication is only answered to trusted proxies.")
	}
	fr, ok := g.originalRequest(c)
	if !ok {
		g.repeat.ambiguousForwardAuth.log(g.log, slog.LevelWarn, "forward-auth: the forwarded target headers disagree or are malformed; refused",
			"request_id", c.Locals(localRequestID))
		return g.plainError(c, fiber.StatusForbidden, "Ambiguous forwarded request.")
	}
	req := c.Request()
	dropTrailers(&req.Header)
	g.scrub(&req.Header, g.owned)

	if badPath([]byte(normalizePath(fr.uri))) {
		return g.plainError(c, fiber.StatusForbidden, "Malformed request path.")
	}
	d := g.routes.decide(fr.host, forwardedSpellings(fr.uri)...)
	if d.route == nil {
		// No route says what this URL needs: refused, not waved through. Declare a public
		// catch-all route if that is what is wanted.
		return g.plainError(c, fiber.StatusForbidden, "No route for this address.")
	}
	c.Locals(localRoute, d.route.name)
	sess, err := g.currentSession(c)
	if err != nil {
		return g.storeDown(c, err)
	}
	var set *claims.Set
	if sess != nil {
		set = &sess.Claims
	} else {
		var done bool
		if set, done, err = g.requestIdentity(c, true); done {
			return err
		}
		if ck, ok := c.Locals(localNewSession).(*fiber.Cookie); ok {
			c.Cookie(ck)
		}
	}
	if set == nil && d.public() {
		return c.SendStatus(fiber.StatusOK)
	}
	if set == nil {
		login := PathLogin + "?" + paramRedirect + "=" + url.QueryEscape(fr.absolute())
		if u := g.portalLoginURL(g.absoluteRedirect(fr.absolute()), ""); u != "" {
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
	if !d.allows(set) {
		g.log.Info("access denied by route policy", "login", set.Login, "route", d.route.name, "request_id", c.Locals(localRequestID))
		return g.plainError(c, fiber.StatusForbidden, "You do not have access to this page.")
	}
	if sess != nil && sess.HeadersKey == g.headersKey {
		for _, f := range sess.Headers {
			c.Set(f.Name, f.Value)
		}
	} else {
		for _, h := range g.headers {
			if v := headerValue(set, h); v != "" {
				c.Set(h.name, v)
			}
		}
	}
	if g.deps.Assertion != nil {
		var cookie []byte
		if sess != nil {
			cookie = c.Request().Header.Cookie(g.cookie.name)
		}
		tok, err := g.signAssertion(set, hostOnly(fr.host), cookie)
		if err != nil {
			return g.plainError(c, fiber.StatusInternalServerError, "Internal error.")
		}
		c.Set(g.cfg.Claims.Assertion.Header, tok)
	}
	return c.SendStatus(fiber.StatusOK)
}

// originalRequest reads the original request from nginx's X-Original-URL / -URI / -Method or
// the X-Forwarded-Method/-Proto/-Host/-Uri of Traefik and Caddy. A proxy copies the client's
// own headers into the auth request and sets only some of these, so the client controls the
// rest: when several name the target and disagree, the request is refused (ok false) rather
// than one of them believed.
func (g *Gateway) originalRequest(c *fiber.Ctx) (fr forwardedRequest, ok bool) {
	fr = forwardedRequest{method: fiber.MethodGet, scheme: g.publicURL.Scheme, host: g.publicURL.Host, uri: "/"}
	var uris, hosts []string
	if full := c.Get(headerOriginalURL); full != "" {
		scheme, host, uri, valid := splitAbsoluteURL(full)
		if !valid {
			return fr, false
		}
		fr.scheme, fr.nginx = scheme, true
		hosts, uris = append(hosts, host), append(uris, uri)
	}
	if v := c.Get(headerOriginalURI); v != "" {
		fr.nginx = true
		uris = append(uris, v)
	}
	if v := c.Get(headerForwardedURI); v != "" {
		uris = append(uris, v)
	}
	if v := c.Get(headerXForwardedHost); v != "" {
		hosts = append(hosts, v)
	}
	for _, u := range uris {
		if !strings.HasPrefix(u, "/") || normalizePath(u) != normalizePath(uris[0]) {
			return fr, false
		}
	}
	for _, h := range hosts {
		if !validHost(h) || !strings.EqualFold(hostOnly(h), hostOnly(hosts[0])) {
			return fr, false
		}
	}
	if len(uris) > 0 {
		fr.uri = uris[0]
	}
	if len(hosts) > 0 {
		fr.host = hosts[0]
	}
	o, f := c.Get(headerOriginalMethod), c.Get(headerForwardedMeth)
	if o != "" && f != "" && o != f {
		return fr, false
	}
	if o != "" {
		fr.method = o
	} else if f != "" {
		fr.method = f
	}
	if v := c.Get(headerXForwardedProto); v == "http" || v == "https" {
		fr.scheme = v
	}
	return fr, true
}

// splitAbsoluteURL splits scheme://host[:port]/path?query strictly: the authority must be a
// plain host[:port] and what follows must start with "/" — a "?" or "#" smuggled into Host
// would otherwise move the path into the query.
func splitAbsoluteURL(s string) (scheme, host, uri string, ok bool) {
	scheme, rest, found := strings.Cut(s, "://")
	if !found || (scheme != "http" && scheme != "https") {
		return "", "", "", false
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		host, uri = rest, "/"
	} else {
		host, uri = rest[:i], rest[i:]
	}
	return scheme, host, uri, validHost(host)
}

// validHost accepts host[:port] made of DNS-name or IP-literal characters only.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_') {
			return false
		}
	}
	return true
}

// forwardedSpellings are the readings of a forwarded URI that upstreams may serve, the
// fully decoded and folded one first: the URI as it is (nginx passes $request_uri on
// unchanged), decoded once, twice and three times, each as spelled, normalised and folded.
func forwardedSpellings(uri string) []string {
	p := uri
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	out := []string{routeKey(normalizePath(uri))}
	for i := 0; i < 4; i++ {
		c := path.Clean("/" + p)
		// Also as decoded but not normalised: an application that decodes the URI and then
		// compares prefixes reads "/billing%2f..%2fpublic" as under /billing.
		out = append(out, c, routeKey(c), p)
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			break
		}
		p = d
	}
	return out
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
