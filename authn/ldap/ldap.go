// Package ldap is the LDAP authentication module (Kernel::System::CustomerAuth::LDAP): find
// the user's DN with the search identity, optionally check group membership, then bind as the
// user with the password.
//
// The steps and their order are OTRS's (fact sheet §5); what differs is plumbing: connections
// bound as the search identity are pooled (directory/ldap.Pool), the user's bind happens on a
// pooled connection that is bound back to the search identity before it is reused, and every
// request is bounded by the module's timeout. A fault (no server reachable, the search
// identity refused, a timeout) is an error, so the chain moves on or, with die, answers 503;
// a wrong password is Rejected.
package ldap

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/configs"
	ldapdir "github.com/gatehouse-sso/gatehouse/directory/ldap"
)

// Module is the LDAP auth module. It is safe for concurrent use.
type Module struct {
	cfg       configs.AuthModule
	name      string
	log       *slog.Logger
	pool      *ldapdir.Pool
	charset   ldapdir.Charset
	groupByDN bool // user_attr DN (the default): the group holds DNs, else logins
}

var _ authn.Module = (*Module)(nil)

// New builds the module from its configuration; nothing is dialled yet. opts tune the
// connection pool (tests count dials and binds with ldapdir.WithDial).
func New(cfg configs.AuthModule, log *slog.Logger, opts ...ldapdir.Option) (*Module, error) {
	m, err := newModule(cfg, log, opts)
	if err != nil {
		return nil, fmt.Errorf("auth module %s: %w", cfg.Name, err)
	}
	return m, nil
}

func newModule(cfg configs.AuthModule, log *slog.Logger, opts []ldapdir.Option) (*Module, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Params.Version != 0 && cfg.Params.Version != 3 {
		return nil, fmt.Errorf("params.version %d: only LDAP version 3 is supported", cfg.Params.Version)
	}
	if err := ldapdir.CheckAttr("uid", cfg.UID); err != nil {
		return nil, err
	}
	if cfg.BaseDN != "" {
		if _, err := goldap.ParseDN(cfg.BaseDN); err != nil {
			return nil, fmt.Errorf("base_dn %q: %w", cfg.BaseDN, err)
		}
	}
	if err := ldapdir.CheckFilter("always_filter", cfg.AlwaysFilter); err != nil {
		return nil, err
	}
	if cfg.GroupDN != "" && cfg.AccessAttr != "" {
		if err := ldapdir.CheckAttr("access_attr", cfg.AccessAttr); err != nil {
			return nil, err
		}
		if _, err := goldap.ParseDN(cfg.GroupDN); err != nil {
			return nil, fmt.Errorf("group_dn %q: %w", cfg.GroupDN, err)
		}
	}
	m := &Module{cfg: cfg, name: cfg.Name, log: log}
	switch strings.ToUpper(cfg.UserAttr) {
	case "", "DN":
		m.groupByDN = true
	case "UID":
	default:
		return nil, fmt.Errorf("user_attr %q: want UID or DN", cfg.UserAttr)
	}
	var err error
	if m.charset, err = ldapdir.NewCharset(cfg.Charset); err != nil {
		return nil, fmt.Errorf("charset: %w", err)
	}
	if (cfg.SearchUserDN == "") != (cfg.SearchUserPw == "") {
		// OTRS needs both; with one of them it binds anonymously. Say so once.
		log.Warn("ldap auth module: search_user_dn and search_user_pw must both be set; searching anonymously", "module", cfg.Name)
	}
	cc := ldapdir.ConnConfig{
		Name:               cfg.Name,
		URLs:               cfg.Host,
		DefaultPort:        cfg.Params.Port,
		StartTLS:           cfg.StartTLS,
		CAFile:             cfg.CAFile,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		Timeout:            cfg.Timeout,
		DialTimeout:        cfg.Params.Timeout,
		Log:                log,
	}
	if cfg.SearchUserDN != "" && cfg.SearchUserPw != "" {
		cc.BindDN, cc.BindPassword = cfg.SearchUserDN, cfg.SearchUserPw
	}
	for _, o := range opts {
		o(&cc)
	}
	if m.pool, err = ldapdir.NewPool(cc); err != nil {
		return nil, err
	}
	return m, nil
}

// Name implements authn.Module.
func (m *Module) Name() string { return m.name }

// Pool is the module's connection pool (tests, metrics).
func (m *Module) Pool() *ldapdir.Pool { return m.pool }

// Close closes the idle connections.
func (m *Module) Close() error { return m.pool.Close() }

// Authenticate implements authn.Module with OTRS's steps:
//
//  1. an empty login or password is refused before any connection (no unauthenticated bind);
//  2. both are converted to charset; the login is trimmed and user_suffix appended;
//  3. a connection bound as the search identity (search_user_dn, else anonymous);
//  4. filter (<uid>=<login+suffix escaped>), wrapped (&…<always_filter>);
//  5. search base_dn, sub scope, no attributes: with several entries the LAST DN is used,
//     with none the login is rejected;
//  6. only with group_dn and access_attr: search group_dn for (<access_attr>=<DN>) with
//     user_attr DN, or (<access_attr>=<login+suffix>) with UID; no entry: rejected;
//  7. bind as the DN with the password: invalidCredentials (or any other refusal) rejects.
//
// The login returned is the trimmed login WITH the suffix, as OTRS returns it.
func (m *Module) Authenticate(ctx context.Context, c authn.Credentials) (authn.Result, error) {
	login := strings.TrimSpace(c.Login)
	if login == "" || c.Password == "" {
		m.log.Debug("ldap auth: empty login or password, no bind", "module", m.name)
		return authn.Result{Outcome: authn.NotMine}, nil
	}
	login += m.cfg.UserSuffix
	user, ok := m.charset.Encode(login)
	if !ok {
		m.log.Info("ldap auth: login not representable in the directory's charset", "module", m.name, "charset", m.charset.Name())
		return authn.Result{Outcome: authn.Rejected}, nil
	}
	pw, ok := m.charset.Encode(c.Password)
	if !ok {
		return authn.Result{Outcome: authn.Rejected}, nil
	}
	var outcome authn.Outcome
	err := m.pool.Do(ctx, func(conn *ldapdir.Conn) error {
		var err error
		outcome, err = m.check(ctx, conn, login, user, string(pw))
		return err
	})
	if err != nil {
		return authn.Result{}, fmt.Errorf("%s: %w", m.name, err)
	}
	if outcome != authn.Authenticated {
		return authn.Result{Outcome: outcome}, nil
	}
	return authn.Result{Outcome: authn.Authenticated, Login: login}, nil
}

// check runs steps 4 to 7 on one connection.
func (m *Module) check(ctx context.Context, conn *ldapdir.Conn, login string, user []byte, pw string) (authn.Outcome, error) {
	filter := ldapdir.And(ldapdir.Eq(m.cfg.UID, user), m.cfg.AlwaysFilter)
	res, err := conn.Search(ctx, goldap.NewSearchRequest(m.cfg.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, filter, []string{"1.1"}, nil))
	if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return 0, fmt.Errorf("ldap search %s %s: %w", m.cfg.BaseDN, filter, err)
	}
	if err != nil || len(res.Entries) == 0 {
		m.log.Info("ldap auth: no such user", "module", m.name, "login", login, "server", conn.URL())
		return authn.Rejected, nil
	}
	// Several entries: the last one wins, as OTRS's loop over the entries leaves it.
	dn := res.Entries[len(res.Entries)-1].DN
	if m.cfg.GroupDN != "" && m.cfg.AccessAttr != "" {
		member := user
		if m.groupByDN {
			member = []byte(dn)
		}
		gf := ldapdir.Eq(m.cfg.AccessAttr, member)
		gres, err := conn.Search(ctx, goldap.NewSearchRequest(m.cfg.GroupDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
			0, 0, false, gf, []string{"1.1"}, nil))
		if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			return 0, fmt.Errorf("ldap group search %s %s: %w", m.cfg.GroupDN, gf, err)
		}
		if err != nil || len(gres.Entries) == 0 {
			m.log.Info("ldap auth: user not in the access group", "module", m.name, "login", login, "group", m.cfg.GroupDN)
			return authn.Rejected, nil
		}
	}
	ok, err := conn.CheckPassword(ctx, dn, pw)
	if err != nil {
		return 0, fmt.Errorf("ldap bind as %s: %w", dn, err)
	}
	if !ok {
		m.log.Info("ldap auth: wrong password", "module", m.name, "login", login, "dn", dn)
		return authn.Rejected, nil
	}
	return authn.Authenticated, nil
}
