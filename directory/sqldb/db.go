// Package sqldb is the SQL customer-user data source (Kernel::System::CustomerUser::DB) for
// PostgreSQL, MariaDB/MySQL and SQLite: connection pools keyed by DSN, the OTRS/Znuny schema,
// customer-user lookup, search and writes, companies, groups and preferences.
//
// It works on an existing OTRS/Znuny database unchanged: column names come from the
// configured Map and are checked against the table's real columns, and tables are only ever
// created when absent.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// Dialect is the SQL flavour behind a DB.
type Dialect int

// The supported dialects.
const (
	Postgres Dialect = iota + 1
	MySQL
	SQLite
)

// String names the dialect.
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	}
	return "unknown"
}

// DB is a shared connection pool plus the dialect it speaks. Several sources and modules
// opening the same DSN get the same *DB (see Open); Close releases one reference.
type DB struct {
	sql      *sql.DB
	dialect  Dialect
	redacted string
	key      string
	refs     int

	// folds caches, per MariaDB/MySQL collation, whether comparing under it ignores case
	// the way LOWER() on both sides does (see foldsLikeLower).
	foldMu sync.Mutex
	folds  map[string]bool
}

// registry shares one pool per DSN: every source, auth module and admin tool on the same
// database would otherwise open its own pool and multiply the server's connection count.
var registry = struct {
	sync.Mutex
	pools map[string]*DB
}{pools: map[string]*DB{}}

// Open returns the pool for dsn, opening it on first use. The scheme picks the driver:
// postgres:// or postgresql:// (pgx), mysql://user:pass@host:port/db?params
// (go-sql-driver/mysql, MariaDB too), sqlite://path (modernc.org/sqlite; sqlite:///abs/x.db is
// absolute, sqlite://rel/x.db relative; the parent directory is created). Errors never contain
// the DSN's password.
func Open(ctx context.Context, dsn string) (*DB, error) {
	registry.Lock()
	defer registry.Unlock()
	if db, ok := registry.pools[dsn]; ok {
		db.refs++
		return db, nil
	}
	db, err := open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	db.key = dsn
	db.refs = 1
	registry.pools[dsn] = db
	return db, nil
}

func open(ctx context.Context, dsn string) (*DB, error) {
	red := RedactDSN(dsn)
	scheme, _, ok := strings.Cut(dsn, "://")
	if !ok {
		return nil, fmt.Errorf("open %s: DSN needs a scheme (postgres://, mysql://, sqlite://)", red)
	}
	db := &DB{redacted: red}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			// pgx redacts the password in its own message, but keep ours only.
			return nil, fmt.Errorf("open %s: invalid postgres DSN", red)
		}
		db.dialect = Postgres
		db.sql = stdlib.OpenDB(*cfg)
	case "mysql", "mariadb":
		cfg, err := mysqlConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", red, err)
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", red, err)
		}
		db.dialect = MySQL
		db.sql = sql.OpenDB(conn)
	case "sqlite":
		path := dsn[len(scheme)+len("://"):]
		if path == "" {
			return nil, fmt.Errorf("open %s: empty sqlite path", red)
		}
		if dir := filepath.Dir(path); dir != "." && path != ":memory:" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("open %s: create directory: %w", red, err)
			}
		}
		// WAL lets readers run beside the single writer; busy_timeout makes concurrent
		// writers wait instead of failing; _txlock=immediate takes the write lock at BEGIN so
		// two transactions cannot deadlock upgrading their read locks.
		q := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		sdb, err := sql.Open("sqlite", path+q)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", red, err)
		}
		db.dialect = SQLite
		db.sql = sdb
		if path == ":memory:" {
			// Every connection would get its own empty in-memory database.
			sdb.SetMaxOpenConns(1)
		}
	default:
		return nil, fmt.Errorf("open %s: unknown DSN scheme %q (want postgres, mysql or sqlite)", red, scheme)
	}
	db.sql.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.sql.PingContext(ctx); err != nil {
		_ = db.sql.Close()
		return nil, fmt.Errorf("open %s: %w", red, err)
	}
	return db, nil
}

// mysqlConfig turns mysql://user:pass@host:port/db?params into a driver config. The query
// parameters go through the driver's own parser (so tls=, timeout=, … work as documented
// there); the user, password and database come from the URL, so special characters in the
// password need only URL escaping.
func mysqlConfig(dsn string) (*mysql.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("invalid mysql DSN")
	}
	host := u.Host
	if host == "" {
		host = "127.0.0.1:3306"
	} else if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "3306")
	}
	q := u.Query()
	if q.Get("charset") == "" {
		q.Set("charset", "utf8mb4")
	}
	if q.Get("parseTime") == "" {
		q.Set("parseTime", "true")
	}
	if q.Get("interpolateParams") == "" {
		// Client-side binding saves the prepare and close round trips of every query
		// (Get went from 6 to 2); the driver does it safely for utf8mb4.
		q.Set("interpolateParams", "true")
	}
	cfg, err := mysql.ParseDSN("tcp(" + host + ")/?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("invalid mysql DSN parameters: %w", err)
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.Loc = time.UTC
	return cfg, nil
}

// RedactDSN returns dsn with its password replaced by "xxxxx", for messages and logs.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		// Unparseable: show only the scheme, in case the rest holds a password.
		scheme, _, _ := strings.Cut(dsn, "://")
		return scheme + "://…"
	}
	return u.Redacted()
}

// Close releases this reference to the pool; the last one closes it.
func (db *DB) Close() error {
	registry.Lock()
	defer registry.Unlock()
	db.refs--
	if db.refs > 0 {
		return nil
	}
	if registry.pools[db.key] == db {
		delete(registry.pools, db.key)
	}
	return db.sql.Close()
}

// SQL is the underlying pool.
func (db *DB) SQL() *sql.DB { return db.sql }

// Dialect is the pool's SQL flavour.
func (db *DB) Dialect() Dialect { return db.dialect }

// String is the redacted DSN.
func (db *DB) String() string { return db.redacted }

// Ping checks the database is reachable.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", db.redacted, err)
	}
	return nil
}

// identRE is what a configured table or column name must look like. Names are still quoted
// when used; the check keeps configuration from ever reaching SQL as anything but a name.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// ValidIdent reports whether s is a plain SQL identifier gatehouse accepts from configuration.
func ValidIdent(s string) bool { return identRE.MatchString(s) }

func checkIdent(what, s string) error {
	if !ValidIdent(s) {
		return fmt.Errorf("%s %q is not a plain identifier (letters, digits, _; at most 64): %w", what, s, directory.ErrInvalid)
	}
	return nil
}

// Quote quotes an identifier for the dialect. Callers validate it with ValidIdent first.
func (db *DB) Quote(ident string) string {
	if db.dialect == MySQL {
		return "`" + ident + "`"
	}
	return `"` + ident + `"`
}

// Rebind rewrites ? placeholders to $1, $2, … for PostgreSQL. Queries in this package never
// carry a literal ? (values are always bound), so a plain scan is enough.
func (db *DB) Rebind(q string) string {
	if db.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// likeEscape is the LIKE escape character. Not a backslash: MySQL treats a backslash in a
// string literal as an escape itself (unless NO_BACKSLASH_ESCAPES), PostgreSQL does not, so
// one literal could not serve both.
const likeEscape = '!'

// likeEscapeSQL is the ESCAPE clause matching likeEscape.
const likeEscapeSQL = " ESCAPE '!'"

// EscapeLike escapes %, _ and the escape character so s matches literally in a LIKE pattern.
func EscapeLike(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '%' || r == '_' || r == likeEscape {
			b.WriteRune(likeEscape)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// eqExpr is the condition "col equals the bound value": case-insensitive via LOWER on both
// sides (OTRS: LOWER(col)=LOWER(?)) or exact. MariaDB's default collations (utf8mb4_*_ci)
// compare case-insensitively even without LOWER, so the exact form adds a BINARY comparison;
// the plain "col = ?" before it keeps the unique index usable. Consumes one bound value
// (two on MySQL exact: the caller passes it twice via eqArgs).
func (db *DB) eqExpr(col string, caseSensitive bool) string {
	switch {
	case !caseSensitive:
		return "LOWER(" + col + ") = LOWER(?)"
	case db.dialect == MySQL:
		return "(" + col + " = ? AND " + col + " = BINARY ?)"
	default:
		return col + " = ?"
	}
}

// exact is the condition "col equals v byte for byte", with its bound values. The user_id
// columns of customer_user_customer, customer_preferences and group_customer_user hold a
// login exactly as OTRS wrote it; on MariaDB's *_ci collations a plain "=" would also match
// another user's case variant.
func (db *DB) exact(col string, v string) (string, []any) {
	return db.eqExpr(col, true), db.eqArgs(v, true)
}

// eqArgs are the bound values for eqExpr.
func (db *DB) eqArgs(v string, caseSensitive bool) []any {
	if caseSensitive && db.dialect == MySQL {
		return []any{v, v}
	}
	return []any{v}
}

// timeValue is t in the form the driver stores in a DATE column (timestamp(0)/DATETIME):
// UTC, whole seconds. SQLite has no time type; the text "YYYY-MM-DD HH:MM:SS" is what OTRS
// and SQLite's own date functions use.
func (db *DB) timeValue(t time.Time) any {
	t = t.UTC().Truncate(time.Second)
	if db.dialect == SQLite {
		return t.Format(time.DateTime)
	}
	return t
}

// classify wraps driver errors for duplicate keys as directory.ErrExists and for missing
// NOT NULL values as directory.ErrInvalid, so callers can test with errors.Is.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505":
			return fmt.Errorf("%w: %w", directory.ErrExists, err)
		case "23502", "23503", "22001":
			return fmt.Errorf("%w: %w", directory.ErrInvalid, err)
		}
		return err
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case 1062:
			return fmt.Errorf("%w: %w", directory.ErrExists, err)
		case 1048, 1364, 1406, 1452:
			return fmt.Errorf("%w: %w", directory.ErrInvalid, err)
		}
		return err
	}
	var sq *sqlite.Error
	if errors.As(err, &sq) {
		switch sq.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", directory.ErrExists, err)
		case sqlite3.SQLITE_CONSTRAINT_NOTNULL, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %w", directory.ErrInvalid, err)
		}
	}
	return err
}

// tableExists reports whether table exists in the connection's current schema/database.
func (db *DB) tableExists(ctx context.Context, table string) (bool, error) {
	var q string
	switch db.dialect {
	case Postgres:
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
	case MySQL:
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	default:
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, q, table).Scan(&n); err != nil {
		return false, fmt.Errorf("check table %s: %w", table, err)
	}
	return n > 0, nil
}

// columns lists table's columns in their real spelling; empty if the table does not exist.
func (db *DB) columns(ctx context.Context, table string) ([]string, error) {
	var q string
	switch db.dialect {
	case Postgres:
		q = "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
	case MySQL:
		q = "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position"
	default:
		q = "SELECT name FROM pragma_table_info(?) ORDER BY cid"
	}
	rows, err := db.sql.QueryContext(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", table, err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	return cols, nil
}

// colSet maps lower-cased column names to their real spelling: MySQL and SQLite match
// column names case-insensitively, and PostgreSQL folds unquoted names to lower case, so a
// configured "Login" should find the column login.
type colSet map[string]string

func newColSet(cols []string) colSet {
	s := colSet{}
	for _, c := range cols {
		s[strings.ToLower(c)] = c
	}
	return s
}

func (s colSet) get(name string) (string, bool) {
	c, ok := s[strings.ToLower(name)]
	return c, ok
}

// auditID is the value for create_by/change_by. OTRS stores an agent id (INTEGER) there;
// gatehouse's callers pass who acted as a string, so a numeric value is kept and anything
// else becomes 1, the id of the OTRS admin agent root@localhost.
func auditID(by string) int64 {
	if n, err := strconv.ParseInt(strings.TrimSpace(by), 10, 64); err == nil && n > 0 {
		return n
	}
	return 1
}

// text renders a scanned column value the way OTRS hands it out: NULL as "", times as
// "YYYY-MM-DD HH:MM:SS".
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		return x.Format(time.DateTime)
	}
	return fmt.Sprint(v)
}

// timeOf parses a scanned DATE column; zero if NULL or unparseable.
func timeOf(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x
	case string, []byte:
		s := text(x)
		for _, layout := range []string{time.DateTime, time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}
