package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Locals keys set by handlers for the access log and metrics.
const (
	localRoute     = "gatehouse.route"
	localLogin     = "gatehouse.login"
	localRequestID = "gatehouse.request_id"
)

// middleware wraps every request: request id, panic recovery, access log and metrics.
func (g *Gateway) middleware(c *fiber.Ctx) (err error) {
	start := time.Now()
	rid := g.requestID(c)
	c.Locals(localRequestID, rid)
	c.Set(headerRequestID, rid)
	defer func() {
		if p := recover(); p != nil {
			g.log.Error("panic in handler", "request_id", rid, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fiber.ErrInternalServerError
		}
		if err != nil {
			if herr := g.errorHandler(c, err); herr != nil {
				g.log.Error("error handler", "err", herr)
			}
			err = nil
		}
		status := c.Response().StatusCode()
		routeName, _ := c.Locals(localRoute).(string)
		if routeName == "" {
			routeName = "gatehouse"
		}
		d := time.Since(start)
		g.metrics.requests.WithLabelValues(routeName, strconv.Itoa(status)).Inc()
		g.metrics.duration.WithLabelValues(routeName).Observe(d.Seconds())
		if g.access != nil && g.access.Enabled(context.Background(), slog.LevelInfo) {
			login, _ := c.Locals(localLogin).(string)
			g.logAccess(rid, c.Method(), string(c.Request().URI().Path()), status, d, login, routeName, remoteAddr(c))
		}
	}()
	return c.Next()
}

// logAccess writes one access-log line. The path only: queries may carry secrets (tokens,
// codes) and never reach the log.
func (g *Gateway) logAccess(rid, method, path string, status int, d time.Duration, login, route string, remote netip.Addr) {
	g.access.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("request_id", rid),
		slog.String("method", method),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("login", login),
		slog.String("route", route),
		slog.String("remote", remote.String()),
	)
}

// requestID keeps a well-formed X-Request-Id from a trusted proxy and makes one otherwise.
func (g *Gateway) requestID(c *fiber.Ctx) string {
	var buf [maxRequestIDLen]byte
	peer := remoteAddr(c)
	return string(g.requestIDInto(c.Context(), buf[:0], peer, g.trustedPeer(peer)))
}

// maxRequestIDLen bounds an X-Request-Id taken from a trusted proxy.
const maxRequestIDLen = 64

// requestIDInto appends the request's id to dst: a well-formed X-Request-Id from a trusted
// proxy, or a new one. New ids are a random per-process prefix and a counter: unique, cheap
// (no system call per request), and not secret — they are printed in logs and headers.
func (g *Gateway) requestIDInto(ctx *fasthttp.RequestCtx, dst []byte, peer netip.Addr, trusted bool) []byte {
	if in := ctx.Request.Header.Peek(headerRequestID); trusted && len(in) > 0 && len(in) <= maxRequestIDLen &&
		isToken(bytesView(in)) {
		return append(dst, in...)
	}
	n := requestCounter.Add(1)
	dst = append(dst, requestIDPrefix[:]...)
	for shift := 44; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(n>>uint(shift))&0xf])
	}
	return dst
}

const hexDigits = "0123456789abcdef"

var (
	// requestIDPrefix is 48 random bits in hex, new for every process.
	requestIDPrefix = func() (p [12]byte) {
		var b [6]byte
		_, _ = rand.Read(b[:])
		hex.Encode(p[:], b[:])
		return p
	}()
	requestCounter atomic.Uint64
)

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func remoteAddr(c *fiber.Ctx) netip.Addr {
	ip := c.Context().RemoteIP()
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// errorHandler answers errors that handlers return; it never shows internals to the client.
func (g *Gateway) errorHandler(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
	} else {
		g.log.Error("request failed", "request_id", c.Locals(localRequestID), "err", err)
	}
	return g.plainError(c, code, httpStatusText(code))
}

func httpStatusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Error"
}
