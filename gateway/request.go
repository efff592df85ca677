package gateway

import (
	"net/netip"

	"github.com/gofiber/fiber/v2"
)

// fiberRequest is the small request view authentication modules see (authn.RequestView).
type fiberRequest struct{ c *fiber.Ctx }

func (r fiberRequest) Header(name string) string { return r.c.Get(name) }
func (r fiberRequest) RemoteAddr() netip.Addr    { return remoteAddr(r.c) }
func (r fiberRequest) TLS() bool                 { return r.c.Context().IsTLS() }
