package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/admin"
	"github.com/gatehouse-sso/gatehouse/authn"
	authdb "github.com/gatehouse-sso/gatehouse/authn/db"
	"github.com/gatehouse-sso/gatehouse/authn/header"
	authldap "github.com/gatehouse-sso/gatehouse/authn/ldap"
	"github.com/gatehouse-sso/gatehouse/authn/oidc"
	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/authn/radius"
	"github.com/gatehouse-sso/gatehouse/claims/assertion"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	ldapdir "github.com/gatehouse-sso/gatehouse/directory/ldap"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
	"github.com/gatehouse-sso/gatehouse/gateway"
	"github.com/gatehouse-sso/gatehouse/sessions"
	_ "github.com/gatehouse-sso/gatehouse/sessions/memory"            // sessions.store: memory
	sessionsredis "github.com/gatehouse-sso/gatehouse/sessions/redis" // sessions.store: redis
)

// application is gatehouse wired from a config.
type application struct {
	cfg      *configs.Config
	log      *slog.Logger
	gateway  *gateway.Gateway
	dir      *directory.Directory
	sources  []*sqldb.Source
	admin    *sqldb.Admin
	store    sessions.Store
	sessions *sessions.Manager
	dbs      []*sqldb.DB
	closers  []func() error
	// groupsTable is the first db source's groups table (permission_groups or groups).
	groupsTable string
}

// stateKey is the key that seals OIDC state cookies, shared through the session store so
// that a provider's redirect may reach any gatehouse process.
func stateKey(ctx context.Context, st sessions.Store) ([]byte, error) {
	k, ok := st.(sessions.SecretKeeper)
	if !ok {
		return nil, fmt.Errorf("session store %T cannot keep the OIDC state key", st)
	}
	key, err := k.SharedSecret(ctx, "oidc-state", 32)
	if err != nil {
		return nil, fmt.Errorf("OIDC state key: %w", err)
	}
	return key, nil
}

func newLogger(cfg configs.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Level))
	return newLoggerAt(cfg, w, lvl)
}

// newAccessLogger is the access log: the same output and format, always at info, so that
// log.level does not silence it; nil when log.access_log is false.
func newAccessLogger(cfg configs.Log, w io.Writer) *slog.Logger {
	if cfg.AccessLog != nil && !*cfg.AccessLog {
		return nil
	}
	return newLoggerAt(cfg, w, slog.LevelInfo).With("log", "access")
}

func newLoggerAt(cfg configs.Log, w io.Writer, lvl slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// writeCryptType is the crypt type used when a source stores a password: that of the db
// auth module on the same DSN and table (Z65: CryptType<Source>), else the first db module's.
func writeCryptType(cfg *configs.Config, src configs.CustomerUserSource) (string, int) {
	var first *configs.AuthModule
	for i := range cfg.CustomerAuth {
		m := &cfg.CustomerAuth[i]
		if m.Module != "db" {
			continue
		}
		if m.DSN == src.Params.DSN && m.Table == src.Params.Table {
			return m.CryptType, m.BcryptCost
		}
		if first == nil {
			first = m
		}
	}
	if first != nil {
		return first.CryptType, first.BcryptCost
	}
	return passwd.TypeBcrypt, 12
}

// openSources opens the data sources in config order; db sources get the OTRS tables that
// are absent.
func openSources(ctx context.Context, cfg *configs.Config, log *slog.Logger, out io.Writer) (*application, error) {
	app := &application{cfg: cfg, log: log}
	var all []directory.Source
	for i, sc := range cfg.CustomerUser {
		var src directory.Source
		var err error
		switch sc.Module {
		case "db":
			src, err = app.openSQLSource(ctx, sc, log, out)
		case "ldap":
			var ls *ldapdir.Source
			if ls, err = ldapdir.New(sc, log); err == nil {
				app.closers = append(app.closers, ls.Close)
				src = ls
			}
		default:
			err = fmt.Errorf("module %q is not available", sc.Module)
		}
		if err != nil {
			app.close()
			return nil, fmt.Errorf("customer_user[%d] %q: %w", i, sc.Name, err)
		}
		all = append(all, directory.Cached(src, cacheTTL(sc)))
	}
	dir, err := directory.NewDirectory(log, all...)
	if err != nil {
		app.close()
		return nil, err
	}
	app.dir = dir
	return app, nil
}

func cacheTTL(sc configs.CustomerUserSource) time.Duration {
	if sc.CacheTTL == nil {
		return 0
	}
	return *sc.CacheTTL
}

// openSQLSource opens, migrates and wraps one db data source.
func (app *application) openSQLSource(ctx context.Context, sc configs.CustomerUserSource, log *slog.Logger, out io.Writer) (*sqldb.Source, error) {
	db, err := sqldb.Open(ctx, sc.Params.DSN)
	if err != nil {
		return nil, err
	}
	app.dbs = append(app.dbs, db)
	// Absent OTRS tables are created only in gatehouse's own kind of database: never in a
	// foreign or read-only one, nor beside a customer table of another name.
	if sc.Params.ForeignDB || sc.ReadOnly || sc.Params.Table != "customer_user" {
		if out != nil {
			fmt.Fprintf(out, "%s (%s): foreign, read-only or renamed table; no tables created\n", sc.Name, db)
		}
	} else if res, err := sqldb.Migrate(ctx, db, sqldb.MigrateOptions{GroupsTable: sc.Params.GroupsTable}); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	} else if len(res.Created) > 0 {
		log.Info("created OTRS tables", "source", sc.Name, "db", db.String(), "tables", strings.Join(res.Created, ","))
		if out != nil {
			fmt.Fprintf(out, "%s (%s): created %s\n", sc.Name, db, strings.Join(res.Created, ", "))
		}
	} else if out != nil {
		fmt.Fprintf(out, "%s (%s): all OTRS tables present, nothing changed\n", sc.Name, db)
	}
	ct, cost := writeCryptType(app.cfg, sc)
	src, err := sqldb.NewSource(sc, db, sqldb.SourceOptions{Hasher: func(pw, login string) (string, error) {
		return passwd.Hash(ct, pw, login, cost)
	}})
	if err != nil {
		return nil, err
	}
	app.sources = append(app.sources, src)
	if app.admin == nil {
		app.groupsTable = sc.Params.GroupsTable
		app.admin, err = sqldb.NewAdmin(db, sqldb.AdminOptions{GroupsTable: sc.Params.GroupsTable})
		if err != nil {
			return nil, err
		}
	}
	return src, nil
}

func migrateAll(ctx context.Context, cfg *configs.Config, out io.Writer) error {
	app, err := openSources(ctx, cfg, newLogger(cfg.Log, io.Discard), out)
	if err != nil {
		return err
	}
	app.close()
	return nil
}

// build wires the whole gateway from cfg.
func build(ctx context.Context, cfg *configs.Config, logOut io.Writer) (*application, error) {
	log := newLogger(cfg.Log, logOut)
	sessionsredis.UseLogger(log)
	app, err := openSources(ctx, cfg, log, nil)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*application, error) { app.close(); return nil, err }

	metrics := gateway.NewMetrics()
	pool := passwd.NewPool(cfg.Limits.PasswordWorkers, cfg.Limits.PasswordQueue)
	app.store, err = sessions.Open(cfg.Sessions)
	if err != nil {
		return fail(err)
	}
	trusted, err := configs.ParsePrefixes(cfg.Server.TrustedProxies)
	if err != nil {
		return fail(fmt.Errorf("server.trusted_proxies: %w", err))
	}
	var (
		entries  []authn.Entry
		requests []gateway.RequestModule
		oidcs    []gateway.OIDCLogin
	)
	for i, mc := range cfg.CustomerAuth {
		var m authn.Module
		switch mc.Module {
		case "db":
			db, err := sqldb.Open(ctx, mc.DSN)
			if err != nil {
				return fail(fmt.Errorf("customer_auth[%d] %q: %w", i, mc.Name, err))
			}
			app.dbs = append(app.dbs, db)
			m, err = authdb.New(mc, db, pool)
			if err != nil {
				return fail(fmt.Errorf("customer_auth[%d]: %w", i, err))
			}
		case "ldap":
			lm, err := authldap.New(mc, log)
			if err != nil {
				return fail(fmt.Errorf("customer_auth[%d]: %w", i, err))
			}
			app.closers = append(app.closers, lm.Close)
			m = lm
		case "radius":
			m, err = radius.New(mc, log)
			if err != nil {
				return fail(fmt.Errorf("customer_auth[%d]: %w", i, err))
			}
		case "http_basic_auth":
			hm, err := header.New(mc, trusted)
			if err != nil {
				return fail(fmt.Errorf("customer_auth[%d]: %w", i, err))
			}
			requests = append(requests, gateway.RequestModule{Module: hm, TrustedOnly: true, Header: hm.Header(), Session: hm.Session(), Die: mc.Die})
			m = hm
		case "oidc":
			key, err := stateKey(ctx, app.store)
			if err != nil {
				return fail(err)
			}
			p, err := oidc.New(ctx, mc, key, log)
			if err != nil {
				return fail(fmt.Errorf("customer_auth[%d]: %w", i, err))
			}
			oidcs = append(oidcs, gateway.OIDCLogin{Provider: p, AutoCreate: mc.AutoCreate, AutoCreateSource: mc.AutoCreateSource,
				DefaultCustomerID: mc.DefaultCustomerID, ProviderLogout: mc.ProviderLogout})
			if mc.AcceptBearer {
				requests = append(requests, gateway.RequestModule{Module: p, Bearer: true, Die: mc.Die})
			}
			m = p
		default:
			return fail(fmt.Errorf("customer_auth[%d]: module %q is not available", i, mc.Module))
		}
		entries = append(entries, authn.Entry{Module: m, Die: mc.Die})
	}
	chain, err := authn.NewChain(entries, app.dir, log, metrics.ObserveLogin)
	if err != nil {
		return fail(err)
	}
	var groups directory.GroupResolver
	if len(app.sources) > 0 {
		// Groups live in the OTRS main database: that of the first db data source.
		groups, err = sqldb.NewGroupResolver(app.sources[0].DB(), app.groupsTable, cfg.CustomerGroup)
		if err != nil {
			return fail(err)
		}
	}
	app.sessions = sessions.NewManager(app.store, cfg.Sessions.IdleTimeout, cfg.Sessions.MaxLifetime,
		sessions.WithLocalCache(cfg.Sessions.LocalCacheTTL, cfg.Sessions.LocalCacheSize))
	if app.admin != nil {
		// OTRS's login bookkeeping in customer_preferences, and its PasswordMaxLoginFailed lock.
		bk := &authn.OTRSBookkeeping{Prefs: app.admin, Users: app.dir, Sessions: app.sessions,
			MaxLoginFailed: cfg.PasswordPolicy.MaxLoginFailed, Log: log}
		chain.SetBookkeeper(bk)
		app.closers = append(app.closers, bk.Close) // writes what is queued before the databases close
	}
	ready := map[string]func(context.Context) error{"sessions": app.store.Ping}
	for _, s := range app.dir.Sources() {
		if p, ok := s.(directory.Pinger); ok {
			ready["customer_user:"+s.Name()] = p.Ping
		}
	}
	var adminAPI, adminUI http.Handler
	if cfg.Admin.Listen != "" {
		svc, err := admin.NewService(admin.Deps{Directory: app.dir, Sources: cfg.CustomerUser, Admin: app.admin,
			Groups: groups, Sessions: app.sessions, Log: log})
		if err != nil {
			return fail(err)
		}
		tokens, err := admin.LoadTokens(cfg.Admin.APITokensFile)
		if err != nil {
			return fail(err)
		}
		adminAPI = admin.NewAPI(svc, tokens, log)
		// The admin listener is plain HTTP on a private address (TLS, if any, ends in front
		// of it), so its cookie is not marked Secure.
		if adminUI, err = admin.NewUI(svc, cfg.Admin.Users, false, log); err != nil {
			return fail(fmt.Errorf("admin.users: %w", err))
		}
	}
	var signer *assertion.Signer
	if cfg.Claims.Assertion.Enabled {
		if signer, err = assertion.New(cfg.Claims.Assertion, cfg.Server.PublicURL, log); err != nil {
			return fail(fmt.Errorf("claims.assertion: %w", err))
		}
	}
	app.gateway, err = gateway.New(gateway.Deps{
		Assertion: signer,
		AdminAPI:  adminAPI,
		AdminUI:   adminUI,
		Config:    cfg, Chain: chain, Groups: groups, Sessions: app.sessions, Ready: ready, Logger: log, Metrics: metrics,
		RequestModules: requests, OIDC: oidcs, Adder: app.dir,
		PreAuth:   len(cfg.CustomerAuth) > 0 && cfg.CustomerAuth[0].Module == "http_basic_auth",
		AccessLog: newAccessLogger(cfg.Log, logOut),
	})
	if err != nil {
		return fail(err)
	}
	return app, nil
}

func (a *application) close() {
	if a.gateway != nil {
		a.gateway.Close()
	}
	if a.sessions != nil {
		a.sessions.Close() // leaves the store's invalidation feed before the store closes
	}
	if a.store != nil {
		_ = a.store.Close()
	}
	for _, c := range a.closers {
		_ = c()
	}
	for _, db := range a.dbs {
		_ = db.Close()
	}
}

// Demo account of `serve --demo`.
const (
	demoCustomerID = "DEMO"
	demoLogin      = "demo"
)

// createDemo makes sure the demo company and customer user exist and gives the user a new
// random password, printed once.
func (a *application) createDemo(ctx context.Context, out io.Writer) error {
	if len(a.sources) == 0 || a.admin == nil {
		return errors.New("no db data source to hold the demo customer user")
	}
	err := a.admin.AddCompany(ctx, sqldb.Company{CustomerID: demoCustomerID, Name: "Demo Company", City: "Berlin", Country: "Germany"}, "gatehouse")
	if err != nil && !errors.Is(err, directory.ErrExists) {
		return fmt.Errorf("demo company: %w", err)
	}
	pw, err := admin.RandomPassword(16)
	if err != nil {
		return err
	}
	src := a.sources[0]
	if _, err := src.Get(ctx, demoLogin); errors.Is(err, directory.ErrNotFound) {
		_, err = a.dir.Add(ctx, src.Name(), map[string]string{
			directory.VarLogin: demoLogin, directory.VarFirstname: "Demo", directory.VarLastname: "Customer",
			directory.VarEmail: "demo@example.com", directory.VarCustomerID: demoCustomerID,
			directory.VarValidID: "1", directory.VarPassword: pw,
		}, "gatehouse")
		if err != nil {
			return fmt.Errorf("demo customer user: %w", err)
		}
	} else if err != nil {
		return err
	} else if err := src.SetPassword(ctx, demoLogin, pw); err != nil {
		return fmt.Errorf("demo password: %w", err)
	}
	fmt.Fprintf(out, `
Demo customer user ready (the password is shown only now; --demo again makes a new one):
  login:    %s
  password: %s
  open:     %s/
  or:       curl -c jar -H 'Content-Type: application/json' -d '{"username":"%s","password":"%s"}' %s%s
            curl -b jar %s/

`, demoLogin, pw, a.cfg.Server.PublicURL, demoLogin, pw, a.cfg.Server.PublicURL, gateway.PathAPILogin, a.cfg.Server.PublicURL)
	return nil
}
