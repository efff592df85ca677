package sqldb

// Helpers for the admin service (package admin): bulk imports, batched existence checks,
// group editing and membership listings.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// bulkChunk is how many values one IN (…) list carries.
const bulkChunk = 500

// ExistingLogins reports which of logins exist in the source, compared as lookups compare
// (LOWER on both sides unless params.case_sensitive): the result maps each found login,
// lower-cased (as given when case-sensitive), to its stored spelling.
func (s *Source) ExistingLogins(ctx context.Context, logins []string) (map[string]string, error) {
	cs := s.cfg.Params.CaseSensitive
	return s.existing(ctx, s.key, logins, cs)
}

// ExistingEmails reports which of emails are already used in the source (ignoring case, as
// customer_user_email_uniq_check compares): lower-cased email → the login using it. Empty
// when the Map has no UserEmail.
func (s *Source) ExistingEmails(ctx context.Context, emails []string) (map[string]string, error) {
	var col string
	for _, f := range s.fields {
		if f.v == directory.VarEmail {
			col = f.col
		}
	}
	if col == "" {
		return map[string]string{}, nil
	}
	return s.existing(ctx, col, emails, false)
}

// existing finds the rows whose col matches one of vals; key of the result: the matched
// value (lower-cased unless cs), value: the row's login.
func (s *Source) existing(ctx context.Context, col string, vals []string, cs bool) (map[string]string, error) {
	out := map[string]string{}
	norm := func(v string) string {
		if cs {
			return v
		}
		return strings.ToLower(v)
	}
	for start := 0; start < len(vals); start += bulkChunk {
		end := min(start+bulkChunk, len(vals))
		args := make([]any, 0, end-start)
		for _, v := range vals[start:end] {
			args = append(args, norm(v))
		}
		expr := s.q(col)
		if !cs && !s.folded[col] {
			expr = "LOWER(" + expr + ")"
		} else if cs && s.db.dialect == MySQL {
			expr = "BINARY " + expr
		}
		q := "SELECT " + s.q(col) + ", " + s.q(s.key) + " FROM " + s.table + " WHERE " + expr + " IN (" + placeholders(len(args)) + ")"
		rows, err := s.db.sql.QueryContext(ctx, s.db.Rebind(q), args...)
		if err != nil {
			return nil, fmt.Errorf("customer_user %q: check existing: %w", s.cfg.Name, err)
		}
		for rows.Next() {
			var v, login sql.NullString
			if err := rows.Scan(&v, &login); err != nil {
				rows.Close()
				return nil, fmt.Errorf("customer_user %q: check existing: %w", s.cfg.Name, err)
			}
			out[norm(v.String)] = login.String
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("customer_user %q: check existing: %w", s.cfg.Name, err)
		}
	}
	return out, nil
}

// AddMany inserts customer users from Map variables in ONE transaction: all rows or none.
// It is the bulk path of the admin import, whose rows were validated before (required
// fields, logins unused in every source, emails); here each row is checked again for its
// login and required fields and converted as Add converts it, and the unique index still
// refuses a taken login (directory.ErrExists, nothing stored). Passwords given as
// UserPassword are hashed first, in parallel. progress, if set, is called with the number of
// rows inserted so far, every 1000 rows and at the end.
func (s *Source) AddMany(ctx context.Context, rows []map[string]string, by string, progress func(done int)) (int, error) {
	if s.cfg.ReadOnly {
		return 0, fmt.Errorf("customer_user %q add many: %w", s.cfg.Name, directory.ErrReadOnly)
	}
	type prepared struct {
		cols []string
		vals []any
	}
	preps := make([]prepared, len(rows))
	hashes := make([]string, len(rows))
	for i, attrs := range rows {
		login := strings.TrimSpace(attrs[directory.VarLogin])
		if login == "" {
			return 0, fmt.Errorf("customer_user add many: row %d: %s is required: %w", i+1, directory.VarLogin, directory.ErrInvalid)
		}
		if err := s.checkRequired(attrs, true); err != nil {
			return 0, fmt.Errorf("customer_user add many: row %d (%s): %w", i+1, login, err)
		}
	}
	// Hash the given passwords on every CPU: bcrypt costs tens of milliseconds each.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		hashErr error
		next    = make(chan int)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				pw := rows[i][directory.VarPassword]
				h, err := s.hash(pw, strings.TrimSpace(rows[i][directory.VarLogin]))
				mu.Lock()
				if err != nil && hashErr == nil {
					hashErr = fmt.Errorf("row %d: %w", i+1, err)
				}
				hashes[i] = h
				mu.Unlock()
			}
		}()
	}
	for i := range rows {
		if rows[i][directory.VarPassword] != "" {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	if hashErr != nil {
		return 0, fmt.Errorf("customer_user add many: %w", hashErr)
	}
	now := s.db.timeValue(s.opts.Now())
	who := auditID(by)
	for i, attrs := range rows {
		var a assignments
		a.set(s.key, strings.TrimSpace(attrs[directory.VarLogin]))
		if err := s.mapAssignments(&a, attrs); err != nil {
			return 0, fmt.Errorf("customer_user add many: row %d: %w", i+1, err)
		}
		if s.valid != "" {
			if _, ok := attrs[directory.VarValidID]; !ok {
				a.set(s.valid, int64(directory.ValidID))
			}
		}
		if hashes[i] != "" {
			a.set(s.pw, hashes[i])
		}
		for _, c := range []struct {
			col string
			v   any
		}{{s.createTime, now}, {s.createBy, who}, {s.changeTime, now}, {s.changeBy, who}} {
			if c.col != "" {
				a.set(c.col, c.v)
			}
		}
		preps[i] = prepared{cols: a.cols, vals: a.vals}
	}
	done := 0
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		stmts := map[string]*sql.Stmt{}
		defer func() {
			for _, st := range stmts {
				_ = st.Close()
			}
		}()
		for i, p := range preps {
			key := strings.Join(p.cols, "\x00")
			st, ok := stmts[key]
			if !ok {
				quoted := make([]string, len(p.cols))
				for j, c := range p.cols {
					quoted[j] = s.q(c)
				}
				q := "INSERT INTO " + s.table + " (" + strings.Join(quoted, ", ") + ") VALUES (" + placeholders(len(p.cols)) + ")"
				var err error
				if st, err = tx.PrepareContext(ctx, s.db.Rebind(q)); err != nil {
					return err
				}
				stmts[key] = st
			}
			if _, err := st.ExecContext(ctx, p.vals...); err != nil {
				return fmt.Errorf("row %d (%s): %w", i+1, p.vals[0], classify(err))
			}
			done++
			if progress != nil && done%1000 == 0 {
				progress(done)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("customer_user %q add many: %w", s.cfg.Name, err)
	}
	if progress != nil && done%1000 != 0 {
		progress(done)
	}
	return done, nil
}

// UpdateGroup changes the group name: g.Name renames it (empty keeps it), g.Comments
// replaces the comment, g.ValidID (0 keeps it) sets the validity.
func (a *Admin) UpdateGroup(ctx context.Context, name string, g Group, by string) error {
	cur, err := a.group(ctx, name)
	if err != nil {
		return fmt.Errorf("group update: %w", err)
	}
	if strings.TrimSpace(g.Name) == "" {
		g.Name = cur.Name
	}
	if g.ValidID == 0 {
		g.ValidID = cur.ValidID
	}
	_, err = a.exec(ctx, "UPDATE "+a.q(a.groups)+" SET name = ?, comments = ?, valid_id = ?, change_time = ?, change_by = ? WHERE id = ?",
		g.Name, nullIfEmpty(g.Comments), g.ValidID, a.db.timeValue(a.now()), auditID(by), cur.ID)
	if err != nil {
		return fmt.Errorf("group update %q: %w", name, err)
	}
	return nil
}

// GetGroup reads the group name (exact); directory.ErrNotFound if absent.
func (a *Admin) GetGroup(ctx context.Context, name string) (*Group, error) {
	g, err := a.group(ctx, name)
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// Member is one permission row of a group: a customer user (group_customer_user) or a
// customer (group_customer, context Ticket::CustomerID::Same).
type Member struct {
	// Kind is "user" or "customer".
	Kind string
	// ID is the login or the customer id, as stored.
	ID string
	// Permission is the permission key (ro, rw, …).
	Permission string
}

// GroupMembers lists the permission rows of group (permission_value 1), users first, each
// kind ordered by id and key.
func (a *Admin) GroupMembers(ctx context.Context, group string) ([]Member, error) {
	g, err := a.group(ctx, group)
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, t := range []struct{ kind, table, col, extra string }{
		{"user", tableGroupUser, "user_id", ""},
		{"customer", tableGroupComp, "customer_id", " AND permission_context = ?"},
	} {
		args := []any{g.ID}
		if t.extra != "" {
			args = append(args, PermissionContextSame)
		}
		rows, err := a.db.sql.QueryContext(ctx, a.db.Rebind("SELECT "+t.col+", permission_key FROM "+a.q(t.table)+
			" WHERE group_id = ? AND permission_value = 1"+t.extra+" ORDER BY "+t.col+", permission_key"), args...)
		if err != nil {
			return nil, fmt.Errorf("group %q members: %w", group, err)
		}
		for rows.Next() {
			m := Member{Kind: t.kind}
			if err := rows.Scan(&m.ID, &m.Permission); err != nil {
				rows.Close()
				return nil, fmt.Errorf("group %q members: %w", group, err)
			}
			out = append(out, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("group %q members: %w", group, err)
		}
	}
	return out, nil
}

// CustomerUserCustomers lists the customer_user_customer rows of login (user_id compared
// exactly), ordered.
func (a *Admin) CustomerUserCustomers(ctx context.Context, login string) ([]string, error) {
	cond, args := a.db.exact("user_id", login)
	rows, err := a.db.sql.QueryContext(ctx, a.db.Rebind("SELECT customer_id FROM "+a.q(tableCUCustomer)+" WHERE "+cond+
		" ORDER BY customer_id"), args...)
	if err != nil {
		return nil, fmt.Errorf("customer_user_customer of %q: %w", login, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("customer_user_customer of %q: %w", login, err)
		}
		out = appendUniq(out, id)
	}
	return out, rows.Err()
}

// HasCompanies reports whether at least one customer company exists.
func (a *Admin) HasCompanies(ctx context.Context) (bool, error) {
	var n int
	err := a.db.sql.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 AS x FROM "+a.q(tableCompany)+" LIMIT 1) t").Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("count customer companies: %w", err)
	}
	return n > 0, nil
}
