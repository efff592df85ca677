package gateway

// Reserved paths: the public contract of DESIGN.md.
const (
	PathPrefix    = "/.gatehouse/"
	PathLogin     = "/.gatehouse/login"
	PathAPILogin  = "/.gatehouse/api/login"
	PathLogout    = "/.gatehouse/logout"
	PathUserinfo  = "/.gatehouse/userinfo"
	PathHealthz   = "/.gatehouse/healthz"
	PathReadyz    = "/.gatehouse/readyz"
	PathJWKS      = "/.gatehouse/jwks.json"
	PathMetrics   = "/metrics"      // admin listener only
	PathAdminAPI  = "/api/v1/"      // admin listener only
	PathPprof     = "/debug/pprof/" // admin listener only, with admin.pprof
	paramRedirect = "rd"
)

// Cookie names besides the configured session cookie.
const (
	// cookieCSRF carries the pre-login CSRF token (double-submit).
	cookieCSRF = "gatehouse_csrf"
	// cookieCSRFHost is cookieCSRF with the __Host- prefix, used when cookies are Secure, so a
	// sibling subdomain cannot plant it.
	cookieCSRFHost = "__Host-gatehouse_csrf"
)

// Header names gatehouse reads or writes itself.
const (
	headerRequestID       = "X-Request-Id"
	headerXForwardedFor   = "X-Forwarded-For"
	headerXForwardedProto = "X-Forwarded-Proto"
	headerXForwardedHost  = "X-Forwarded-Host"
	headerWWWAuthenticate = "WWW-Authenticate"
	headerSecFetchSite    = "Sec-Fetch-Site"
	headerOrigin          = "Origin"
)

// Messages shown to customers; the texts are OTRS's own (Kernel/System/Web/InterfaceCustomer.pm).
const (
	msgLoginFailed      = "Login failed! Your user name or password was entered incorrectly."
	msgNoRecord         = "Authentication succeeded, but no customer record is found in the customer backend. Please contact the administrator."
	msgBackendDown      = "Authentication back end unavailable. Please try again later."
	msgOverloaded       = "Too many logins at once. Please try again in a moment."
	msgLogoutSuccessful = "Logout successful."
	msgSessionExpired   = "Session invalid. Please log in again."
	msgCSRF             = "The login form expired. Please try again."
	msgPreAuthFailed    = "You are not signed in. Please sign in through your organisation's login and try again."
)
