package gateway

import (
	"net/netip"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// fiberRequest is the small request view authentication modules see (authn.RequestView).
type fiberRequest struct{ c *fiber.Ctx }

func (r fiberRequest) Header(name string) string { return r.c.Get(name) }
func (r fiberRequest) RemoteAddr() netip.Addr    { return remoteAddr(r.c) }
func (r fiberRequest) TLS() bool                 { return r.c.Context().IsTLS() }

// fastRequest is the fast path's view of a request for request modules. Header copies: a
// module may keep what it reads beyond the request, whose buffers fasthttp reuses.
type fastRequest struct{ ctx *fasthttp.RequestCtx }

func (r fastRequest) Header(name string) string { return string(r.ctx.Request.Header.Peek(name)) }
func (r fastRequest) RemoteAddr() netip.Addr    { return peerAddr(r.ctx) }
func (r fastRequest) TLS() bool                 { return r.ctx.IsTLS() }
