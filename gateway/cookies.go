package gateway

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-sso/gatehouse/configs"
)

// cookieSpec is the session cookie's attributes, fixed at start.
type cookieSpec struct {
	name     string
	domain   string
	secure   bool
	sameSite string
	csrfName string
}

func newCookieSpec(cfg *configs.Config) cookieSpec {
	secure := cfg.CookieSecure()
	cs := cookieSpec{
		name:     cfg.Sessions.Cookie.Name,
		domain:   cfg.Sessions.Cookie.Domain,
		secure:   secure,
		sameSite: sameSiteValue(cfg.Sessions.Cookie.SameSite),
		csrfName: cookieCSRF,
	}
	if secure {
		cs.csrfName = cookieCSRFHost
	}
	return cs
}

func sameSiteValue(s string) string {
	switch strings.ToLower(s) {
	case "strict":
		return fiber.CookieSameSiteStrictMode
	case "none":
		return fiber.CookieSameSiteNoneMode
	}
	return fiber.CookieSameSiteLaxMode
}

// session is the session cookie for id: HttpOnly, Secure unless a loopback http URL, a
// browser-session cookie (no expiry, as OTRS without SessionUseCookieAfterBrowserClose); the
// server enforces the idle and absolute timeouts.
func (cs cookieSpec) session(id string) *fiber.Cookie {
	return &fiber.Cookie{Name: cs.name, Value: id, Path: "/", Domain: cs.domain,
		Secure: cs.secure, HTTPOnly: true, SameSite: cs.sameSite}
}

// expired clears the session cookie.
func (cs cookieSpec) expired() *fiber.Cookie {
	c := cs.session("")
	c.Expires = time.Unix(1, 0)
	c.MaxAge = -1
	return c
}

// csrf is the pre-login CSRF cookie (double submit): Strict, HttpOnly, host-only.
func (cs cookieSpec) csrf(token string) *fiber.Cookie {
	return &fiber.Cookie{Name: cs.csrfName, Value: token, Path: "/", Secure: cs.secure,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, MaxAge: 3600}
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never happens on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokensEqual compares tokens in constant time; empty never matches.
func tokensEqual(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// crossSite reports a request that a browser marks as coming from another site. Browsers
// send Sec-Fetch-Site on every request; older ones send Origin on POST.
func (g *Gateway) crossSite(c *fiber.Ctx) bool {
	switch c.Get(headerSecFetchSite) {
	case "cross-site":
		return true
	case "same-origin", "same-site", "none":
		return false
	}
	if o := c.Get(headerOrigin); o != "" {
		// Only the configured public origin counts: the request's own Host and
		// X-Forwarded-* are the client's to choose.
		return !strings.EqualFold(o, g.publicURL.Scheme+"://"+g.publicURL.Host)
	}
	return false
}
