package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
)

// Defaults of the OTRS DB back end, used when the configuration leaves a value empty.
const (
	// DefaultSearchListLimit is CustomerUserSearchListLimit.
	DefaultSearchListLimit = 250
	// DefaultNameFieldsJoin is CustomerUserNameFieldsJoin.
	DefaultNameFieldsJoin = " "
)

// SourceOptions are what the source needs from outside the directory layer.
type SourceOptions struct {
	// Hasher turns a password into its stored form in the source's crypt type. It lives in
	// authn/passwd, which directory must not import, so the caller passes it in. Nil makes
	// every password write fail.
	Hasher func(password, login string) (string, error)
	// Now is the clock for create_time/change_time; nil means time.Now.
	Now func() time.Time
}

// field is one Map row that names a column.
type field struct {
	v   string // Map variable
	col string // real column name
	typ string // var, int
}

// Source is a customer-user data source on a SQL table (Kernel::System::CustomerUser::DB).
// It implements directory.Source, directory.Writer and directory.Pinger. It is safe for
// concurrent use.
type Source struct {
	cfg  configs.CustomerUserSource
	db   *DB
	opts SourceOptions

	table     string // quoted
	tableName string // as configured, unquoted
	key       string // real column names, unquoted
	custID    string
	valid     string // "" without validity
	pw        string // "" without a password column
	custIDs   string // storage of UserCustomerIDs, if mapped
	fields    []field
	cols      []string       // selected columns, real names
	colIdx    map[string]int // real name → index in cols
	names     []string       // customer_user_name_fields, real names
	search    []string       // customer_user_search_fields
	postmtr   []string       // customer_user_postmaster_search_fields

	createTime, createBy, changeTime, changeBy string // "" when absent or foreign_db

	hasCUC        bool // customer_user_customer exists
	hasValidTable bool // valid exists
	hasPrefs      bool
	hasGroupUser  bool
	company       []field // customer_company columns to merge, nil without company support

	// folded marks the columns (real names) whose MariaDB collation already ignores case as
	// LOWER() does: case-insensitive conditions on them compare directly, so indexes serve
	// them (fold.go). companyFolded is the same for customer_company.customer_id.
	folded        map[string]bool
	companyFolded bool

	// pk is the single-column primary key (MariaDB/MySQL), for the deferred-join search
	// (plan.go); "" without one.
	pk string
	// pgStats caches what the PostgreSQL search shape needs (plan.go).
	pgStats pgStats

	joinStr   string
	limit     int
	loginInt  bool // UserLogin is Map type int: search by exact login
	selectSQL string
	selectC   string // selectSQL with every column qualified by the alias c (FROM table AS c)
}

var (
	_ directory.Source = (*Source)(nil)
	_ directory.Writer = (*Source)(nil)
	_ directory.Pinger = (*Source)(nil)
)

// companyMap is the default CustomerCompany Map: variable → customer_company column.
var companyMap = []field{
	{v: "CustomerID", col: "customer_id"},
	{v: "CustomerCompanyName", col: "name"},
	{v: "CustomerCompanyStreet", col: "street"},
	{v: "CustomerCompanyZIP", col: "zip"},
	{v: "CustomerCompanyCity", col: "city"},
	{v: "CustomerCompanyCountry", col: "country"},
	{v: "CustomerCompanyURL", col: "url"},
	{v: "CustomerCompanyComment", col: "comments"},
	{v: directory.VarValidID, col: "valid_id"},
}

// NewSource builds a source over db from its configuration. Every configured table and
// column name is checked to be a plain identifier (configuration must never carry SQL) and
// to exist in the table, whose real column list is read now: a table without
// create_*/change_* columns (foreign_db) works, a Map row naming a missing column is an error.
func NewSource(cfg configs.CustomerUserSource, db *DB, opts SourceOptions) (*Source, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := newSource(ctx, cfg, db, opts)
	if err != nil {
		return nil, fmt.Errorf("customer_user source %q: %w", cfg.Name, err)
	}
	return s, nil
}

func newSource(ctx context.Context, cfg configs.CustomerUserSource, db *DB, opts SourceOptions) (*Source, error) {
	if db == nil {
		return nil, errors.New("no database")
	}
	s := &Source{cfg: cfg, db: db, opts: opts, colIdx: map[string]int{}}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	table := cfg.Params.Table
	if table == "" {
		table = DefaultCustomerUserTable
	}
	if err := checkIdent("params.table", table); err != nil {
		return nil, err
	}
	// Check every name before touching the database, so a hostile value is refused even
	// when the table cannot be read.
	type named struct{ what, name string }
	names := []named{{"customer_key", cfg.CustomerKey}, {"customer_id", cfg.CustomerID}}
	if cfg.CustomerValid != "" {
		names = append(names, named{"customer_valid", cfg.CustomerValid})
	}
	for _, list := range []struct {
		what  string
		names []string
	}{
		{"customer_user_search_fields", cfg.CustomerUserSearchFields},
		{"customer_user_postmaster_search_fields", cfg.CustomerUserPostmasterSearchFields},
		{"customer_user_name_fields", cfg.CustomerUserNameFields},
		{"customer_user_list_fields", cfg.CustomerUserListFields},
	} {
		for _, n := range list.names {
			names = append(names, named{list.what, n})
		}
	}
	for i, r := range cfg.Map {
		if r.Storage == "" || r.Type == "dynamic_field" {
			continue
		}
		names = append(names, named{fmt.Sprintf("map[%d] (%s) storage", i, r.Var), r.Storage})
	}
	for _, n := range names {
		if n.name == "" {
			return nil, fmt.Errorf("%s is empty: %w", n.what, directory.ErrInvalid)
		}
		if err := checkIdent(n.what, n.name); err != nil {
			return nil, err
		}
	}

	cols, err := db.columns(ctx, table)
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("table %s not found in %s", table, db)
	}
	set := newColSet(cols)
	col := func(what, name string) (string, error) {
		c, ok := set.get(name)
		if !ok {
			return "", fmt.Errorf("%s: column %q does not exist in table %s (columns: %s): %w",
				what, name, table, strings.Join(cols, ", "), directory.ErrInvalid)
		}
		return c, nil
	}
	s.table, s.tableName = db.Quote(table), table
	if s.key, err = col("customer_key", cfg.CustomerKey); err != nil {
		return nil, err
	}
	if s.custID, err = col("customer_id", cfg.CustomerID); err != nil {
		return nil, err
	}
	if cfg.CustomerValid != "" {
		if s.valid, err = col("customer_valid", cfg.CustomerValid); err != nil {
			return nil, err
		}
	}
	for i, r := range cfg.Map {
		if r.Storage == "" || r.Type == "dynamic_field" {
			continue
		}
		c, err := col(fmt.Sprintf("map[%d] (%s)", i, r.Var), r.Storage)
		if err != nil {
			return nil, err
		}
		switch r.Var {
		case directory.VarPassword:
			s.pw = c
			continue // never selected, never handed out
		case directory.VarCustomerIDs:
			s.custIDs = c
		case directory.VarLogin:
			s.loginInt = r.Type == "int"
		}
		s.fields = append(s.fields, field{v: r.Var, col: c, typ: r.Type})
	}
	if s.pw == "" {
		// OTRS falls back to the pw column when the Map has no UserPassword row.
		if c, ok := set.get("pw"); ok {
			s.pw = c
		}
	}
	for _, list := range []struct {
		what string
		in   []string
		out  *[]string
	}{
		{"customer_user_name_fields", cfg.CustomerUserNameFields, &s.names},
		{"customer_user_search_fields", cfg.CustomerUserSearchFields, &s.search},
		{"customer_user_postmaster_search_fields", cfg.CustomerUserPostmasterSearchFields, &s.postmtr},
		{"customer_user_list_fields", cfg.CustomerUserListFields, new([]string)},
	} {
		for _, n := range list.in {
			c, err := col(list.what, n)
			if err != nil {
				return nil, err
			}
			*list.out = append(*list.out, c)
		}
	}
	if len(s.postmtr) == 0 {
		for _, f := range s.fields {
			if f.v == directory.VarEmail {
				s.postmtr = []string{f.col}
			}
		}
	}
	if len(s.search) == 0 {
		s.search = []string{s.key}
	}
	if s.folded, err = db.foldedColumns(ctx, table); err != nil {
		return nil, err
	}
	if s.pk, err = db.singlePrimaryKey(ctx, table); err != nil {
		return nil, err
	}
	if !cfg.Params.ForeignDB {
		// OTRS's ForeignDB says the table has no audit columns; without it, write the
		// ones that are really there.
		s.createTime, _ = set.get("create_time")
		s.createBy, _ = set.get("create_by")
		s.changeTime, _ = set.get("change_time")
		s.changeBy, _ = set.get("change_by")
	}

	for _, t := range []struct {
		name string
		out  *bool
	}{
		{tableCUCustomer, &s.hasCUC},
		{tableValid, &s.hasValidTable},
		{tablePreferences, &s.hasPrefs},
		{tableGroupUser, &s.hasGroupUser},
	} {
		if *t.out, err = db.tableExists(ctx, t.name); err != nil {
			return nil, err
		}
	}
	if cfg.CustomerCompanySupport {
		ccols, err := db.columns(ctx, tableCompany)
		if err != nil {
			return nil, err
		}
		if len(ccols) == 0 {
			return nil, fmt.Errorf("customer_company_support is on but table %s does not exist in %s", tableCompany, db)
		}
		cset := newColSet(ccols)
		for _, f := range companyMap {
			if c, ok := cset.get(f.col); ok {
				s.company = append(s.company, field{v: f.v, col: c})
			}
		}
		cfolded, err := db.foldedColumns(ctx, tableCompany)
		if err != nil {
			return nil, err
		}
		if c, ok := cset.get("customer_id"); ok {
			s.companyFolded = cfolded[c]
		}
	}

	s.joinStr = DefaultNameFieldsJoin
	if cfg.CustomerUserNameFieldsJoin != nil {
		s.joinStr = *cfg.CustomerUserNameFieldsJoin
	}
	s.limit = cfg.CustomerUserSearchListLimit
	if s.limit <= 0 {
		s.limit = DefaultSearchListLimit
	}
	if n := cfg.Params.MaxOpenConns; n > 0 {
		db.sql.SetMaxOpenConns(n)
	}

	// The selected columns: identity, customer id, validity, Map, name fields, change time.
	add := func(c string) {
		if c == "" || c == s.pw {
			return
		}
		if _, ok := s.colIdx[c]; !ok {
			s.colIdx[c] = len(s.cols)
			s.cols = append(s.cols, c)
		}
	}
	add(s.key)
	add(s.custID)
	add(s.valid)
	for _, f := range s.fields {
		add(f.col)
	}
	for _, c := range s.names {
		add(c)
	}
	add(s.changeTime)
	quoted := make([]string, len(s.cols))
	qualified := make([]string, len(s.cols))
	for i, c := range s.cols {
		quoted[i] = db.Quote(c)
		qualified[i] = "c." + quoted[i]
	}
	s.selectSQL = "SELECT " + strings.Join(quoted, ", ") + " FROM " + s.table
	s.selectC = "SELECT " + strings.Join(qualified, ", ") + " FROM " + s.table + " AS c"
	return s, nil
}

// Name is the configured name of the source.
func (s *Source) Name() string { return s.cfg.Name }

// ReadOnly reports whether the source refuses writes (read_only).
func (s *Source) ReadOnly() bool { return s.cfg.ReadOnly }

// Die reports params.die: a fault of this source fails a directory lookup instead of being
// skipped (directory.Dier).
func (s *Source) Die() bool { return s.cfg.Params.Die }

// DB is the pool the source reads.
func (s *Source) DB() *DB { return s.db }

// Ping checks the database is reachable.
func (s *Source) Ping(ctx context.Context) error {
	if err := s.db.Ping(ctx); err != nil {
		return fmt.Errorf("customer_user source %q: %w", s.cfg.Name, err)
	}
	return nil
}

func (s *Source) q(ident string) string { return s.db.Quote(ident) }

// loginMatch is the WHERE condition finding a login: LOWER(key)=LOWER(?) as OTRS does (a
// plain "=" where the collation already folds case the same way), or exact with
// params.case_sensitive.
func (s *Source) loginMatch(login string) (string, []any) {
	return s.eq(s.key, login, s.cfg.Params.CaseSensitive)
}

// eq is the condition "column col equals v", ignoring case unless cs (see loginMatch), with
// its bound values.
func (s *Source) eq(col, v string, cs bool) (string, []any) {
	if !cs && s.folded[col] {
		return s.q(col) + " = ?", []any{v}
	}
	return s.db.eqExpr(s.q(col), cs), s.db.eqArgs(v, cs)
}

// getSQL renders the query that finds login's rows (Get, CustomerIDs).
func (s *Source) getSQL(login string) (string, []any) {
	cond, args := s.loginMatch(login)
	return s.db.Rebind(s.selectSQL + " WHERE " + cond), args
}

// Get looks login up and returns the record with the database spelling of the login.
// Validity is not checked (as in OTRS); CustomerIDs and, with customer_company_support, the
// company's fields are filled in.
func (s *Source) Get(ctx context.Context, login string) (*directory.CustomerUser, error) {
	u, err := s.get(ctx, login)
	if err != nil {
		return nil, fmt.Errorf("customer_user get %q: %w", login, err)
	}
	return u, nil
}

func (s *Source) get(ctx context.Context, login string) (*directory.CustomerUser, error) {
	if login == "" {
		return nil, directory.ErrNotFound
	}
	q, args := s.getSQL(login)
	rows, err := s.db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var found []*directory.CustomerUser
	for rows.Next() {
		u, err := s.scan(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, directory.ErrNotFound
	}
	// PostgreSQL and SQLite allow "John" and "john" side by side; the exact spelling wins,
	// else the smallest, so the answer never depends on row order.
	u := found[0]
	for _, f := range found[1:] {
		if u.Login != login && (f.Login == login || f.Login < u.Login) {
			u = f
		}
	}
	if s.hasCUC {
		extra, err := s.cucIDs(ctx, []string{u.Login})
		if err != nil {
			return nil, err
		}
		u.CustomerIDs = appendUniq(u.CustomerIDs, extra[u.Login]...)
	}
	if s.company != nil && u.CustomerID != "" {
		if err := s.mergeCompany(ctx, u); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// scan reads one selected row into a record, with the customer ids of the row itself.
func (s *Source) scan(rows *sql.Rows) (*directory.CustomerUser, error) {
	vals := make([]any, len(s.cols))
	ptrs := make([]any, len(s.cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	get := func(c string) any { return vals[s.colIdx[c]] }
	u := &directory.CustomerUser{
		Login:      text(get(s.key)),
		Source:     s.cfg.Name,
		CustomerID: text(get(s.custID)),
		Attrs:      make(map[string]string, len(s.fields)+6),
	}
	for _, f := range s.fields {
		u.Attrs[f.v] = text(get(f.col))
	}
	u.Attrs[directory.VarLogin] = u.Login
	u.Attrs["UserID"] = u.Login
	u.Attrs[directory.VarCustomerID] = u.CustomerID
	if s.valid != "" {
		raw := text(get(s.valid))
		u.ValidID, _ = strconv.Atoi(strings.TrimSpace(raw))
		u.HasValidity = raw != ""
		u.Attrs[directory.VarValidID] = raw
	}
	if s.changeTime != "" {
		u.ChangeTime = timeOf(get(s.changeTime))
	}
	var parts []string
	for _, c := range s.names {
		if v := strings.TrimSpace(text(get(c))); v != "" {
			parts = append(parts, v)
		}
	}
	full := strings.Join(parts, s.joinStr)
	u.Attrs[directory.VarFullname] = full
	if email := u.Attrs[directory.VarEmail]; email != "" {
		// UserMailString as OTRS builds it: "First Last" <mail>.
		u.Attrs["UserMailString"] = `"` + full + `" <` + email + `>`
	}
	if s.custIDs != "" {
		u.CustomerIDs = directory.SplitCustomerIDs(text(get(s.custIDs)))
	}
	if !s.cfg.CustomerUserExcludePrimaryCustomerID && u.CustomerID != "" {
		u.CustomerIDs = appendUniq(u.CustomerIDs, u.CustomerID)
	}
	return u, nil
}

// appendUniq appends the values not yet in list, keeping order.
func appendUniq(list []string, vals ...string) []string {
outer:
	for _, v := range vals {
		for _, have := range list {
			if have == v {
				continue outer
			}
		}
		list = append(list, v)
	}
	return list
}

// cucIDs reads the customer_user_customer rows of the logins (user_id compared exactly,
// as OTRS does).
func (s *Source) cucIDs(ctx context.Context, logins []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(logins) == 0 {
		return out, nil
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(logins)), ", ")
	args := make([]any, len(logins))
	for i, l := range logins {
		args[i] = l
	}
	rows, err := s.db.sql.QueryContext(ctx, s.db.Rebind("SELECT user_id, customer_id FROM "+s.q(tableCUCustomer)+
		" WHERE user_id IN ("+ph+") ORDER BY customer_id"), args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", tableCUCustomer, err)
	}
	defer rows.Close()
	for rows.Next() {
		var user, id string
		if err := rows.Scan(&user, &id); err != nil {
			return nil, fmt.Errorf("read %s: %w", tableCUCustomer, err)
		}
		out[user] = appendUniq(out[user], id)
	}
	return out, rows.Err()
}

// mergeCompany puts the company's fields underneath the user's: the user's own values win
// (ValidID included); CustomerCompanyValidID carries the company's validity, which never
// blocks a login.
func (s *Source) mergeCompany(ctx context.Context, u *directory.CustomerUser) error {
	quoted := make([]string, len(s.company))
	for i, f := range s.company {
		quoted[i] = s.q(f.col)
	}
	vals := make([]any, len(s.company))
	ptrs := make([]any, len(s.company))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	cond := "LOWER(customer_id) = LOWER(?)"
	if s.companyFolded {
		cond = "customer_id = ?"
	}
	err := s.db.sql.QueryRowContext(ctx, s.db.Rebind("SELECT "+strings.Join(quoted, ", ")+" FROM "+s.q(tableCompany)+
		" WHERE "+cond), u.CustomerID).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s %q: %w", tableCompany, u.CustomerID, err)
	}
	for i, f := range s.company {
		v := text(vals[i])
		if f.v == directory.VarValidID {
			u.Attrs["CustomerCompanyValidID"] = v
		}
		if _, ok := u.Attrs[f.v]; !ok {
			u.Attrs[f.v] = v
		}
	}
	return nil
}

// CustomerIDs lists login's customer ids (fact sheet §6): UserCustomerIDs split, the primary
// id unless excluded, then the customer_user_customer rows whose user_id is login as given.
// Empty, without error, when the login is not in this source.
func (s *Source) CustomerIDs(ctx context.Context, login string) ([]string, error) {
	q, args := s.getSQL(login)
	rows, err := s.db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("customer_user customer ids %q: %w", login, err)
	}
	var u *directory.CustomerUser
	for rows.Next() {
		r, err := s.scan(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("customer_user customer ids %q: %w", login, err)
		}
		if u == nil || r.Login == login {
			u = r
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("customer_user customer ids %q: %w", login, err)
	}
	if u == nil {
		return nil, nil
	}
	ids := u.CustomerIDs
	if s.hasCUC {
		extra, err := s.cucIDs(ctx, []string{login})
		if err != nil {
			return nil, fmt.Errorf("customer_user customer ids %q: %w", login, err)
		}
		ids = appendUniq(ids, extra[login]...)
	}
	return ids, nil
}

// sortedKeys returns m's keys in order, so generated SQL is stable.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
