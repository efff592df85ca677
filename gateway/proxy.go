package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// hopHeaders are connection-scoped (RFC 9110 §7.6.1) and never forwarded.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Upgrade"}

// proxy handles every non-reserved path the fast path (fastpath.go) declined: it routes,
// authenticates (session or request modules), authorises and forwards, and answers every
// refusal.
func (g *Gateway) proxy(c *fiber.Ctx) error {
	req := c.Request()
	// Trailers never pass: fasthttp keeps them apart from the header section, where no scrub
	// sees them, and some upstreams merge them into the headers.
	dropTrailers(&req.Header)
	// Identity headers are removed before anything reads them, on every request; only the
	// request modules' own input headers wait until those modules have read them.
	g.scrub(&req.Header, g.owned)

	// Routing sees what the upstream will get: the normalised path (percent-decoded, dot
	// segments and repeated slashes removed — the path that is forwarded) and the request
	// target's authority, which wins over Host for an absolute-form target (RFC 9112 §3.2.2).
	if badPath(req.URI().Path()) {
		g.scrub(&req.Header, g.moduleInputs)
		return g.plainError(c, fiber.StatusBadRequest, "Malformed request path.")
	}
	// Routed as folded (served) and as spelled: a path that reads as another route on some
	// upstream must pass that route's policy too.
	np := string(req.URI().Path())
	d := g.routes.decide(string(req.URI().Host()), routeKey(np), np)
	rt := d.route
	if rt == nil {
		g.scrub(&req.Header, g.moduleInputs)
		return g.plainError(c, fiber.StatusNotFound, "No route for this address.")
	}
	c.Locals(localRoute, rt.name)

	if rt.maxBody > 0 && int64(req.Header.ContentLength()) > rt.maxBody {
		return g.plainError(c, fiber.StatusRequestEntityTooLarge, "Request body too large.")
	}

	if d.public() {
		g.scrub(&req.Header, g.moduleInputs)
	} else {
		sess, err := g.currentSession(c)
		if err != nil {
			return g.storeDown(c, err)
		}
		var set *claims.Set
		if sess != nil && g.proxyUserChanged(c, sess) {
			// The front proxy now vouches for someone else (a shared browser): the old
			// session ends and the new login header decides.
			_ = g.deps.Sessions.Destroy(c.UserContext(), c.Cookies(g.cookie.name))
			g.log.Info("session ended: the trusted proxy sent another user", "login", sess.Claims.Login, "request_id", c.Locals(localRequestID))
			sess = nil
		}
		if sess != nil {
			set = &sess.Claims
		} else {
			var done bool
			if set, done, err = g.requestIdentity(c, false); done {
				return err
			}
		}
		g.scrub(&req.Header, g.moduleInputs)
		if set == nil {
			return g.anonymous(c)
		}
		c.Locals(localLogin, set.Login)
		if !d.allows(set) {
			g.log.Info("access denied by route policy", "login", set.Login, "route", rt.name, "request_id", c.Locals(localRequestID))
			return g.plainError(c, fiber.StatusForbidden, "You do not have access to this page.")
		}
		if sess != nil {
			g.setSessionHeaders(&req.Header, sess)
		} else {
			g.setClaimHeaders(&req.Header, set)
		}
		if g.deps.Assertion != nil {
			var cookie []byte
			if sess != nil {
				cookie = req.Header.Cookie(g.cookie.name)
			}
			tok, err := g.signAssertion(set, g.audienceHost(rt), cookie)
			if err != nil {
				return g.plainError(c, fiber.StatusInternalServerError, "Internal error.")
			}
			req.Header.Set(g.cfg.Claims.Assertion.Header, tok)
		}
	}
	rid, _ := c.Locals(localRequestID).(string)
	peer := remoteAddr(c)
	g.dropOwnCookies(&req.Header)
	g.setForwarded(c.Context(), peer, g.trustedPeer(peer), false)
	// Del first: Set replaces only the first of several copies.
	req.Header.Del(headerRequestID)
	req.Header.Set(headerRequestID, rid)

	if isUpgrade(&req.Header) {
		return g.tunnel(c, rt)
	}
	dropHopHeaders(&req.Header)
	if req.Header.ContentLength() < 0 {
		if bs := c.Context().RequestBodyStream(); bs != nil {
			// Chunked: trailers arrive after the body, while it streams; they are dropped at
			// its end, before fasthttp writes them out.
			var r io.Reader = &trailerDropper{r: bs, h: &req.Header}
			if rt.maxBody > 0 {
				r = &limitedBody{r: r, left: rt.maxBody}
			}
			req.SetBodyStream(r, -1)
		}
	}
	rewriteTarget(req, rt)
	if code, msg, err := g.roundTrip(c.Context(), rt); err != nil {
		return g.plainError(c, code, msg)
	}
	if ck, ok := c.Locals(localNewSession).(*fiber.Cookie); ok {
		c.Cookie(ck)
	}
	return nil
}

// scrub removes every spelling of every header in set. Names are collected first and copied
// (VisitAll's slices alias fasthttp's buffers); a stack buffer holds the usual few, so a
// request carrying some (a corporate proxy's X-Forwarded-For, say) costs no allocation.
func (g *Gateway) scrub(h *fasthttp.RequestHeader, set headerMatcher) {
	if o, ok := set.(ownedHeaders); ok && len(o) == 0 {
		return
	}
	var buf [512]byte
	var ends [16]int
	names, n := buf[:0], 0
	var overflow [][]byte
	h.VisitAll(func(k, _ []byte) {
		if !set.has(k) {
			return
		}
		if n < len(ends) && len(names)+len(k) <= cap(names) {
			names = append(names, k...)
			ends[n] = len(names)
			n++
			return
		}
		overflow = append(overflow, append([]byte(nil), k...))
	})
	start := 0
	for _, end := range ends[:n] {
		h.DelBytes(names[start:end])
		start = end
	}
	for _, k := range overflow {
		h.DelBytes(k)
	}
}

// forwardingHeaders are the client-address and original-URL headers upstreams believe. From
// a peer outside server.trusted_proxies every copy and spelling of them is removed.
var forwardingHeaders = func() ownedHeaders {
	o := ownedHeaders{}
	for _, h := range []string{headerXForwardedFor, headerXForwardedProto, headerXForwardedHost, "X-Forwarded-Port",
		"X-Forwarded-Prefix", "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Real-Ip", "X-Client-Ip", "True-Client-Ip",
		"X-Original-Url", "X-Original-Uri", "X-Rewrite-Url", "Forwarded"} {
		o.add(h)
	}
	return o
}()

// setForwarded sets X-Forwarded-For/-Proto/-Host. Incoming values are kept (every copy
// joined, then extended) only from server.trusted_proxies; anyone else's are removed (unless
// scrubbed says the caller has removed them already).
func (g *Gateway) setForwarded(ctx *fasthttp.RequestCtx, peer netip.Addr, trusted, scrubbed bool) {
	h := &ctx.Request.Header
	proto := "http"
	if ctx.IsTLS() {
		proto = "https"
	}
	var buf [64]byte
	if !trusted {
		if !scrubbed {
			g.scrub(h, forwardingHeaders)
		}
		h.SetCanonical(xForwardedFor, peer.AppendTo(buf[:0]))
		h.SetCanonical(xForwardedProto, stringBytes(proto))
		h.SetCanonical(xForwardedHost, h.Host())
		return
	}
	xff := buf[:0]
	for _, v := range h.PeekAll(headerXForwardedFor) {
		xff = append(append(xff, v...), ", "...)
	}
	h.SetCanonical(xForwardedFor, peer.AppendTo(xff))
	if len(h.Peek(headerXForwardedProto)) == 0 {
		h.SetCanonical(xForwardedProto, stringBytes(proto))
	}
	if len(h.Peek(headerXForwardedHost)) == 0 {
		h.SetCanonical(xForwardedHost, h.Host())
	}
}

// The X-Forwarded-* names as fasthttp spells them, for SetCanonical (no normalising per request).
var (
	xForwardedFor   = []byte(fasthttpCanonical(headerXForwardedFor))
	xForwardedProto = []byte(fasthttpCanonical(headerXForwardedProto))
	xForwardedHost  = []byte(fasthttpCanonical(headerXForwardedHost))
)

// rewriteTarget points the request at the route's upstream: the upstream's base path is
// prepended and, unless preserve_host, Host becomes the upstream's.
func rewriteTarget(req *fasthttp.Request, rt *route) {
	uri := req.URI()
	if rt.basePath != "" {
		uri.SetPathBytes(append([]byte(rt.basePath), uri.Path()...))
	}
	host := rt.hostHeader
	if rt.preserve {
		host = string(uri.Host())
	}
	req.Header.SetHost(host)
	uri.SetHost(host)
}

var errBodyTooLarge = errors.New("request body too large")

// limitedBody counts a streamed (chunked) request body and fails past the route's limit.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}

// currentSession loads the session named by the cookie; nil without a live session.
// A store fault is returned (the caller fails closed).
func (g *Gateway) currentSession(c *fiber.Ctx) (*sessions.Session, error) {
	id := c.Cookies(g.cookie.name)
	if id == "" {
		return nil, nil
	}
	start := time.Now()
	var s *sessions.Session
	var err error
	if p, ok := c.Locals(localPreloaded).(*preloaded); ok {
		s, err = p.sess, p.err // the fast path asked the store already
	} else {
		s, err = g.deps.Sessions.LoadCookie(c.UserContext(), []byte(id))
	}
	switch {
	case err == nil:
		g.metrics.observeSession("load", start, nil)
		return s, nil
	case errors.Is(err, sessions.ErrNotFound), errors.Is(err, sessions.ErrMalformedID):
		g.metrics.observeSession("load", start, nil)
		c.Locals(localStaleSession, true)
		return nil, nil
	default:
		g.metrics.observeSession("load", start, err)
		return nil, err
	}
}

const localStaleSession = "gatehouse.stale_session"

// storeDown answers 503 when the session store cannot be asked: fail closed.
func (g *Gateway) storeDown(c *fiber.Ctx, err error) error {
	g.repeat.storeDown.log(g.log, slog.LevelError, "session store unavailable; failing closed", "err", err)
	c.Set(fiber.HeaderRetryAfter, "5")
	return g.plainError(c, fiber.StatusServiceUnavailable, "Session store unavailable. Please try again shortly.")
}

// anonymous answers a protected request without a session: browsers go to the login page
// with rd (or to portal.login_url, as OTRS's CustomerPanelLoginURL), anything else gets 401.
func (g *Gateway) anonymous(c *fiber.Ctx) error {
	stale, _ := c.Locals(localStaleSession).(bool)
	if stale {
		c.Cookie(g.cookie.expired())
	}
	if !wantsHTML(c) || (c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead) {
		c.Set(headerWWWAuthenticate, g.challenge())
		return g.plainError(c, fiber.StatusUnauthorized, "Authentication required.")
	}
	reason := ""
	if stale {
		reason = reasonInvalidSessionID
	}
	if u := g.portalLoginURL(g.absoluteURL(c), reason); u != "" {
		return c.Redirect(u, fiber.StatusFound)
	}
	if g.deps.PreAuth {
		// The first module is the trusted header (OTRS PreAuth): there is no password form to
		// offer; the front proxy should have signed the customer in.
		return g.plainError(c, fiber.StatusUnauthorized, msgPreAuthFailed)
	}
	return c.Redirect(PathLogin+"?"+paramRedirect+"="+url.QueryEscape(c.OriginalURL()), fiber.StatusFound)
}

// challenge names the cookie scheme (draft-broyer-http-cookie-auth) and the login form.
func (g *Gateway) challenge() string {
	return `Cookie realm="gatehouse", form-action="` + PathLogin + `", cookie-name="` + g.cookie.name + `"`
}

// wantsHTML reports whether the client is a browser that prefers HTML.
func wantsHTML(c *fiber.Ctx) bool {
	return strings.Contains(c.Get(fiber.HeaderAccept), "text/html")
}

// isUpgrade reports a WebSocket handshake. Other upgrades (h2c above all, which would hand the
// client a channel past every later check) are not tunnelled: their Upgrade and Connection
// headers are dropped as hop-by-hop and the request is proxied as a plain one.
func isUpgrade(h *fasthttp.RequestHeader) bool {
	return bytes.EqualFold(bytes.TrimSpace(h.Peek("Upgrade")), []byte("websocket")) &&
		bytes.Contains(bytes.ToLower(h.Peek(fiber.HeaderConnection)), []byte("upgrade"))
}

// tunnel carries a WebSocket connection to the upstream byte for byte, once the upstream has
// agreed with 101. It never goes through the pooled client: an upgraded connection must not
// return to the pool. Until the 101 nothing but the handshake is sent upstream, so a client
// cannot pipeline a second, unchecked request into the tunnel.
func (g *Gateway) tunnel(c *fiber.Ctx, rt *route) error {
	if rt.client.IsTLS {
		return g.plainError(c, fiber.StatusNotImplemented, "WebSocket to TLS upstreams is not supported.")
	}
	req := c.Request()
	rewriteTarget(req, rt)
	for _, h := range []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Trailer"} {
		req.Header.Del(h)
	}
	req.Header.SetRequestURIBytes(req.URI().RequestURI())
	head := append([]byte(nil), req.Header.Header()...)
	up, err := net.DialTimeout("tcp", rt.client.Addr, 5*time.Second)
	if err != nil {
		g.repeat.upgradeFailed.log(g.log, slog.LevelWarn, "upstream upgrade dial failed", "route", rt.name, "err", err)
		return g.plainError(c, fiber.StatusBadGateway, "The upstream is not reachable.")
	}
	_ = up.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(up)
	var resp *http.Response
	if _, err = up.Write(head); err == nil {
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		_ = up.Close()
		g.repeat.upgradeFailed.log(g.log, slog.LevelWarn, "upstream upgrade failed", "route", rt.name, "err", err)
		return g.plainError(c, fiber.StatusBadGateway, "The upstream did not answer the upgrade.")
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// No upgrade: relay the answer as a normal response and close the upstream connection.
		defer up.Close()
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return g.plainError(c, fiber.StatusBadGateway, "The upstream's answer was cut short.")
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				c.Response().Header.Add(k, v)
			}
		}
		c.Response().Header.Del(fiber.HeaderConnection)
		return c.Status(resp.StatusCode).Send(body)
	}
	_ = up.SetDeadline(time.Time{})
	var respHead bytes.Buffer
	_ = resp.Write(&respHead) // status line and headers; a 101 has no body
	c.Context().HijackSetNoResponse(true)
	c.Context().Hijack(func(client net.Conn) {
		defer up.Close()
		if _, err := client.Write(respHead.Bytes()); err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(up, client)
			if tc, ok := up.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			close(done)
		}()
		_, _ = io.Copy(client, br) // br holds what the upstream sent after the 101
		_ = client.Close()
		<-done
	})
	return nil
}

// dropTrailers removes request trailers that fasthttp has already parsed (a small chunked
// body arrives whole with its headers). Deleting Trailer moves them into the header section,
// where they are found as new names and deleted.
func dropTrailers(h *fasthttp.RequestHeader) {
	if h.ContentLength() != -1 && len(h.Peek(fiber.HeaderTrailer)) == 0 {
		return // trailers come only with a chunked body (ContentLength -1)
	}
	before := map[string]struct{}{}
	h.VisitAll(func(k, _ []byte) { before[string(k)] = struct{}{} })
	h.Del(fiber.HeaderTrailer)
	var added []string
	h.VisitAll(func(k, _ []byte) {
		if _, ok := before[string(k)]; !ok {
			added = append(added, string(k))
		}
	})
	for _, k := range added {
		h.Del(k)
	}
}

// trailerDropper empties the trailer section when a streamed chunked body ends, which is
// when fasthttp parses the trailers and just before it writes them upstream.
type trailerDropper struct {
	r io.Reader
	h *fasthttp.RequestHeader
}

func (t *trailerDropper) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil {
		// The header section is already on the wire; what Del moves into it stays here.
		t.h.Del(fiber.HeaderTrailer)
	}
	return n, err
}

// hostOnly strips the port from a host[:port].
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return strings.Trim(h, "[]")
}
