package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// The public listener runs serve. The request that makes up nearly all traffic — a signed-in
// customer user's request for a proxied page — is answered on fasthttp alone by fastProxy:
// no Fiber context, no middleware chain, no allocation of its own (BenchmarkFastPathPrepare).
// Everything else goes to the Fiber app (reserved paths, anonymous requests, refusals, bodies
// without a length, WebSockets, store faults), which handles every case by itself: fastProxy
// declines before it changes anything, so the app sees the request exactly as it arrived.

// serve is the public listener's handler.
func (g *Gateway) serve(ctx *fasthttp.RequestCtx) {
	if !g.fastProxy(ctx) {
		g.appHandler(ctx)
	}
}

// preloaded carries fastProxy's session lookup to the Fiber path when fastProxy declines after
// asking the store, so a stale cookie or a store fault costs one lookup, not two.
type preloaded struct {
	sess *sessions.Session
	err  error
}

// localPreloaded is the fasthttp user value (Fiber Locals share them) holding a *preloaded.
const localPreloaded = "gatehouse.preloaded"

// fastProxy forwards the request if it is a plain proxied one, and reports whether it did.
func (g *Gateway) fastProxy(ctx *fasthttp.RequestCtx) (handled bool) {
	defer func() {
		if p := recover(); p != nil {
			g.panicked(ctx, p)
			handled = true
		}
	}()
	var ridBuf [maxRequestIDLen]byte
	rt, sess, rid, ok := g.fastPrepare(ctx, ridBuf[:0])
	if !ok {
		return false
	}
	status, msg, err := g.roundTrip(ctx, rt)
	if err != nil {
		g.answerFault(ctx, status, msg)
		ctx.Response.Header.SetBytesV(headerRequestID, rid)
	}
	g.observe(ctx, rt, status, rid, sess)
	return true
}

// fastPrepare decides whether the request takes the fast path and, if so, prepares it for
// the upstream: the session lookup and the header work, everything but the exchange. ok false
// means the request is unchanged and goes to the Fiber app. rid is the request id, appended
// to ridBuf.
func (g *Gateway) fastPrepare(ctx *fasthttp.RequestCtx, ridBuf []byte) (rt *route, sess *sessions.Session, rid []byte, ok bool) {
	req := &ctx.Request
	h := &req.Header
	// Chunked bodies (which may carry trailers) and upgrades take the full path. (-2 is a
	// request with neither Content-Length nor Transfer-Encoding: no body.)
	if h.ContentLength() == -1 || h.IsConnect() || len(h.Peek(fiber.HeaderTrailer)) != 0 ||
		len(h.Peek(fiber.HeaderUpgrade)) != 0 {
		return nil, nil, nil, false
	}
	raw := h.RequestURI()
	if len(raw) == 0 || raw[0] != '/' || reservedPath(raw) {
		return nil, nil, nil, false // absolute-form targets and anything near gatehouse's own paths
	}
	uri := req.URI()
	path := uri.Path()
	if reservedPath(path) || badPath(path) {
		return nil, nil, nil, false
	}
	np := bytesView(path)
	d := g.routes.decide(bytesView(uri.Host()), routeKey(np), np)
	rt = d.route
	if rt == nil || (rt.maxBody > 0 && int64(h.ContentLength()) > rt.maxBody) {
		return nil, nil, nil, false
	}

	var cookie []byte
	if !d.public() {
		cookie = h.Cookie(g.cookie.name)
		if len(cookie) == 0 {
			return nil, nil, nil, false
		}
		s, err := g.deps.Sessions.LoadCookie(backgroundCtx, cookie)
		if err != nil {
			// Unknown, ended or malformed: the Fiber path clears the cookie and sends the browser
			// to the login page; a store fault is answered 503 there (and counted).
			ctx.SetUserValue(localPreloaded, &preloaded{err: err})
			return nil, nil, nil, false
		}
		// Refused (403 with a log line), or a trusted front proxy naming another customer user
		// (the session ends): the full path answers.
		if !d.allows(&s.Claims) || (g.hasTrustedHeader && g.userChanged(backgroundCtx, fastRequest{ctx}, s)) {
			ctx.SetUserValue(localPreloaded, &preloaded{sess: s})
			return nil, nil, nil, false
		}
		sess = s
	}
	var assertion string
	if sess != nil && g.deps.Assertion != nil {
		var err error
		if assertion, err = g.signAssertion(&sess.Claims, g.audienceHost(rt), cookie); err != nil {
			return nil, nil, nil, false // answered 500 there
		}
	}

	// From here on the request is ours. One pass removes every header the upstream must not
	// get from the client: identity and module inputs, hop-by-hop headers, the request id
	// (read first) and, from an untrusted peer, the forwarding headers.
	peer := peerAddr(ctx)
	trusted := g.trustedPeer(peer)
	rid = g.requestIDInto(ctx, ridBuf, peer, trusted)
	if trusted {
		g.scrub(h, g.fastScrubTrusted)
	} else {
		g.scrub(h, g.fastScrubUntrusted)
	}
	if sess != nil {
		g.setSessionHeaders(h, sess)
		if assertion != "" {
			h.Set(g.cfg.Claims.Assertion.Header, assertion)
		}
	}
	g.dropOwnCookies(h)
	g.setForwarded(ctx, peer, trusted, true)
	h.SetCanonical(headerRequestIDBytes, rid)
	rewriteTarget(req, rt)
	return rt, sess, rid, true
}

// backgroundCtx is the context the fast path hands to the session store and the modules, as
// the Fiber path hands them its UserContext. Never the *fasthttp.RequestCtx itself: its Value
// reads the request's user values without a lock, and a context derived from it (a store's
// timeout) calls Value from the timer's goroutine while the handler writes them — a data race
// that -race caught with Redis down.
var backgroundCtx = context.Background()

// headerRequestIDBytes is headerRequestID as fasthttp spells it, for SetCanonical.
var headerRequestIDBytes = []byte(fasthttpCanonical(headerRequestID))

// roundTrip sends the prepared request to the route's upstream. On a fault it returns the
// status and message for the client (the caller answers) and the error.
func (g *Gateway) roundTrip(ctx *fasthttp.RequestCtx, rt *route) (int, string, error) {
	resp := &ctx.Response
	if err := rt.client.Do(&ctx.Request, resp); err != nil {
		code, msg := upstreamFault(err)
		if code != fiber.StatusRequestEntityTooLarge {
			rt.failLog.log(g.log, slog.LevelWarn, "upstream request failed", "route", rt.name, "upstream", rt.upstreamURL, "err", err)
		}
		return code, msg, err
	}
	resp.Header.Del(fiber.HeaderConnection)
	resp.Header.Del("Keep-Alive")
	return resp.StatusCode(), "", nil
}

// upstreamFault maps a failed upstream exchange to the status and message for the client.
func upstreamFault(err error) (int, string) {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return fiber.StatusRequestEntityTooLarge, "Request body too large."
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrNoFreeConns):
		return fiber.StatusGatewayTimeout, "The upstream did not answer in time."
	default:
		return fiber.StatusBadGateway, "The upstream is not reachable."
	}
}

// answerFault writes an upstream fault's answer on the fast path, formatted as the Fiber
// path formats it.
func (g *Gateway) answerFault(ctx *fasthttp.RequestCtx, code int, msg string) {
	c := g.app.AcquireCtx(ctx)
	defer g.app.ReleaseCtx(c)
	if err := g.plainError(c, code, msg); err != nil {
		g.log.Error("writing an error answer", "err", err)
	}
}

// dropHopHeaders removes connection-scoped headers before the request goes upstream.
func dropHopHeaders(h *fasthttp.RequestHeader) {
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// dropOwnCookies keeps gatehouse's cookies from the upstream. It reads the parsed cookies
// only: peeking at the Cookie header after they were parsed would render it anew each time.
func (g *Gateway) dropOwnCookies(h *fasthttp.RequestHeader) {
	own := false
	h.VisitAllCookie(func(k, _ []byte) {
		own = own || g.ownCookie(k)
	})
	if !own {
		return
	}
	h.DelCookie(g.cookie.name)
	h.DelCookie(cookieCSRF)
	h.DelCookie(cookieCSRFHost)
	left := 0
	h.VisitAllCookie(func(_, _ []byte) { left++ })
	if left == 0 {
		h.Del(fiber.HeaderCookie)
	}
}

// ownCookie reports one of gatehouse's cookie names.
func (g *Gateway) ownCookie(name []byte) bool {
	n := bytesView(name)
	return n == g.cookie.name || n == cookieCSRF || n == cookieCSRFHost
}

// setSessionHeaders sets the identity headers rendered at login, or renders them now if the
// session was made under another claims.headers configuration.
func (g *Gateway) setSessionHeaders(h *fasthttp.RequestHeader, s *sessions.Session) {
	if s.HeadersKey == g.headersKey {
		// Rendered at login with names spelled as fasthttp spells them: set as they are.
		for i := range s.Headers {
			h.SetCanonical(stringBytes(s.Headers[i].Name), stringBytes(s.Headers[i].Value))
		}
		return
	}
	g.setClaimHeaders(h, &s.Claims)
}

// setClaimHeaders renders and sets the identity headers of set.
func (g *Gateway) setClaimHeaders(h *fasthttp.RequestHeader, set *claims.Set) {
	for _, ch := range g.headers {
		if v := headerValue(set, ch); v != "" {
			h.Set(ch.name, v)
		}
	}
}

// renderHeaders renders the identity headers of set once, at login, for the session.
func (g *Gateway) renderHeaders(set *claims.Set) []sessions.HeaderField {
	var out []sessions.HeaderField
	for _, ch := range g.headers {
		if v := headerValue(set, ch); v != "" {
			out = append(out, sessions.HeaderField{Name: fasthttpCanonical(ch.name), Value: v})
		}
	}
	return out
}

// headersFingerprint names a claims.headers configuration, so headers rendered under another
// one (before a restart with a changed config) are rendered again instead of used.
func headersFingerprint(hs []claimHeader) string {
	var b bytes.Buffer
	for _, h := range hs {
		fmt.Fprintf(&b, "%q=%q/%d;", h.name, h.variable, h.max)
	}
	return b.String()
}

// audienceHost is the assertion audience's host for rt: a host-less route's is gatehouse's
// public host, never the client's Host.
func (g *Gateway) audienceHost(rt *route) string {
	if rt.host != "" {
		return rt.host
	}
	return g.publicURL.Hostname()
}

// signAssertion signs the identity assertion of set for host. Tokens are cached per session
// (cookie) and audience inside the signer, so this is not a signature per request.
func (g *Gateway) signAssertion(set *claims.Set, host string, cookie []byte) (string, error) {
	a := g.deps.Assertion
	sessionKey := ""
	if len(cookie) > 0 {
		sessionKey = sessions.Key(string(cookie))
	}
	tok, err := a.Sign(set, a.Audience(host), sessionKey)
	if err != nil {
		g.log.Error("signing the identity assertion", "err", err)
	}
	return tok, err
}

// observe counts the request and writes its access-log line (formatted only when the access
// log is on).
func (g *Gateway) observe(ctx *fasthttp.RequestCtx, rt *route, status int, rid []byte, sess *sessions.Session) {
	g.metrics.observeRequest(rt, status, time.Since(ctx.Time()))
	if g.access == nil || !g.access.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	login := ""
	if sess != nil {
		login = sess.Claims.Login
	}
	g.logAccess(string(rid), string(ctx.Method()), string(ctx.URI().Path()), status, time.Since(ctx.Time()),
		login, rt.name, peerAddr(ctx))
}

// panicked answers 500 for a panic on the fast path, as the middleware does on the other.
func (g *Gateway) panicked(ctx *fasthttp.RequestCtx, p any) {
	g.log.Error("panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	ctx.Response.Reset()
	ctx.Error("Internal Server Error", fasthttp.StatusInternalServerError)
}

// reservedPath reports a path at or under /.gatehouse, in any case: those are the Fiber app's.
func reservedPath(p []byte) bool {
	const prefix = "/.gatehouse"
	return len(p) >= len(prefix) && bytes.EqualFold(p[:len(prefix)], []byte(prefix))
}

// peerAddr is the client's address.
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}

// stringBytes reads s as bytes without copying, for fasthttp calls that copy what they get
// and never write to it.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// bytesView reads b as a string without copying. Only for lookups that do not keep the
// string: b is fasthttp's buffer and changes with the next request.
func bytesView(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// withHeaders stores the identity headers of set, rendered now, with the new session.
func (g *Gateway) withHeaders(set *claims.Set) sessions.CreateOption {
	return sessions.WithHeaders(g.headersKey, g.renderHeaders(set))
}
