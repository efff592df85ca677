package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// Admin manages the OTRS tables around customer users — companies, groups, group
// memberships, customer_user_customer and customer_preferences — for the admin UI and CLI.
// It is safe for concurrent use.
type Admin struct {
	db     *DB
	groups string // groups table, unquoted
	now    func() time.Time
}

// AdminOptions tunes NewAdmin.
type AdminOptions struct {
	// GroupsTable is permission_groups (Znuny, the default) or groups (OTRS 6).
	GroupsTable string
	// Now is the clock for create_time/change_time; nil means time.Now.
	Now func() time.Time
}

// NewAdmin returns the admin helpers over db.
func NewAdmin(db *DB, opts AdminOptions) (*Admin, error) {
	g := opts.GroupsTable
	if g == "" {
		g = DefaultGroupsTable
	}
	if err := checkIdent("groups table", g); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Admin{db: db, groups: g, now: now}, nil
}

// Company is a customer_company row.
type Company struct {
	CustomerID string
	Name       string
	Street     string
	ZIP        string
	City       string
	Country    string
	URL        string
	Comments   string
	// ValidID is the company's validity; 0 is stored as 1 (valid) on add.
	ValidID int
}

// Group is a row of the groups table.
type Group struct {
	ID       int64
	Name     string
	Comments string
	ValidID  int
}

func (a *Admin) q(s string) string { return a.db.Quote(s) }

func (a *Admin) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := a.db.sql.ExecContext(ctx, a.db.Rebind(q), args...)
	return res, classify(err)
}

const companyCols = "customer_id, name, street, zip, city, country, url, comments, valid_id"

func scanCompany(sc interface{ Scan(...any) error }) (Company, error) {
	var c Company
	var v [8]sql.NullString
	var valid sql.NullInt64
	err := sc.Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &valid)
	c.CustomerID, c.Name, c.Street, c.ZIP = v[0].String, v[1].String, v[2].String, v[3].String
	c.City, c.Country, c.URL, c.Comments = v[4].String, v[5].String, v[6].String, v[7].String
	c.ValidID = int(valid.Int64)
	return c, err
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// AddCompany inserts a customer company; a taken customer id or name is directory.ErrExists.
func (a *Admin) AddCompany(ctx context.Context, c Company, by string) error {
	if strings.TrimSpace(c.CustomerID) == "" || strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("customer_company add %q: customer id and name are required: %w", c.CustomerID, directory.ErrInvalid)
	}
	if _, err := a.GetCompany(ctx, c.CustomerID); err == nil {
		return fmt.Errorf("customer_company add %q: %w", c.CustomerID, directory.ErrExists)
	}
	if c.ValidID == 0 {
		c.ValidID = directory.ValidID
	}
	now, who := a.db.timeValue(a.now()), auditID(by)
	_, err := a.exec(ctx, "INSERT INTO "+a.q(tableCompany)+" ("+companyCols+
		", create_time, create_by, change_time, change_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.CustomerID, c.Name, nullIfEmpty(c.Street), nullIfEmpty(c.ZIP), nullIfEmpty(c.City), nullIfEmpty(c.Country),
		nullIfEmpty(c.URL), nullIfEmpty(c.Comments), c.ValidID, now, who, now, who)
	if err != nil {
		return fmt.Errorf("customer_company add %q: %w", c.CustomerID, err)
	}
	return nil
}

// GetCompany reads a company by customer id, ignoring case (as OTRS); directory.ErrNotFound
// if absent.
func (a *Admin) GetCompany(ctx context.Context, customerID string) (*Company, error) {
	row := a.db.sql.QueryRowContext(ctx, a.db.Rebind("SELECT "+companyCols+" FROM "+a.q(tableCompany)+
		" WHERE LOWER(customer_id) = LOWER(?)"), customerID)
	c, err := scanCompany(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("customer_company get %q: %w", customerID, directory.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("customer_company get %q: %w", customerID, err)
	}
	return &c, nil
}

// UpdateCompany replaces the fields of the company customerID (c.CustomerID may rename it;
// empty keeps it).
func (a *Admin) UpdateCompany(ctx context.Context, customerID string, c Company, by string) error {
	cur, err := a.GetCompany(ctx, customerID)
	if err != nil {
		return fmt.Errorf("customer_company update: %w", err)
	}
	if c.CustomerID == "" {
		c.CustomerID = cur.CustomerID
	}
	if c.ValidID == 0 {
		c.ValidID = cur.ValidID
	}
	res, err := a.exec(ctx, "UPDATE "+a.q(tableCompany)+" SET customer_id = ?, name = ?, street = ?, zip = ?, city = ?, "+
		"country = ?, url = ?, comments = ?, valid_id = ?, change_time = ?, change_by = ? WHERE customer_id = ?",
		c.CustomerID, c.Name, nullIfEmpty(c.Street), nullIfEmpty(c.ZIP), nullIfEmpty(c.City), nullIfEmpty(c.Country),
		nullIfEmpty(c.URL), nullIfEmpty(c.Comments), c.ValidID, a.db.timeValue(a.now()), auditID(by), cur.CustomerID)
	if err != nil {
		return fmt.Errorf("customer_company update %q: %w", customerID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("customer_company update %q: %w", customerID, directory.ErrNotFound)
	}
	return nil
}

// SearchCompanies lists companies whose customer id or name matches search (ignoring case,
// * as wildcard, a plain word matches as substring), ordered by customer id. Empty search
// lists all; limit <= 0 means 250.
func (a *Admin) SearchCompanies(ctx context.Context, search string, limit int) ([]Company, error) {
	if limit <= 0 {
		limit = DefaultSearchListLimit
	}
	q := "SELECT " + companyCols + " FROM " + a.q(tableCompany)
	var args []any
	if s := strings.TrimSpace(search); s != "" {
		p := newPattern("*" + s + "*")
		c1, a1 := a.db.match("customer_id", p, false, false, false)
		c2, a2 := a.db.match("name", p, false, false, false)
		q += " WHERE " + c1 + " OR " + c2
		args = append(a1, a2...)
	}
	q += fmt.Sprintf(" ORDER BY customer_id LIMIT %d", limit)
	rows, err := a.db.sql.QueryContext(ctx, a.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("customer_company search %q: %w", search, err)
	}
	defer rows.Close()
	var out []Company
	for rows.Next() {
		c, err := scanCompany(rows)
		if err != nil {
			return nil, fmt.Errorf("customer_company search %q: %w", search, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// AddGroup creates a valid group and returns its id; a taken name is directory.ErrExists.
func (a *Admin) AddGroup(ctx context.Context, name, comments, by string) (int64, error) {
	if strings.TrimSpace(name) == "" {
		return 0, fmt.Errorf("group add: name is required: %w", directory.ErrInvalid)
	}
	now, who := a.db.timeValue(a.now()), auditID(by)
	if _, err := a.exec(ctx, "INSERT INTO "+a.q(a.groups)+" (name, comments, valid_id, create_time, create_by, change_time, change_by)"+
		" VALUES (?, ?, ?, ?, ?, ?, ?)", name, nullIfEmpty(comments), directory.ValidID, now, who, now, who); err != nil {
		return 0, fmt.Errorf("group add %q: %w", name, err)
	}
	// Read the id back by name rather than LastInsertId, which pgx does not provide.
	g, err := a.group(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("group add %q: %w", name, err)
	}
	return g.ID, nil
}

// SetGroupValid changes a group's validity (1 valid, 2 invalid, …).
func (a *Admin) SetGroupValid(ctx context.Context, name string, validID int, by string) error {
	res, err := a.exec(ctx, "UPDATE "+a.q(a.groups)+" SET valid_id = ?, change_time = ?, change_by = ? WHERE name = ?",
		validID, a.db.timeValue(a.now()), auditID(by), name)
	if err != nil {
		return fmt.Errorf("group %q set valid: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("group %q set valid: %w", name, directory.ErrNotFound)
	}
	return nil
}

func (a *Admin) group(ctx context.Context, name string) (Group, error) {
	var g Group
	var comments sql.NullString
	err := a.db.sql.QueryRowContext(ctx, a.db.Rebind("SELECT id, name, comments, valid_id FROM "+a.q(a.groups)+
		" WHERE name = ?"), name).Scan(&g.ID, &g.Name, &comments, &g.ValidID)
	if errors.Is(err, sql.ErrNoRows) {
		return g, fmt.Errorf("group %q: %w", name, directory.ErrNotFound)
	}
	g.Comments = comments.String
	return g, err
}

// ListGroups lists all groups, valid or not, by name.
func (a *Admin) ListGroups(ctx context.Context) ([]Group, error) {
	rows, err := a.db.sql.QueryContext(ctx, "SELECT id, name, comments, valid_id FROM "+a.q(a.groups)+" ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var g Group
		var comments sql.NullString
		if err := rows.Scan(&g.ID, &g.Name, &comments, &g.ValidID); err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		g.Comments = comments.String
		out = append(out, g)
	}
	return out, rows.Err()
}

// SetUserGroup grants (on) or revokes the permission key (ro, rw, …) of group to the
// customer user login (group_customer_user; user_id is the login exactly as given).
func (a *Admin) SetUserGroup(ctx context.Context, login, group, perm string, on bool, by string) error {
	if err := a.setMembership(ctx, tableGroupUser, "user_id", login, group, perm, "", on, by); err != nil {
		return fmt.Errorf("set group %q %s of customer user %q: %w", group, perm, login, err)
	}
	return nil
}

// SetCompanyGroup grants (on) or revokes the permission key of group to every customer user
// of the company customerID (group_customer, context Ticket::CustomerID::Same).
func (a *Admin) SetCompanyGroup(ctx context.Context, customerID, group, perm string, on bool, by string) error {
	if err := a.setMembership(ctx, tableGroupComp, "customer_id", customerID, group, perm, PermissionContextSame, on, by); err != nil {
		return fmt.Errorf("set group %q %s of company %q: %w", group, perm, customerID, err)
	}
	return nil
}

// setMembership deletes the (member, group, key[, context]) row and, when on, inserts it
// again with permission_value 1 — OTRS's delete-then-insert.
func (a *Admin) setMembership(ctx context.Context, table, memberCol, member, group, perm, pctx string, on bool, by string) error {
	if member == "" || perm == "" {
		return fmt.Errorf("member and permission key are required: %w", directory.ErrInvalid)
	}
	g, err := a.group(ctx, group)
	if err != nil {
		return err
	}
	return inTx(ctx, a.db, func(tx *sql.Tx) error {
		cond, args := a.db.exact(memberCol, member)
		del := "DELETE FROM " + a.q(table) + " WHERE " + cond + " AND group_id = ? AND permission_key = ?"
		args = append(args, g.ID, perm)
		if pctx != "" {
			del += " AND permission_context = ?"
			args = append(args, pctx)
		}
		if _, err := tx.ExecContext(ctx, a.db.Rebind(del), args...); err != nil {
			return err
		}
		if !on {
			return nil
		}
		now, who := a.db.timeValue(a.now()), auditID(by)
		cols := memberCol + ", group_id, permission_key, permission_value, create_time, create_by, change_time, change_by"
		vals := []any{member, g.ID, perm, 1, now, who, now, who}
		if pctx != "" {
			cols += ", permission_context"
			vals = append(vals, pctx)
		}
		_, err := tx.ExecContext(ctx, a.db.Rebind("INSERT INTO "+a.q(table)+" ("+cols+") VALUES ("+placeholders(len(vals))+")"), vals...)
		return classify(err)
	})
}

// AddCustomerUserCustomer gives login the extra customer id customerID
// (customer_user_customer). Adding an existing pair changes nothing.
func (a *Admin) AddCustomerUserCustomer(ctx context.Context, login, customerID, by string) error {
	if login == "" || customerID == "" {
		return fmt.Errorf("customer_user_customer add: login and customer id are required: %w", directory.ErrInvalid)
	}
	err := inTx(ctx, a.db, func(tx *sql.Tx) error {
		var n int
		cond, args := a.db.exact("user_id", login)
		if err := tx.QueryRowContext(ctx, a.db.Rebind("SELECT COUNT(*) FROM "+a.q(tableCUCustomer)+
			" WHERE "+cond+" AND customer_id = ?"), append(args, customerID)...).Scan(&n); err != nil || n > 0 {
			return err
		}
		now, who := a.db.timeValue(a.now()), auditID(by)
		_, err := tx.ExecContext(ctx, a.db.Rebind("INSERT INTO "+a.q(tableCUCustomer)+
			" (user_id, customer_id, create_time, create_by, change_time, change_by) VALUES (?, ?, ?, ?, ?, ?)"),
			login, customerID, now, who, now, who)
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("customer_user_customer add %q %q: %w", login, customerID, err)
	}
	return nil
}

// RemoveCustomerUserCustomer takes the extra customer id customerID away from login.
func (a *Admin) RemoveCustomerUserCustomer(ctx context.Context, login, customerID string) error {
	cond, args := a.db.exact("user_id", login)
	if _, err := a.exec(ctx, "DELETE FROM "+a.q(tableCUCustomer)+" WHERE "+cond+" AND customer_id = ?", append(args, customerID)...); err != nil {
		return fmt.Errorf("customer_user_customer remove %q %q: %w", login, customerID, err)
	}
	return nil
}

// SetPreference stores one customer preference the OTRS way: DELETE then INSERT, user_id
// compared exactly.
func (a *Admin) SetPreference(ctx context.Context, login, key, value string) error {
	if login == "" || key == "" {
		return fmt.Errorf("customer_preferences set: login and key are required: %w", directory.ErrInvalid)
	}
	err := inTx(ctx, a.db, func(tx *sql.Tx) error {
		cond, args := a.db.exact("user_id", login)
		if _, err := tx.ExecContext(ctx, a.db.Rebind("DELETE FROM "+a.q(tablePreferences)+
			" WHERE "+cond+" AND preferences_key = ?"), append(args, key)...); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, a.db.Rebind("INSERT INTO "+a.q(tablePreferences)+
			" (user_id, preferences_key, preferences_value) VALUES (?, ?, ?)"), login, key, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("customer_preferences set %q %q: %w", login, key, err)
	}
	return nil
}

// GetPreferences reads all preferences of login (user_id compared exactly).
func (a *Admin) GetPreferences(ctx context.Context, login string) (map[string]string, error) {
	cond, args := a.db.exact("user_id", login)
	rows, err := a.db.sql.QueryContext(ctx, a.db.Rebind("SELECT preferences_key, preferences_value FROM "+
		a.q(tablePreferences)+" WHERE "+cond), args...)
	if err != nil {
		return nil, fmt.Errorf("customer_preferences get %q: %w", login, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("customer_preferences get %q: %w", login, err)
		}
		out[k] = v.String
	}
	return out, rows.Err()
}
