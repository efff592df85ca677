package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// errNoHasher: a password was to be written but no SourceOptions.Hasher was given.
var errNoHasher = errors.New("no password hasher configured")

// assignments collects column = value pairs for INSERT/UPDATE, one per column.
type assignments struct {
	cols []string
	vals []any
}

func (a *assignments) set(col string, v any) {
	for i, c := range a.cols {
		if c == col {
			a.vals[i] = v
			return
		}
	}
	a.cols = append(a.cols, col)
	a.vals = append(a.vals, v)
}

// value converts a Map value for its column: int-typed Map rows and the validity column
// take integers ("" is NULL), everything else is stored as given.
func (s *Source) value(f field, v string) (any, error) {
	if f.typ != "int" && f.col != s.valid {
		return v, nil
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a number: %w", f.v, v, directory.ErrInvalid)
	}
	return n, nil
}

// mapAssignments turns the Map variables present in attrs into column values. The login,
// password and validity are handled by the callers.
func (s *Source) mapAssignments(a *assignments, attrs map[string]string) error {
	for _, f := range s.fields {
		v, ok := attrs[f.v]
		if !ok || f.col == s.key || f.v == directory.VarLogin || f.v == directory.VarValidID {
			continue
		}
		val, err := s.value(f, v)
		if err != nil {
			return err
		}
		a.set(f.col, val)
	}
	if v, ok := attrs[directory.VarCustomerID]; ok {
		a.set(s.custID, v)
	}
	if s.valid != "" {
		if v, ok := attrs[directory.VarValidID]; ok {
			val, err := s.value(field{v: directory.VarValidID, col: s.valid}, v)
			if err != nil {
				return err
			}
			a.set(s.valid, val)
		}
	}
	return nil
}

// checkRequired refuses empty required Map variables: all of them on Add, the ones being
// changed on Update (the OTRS back end's "Need X!").
func (s *Source) checkRequired(attrs map[string]string, all bool) error {
	for _, r := range s.cfg.Map {
		if !r.Required || r.Var == directory.VarPassword || r.Var == directory.VarValidID {
			continue
		}
		v, ok := attrs[r.Var]
		if (ok || all) && strings.TrimSpace(v) == "" {
			return fmt.Errorf("%s is required: %w", r.Var, directory.ErrInvalid)
		}
	}
	return nil
}

// checkEmailUniq refuses an email used by another customer user of this source
// (customer_user_email_uniq_check; validity does not matter, as in OTRS).
func (s *Source) checkEmailUniq(ctx context.Context, attrs map[string]string, exceptLogin string) error {
	email := strings.TrimSpace(attrs[directory.VarEmail])
	if !s.cfg.CustomerUserEmailUniqCheck || email == "" {
		return nil
	}
	var col string
	for _, f := range s.fields {
		if f.v == directory.VarEmail {
			col = f.col
		}
	}
	if col == "" {
		return nil
	}
	cond, args := s.eq(col, email, false)
	q := "SELECT COUNT(*) FROM " + s.table + " WHERE " + cond
	if exceptLogin != "" {
		q += " AND " + s.q(s.key) + " <> ?"
		args = append(args, exceptLogin)
	}
	var n int
	if err := s.db.sql.QueryRowContext(ctx, s.db.Rebind(q), args...).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("email %q is already used: %w", email, directory.ErrExists)
	}
	return nil
}

func (s *Source) hash(password, login string) (string, error) {
	if s.pw == "" {
		return "", fmt.Errorf("table has no password column: %w", directory.ErrInvalid)
	}
	if s.opts.Hasher == nil {
		return "", errNoHasher
	}
	h, err := s.opts.Hasher(password, login)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// Add creates a customer user from Map variables. UserLogin is required, as are the Map's
// required variables; a login that exists in this source (in any letter case) is
// directory.ErrExists. A UserPassword is hashed with SourceOptions.Hasher; without one the
// password column stays NULL, so DB login is impossible until SetPassword. create_*/change_*
// are written when the table has them. ValidID defaults to 1 (valid).
func (s *Source) Add(ctx context.Context, attrs map[string]string, by string) (*directory.CustomerUser, error) {
	login := strings.TrimSpace(attrs[directory.VarLogin])
	u, err := s.add(ctx, login, attrs, by)
	if err != nil {
		return nil, fmt.Errorf("customer_user add %q: %w", login, err)
	}
	return u, nil
}

func (s *Source) add(ctx context.Context, login string, attrs map[string]string, by string) (*directory.CustomerUser, error) {
	if s.cfg.ReadOnly {
		return nil, directory.ErrReadOnly
	}
	if login == "" {
		return nil, fmt.Errorf("%s is required: %w", directory.VarLogin, directory.ErrInvalid)
	}
	if err := s.checkRequired(attrs, true); err != nil {
		return nil, err
	}
	// Refuse case variants too, even where the unique index would let them in (PostgreSQL,
	// SQLite): lookups are case-insensitive, so "John" would shadow "john".
	if _, err := s.get(ctx, login); err == nil {
		return nil, directory.ErrExists
	} else if !errors.Is(err, directory.ErrNotFound) {
		return nil, err
	}
	if err := s.checkEmailUniq(ctx, attrs, ""); err != nil {
		return nil, err
	}
	var a assignments
	a.set(s.key, login)
	if err := s.mapAssignments(&a, attrs); err != nil {
		return nil, err
	}
	if s.valid != "" {
		if _, ok := attrs[directory.VarValidID]; !ok {
			a.set(s.valid, int64(directory.ValidID))
		}
	}
	if pw := attrs[directory.VarPassword]; pw != "" {
		h, err := s.hash(pw, login)
		if err != nil {
			return nil, err
		}
		a.set(s.pw, h)
	}
	now := s.db.timeValue(s.opts.Now())
	who := auditID(by)
	for _, c := range []struct {
		col string
		v   any
	}{{s.createTime, now}, {s.createBy, who}, {s.changeTime, now}, {s.changeBy, who}} {
		if c.col != "" {
			a.set(c.col, c.v)
		}
	}
	quoted := make([]string, len(a.cols))
	for i, c := range a.cols {
		quoted[i] = s.q(c)
	}
	q := "INSERT INTO " + s.table + " (" + strings.Join(quoted, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(a.cols)), ", ") + ")"
	if _, err := s.db.sql.ExecContext(ctx, s.db.Rebind(q), a.vals...); err != nil {
		return nil, classify(err)
	}
	return s.get(ctx, login)
}

// Update changes the Map variables present in attrs of an existing customer user; absent
// variables keep their values. A new UserLogin renames the user, and the login's rows in
// customer_user_customer, customer_preferences and group_customer_user move with it. A
// UserPassword is hashed and stored.
func (s *Source) Update(ctx context.Context, login string, attrs map[string]string, by string) (*directory.CustomerUser, error) {
	u, err := s.update(ctx, login, attrs, by)
	if err != nil {
		return nil, fmt.Errorf("customer_user update %q: %w", login, err)
	}
	return u, nil
}

func (s *Source) update(ctx context.Context, login string, attrs map[string]string, by string) (*directory.CustomerUser, error) {
	if s.cfg.ReadOnly {
		return nil, directory.ErrReadOnly
	}
	cur, err := s.get(ctx, login)
	if err != nil {
		return nil, err
	}
	if err := s.checkRequired(attrs, false); err != nil {
		return nil, err
	}
	newLogin := cur.Login
	if v, ok := attrs[directory.VarLogin]; ok {
		if newLogin = strings.TrimSpace(v); newLogin == "" {
			return nil, fmt.Errorf("%s is required: %w", directory.VarLogin, directory.ErrInvalid)
		}
	}
	if !strings.EqualFold(newLogin, cur.Login) {
		if _, err := s.get(ctx, newLogin); err == nil {
			return nil, fmt.Errorf("rename to %q: %w", newLogin, directory.ErrExists)
		} else if !errors.Is(err, directory.ErrNotFound) {
			return nil, err
		}
	}
	if err := s.checkEmailUniq(ctx, attrs, cur.Login); err != nil {
		return nil, err
	}
	var a assignments
	a.set(s.key, newLogin)
	if err := s.mapAssignments(&a, attrs); err != nil {
		return nil, err
	}
	if pw := attrs[directory.VarPassword]; pw != "" {
		h, err := s.hash(pw, newLogin)
		if err != nil {
			return nil, err
		}
		a.set(s.pw, h)
	}
	if s.changeTime != "" {
		a.set(s.changeTime, s.db.timeValue(s.opts.Now()))
	}
	if s.changeBy != "" {
		a.set(s.changeBy, auditID(by))
	}
	sets := make([]string, len(a.cols))
	for i, c := range a.cols {
		sets[i] = s.q(c) + " = ?"
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		// The row is addressed by its exact stored login, found above.
		q := "UPDATE " + s.table + " SET " + strings.Join(sets, ", ") + " WHERE " + s.q(s.key) + " = ?"
		if _, err := tx.ExecContext(ctx, s.db.Rebind(q), append(a.vals, cur.Login)...); err != nil {
			return classify(err)
		}
		if newLogin == cur.Login {
			return nil
		}
		for _, t := range []struct {
			name string
			ok   bool
		}{{tableCUCustomer, s.hasCUC}, {tablePreferences, s.hasPrefs}, {tableGroupUser, s.hasGroupUser}} {
			if !t.ok {
				continue
			}
			cond, args := s.db.exact("user_id", cur.Login)
			q := "UPDATE " + s.q(t.name) + " SET user_id = ? WHERE " + cond
			if _, err := tx.ExecContext(ctx, s.db.Rebind(q), append([]any{newLogin}, args...)...); err != nil {
				return fmt.Errorf("rename in %s: %w", t.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.get(ctx, newLogin)
}

// SetPassword hashes password with SourceOptions.Hasher and stores it. The user is found
// with LOWER(login) = LOWER(?) (exact with case_sensitive), as OTRS does.
func (s *Source) SetPassword(ctx context.Context, login, password string) error {
	if err := s.setPassword(ctx, login, password); err != nil {
		return fmt.Errorf("customer_user set password %q: %w", login, err)
	}
	return nil
}

func (s *Source) setPassword(ctx context.Context, login, password string) error {
	if s.cfg.ReadOnly {
		return directory.ErrReadOnly
	}
	// Hash with the stored spelling: crypt, md5 and apr1 salt with the login.
	cur, err := s.get(ctx, login)
	if err != nil {
		return err
	}
	h, err := s.hash(password, cur.Login)
	if err != nil {
		return err
	}
	// The lookup above was LOWER(login)=LOWER(?) as in OTRS; the UPDATE then addresses the
	// stored spelling exactly, so case variants side by side (PostgreSQL, SQLite) never get
	// each other's password.
	res, err := s.db.sql.ExecContext(ctx, s.db.Rebind("UPDATE "+s.table+" SET "+s.q(s.pw)+" = ? WHERE "+s.q(s.key)+" = ?"),
		h, cur.Login)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return directory.ErrNotFound
	}
	return nil
}

// inTx runs fn in a transaction, rolled back on error.
func (s *Source) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return inTx(ctx, s.db, fn)
}

func inTx(ctx context.Context, db *DB, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
