package gateway

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

type loginView struct {
	Title, Action, CSRF, Redirect, Username, Error string
	// Providers are the OpenID providers' buttons.
	Providers []oidcButton
}

type formView struct{ Action, CSRF, Button string }

type messageView struct {
	Title, Message, Link, LinkText string
	Form                           *formView
}

func (g *Gateway) title() string {
	if g.cfg.Portal.Title != "" {
		return g.cfg.Portal.Title
	}
	return "Login"
}

// render writes an HTML page; pages never go into shared caches.
func (g *Gateway) render(c *fiber.Ctx, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(buf.Bytes())
}

// plainError answers with a short message: HTML for browsers, JSON for API clients.
func (g *Gateway) plainError(c *fiber.Ctx, status int, msg string) error {
	if wantsHTML(c) {
		return g.render(c, status, "message.html", messageView{Title: httpStatusText(status), Message: msg})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(fiber.Map{"error": errorCode(status), "message": msg})
}

func errorCode(status int) string {
	return strings.ReplaceAll(strings.ToLower(httpStatusText(status)), " ", "_")
}

// loginPage shows the form. The CSRF token is double-submitted: a Strict, HttpOnly cookie and
// the hidden field must match.
func (g *Gateway) loginPage(c *fiber.Ctx) error {
	return g.showLogin(c, fiber.StatusOK, "", c.Query(paramRedirect), "")
}

func (g *Gateway) showLogin(c *fiber.Ctx, status int, username, rd, msg string) error {
	token := c.Cookies(g.cookie.csrfName)
	if len(token) != 43 {
		token = randomToken()
	}
	c.Cookie(g.cookie.csrf(token))
	if msg == "" {
		if stale, _ := c.Locals(localStaleSession).(bool); stale {
			msg = msgSessionExpired
		}
	}
	safeRD := g.redirects.safe(rd)
	return g.render(c, status, "login.html", loginView{
		Title: g.title(), Action: PathLogin, CSRF: token, Redirect: safeRD, Username: username, Error: msg,
		Providers: g.oidcButtons(safeRD),
	})
}

// loginForm is POST /.gatehouse/login: CSRF check, the chain, a new session, 303 to rd.
func (g *Gateway) loginForm(c *fiber.Ctx) error {
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationForm) {
		return g.plainError(c, fiber.StatusBadRequest, "Malformed login form.")
	}
	body, err := readBody(c, g.cfg.Limits.MaxLoginBody)
	if err != nil {
		return g.plainError(c, fiber.StatusRequestEntityTooLarge, "Login form too large.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return g.plainError(c, fiber.StatusBadRequest, "Malformed login form.")
	}
	rd := form.Get(paramRedirect)
	username := strings.TrimSpace(form.Get("username"))
	if g.crossSite(c) || !tokensEqual(form.Get("csrf"), c.Cookies(g.cookie.csrfName)) {
		g.log.Warn("login form without a valid csrf token", "request_id", c.Locals(localRequestID))
		return g.showLogin(c, fiber.StatusForbidden, username, rd, msgCSRF)
	}
	sess, status, msg := g.authenticate(c, username, form.Get("password"))
	if sess == "" {
		if status == fiber.StatusUnauthorized {
			// OTRS: with CustomerPanelLoginURL a failed login goes back there, Reason=LoginFailed.
			if u := g.portalLoginURL(g.absoluteRedirect(rd), reasonLoginFailed); u != "" {
				return c.Redirect(u, fiber.StatusSeeOther)
			}
			c.Set(headerWWWAuthenticate, g.challenge())
		}
		return g.showLogin(c, status, username, rd, msg)
	}
	c.Cookie(g.cookie.session(sess))
	c.Cookie(g.cookie.csrf(randomToken())) // a used token is not kept
	target := g.redirects.safe(rd)
	if target == "" {
		target = "/"
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

type apiLogin struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// loginAPI is POST /.gatehouse/api/login with a JSON body. Requiring application/json is its
// CSRF defence: a browser cannot send that cross-site without a CORS preflight.
func (g *Gateway) loginAPI(c *fiber.Ctx) error {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return c.Status(fiber.StatusUnsupportedMediaType).JSON(fiber.Map{"error": "unsupported_media_type", "message": "Content-Type must be application/json."})
	}
	body, err := readBody(c, g.cfg.Limits.MaxLoginBody)
	if err != nil {
		return c.Status(fiber.StatusRequestEntityTooLarge).JSON(fiber.Map{"error": "request_entity_too_large", "message": "Login body too large."})
	}
	var in apiLogin
	if err := json.Unmarshal(body, &in); err != nil {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "bad_request", "message": "Body must be {\"username\": …, \"password\": …}."})
	}
	sess, status, msg := g.authenticate(c, strings.TrimSpace(in.Username), in.Password)
	c.Set(fiber.HeaderCacheControl, "no-store")
	if sess == "" {
		if status == fiber.StatusUnauthorized {
			c.Set(headerWWWAuthenticate, g.challenge())
		}
		return c.Status(status).JSON(fiber.Map{"error": loginErrorCode(msg), "message": msg})
	}
	c.Cookie(g.cookie.session(sess))
	set, _ := c.Locals(localClaims).(*claims.Set)
	return c.JSON(set)
}

const localClaims = "gatehouse.claims"

func loginErrorCode(msg string) string {
	switch msg {
	case msgNoRecord:
		return "no_customer_record"
	case msgBackendDown:
		return "backend_unavailable"
	case msgOverloaded:
		return "overloaded"
	}
	return "login_failed"
}

// authenticate runs the chain and creates the session. It returns the new session id, or
// the HTTP status and the message to show.
func (g *Gateway) authenticate(c *fiber.Ctx, username, password string) (string, int, string) {
	ctx, cancel := context.WithTimeout(c.UserContext(), 30*time.Second)
	defer cancel()
	if username == "" || password == "" {
		// OTRS refuses empty credentials in every module; no module is asked.
		return "", fiber.StatusUnauthorized, msgLoginFailed
	}
	ok, err := g.deps.Chain.Login(ctx, authn.Credentials{Login: username, Password: password, Request: fiberRequest{c}})
	switch {
	case err == nil:
	case errors.Is(err, authn.ErrNoRecord):
		return "", fiber.StatusUnauthorized, msgNoRecord
	case errors.Is(err, authn.ErrBackendUnavailable):
		g.repeat.backendDown.log(g.log, slog.LevelError, "login refused: back end unavailable", "err", err)
		c.Set(fiber.HeaderRetryAfter, "10")
		return "", fiber.StatusServiceUnavailable, msgBackendDown
	case errors.Is(err, authn.ErrOverloaded):
		c.Set(fiber.HeaderRetryAfter, "2")
		return "", fiber.StatusServiceUnavailable, msgOverloaded
	case errors.Is(err, authn.ErrRejected), errors.Is(err, authn.ErrInvalidUser):
		// An invalid account gets the same answer as a wrong password, as in OTRS (the
		// reason is only logged), so the form does not tell which accounts exist.
		g.log.Info("login failed", "login", username, "reason", err.Error(), "request_id", c.Locals(localRequestID))
		return "", fiber.StatusUnauthorized, msgLoginFailed
	default:
		g.repeat.loginFault.log(g.log, slog.LevelError, "login failed with a fault", "err", err)
		return "", fiber.StatusServiceUnavailable, msgBackendDown
	}
	set, err := g.claimSet(ctx, ok)
	if err != nil {
		g.log.Error("login: claims", "err", err)
		return "", fiber.StatusServiceUnavailable, msgBackendDown
	}
	// Never reuse a pre-login session id: drop the old session and make a new one.
	g.endPreLoginSession(ctx, c)
	start := time.Now()
	id, _, err := g.deps.Sessions.Create(ctx, set, remoteAddr(c).String(), g.withHeaders(&set))
	g.metrics.observeSession("create", start, err)
	if err != nil {
		g.repeat.loginStoreDown.log(g.log, slog.LevelError, "login: session store unavailable", "err", err)
		c.Set(fiber.HeaderRetryAfter, "5")
		return "", fiber.StatusServiceUnavailable, "Session store unavailable. Please try again shortly."
	}
	g.log.Info("login", "login", set.Login, "module", set.AuthModule, "source", set.Source, "request_id", c.Locals(localRequestID))
	c.Locals(localLogin, set.Login)
	c.Locals(localClaims, &set)
	return id, fiber.StatusOK, ""
}

// logout ends the session. GET and form POST need the session's csrf token (else a
// confirmation page); a JSON POST needs none, as browsers cannot send it cross-site.
func (g *Gateway) logout(c *fiber.Ctx) error {
	jsonPost := false
	if c.Method() == fiber.MethodPost {
		mt, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
		jsonPost = mt == fiber.MIMEApplicationJSON
	}
	sess, err := g.currentSession(c)
	if err != nil {
		return g.storeDown(c, err)
	}
	if sess != nil && !jsonPost {
		token := c.Query("csrf")
		if c.Method() == fiber.MethodPost {
			if body, err := readBody(c, g.cfg.Limits.MaxLoginBody); err == nil {
				if f, err := url.ParseQuery(string(body)); err == nil && f.Get("csrf") != "" {
					token = f.Get("csrf")
				}
			}
		}
		if !tokensEqual(token, sess.CSRF) {
			return g.render(c, fiber.StatusOK, "message.html", messageView{
				Title: "Log out", Message: "Do you want to log out?",
				Form: &formView{Action: PathLogout, CSRF: sess.CSRF, Button: "Log out"},
			})
		}
	}
	if sess != nil {
		c.Locals(localLogin, sess.Claims.Login)
		start := time.Now()
		err := g.deps.Sessions.Destroy(c.UserContext(), c.Cookies(g.cookie.name))
		g.metrics.observeSession("delete", start, err)
		if err != nil {
			return g.storeDown(c, err)
		}
		g.log.Info("logout", "login", sess.Claims.Login, "request_id", c.Locals(localRequestID))
	}
	c.Cookie(g.cookie.expired())
	c.Set(fiber.HeaderCacheControl, "no-store")
	target := g.cfg.Portal.LogoutURL
	if u := g.providerLogoutURL(sess); u != "" {
		target = u
	}
	if !wantsHTML(c) {
		var rd any
		if target != "" {
			rd = target
		}
		return c.JSON(fiber.Map{"redirect": rd})
	}
	if target != "" {
		return c.Redirect(target, fiber.StatusSeeOther)
	}
	return g.render(c, fiber.StatusOK, "message.html", messageView{
		Title: g.title(), Message: msgLogoutSuccessful, Link: PathLogin, LinkText: "Log in again",
	})
}

// userinfo returns the current claim set.
func (g *Gateway) userinfo(c *fiber.Ctx) error {
	sess, err := g.currentSession(c)
	if err != nil {
		return g.storeDown(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if sess == nil {
		c.Set(headerWWWAuthenticate, g.challenge())
		return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "unauthorized", "message": "Authentication required."})
	}
	c.Locals(localLogin, sess.Claims.Login)
	return c.JSON(sess.Claims)
}

func (g *Gateway) healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendString("ok\n")
}

// readyz checks the session store and the data sources.
func (g *Gateway) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	var failed []string
	for name, check := range g.deps.Ready {
		if err := check(ctx); err != nil {
			// Details go to the log only: this answer is on the public port.
			g.log.Warn("not ready", "check", name, "err", err)
			failed = append(failed, name)
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if len(failed) > 0 {
		sort.Strings(failed)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"ready": false, "failed": failed})
	}
	return c.JSON(fiber.Map{"ready": true})
}

func (g *Gateway) notFound(c *fiber.Ctx) error {
	return g.plainError(c, fiber.StatusNotFound, "Not found.")
}

// readBody reads at most max bytes of the (possibly streamed) request body.
func readBody(c *fiber.Ctx, max int) ([]byte, error) {
	if cl := c.Request().Header.ContentLength(); cl > max {
		return nil, errBodyTooLarge
	}
	if bs := c.Context().RequestBodyStream(); bs != nil {
		b, err := io.ReadAll(io.LimitReader(bs, int64(max)+1))
		if err != nil {
			return nil, err
		}
		if len(b) > max {
			return nil, errBodyTooLarge
		}
		return b, nil
	}
	b := c.Body()
	if len(b) > max {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// jwks serves the public keys of the signed identity assertion.
func (g *Gateway) jwks(c *fiber.Ctx) error {
	if g.deps.Assertion == nil {
		return g.notFound(c)
	}
	// Short: a newly rotated key is published when it starts signing.
	c.Set(fiber.HeaderCacheControl, "public, max-age=30")
	c.Set(fiber.HeaderContentType, "application/jwk-set+json")
	return c.Send(g.deps.Assertion.JWKS())
}

// endPreLoginSession ends the session the browser brought to a login (a new id is made).
func (g *Gateway) endPreLoginSession(ctx context.Context, c *fiber.Ctx) {
	old := c.Cookies(g.cookie.name)
	if old == "" {
		return
	}
	if err := g.deps.Sessions.Destroy(ctx, old); err != nil && !errors.Is(err, sessions.ErrMalformedID) {
		g.log.Warn("login: ending the previous session failed", "err", err, "request_id", c.Locals(localRequestID))
	}
}
