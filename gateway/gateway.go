// Package gateway is the HTTP side of gatehouse, on Fiber/fasthttp: the listeners, the
// middleware, the streaming reverse proxy and the login, logout, userinfo and health
// handlers. It is the only package that imports Fiber or fasthttp.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/claims/assertion"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// bodyReadTimeout bounds reading one request body once its headers have arrived; the header
// itself must arrive within server.read_header_timeout (slowloris). fasthttp can only lengthen
// the read deadline per request, not clear it, so streamed uploads get this generous bound.
const bodyReadTimeout = time.Hour

// Deps are what the gateway is wired to; cmd/gatehouse builds them from the config.
type Deps struct {
	// Config is the validated configuration.
	Config *configs.Config
	// Chain is the authentication chain (password modules and the customer-user lookup).
	Chain *authn.Chain
	// Groups computes effective group permissions at login.
	Groups directory.GroupResolver
	// Sessions creates and loads sessions.
	Sessions *sessions.Manager
	// Ready lists the readiness checks (session store, data sources) by name.
	Ready map[string]func(context.Context) error
	// RequestModules are the chain's request modules (trusted header, bearer tokens) in
	// chain order; they are asked for requests without a session.
	RequestModules []RequestModule
	// Assertion signs the identity for the upstream (claims.assertion); nil when disabled.
	Assertion *assertion.Signer
	// OIDC are the OpenID providers offered on the login page, in chain order.
	OIDC []OIDCLogin
	// Adder creates customer users for OIDC auto_create.
	Adder CustomerUserAdder
	// PreAuth is set when the first chain module is the trusted header (OTRS PreAuth): no
	// password form is offered.
	PreAuth bool
	// Logger receives structured logs.
	Logger *slog.Logger
	// AccessLog receives one line per request; nil turns the access log off. It is separate
	// from Logger so that log.level (say, warn) does not silence it.
	AccessLog *slog.Logger
	// AdminAPI serves /api/v1/ on the admin listener; nil leaves it out.
	AdminAPI http.Handler
	// AdminUI serves / on the admin listener; nil leaves it out.
	AdminUI http.Handler
	// Metrics are registered on the admin listener; nil creates new ones.
	Metrics *Metrics
}

// Gateway is the running HTTP side.
type Gateway struct {
	cfg       *configs.Config
	deps      Deps
	log       *slog.Logger
	repeat    repeatLogs // log lines a fault could repeat on every request
	metrics   *Metrics
	app       *fiber.App
	admin     *http.Server
	publicURL *url.URL
	redirects redirectPolicy
	trusted   []netip.Prefix
	routes    *routeTable
	owned     ownedHeaders // claim headers: removed from every request first
	// fastScrubTrusted and fastScrubUntrusted are what the fast path removes in one pass:
	// owned, moduleInputs, hop-by-hop headers and X-Request-Id, and from untrusted peers
	// the forwarding headers.
	fastScrubTrusted, fastScrubUntrusted *headerSet
	// headersKey fingerprints the claims.headers configuration (see Session.HeadersKey).
	headersKey string
	// appHandler is the Fiber app's handler, for what the fast path declines.
	appHandler fasthttp.RequestHandler
	// moduleInputs are the request modules' input headers, removed once they have been read.
	moduleInputs ownedHeaders
	// hasTrustedHeader is set when a trusted-header module is configured.
	hasTrustedHeader bool
	headers          []claimHeader
	cookie           cookieSpec
	echo             *echoServer
	access           *slog.Logger
}

// New builds the gateway; nothing listens until Serve.
func New(d Deps) (*Gateway, error) {
	cfg := d.Config
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	pub, err := url.Parse(cfg.Server.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("server.public_url: %w", err)
	}
	g := &Gateway{
		cfg:       cfg,
		deps:      d,
		log:       d.Logger,
		metrics:   d.Metrics,
		publicURL: pub,
		redirects: newRedirectPolicy(pub, cfg.Portal.AllowedRedirectHosts),
		cookie:    newCookieSpec(cfg),
		access:    d.AccessLog,
	}
	if g.trusted, err = configs.ParsePrefixes(cfg.Server.TrustedProxies); err != nil {
		return nil, fmt.Errorf("server.trusted_proxies: %w", err)
	}
	g.headers, g.owned = compileClaimHeaders(cfg.Claims)
	g.moduleInputs = ownedHeaders{}
	for _, rm := range d.RequestModules {
		g.hasTrustedHeader = g.hasTrustedHeader || rm.TrustedOnly
		if rm.Header != "" {
			g.moduleInputs.add(rm.Header)
			delete(g.owned, canonicalHeader([]byte(rm.Header)))
		}
	}
	if routesNeedEcho(cfg.Routes) {
		g.echo, err = startEcho()
		if err != nil {
			return nil, err
		}
	}
	perRequest := ownedHeaders{}
	for _, name := range slices.Concat(hopHeaders, []string{headerRequestID}) {
		perRequest.add(name)
	}
	g.fastScrubTrusted = newHeaderSet(g.owned, g.moduleInputs, perRequest)
	g.fastScrubUntrusted = newHeaderSet(g.owned, g.moduleInputs, perRequest, forwardingHeaders)
	g.headersKey = headersFingerprint(g.headers)
	g.routes, err = compileRoutes(cfg.Routes, cfg.Limits, g.echoAddr())
	if err != nil {
		g.Close()
		return nil, err
	}
	for _, rt := range g.routes.routes {
		rt.stats = d.Metrics.forRoute(rt.name)
	}
	g.app = g.newApp()
	g.appHandler = g.app.Handler()
	g.app.Server().Handler = g.serve
	if cfg.Admin.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle(PathMetrics, promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{}))
		if cfg.Admin.Pprof {
			mux.HandleFunc(PathPprof, pprof.Index)
			mux.HandleFunc(PathPprof+"cmdline", pprof.Cmdline)
			mux.HandleFunc(PathPprof+"profile", pprof.Profile)
			mux.HandleFunc(PathPprof+"symbol", pprof.Symbol)
			mux.HandleFunc(PathPprof+"trace", pprof.Trace)
		}
		if d.AdminAPI != nil {
			mux.Handle(PathAdminAPI, d.AdminAPI)
		}
		if d.AdminUI != nil {
			mux.Handle("/", d.AdminUI)
		}
		g.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
	return g, nil
}

func (g *Gateway) echoAddr() string {
	if g.echo == nil {
		return ""
	}
	return g.echo.addr
}

func (g *Gateway) newApp() *fiber.App {
	s := g.cfg.Server
	app := fiber.New(fiber.Config{
		// Bodies stream through; nothing but the login handlers reads one (and they bound it).
		StreamRequestBody:     true,
		DisableStartupMessage: true,
		ReadTimeout:           s.ReadHeaderTimeout,
		IdleTimeout:           s.IdleTimeout,
		// Proxied request bodies are streamed and counted by the proxy; this bounds only what
		// fasthttp buffers itself.
		BodyLimit:    g.cfg.Limits.MaxLoginBody,
		ErrorHandler: g.errorHandler,
		Network:      "tcp",
	})
	app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		if cl := h.ContentLength(); cl == 0 || cl == -2 {
			// No body follows: nothing more is read, so the deadline need not move (one
			// timer update less per request).
			return fasthttp.RequestConfig{}
		}
		return fasthttp.RequestConfig{ReadTimeout: bodyReadTimeout}
	}
	app.Server().NoDefaultServerHeader = true
	app.Use(g.middleware)
	app.Get(PathHealthz, g.healthz)
	app.Get(PathReadyz, g.readyz)
	app.Get(PathLogin, g.loginPage)
	app.Post(PathLogin, g.loginForm)
	app.Post(PathAPILogin, g.loginAPI)
	app.Get(PathLogout, g.logout)
	app.Post(PathLogout, g.logout)
	app.Get(PathUserinfo, g.userinfo)
	app.All(PathAuth, g.forwardAuth)
	app.Get(PathJWKS, g.jwks)
	app.Get(pathOIDCStart, g.oidcStart)
	app.Get(pathOIDCCallback, g.oidcCallback)
	app.All(strings.TrimSuffix(PathPrefix, "/")+"/*", g.notFound)
	app.All("/*", g.proxy)
	return app
}

// Handler exposes the public app for tests (app.Test).
func (g *Gateway) Handler() *fiber.App { return g.app }

// Serve listens on the public and admin addresses until ctx is cancelled, then shuts down
// gracefully: in-flight requests get server.shutdown_timeout to finish.
func (g *Gateway) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", g.cfg.Server.Listen, err)
	}
	var aln net.Listener
	if g.admin != nil {
		aln, err = net.Listen("tcp", g.cfg.Admin.Listen)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("admin listen %s: %w", g.cfg.Admin.Listen, err)
		}
	}
	return g.ServeListeners(ctx, ln, aln)
}

// ServeListeners is Serve on listeners the caller opened (tests use 127.0.0.1:0).
func (g *Gateway) ServeListeners(ctx context.Context, ln, adminLn net.Listener) error {
	errc := make(chan error, 2)
	go func() { errc <- g.app.Listener(ln) }()
	if g.admin != nil && adminLn != nil {
		go func() {
			if err := g.admin.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin listener: %w", err)
			}
		}()
	}
	g.log.Info("gatehouse listening", "public", ln.Addr().String(), "admin", addrOf(adminLn), "public_url", g.publicURL.String())
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	timeout := g.cfg.Server.ShutdownTimeout
	g.log.Info("shutting down", "timeout", timeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := g.app.ShutdownWithContext(sctx); err != nil && serveErr == nil {
		serveErr = fmt.Errorf("shutdown: %w", err)
	}
	if g.admin != nil {
		_ = g.admin.Shutdown(sctx)
	}
	g.Close()
	return serveErr
}

// Close releases what New started (the echo upstream).
func (g *Gateway) Close() {
	if g.echo != nil {
		g.echo.close()
	}
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// trustedPeer reports whether addr is inside server.trusted_proxies.
func (g *Gateway) trustedPeer(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range g.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// claimSet builds the claim set of a successful login (groups looked up once, here).
func (g *Gateway) claimSet(ctx context.Context, s *authn.Success) (claims.Set, error) {
	var perms directory.Permissions
	if g.deps.Groups != nil {
		var err error
		perms, err = g.deps.Groups.Permissions(ctx, s.User.Login, s.User.CustomerIDs)
		if err != nil {
			return claims.Set{}, fmt.Errorf("group permissions of %q: %w", s.User.Login, err)
		}
	}
	return claims.FromCustomerUser(s.User, perms, s.Module), nil
}
