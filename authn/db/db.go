// Package db is the DB authentication module (Kernel::System::CustomerAuth::DB): it checks a
// password against the customer_user table in every OTRS password format.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
)

// Checker checks a password against a stored value; *passwd.Pool is the one used in
// production (bounded, so a login flood cannot starve the proxy).
type Checker interface {
	Check(ctx context.Context, stored, password, login string, plain bool) (bool, error)
}

// Module is the DB auth module.
type Module struct {
	name  string
	db    *sqldb.DB
	query string
	plain bool
	// dummy is what an unknown login is checked against: the stored value of the last login
	// that was found (at first, a value of the configured crypt type). A wrong password and
	// an unknown user then cost the same even when the table holds another format than
	// crypt_type writes — say sha2 rows with crypt_type bcrypt. It never authenticates: the
	// result is discarded.
	dummy atomic.Pointer[string]
	pool  Checker
}

// New builds the module on db. Table and column names were validated as identifiers by the
// config; they are checked and quoted again here.
func New(cfg configs.AuthModule, db *sqldb.DB, pool Checker) (*Module, error) {
	for what, id := range map[string]string{"table": cfg.Table, "customer_key": cfg.CustomerKey, "customer_password": cfg.CustomerPassword} {
		if !sqldb.ValidIdent(id) {
			return nil, fmt.Errorf("auth module %s: %s %q is not a plain SQL identifier", cfg.Name, what, id)
		}
	}
	key, pw := db.Quote(cfg.CustomerKey), db.Quote(cfg.CustomerPassword)
	m := &Module{
		name: cfg.Name,
		db:   db,
		// Exactly OTRS's query: the typed login bound as is, no LOWER() and no validity filter,
		// so case handling follows the column's collation (fact sheet §2).
		query: db.Rebind(fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s = ?", pw, key, db.Quote(cfg.Table), key)),
		plain: cfg.CryptType == passwd.TypePlain,
		pool:  pool,
	}
	d := passwd.Dummy(cfg.CryptType, cfg.BcryptCost)
	m.dummy.Store(&d)
	return m, nil
}

// Name implements authn.Module.
func (m *Module) Name() string { return m.name }

// Authenticate implements authn.Module: OTRS's early exits, then the format check on the
// bounded worker pool. An unknown login is checked against a dummy value of the configured
// crypt type so it costs what a wrong password costs.
func (m *Module) Authenticate(ctx context.Context, c authn.Credentials) (authn.Result, error) {
	if c.Login == "" || c.Password == "" {
		return authn.Result{Outcome: authn.NotMine}, nil
	}
	rows, err := m.db.SQL().QueryContext(ctx, m.query, c.Login)
	if err != nil {
		return authn.Result{}, fmt.Errorf("%s: password lookup: %w", m.name, err)
	}
	defer rows.Close()
	var stored sql.NullString
	found := false
	for rows.Next() { // several rows: the last one wins, as in OTRS
		var login sql.NullString
		if err := rows.Scan(&stored, &login); err != nil {
			return authn.Result{}, fmt.Errorf("%s: password lookup: %w", m.name, err)
		}
		found = true
	}
	if err := rows.Err(); err != nil {
		return authn.Result{}, fmt.Errorf("%s: password lookup: %w", m.name, err)
	}
	check := stored.String
	if !found || !stored.Valid || stored.String == "" {
		check = *m.dummy.Load()
	} else {
		m.dummy.Store(&check)
	}
	ok, err := m.pool.Check(ctx, check, c.Password, c.Login, m.plain)
	if err != nil {
		if errors.Is(err, passwd.ErrOverloaded) {
			return authn.Result{}, fmt.Errorf("%s: %w", m.name, authn.ErrOverloaded)
		}
		return authn.Result{}, fmt.Errorf("%s: password check: %w", m.name, err)
	}
	if !ok || !found || !stored.Valid || stored.String == "" {
		return authn.Result{Outcome: authn.Rejected}, nil
	}
	// The typed login is returned, as OTRS does; the lookup that follows finds the
	// database spelling.
	return authn.Result{Outcome: authn.Authenticated, Login: c.Login}, nil
}
