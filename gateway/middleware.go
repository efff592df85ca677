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
	"time"

	"github.com/gofiber/fiber/v2"
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
		if g.access != nil {
			login, _ := c.Locals(localLogin).(string)
			// The path only: queries may carry secrets (tokens, codes) and never reach the log.
			g.access.LogAttrs(context.Background(), slog.LevelInfo, "request",
				slog.String("request_id", rid),
				slog.String("method", c.Method()),
				slog.String("path", string(c.Request().URI().Path())),
				slog.Int("status", status),
				slog.Duration("duration", d),
				slog.String("login", login),
				slog.String("route", routeName),
				slog.String("remote", c.Context().RemoteIP().String()),
			)
		}
	}()
	return c.Next()
}

// requestID keeps a well-formed X-Request-Id from a trusted proxy and makes one otherwise.
func (g *Gateway) requestID(c *fiber.Ctx) string {
	if in := c.Get(headerRequestID); in != "" && len(in) <= 64 && g.trustedPeer(remoteAddr(c)) && isToken(in) {
		return in
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

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
