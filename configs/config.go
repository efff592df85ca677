// Package configs holds gatehouse's configuration: the types, loading (YAML with ${VAR}
// expansion and *_file secrets), the defaults (defaults.go, the one place they live) and
// validation that reports every error with its key path and line.
//
// Names follow the OTRS/Znuny settings in snake_case, so an admin can map Kernel/Config.pm
// line by line (Customer::AuthModule::DB::CryptType → customer_auth[].crypt_type).
package configs

import "time"

// Config is the whole gatehouse configuration file.
type Config struct {
	// Server is the public listener.
	Server Server `yaml:"server"`
	// Admin is the admin listener (metrics, admin UI and API); never the public port.
	Admin Admin `yaml:"admin"`
	// Portal holds the OTRS CustomerPanelLoginURL / CustomerPanelLogoutURL fallbacks and redirect rules.
	Portal Portal `yaml:"portal"`
	// Sessions configures the session store and cookie.
	Sessions Sessions `yaml:"sessions"`
	// Routes maps hosts and path prefixes to upstreams: routes naming the request host come
	// before host-less ones, and among those the longest matching path prefix wins.
	Routes []Route `yaml:"routes"`
	// CustomerAuth is Customer::AuthModule, AuthModule1 … AuthModule10: tried in this order (at most 11).
	CustomerAuth []AuthModule `yaml:"customer_auth"`
	// CustomerUser is CustomerUser, CustomerUser1 … CustomerUser10: the data sources in this order (at most 11).
	CustomerUser []CustomerUserSource `yaml:"customer_user"`
	// PasswordPolicy holds the login-failure lock (PasswordMaxLoginFailed).
	PasswordPolicy PasswordPolicy `yaml:"password_policy"`
	// CustomerGroup holds the CustomerGroupSupport settings (fact sheet §8).
	CustomerGroup CustomerGroup `yaml:"customer_group"`
	// Claims says which customer-user values are handed upstream and how.
	Claims Claims `yaml:"claims"`
	// Log configures log/slog output.
	Log Log `yaml:"log"`
	// Limits bounds request sizes and the password-check worker pool.
	Limits Limits `yaml:"limits"`
}

// Server is the public listener.
type Server struct {
	// Listen is the address of the public listener, host:port.
	Listen string `yaml:"listen"`
	// PublicURL is the URL customers use to reach gatehouse; it decides the cookie's Secure flag
	// default, the same-origin check for rd and absolute redirects.
	PublicURL string `yaml:"public_url"`
	// TrustedProxies are CIDRs whose X-Forwarded-* headers (and trusted login header) are believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ShutdownTimeout bounds how long in-flight requests may run after SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// IdleTimeout closes idle keep-alive client connections.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ReadHeaderTimeout bounds reading request headers (slowloris); bodies stream without a deadline.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
}

// Admin is the admin listener.
type Admin struct {
	// Listen is the admin listener address; empty disables it. Never the public port.
	Listen string `yaml:"listen"`
	// Users are the admin accounts (not customer users): login plus a hash from `gatehouse hash-password`.
	Users []AdminUser `yaml:"users"`
	// APITokensFile names a file with one bearer token per line for the admin API.
	APITokensFile string `yaml:"api_tokens_file"`
	// Pprof serves Go's runtime profiles (net/http/pprof) under /debug/pprof/ on the admin
	// listener. Off by default: profiles show code paths and timings, so only for diagnosis.
	Pprof bool `yaml:"pprof"`
}

// AdminUser is one admin account.
type AdminUser struct {
	// Login is the admin's login name.
	Login string `yaml:"login"`
	// PasswordHash is the stored password in any format gatehouse reads (made by hash-password).
	PasswordHash string `yaml:"password_hash"`
	// PasswordHashFile reads PasswordHash from a file instead.
	PasswordHashFile string `yaml:"password_hash_file"`
}

// Portal holds the login/logout fallback URLs and the redirect allow-list.
type Portal struct {
	// LoginURL is CustomerPanelLoginURL: where browsers go when nobody could be authenticated.
	LoginURL string `yaml:"login_url"`
	// LogoutURL is CustomerPanelLogoutURL: where browsers go after logout.
	LogoutURL string `yaml:"logout_url"`
	// AllowedRedirectHosts are hosts besides gatehouse's own origin that rd may point to.
	// A leading dot (".example.com") allows every subdomain.
	AllowedRedirectHosts []string `yaml:"allowed_redirect_hosts"`
	// Title is shown on the login page.
	Title string `yaml:"title"`
}

// Sessions configures session storage.
type Sessions struct {
	// Store is memory or redis.
	Store string `yaml:"store"`
	// Cookie is the session cookie.
	Cookie Cookie `yaml:"cookie"`
	// IdleTimeout is SessionMaxIdleTime: a session unused this long ends.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxLifetime is SessionMaxTime: a session ends this long after login, used or not.
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// LocalCacheTTL is how long each gatehouse process keeps a session it loaded in memory,
	// serving it without asking the store. A session ended anywhere (logout, revocation, on
	// any process sharing the store) is dropped at once through the store's invalidation
	// feed, and while that feed is down (or, on Redis, has not answered its 25 ms PING for
	// 100 ms) every request asks the store; this only bounds how long a lost invalidation
	// could be served. 0 disables the cache. At most half the touch
	// interval (idle_timeout/10, at most 1m); the default, 2s, is capped to that.
	LocalCacheTTL time.Duration `yaml:"local_cache_ttl"`
	// LocalCacheSize bounds how many sessions the local cache holds (each some 1–2 KB); 0
	// disables the cache.
	LocalCacheSize int `yaml:"local_cache_size"`
	// Redis is used when Store is redis.
	Redis Redis `yaml:"redis"`
}

// Cookie is the session cookie's attributes.
type Cookie struct {
	// Name is the cookie name.
	Name string `yaml:"name"`
	// Domain is the cookie Domain attribute; empty means host-only.
	Domain string `yaml:"domain"`
	// Secure sets the Secure attribute. Default true; only an http:// public URL on loopback turns it off.
	Secure *bool `yaml:"secure"`
	// SameSite is lax, strict or none.
	SameSite string `yaml:"same_site"`
}

// Redis configures the Redis session store (go-redis universal client).
type Redis struct {
	// URL is a single-server redis:// or rediss:// URL.
	URL string `yaml:"url"`
	// Addrs are host:port addresses for Sentinel (with MasterName) or Cluster.
	Addrs []string `yaml:"addrs"`
	// MasterName selects Sentinel mode.
	MasterName string `yaml:"master_name"`
	// Cluster selects Cluster mode for Addrs.
	Cluster bool `yaml:"cluster"`
	// Username for Redis ACLs.
	Username string `yaml:"username"`
	// Password for Redis AUTH.
	Password string `yaml:"password"`
	// PasswordFile reads Password from a file.
	PasswordFile string `yaml:"password_file"`
	// DB is the database number (single server and Sentinel).
	DB int `yaml:"db"`
	// KeyPrefix prefixes every key gatehouse writes.
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds each Redis command.
	Timeout time.Duration `yaml:"timeout"`
}

// Route maps requests to an upstream.
type Route struct {
	// Name identifies the route in logs and metrics.
	Name string `yaml:"name"`
	// Host matches the request host (without port); empty matches any host.
	Host string `yaml:"host"`
	// PathPrefix matches the normalised request path at a segment boundary.
	PathPrefix string `yaml:"path_prefix"`
	// Upstream is the upstream base URL (http://host:port), or "echo" for the built-in echo upstream.
	Upstream string `yaml:"upstream"`
	// Public routes skip authentication.
	Public bool `yaml:"public"`
	// Require is the route's access policy.
	Require Require `yaml:"require"`
	// PreserveHost sends the client's Host header upstream instead of the upstream's.
	PreserveHost bool `yaml:"preserve_host"`
	// MaxBodySize bounds request bodies on this route in bytes; 0 takes limits.max_body_size.
	MaxBodySize int64 `yaml:"max_body_size"`
}

// Require is a route policy.
type Require struct {
	// Groups maps group names to the permission needed (ro, rw, …).
	Groups map[string]string `yaml:"groups"`
	// CustomerIDs lists customer ids of which the customer user must have one.
	CustomerIDs []string `yaml:"customer_ids"`
}

// AuthModule is one link of the customer authentication chain (Customer::AuthModule<Count>).
// Fields apply to the module(s) named in their comment; validation refuses keys of other modules.
// OTRS keys are written Customer::AuthModule::<Module>::<Key><Count>; the comments leave out
// the Count.
type AuthModule struct {
	// Module is the module type (Customer::AuthModule): db (Kernel::System::CustomerAuth::DB),
	// ldap (::LDAP), radius (::Radius), http_basic_auth (::HTTPBasicAuth) or oidc (gatehouse only).
	Module string `yaml:"module"`
	// Name identifies the module in logs and metrics; default: module plus slot ("db", "ldap1").
	// An oidc module's name is a URL path segment (/.gatehouse/oidc/{name}/start): ^[a-z0-9][a-z0-9_-]*$.
	Name string `yaml:"name"`
	// Die turns a fault of this module into 503 instead of trying the next module
	// (Customer::AuthModule::<Module>::Die; any module).
	Die bool `yaml:"die"`

	// DSN is Customer::AuthModule::DB::DSN; empty takes the first db data source's dsn (db).
	DSN string `yaml:"dsn"`
	// Table is Customer::AuthModule::DB::Table (db).
	Table string `yaml:"table"`
	// CustomerKey is Customer::AuthModule::DB::CustomerKey, the login column (db).
	CustomerKey string `yaml:"customer_key"`
	// CustomerPassword is Customer::AuthModule::DB::CustomerPassword, the password column (db).
	CustomerPassword string `yaml:"customer_password"`
	// CryptType is Customer::AuthModule::DB::CryptType: the format for writing passwords
	// (bcrypt|sha2|sha512|sha1|md5|apr1|crypt|plain); every format is read (db).
	CryptType string `yaml:"crypt_type"`
	// BcryptCost is Customer::AuthModule::DB::bcryptCost, clamped to 9..31 (db).
	BcryptCost int `yaml:"bcrypt_cost"`

	// Host is Customer::AuthModule::LDAP::Host / ::Radius::Host, tried in this order (failover).
	// ldap: URLs ldap://host[:port] or ldaps://host[:port]; radius: host[:port], after Parse always
	// with a port (default 1812). A single value is accepted for a one-element list (ldap, radius).
	Host []string `yaml:"host"`
	// Timeout bounds each connection attempt and request to one host; default 5s (ldap, radius;
	// Radius.pm's fixed 5 s).
	Timeout time.Duration `yaml:"timeout"`
	// Replace is Customer::AuthModule::HTTPBasicAuth::Replace: a literal prefix removed from the
	// login (s/^\Q…\E//) (http_basic_auth, oidc).
	Replace string `yaml:"replace"`
	// ReplaceRegexp is Customer::AuthModule::HTTPBasicAuth::ReplaceRegExp: applied once after Replace,
	// the match replaced by its first capture group (s/<re>/$1/); Go RE2 syntax (http_basic_auth, oidc).
	ReplaceRegexp string `yaml:"replace_regexp"`
	// Password is Customer::AuthModule::Radius::Password, the RADIUS shared secret (radius).
	Password string `yaml:"password"`
	// PasswordFile reads Password from a file (radius).
	PasswordFile string `yaml:"password_file"`

	// BaseDN is Customer::AuthModule::LDAP::BaseDN, where users are searched (sub scope); it may be
	// empty (ldap).
	BaseDN string `yaml:"base_dn"`
	// UID is Customer::AuthModule::LDAP::UID, the login attribute (uid, sAMAccountName) (ldap).
	UID string `yaml:"uid"`
	// SearchUserDN is Customer::AuthModule::LDAP::SearchUserDN; empty binds anonymously for the
	// search (ldap).
	SearchUserDN string `yaml:"search_user_dn"`
	// SearchUserPw is Customer::AuthModule::LDAP::SearchUserPw (ldap).
	SearchUserPw string `yaml:"search_user_pw"`
	// SearchUserPwFile reads SearchUserPw from a file (ldap).
	SearchUserPwFile string `yaml:"search_user_pw_file"`
	// AlwaysFilter is Customer::AuthModule::LDAP::AlwaysFilter, ANDed to the user search, e.g.
	// (objectclass=inetOrgPerson) (ldap).
	AlwaysFilter string `yaml:"always_filter"`
	// UserSuffix is Customer::AuthModule::LDAP::UserSuffix, appended to the login (@example.com);
	// the login with the suffix is what the customer-user lookup uses (ldap).
	UserSuffix string `yaml:"user_suffix"`
	// GroupDN is Customer::AuthModule::LDAP::GroupDN: the group entry the user must be in; only
	// together with AccessAttr (ldap).
	GroupDN string `yaml:"group_dn"`
	// AccessAttr is Customer::AuthModule::LDAP::AccessAttr, the group's member attribute
	// (memberUid, member, uniqueMember); only together with GroupDN (ldap).
	AccessAttr string `yaml:"access_attr"`
	// UserAttr is Customer::AuthModule::LDAP::UserAttr: what AccessAttr holds, UID (the login) or
	// DN (the user's DN); default DN (ldap).
	UserAttr string `yaml:"user_attr"`
	// StartTLS upgrades ldap:// connections with StartTLS (OTRS: Net::LDAP start_tls) (ldap).
	StartTLS bool `yaml:"start_tls"`
	// CAFile is a PEM file of CA certificates for ldaps:// and StartTLS; empty uses the system's (ldap).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify skips TLS certificate verification; for tests only (ldap).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Charset is Customer::AuthModule::LDAP::Charset, the directory's character set, any name
	// golang.org/x/text/encoding/ianaindex knows; default utf-8 (ldap).
	Charset string `yaml:"charset"`
	// Params is Customer::AuthModule::LDAP::Params, the Net::LDAP->new options (ldap).
	Params LDAPParams `yaml:"params"`

	// Retries is how often a request is sent again to the same host before the next one; Radius.pm
	// sends once (0, the default), at most 5 (radius).
	Retries int `yaml:"retries"`
	// NASIdentifier is sent as NAS-Identifier; empty sends none (Radius.pm sends NAS-IP-Address only) (radius).
	NASIdentifier string `yaml:"nas_identifier"`
	// RequireMessageAuthenticator sends Message-Authenticator and refuses responses without a valid one
	// (BlastRADIUS, CVE-2024-3596); default true. Radius.pm does neither (radius).
	RequireMessageAuthenticator *bool `yaml:"require_message_authenticator"`

	// Header is the request header with the login, set by a trusted proxy (Apache REMOTE_USER as
	// OTRS reads it, nginx auth_basic, Kerberos); believed only from server.trusted_proxies;
	// default Remote-User (http_basic_auth).
	Header string `yaml:"header"`
	// RequiredLoginHeader names a header that must be present too (gateway only; no OTRS version
	// has it) (http_basic_auth).
	RequiredLoginHeader string `yaml:"required_login_header"`
	// RequiredLoginHeaderValue is the exact value RequiredLoginHeader must have (http_basic_auth).
	RequiredLoginHeaderValue string `yaml:"required_login_header_value"`
	// RequiredLoginHeaderValueRegexp is a Go RE2 regular expression RequiredLoginHeader's value must
	// match; not together with RequiredLoginHeaderValue (http_basic_auth).
	RequiredLoginHeaderValueRegexp string `yaml:"required_login_header_value_regexp"`
	// Session makes a header-authenticated request create a session (cookie); false authenticates
	// every request by the header alone. Default true (http_basic_auth).
	Session *bool `yaml:"session"`

	// Issuer is the OpenID Provider's issuer URL (discovery at /.well-known/openid-configuration);
	// required; https:// unless the host is loopback (oidc).
	Issuer string `yaml:"issuer"`
	// ClientID is the OAuth client id; required (oidc).
	ClientID string `yaml:"client_id"`
	// ClientSecret is the OAuth client secret; empty for a public client (PKCE) (oidc).
	ClientSecret string `yaml:"client_secret"`
	// ClientSecretFile reads ClientSecret from a file (oidc).
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scopes are requested; default [openid, profile, email]; must contain openid (oidc).
	Scopes []string `yaml:"scopes"`
	// RedirectURL is the callback registered at the provider; default
	// <server.public_url>/.gatehouse/oidc/<name>/callback (oidc).
	RedirectURL string `yaml:"redirect_url"`
	// LoginClaim is the ID token claim used as the login: preferred_username, email or sub;
	// default preferred_username (oidc).
	LoginClaim string `yaml:"login_claim"`
	// AllowUnverifiedEmail accepts an email claim whose email_verified is not true (oidc).
	AllowUnverifiedEmail bool `yaml:"allow_unverified_email"`
	// Label is the login page's button text; default "Sign in with <name>" (oidc).
	Label string `yaml:"label"`
	// AutoCreate creates an unknown customer user in AutoCreateSource on first login (oidc).
	AutoCreate bool `yaml:"auto_create"`
	// DefaultCustomerID is the UserCustomerID of auto-created customer users; required with
	// AutoCreate (oidc).
	DefaultCustomerID string `yaml:"default_customer_id"`
	// AutoCreateSource names the writable db customer_user source auto-created users go to;
	// default (with AutoCreate) the first db source (oidc).
	AutoCreateSource string `yaml:"auto_create_source"`
	// ProviderLogout sends the browser to the provider's end_session_endpoint on logout (oidc).
	ProviderLogout bool `yaml:"provider_logout"`
	// AcceptBearer authenticates API requests with "Authorization: Bearer <access token>" issued by
	// the provider (a JWT, checked against BearerAudiences) (oidc).
	AcceptBearer bool `yaml:"accept_bearer"`
	// BearerAudiences are the aud values a bearer token must have one of; default [client_id] (oidc).
	BearerAudiences []string `yaml:"bearer_audiences"`
	// SigningAlgorithms are the accepted ID and bearer token signature algorithms; only asymmetric
	// ones (RS*, PS*, ES*, EdDSA); default [RS256, ES256, PS256, EdDSA] (oidc).
	SigningAlgorithms []string `yaml:"signing_algorithms"`
}

// LDAPParams are the Net::LDAP->new options of OTRS's LDAP Params (port, timeout, version).
type LDAPParams struct {
	// Port is Net::LDAP's port: used for host URLs without a port; 0 takes 389 (ldap://) or 636 (ldaps://).
	Port int `yaml:"port"`
	// Timeout is Net::LDAP's timeout: when set, it overrides the module's or source's timeout for connecting.
	Timeout time.Duration `yaml:"timeout"`
	// Version is the LDAP protocol version; only 3 is supported (0 means 3).
	Version int `yaml:"version"`
}

// CustomerUserSource is one customer-user data source (Kernel::System::CustomerUser::*).
type CustomerUserSource struct {
	// Name is the source's label, reported in X-Customer-User-Source.
	Name string `yaml:"name"`
	// Module is the back end: db (Kernel::System::CustomerUser::DB) or ldap (::LDAP, read-only).
	Module string `yaml:"module"`
	// Params are the back end's connection parameters.
	Params SourceParams `yaml:"params"`
	// CustomerKey is CustomerKey: the login column (db) or attribute (ldap; default uid).
	CustomerKey string `yaml:"customer_key"`
	// CustomerID is CustomerID: the primary customer id column (db) or attribute (ldap; default mail).
	CustomerID string `yaml:"customer_id"`
	// CustomerValid is CustomerValid, the validity column; empty means no validity (db).
	CustomerValid string `yaml:"customer_valid"`
	// CustomerUserValidFilter is CustomerUserValidFilter, an LDAP filter ANDed to searches only (as
	// in OTRS: not to lookups, so it does not block login), e.g. (!(description=gesperrt)) (ldap).
	CustomerUserValidFilter string `yaml:"customer_user_valid_filter"`
	// CustomerUserListFields are the columns shown in lists (email last).
	CustomerUserListFields []string `yaml:"customer_user_list_fields"`
	// CustomerUserSearchFields are the columns searched by the search syntax.
	CustomerUserSearchFields []string `yaml:"customer_user_search_fields"`
	// CustomerUserSearchPrefix wraps each search word in front.
	CustomerUserSearchPrefix string `yaml:"customer_user_search_prefix"`
	// CustomerUserSearchSuffix wraps each search word behind.
	CustomerUserSearchSuffix string `yaml:"customer_user_search_suffix"`
	// CustomerUserSearchListLimit bounds search results per source.
	CustomerUserSearchListLimit int `yaml:"customer_user_search_list_limit"`
	// CustomerUserPostmasterSearchFields are matched exactly by email lookups.
	CustomerUserPostmasterSearchFields []string `yaml:"customer_user_postmaster_search_fields"`
	// CustomerUserNameFields are joined into the full name.
	CustomerUserNameFields []string `yaml:"customer_user_name_fields"`
	// CustomerUserNameFieldsJoin joins the name fields; nil means " ". After Parse it is never nil.
	CustomerUserNameFieldsJoin *string `yaml:"customer_user_name_fields_join"`
	// CustomerUserEmailUniqCheck refuses a second customer user with the same email in this source.
	CustomerUserEmailUniqCheck bool `yaml:"customer_user_email_uniq_check"`
	// CustomerUserExcludePrimaryCustomerID leaves the primary customer id out of the customer ids.
	CustomerUserExcludePrimaryCustomerID bool `yaml:"customer_user_exclude_primary_customer_id"`
	// CustomerCompanySupport merges the customer company record under the customer user's.
	CustomerCompanySupport bool `yaml:"customer_company_support"`
	// ReadOnly refuses writes through gatehouse. LDAP sources are always read-only (default true;
	// false is an error).
	ReadOnly bool `yaml:"read_only"`
	// CacheTTL caches lookups this long; 0 (the default, also when nil) disables the cache. Writes
	// drop it. OTRS caches 24h, but a gateway beside OTRS would not see OTRS's own direct writes
	// (a customer user set invalid) until its cache expired. After Parse it is never nil.
	CacheTTL *time.Duration `yaml:"cache_ttl"`
	// Map is the OTRS Map: rows of [var, label, storage, shown, required, type, link, readonly].
	Map []MapRow `yaml:"map"`
}

// SourceParams are a data source's connection parameters (OTRS's Params).
type SourceParams struct {
	// DSN picks the driver by scheme: postgres://, mysql://, sqlite:// (db).
	DSN string `yaml:"dsn"`
	// DSNFile reads DSN from a file (it may contain a password) (db).
	DSNFile string `yaml:"dsn_file"`
	// Table is the customer-user table (db).
	Table string `yaml:"table"`
	// CaseSensitive makes login lookups exact instead of LOWER(col)=LOWER(?) (db).
	CaseSensitive bool `yaml:"case_sensitive"`
	// SearchCaseSensitive makes searches exact-case (db).
	SearchCaseSensitive bool `yaml:"search_case_sensitive"`
	// ForeignDB means the table has no create_*/change_* columns (db).
	ForeignDB bool `yaml:"foreign_db"`
	// GroupsTable is the groups table: permission_groups (Znuny) or groups (OTRS 6) (db).
	GroupsTable string `yaml:"groups_table"`
	// MaxOpenConns bounds the connection pool (db).
	MaxOpenConns int `yaml:"max_open_conns"`

	// Host is Params->{Host}: ldap:// or ldaps:// URLs, tried in this order (failover); a single
	// value is accepted for a one-element list; required (ldap).
	Host []string `yaml:"host"`
	// BaseDN is Params->{BaseDN}, where customer users are searched; required (ldap).
	BaseDN string `yaml:"base_dn"`
	// SScope is Params->{SSCOPE}, the search scope: sub, one or base; default sub (ldap).
	SScope string `yaml:"sscope"`
	// UserDN is Params->{UserDN}, the DN to bind as; empty binds anonymously (ldap).
	UserDN string `yaml:"user_dn"`
	// UserPw is Params->{UserPw} (ldap).
	UserPw string `yaml:"user_pw"`
	// UserPwFile reads UserPw from a file (ldap).
	UserPwFile string `yaml:"user_pw_file"`
	// AlwaysFilter is Params->{AlwaysFilter}, ANDed to every search and lookup, e.g.
	// (objectclass=inetOrgPerson) (ldap).
	AlwaysFilter string `yaml:"always_filter"`
	// SourceCharset is Params->{SourceCharset}, the directory's character set, any name
	// golang.org/x/text/encoding/ianaindex knows; default utf-8 (ldap).
	SourceCharset string `yaml:"source_charset"`
	// Die is Params->{Die}: a fault of this source gives 503 instead of skipping the source (ldap).
	Die bool `yaml:"die"`
	// StartTLS upgrades ldap:// connections with StartTLS (ldap).
	StartTLS bool `yaml:"start_tls"`
	// CAFile is a PEM file of CA certificates for ldaps:// and StartTLS; empty uses the system's (ldap).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify skips TLS certificate verification; for tests only (ldap).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Params is Params->{Params}, the Net::LDAP->new options (ldap).
	Params LDAPParams `yaml:"params"`
}

// MapRow is one row of the OTRS Map. In YAML it is written as OTRS writes it,
//
//	[UserTitle, Title or salutation, title, 1, 0, var, "", 0]
//
// (var, label, storage, shown, required, type, link, readonly; OTRS's optional 9th and 10th items,
// the link target and class, are accepted and ignored), or as a mapping
// {var:, label:, storage:, shown:, required:, type:, link:, readonly:} where type defaults to var.
// shown may be 0, 1 or 2 (OTRS's "lite" display), 2 counting as shown.
type MapRow struct {
	// Var is the attribute name (UserLogin, UserEmail, …).
	Var string
	// Label is shown in forms.
	Label string
	// Storage is the column (db) or LDAP attribute (ldap).
	Storage string
	// Shown displays the field.
	Shown bool
	// Required makes the field mandatory in forms.
	Required bool
	// Type is var, int or dynamic_field.
	Type string
	// Link is a URL template shown beside the value.
	Link string
	// ReadOnly refuses edits of the field.
	ReadOnly bool
}

// PasswordPolicy mirrors CustomerPreferencesGroups###Password (fact sheet §1.4).
type PasswordPolicy struct {
	// MaxLoginFailed is PasswordMaxLoginFailed: after this many failed logins in a row a
	// customer user of a writable source is set to invalid-temporarily (and their sessions
	// end). 0 never locks.
	MaxLoginFailed int `yaml:"max_login_failed"`
}

// CustomerGroup mirrors CustomerGroupSupport and its always-groups (fact sheet §8).
type CustomerGroup struct {
	// Support is CustomerGroupSupport: off gives everyone every valid group with rw.
	Support bool `yaml:"support"`
	// AlwaysGroups is CustomerGroupAlwaysGroups.
	AlwaysGroups []string `yaml:"always_groups"`
	// CompanyAlwaysGroups is CustomerGroupCompanyAlwaysGroups.
	CompanyAlwaysGroups []string `yaml:"company_always_groups"`
}

// Claims configures the identity handed upstream.
type Claims struct {
	// Headers maps header names to Map variables (UserLogin, UserEmail, a custom UserRoom)
	// or the computed values UserFullname, UserCustomerIDs, UserGroups, UserSource, UserAuthModule.
	Headers map[string]string `yaml:"headers"`
	// MaxHeaderValue bounds each header value in bytes.
	MaxHeaderValue int `yaml:"max_header_value"`
	// Assertion is the signed JWT of the claim set.
	Assertion Assertion `yaml:"assertion"`
}

// Assertion configures the signed identity assertion.
type Assertion struct {
	// Enabled adds the assertion header.
	Enabled bool `yaml:"enabled"`
	// Header is the header that carries the assertion.
	Header string `yaml:"header"`
	// TTL is the assertion lifetime.
	TTL time.Duration `yaml:"ttl"`
	// KeyFile is the signing key (PEM: EC P-256, RSA of at least 2048 bits or Ed25519, of the kind
	// Algorithm names); empty generates keys and persists them in KeyDir.
	KeyFile string `yaml:"key_file"`
	// Algorithm is the JWS signature algorithm: ES256 (the default), RS256 or EdDSA (Ed25519).
	Algorithm string `yaml:"algorithm"`
	// Audience is the aud claim; empty (the default) takes the host of the route the request
	// goes to.
	Audience string `yaml:"audience"`
	// KeyDir is where generated keys are persisted (one 0600 file per key, named by its kid) and
	// loaded again at the next start, so tokens stay verifiable across restarts; default
	// ./gatehouse-data/keys. Unused with KeyFile.
	KeyDir string `yaml:"key_dir"`
	// RotateAfter makes a newly generated key current once the current one is this old; the
	// previous key stays published in the JWKS until every token it signed has expired (TTL).
	// 0 (the default) never rotates. Not with KeyFile.
	RotateAfter time.Duration `yaml:"rotate_after"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
	// AccessLog writes one line per request.
	AccessLog *bool `yaml:"access_log"`
}

// Limits bounds resource use.
type Limits struct {
	// MaxBodySize bounds request bodies in bytes (0: unlimited); streamed bodies are counted.
	MaxBodySize int64 `yaml:"max_body_size"`
	// MaxLoginBody bounds login form and JSON bodies in bytes.
	MaxLoginBody int `yaml:"max_login_body"`
	// PasswordWorkers is the number of concurrent password-hash checks (0: number of CPUs).
	PasswordWorkers int `yaml:"password_workers"`
	// PasswordQueue is how many checks may wait for a worker before logins get 503.
	PasswordQueue int `yaml:"password_queue"`
	// UpstreamMaxConns bounds connections per upstream.
	UpstreamMaxConns int `yaml:"upstream_max_conns"`
}
