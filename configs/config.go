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

// AuthModule is one link of the customer authentication chain.
// Fields apply to the module named; validation refuses keys of other modules.
type AuthModule struct {
	// Module is the module type: db.
	Module string `yaml:"module"`
	// Name identifies the module in logs and metrics; default: module plus slot.
	Name string `yaml:"name"`
	// Die turns a fault of this module into 503 instead of trying the next module.
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
}

// CustomerUserSource is one customer-user data source (Kernel::System::CustomerUser::*).
type CustomerUserSource struct {
	// Name is the source's label, reported in X-Customer-User-Source.
	Name string `yaml:"name"`
	// Module is the back end: db.
	Module string `yaml:"module"`
	// Params are the back end's connection parameters.
	Params SourceParams `yaml:"params"`
	// CustomerKey is the login column.
	CustomerKey string `yaml:"customer_key"`
	// CustomerID is the primary customer id column.
	CustomerID string `yaml:"customer_id"`
	// CustomerValid is the validity column; empty means no validity.
	CustomerValid string `yaml:"customer_valid"`
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
	// ReadOnly refuses writes through gatehouse.
	ReadOnly bool `yaml:"read_only"`
	// CacheTTL caches lookups this long; 0 (the default, also when nil) disables the cache. Writes
	// drop it. OTRS caches 24h, but a gateway beside OTRS would not see OTRS's own direct writes
	// (a customer user set invalid) until its cache expired. After Parse it is never nil.
	CacheTTL *time.Duration `yaml:"cache_ttl"`
	// Map is the OTRS Map: rows of [var, label, storage, shown, required, type, link, readonly].
	Map []MapRow `yaml:"map"`
}

// SourceParams are a data source's connection parameters.
type SourceParams struct {
	// DSN picks the driver by scheme: postgres://, mysql://, sqlite://.
	DSN string `yaml:"dsn"`
	// DSNFile reads DSN from a file (it may contain a password).
	DSNFile string `yaml:"dsn_file"`
	// Table is the customer-user table.
	Table string `yaml:"table"`
	// CaseSensitive makes login lookups exact instead of LOWER(col)=LOWER(?).
	CaseSensitive bool `yaml:"case_sensitive"`
	// SearchCaseSensitive makes searches exact-case.
	SearchCaseSensitive bool `yaml:"search_case_sensitive"`
	// ForeignDB means the table has no create_*/change_* columns.
	ForeignDB bool `yaml:"foreign_db"`
	// GroupsTable is the groups table: permission_groups (Znuny) or groups (OTRS 6).
	GroupsTable string `yaml:"groups_table"`
	// MaxOpenConns bounds the connection pool.
	MaxOpenConns int `yaml:"max_open_conns"`
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
	// Storage is the column (or LDAP attribute).
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
	// KeyFile is the signing key (PEM); empty generates and persists one.
	KeyFile string `yaml:"key_file"`
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
