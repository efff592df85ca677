package sqldb

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// The indexes of `gatehouse migrate --indexes`. The OTRS schema indexes customer_user only
// by id and login, and OTRS's queries compare LOWER(column): at a million customer users a
// login lookup or a search reads the whole table. These indexes make them index lookups
// without changing a single result (see plan.go and fold.go for the query side):
//
//	PostgreSQL  btree on LOWER(login), LOWER(email), LOWER(customer_id) (and on
//	            customer_company's LOWER(customer_id)); GIN pg_trgm indexes on LOWER(col) of
//	            every search field, for LIKE '%term%'.
//	MariaDB     no functional indexes: where the column's collation already ignores case
//	            (fold.go) the queries compare without LOWER(), and plain indexes on email and
//	            customer_id serve them (login has OTRS's unique index); a covering index on
//	            the login, the search fields and the validity lets a search read that narrow
//	            index instead of the table.
//	SQLite      expression indexes on LOWER(login), LOWER(email), LOWER(customer_id); a
//	            leading-wildcard search still reads the table.
//
// They change a schema OTRS shares, so only `migrate --indexes` creates them (never plain
// migrate, never serve); their names start with IndexPrefix, and `migrate --drop-indexes`
// removes them again.

// IndexPrefix starts the name of every index gatehouse adds to the OTRS tables (migrate
// --indexes), so they can be told from OTRS's own and removed again.
const IndexPrefix = "gatehouse_"

// maxIdent is the longest name PostgreSQL keeps (MariaDB allows 64).
const maxIdent = 63

// Index is one index that CreateIndexes manages.
type Index struct {
	// Name starts with IndexPrefix.
	Name string
	// Table is the indexed table.
	Table string
	// Def is what is indexed, as SQL: "LOWER(login)", "gin (LOWER(login) gin_trgm_ops)".
	Def string
	// For says which lookups it serves.
	For string

	create string // the statement that creates it
}

// String is "name on table (def)".
func (ix Index) String() string { return ix.Name + " on " + ix.Table + " " + ix.Def }

// IndexReport is what CreateIndexes did, or PlanIndexes would do.
type IndexReport struct {
	// Created lists the indexes created now.
	Created []Index
	// Existing lists the indexes that were already there (and left alone).
	Existing []Index
	// Planned lists what PlanIndexes would create (empty after CreateIndexes).
	Planned []Index
	// Notes say what cannot be indexed, and why; each is a full sentence.
	Notes []string
}

// indexName is gatehouse_<table>_<col>[_<kind>], shortened with a hash of the full name
// when longer than maxIdent.
func indexName(table, col, kind string) string {
	n := IndexPrefix + table + "_" + col
	if kind != "" {
		n += "_" + kind
	}
	if len(n) <= maxIdent {
		return n
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(n))
	return fmt.Sprintf("%s_%08x", n[:maxIdent-9], h.Sum32())
}

// PlanIndexes works out the indexes the source's lookups and searches need on its database
// (see the top of this file) and which exist; it changes nothing. Report.Planned holds the
// missing ones.
func (s *Source) PlanIndexes(ctx context.Context) (IndexReport, error) {
	rep, _, err := s.planIndexes(ctx)
	if err != nil {
		return rep, fmt.Errorf("plan indexes for %q on %s: %w", s.cfg.Name, s.db, err)
	}
	return rep, nil
}

// CreateIndexes creates the missing indexes of PlanIndexes and refreshes the table
// statistics (ANALYZE), so the planner knows the new indexes' selectivity. It is idempotent:
// existing indexes are left alone. On PostgreSQL it creates the pg_trgm extension if it is
// missing (CREATE EXTENSION IF NOT EXISTS); when that is not permitted it says so in a note
// and creates the other indexes. PostgreSQL indexes are built CONCURRENTLY and MariaDB's
// online (LOCK=NONE), so OTRS keeps writing meanwhile; an interrupted concurrent build leaves
// an invalid index, which the next run drops and builds again.
func (s *Source) CreateIndexes(ctx context.Context) (IndexReport, error) {
	rep, err := s.createIndexes(ctx)
	if err != nil {
		return rep, fmt.Errorf("create indexes for %q on %s: %w", s.cfg.Name, s.db, err)
	}
	return rep, nil
}

func (s *Source) createIndexes(ctx context.Context) (IndexReport, error) {
	rep, trgm, err := s.planIndexes(ctx)
	if err != nil {
		return rep, err
	}
	if len(trgm) > 0 {
		schema, note, err := s.db.ensureTrigram(ctx)
		if err != nil {
			return rep, err
		}
		if note != "" {
			rep.Notes = append(rep.Notes, note)
			rep.Planned = slices.DeleteFunc(rep.Planned, func(ix Index) bool { return trgm[ix.Name] })
		} else {
			for i, ix := range rep.Planned {
				if trgm[ix.Name] {
					rep.Planned[i].create = strings.ReplaceAll(ix.create, "gin_trgm_ops", schema+".gin_trgm_ops")
				}
			}
		}
	}
	touched := map[string]bool{}
	for _, ix := range rep.Planned {
		if s.db.dialect == Postgres {
			// A concurrent build that was interrupted leaves an invalid index of this name.
			if _, err := s.db.sql.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+s.q(ix.Name)); err != nil {
				return rep, fmt.Errorf("drop invalid index %s: %w", ix.Name, err)
			}
		}
		if _, err := s.db.sql.ExecContext(ctx, ix.create); err != nil {
			var my *mysql.MySQLError
			if errors.As(err, &my) && my.Number == 1071 {
				// "Specified key was too long": the covering index exceeds InnoDB's key size.
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s was not created: %v; searches read the table.", ix, err))
				continue
			}
			return rep, fmt.Errorf("create index %s: %w", ix.Name, err)
		}
		rep.Created = append(rep.Created, ix)
		touched[ix.Table] = true
	}
	rep.Planned = nil
	for _, t := range slices.Sorted(maps.Keys(touched)) {
		if err := s.db.analyze(ctx, t); err != nil {
			return rep, err
		}
	}
	// Searches pick up the new trigram indexes at once rather than after pgStatsTTL.
	s.pgStats.forget()
	return rep, nil
}

// planIndexes builds the report with Planned filled; trgm names the planned indexes that
// need pg_trgm.
func (s *Source) planIndexes(ctx context.Context) (IndexReport, map[string]bool, error) {
	var rep IndexReport
	trgm := map[string]bool{}
	ours, err := s.db.indexNames(ctx, s.tableName)
	if err != nil {
		return rep, nil, err
	}
	firsts, err := s.db.leadingColumns(ctx, s.tableName)
	if err != nil {
		return rep, nil, err
	}
	planned := map[string]bool{}
	add := func(ix Index) {
		if planned[ix.Name] {
			return // the same index serves two lookups (MariaDB: email, ignoring case and not)
		}
		planned[ix.Name] = true
		if ours[ix.Name] {
			rep.Existing = append(rep.Existing, ix)
		} else {
			rep.Planned = append(rep.Planned, ix)
		}
	}
	// Equality lookups: the login (Get, CustomerIDs, writes), the emails (postmaster search,
	// the uniqueness check), the customer id (a customer's users).
	type lookup struct {
		col, why string
		ci       bool // compared ignoring case
	}
	var lookups []lookup
	seen := map[string]bool{}
	addLookup := func(col, why string, ci bool) {
		k := col + fmt.Sprint(ci)
		if col == "" || seen[k] {
			return
		}
		seen[k] = true
		lookups = append(lookups, lookup{col, why, ci})
	}
	addLookup(s.key, "login lookup", !s.cfg.Params.CaseSensitive)
	searchCI := !s.cfg.Params.SearchCaseSensitive
	for _, c := range s.postmtr {
		addLookup(c, "postmaster search", searchCI)
	}
	for _, f := range s.fields {
		if f.v == "UserEmail" {
			addLookup(f.col, "email uniqueness check", true)
		}
	}
	addLookup(s.custID, "customer id search", searchCI)

	for _, l := range lookups {
		switch {
		case l.ci && s.db.dialect != MySQL:
			add(s.indexOn(s.tableName, l.col, "lower", "LOWER("+s.q(l.col)+")", l.why+", ignoring case"))
		case l.ci && !s.folded[l.col]:
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s.%s: its collation does not ignore case the way LOWER() does, "+
				"so the %s keeps LOWER() and cannot use an index (MariaDB has no functional indexes); "+
				"a *_ci collation such as utf8mb4_unicode_ci would let it.", s.tableName, l.col, l.why))
		case firsts[l.col] != "" && !strings.HasPrefix(firsts[l.col], IndexPrefix):
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s.%s: the %s uses the existing index %s.", s.tableName, l.col, l.why, firsts[l.col]))
		default:
			add(s.indexOn(s.tableName, l.col, "", s.q(l.col), l.why))
		}
	}

	// Searches: LIKE '%term%' over the search fields and the login.
	switch s.db.dialect {
	case Postgres:
		kind := s.trigramKind()
		for _, c := range s.trigramCols() {
			expr := s.q(c)
			if searchCI {
				expr = "LOWER(" + expr + ")"
			}
			ix := s.indexOn(s.tableName, c, kind, "gin ("+expr+" gin_trgm_ops)", "search (LIKE '%term%')")
			ix.create = "CREATE INDEX CONCURRENTLY IF NOT EXISTS " + s.q(ix.Name) + " ON " + s.table + " USING " + ix.Def
			if !ours[ix.Name] {
				trgm[ix.Name] = true
			}
			add(ix)
		}
	case MySQL:
		if s.pk == "" {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s has no single-column primary key, so searches cannot read a "+
				"covering index first; they read the table.", s.tableName))
			break
		}
		cols := []string{s.key}
		for _, c := range append(append([]string(nil), s.search...), s.valid) {
			if c != "" && !slices.Contains(cols, c) {
				cols = append(cols, c)
			}
		}
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = s.q(c)
		}
		add(s.indexOn(s.tableName, "search", "", strings.Join(quoted, ", "),
			"search: read in login order from this index alone, no table rows"))
		rep.Notes = append(rep.Notes, "MariaDB has no index for LIKE '%term%': a search that finds few or no matches "+
			"still reads the whole covering index (but not the table).")
	default:
		rep.Notes = append(rep.Notes, "SQLite has no index for LIKE '%term%': searches read the table.")
	}

	// The company merge of Get (customer_company_support) and the admin's company lookups.
	if len(s.company) > 0 && s.db.dialect != MySQL {
		cours, err := s.db.indexNames(ctx, tableCompany)
		if err != nil {
			return rep, nil, err
		}
		ix := s.indexOn(tableCompany, "customer_id", "lower", "LOWER("+s.q("customer_id")+")", "company lookup, ignoring case")
		if cours[ix.Name] {
			rep.Existing = append(rep.Existing, ix)
		} else {
			rep.Planned = append(rep.Planned, ix)
		}
	} else if len(s.company) > 0 && !s.companyFolded {
		rep.Notes = append(rep.Notes, tableCompany+".customer_id: its collation does not ignore case the way LOWER() does, "+
			"so the company lookup reads the table (it is small).")
	}
	return rep, trgm, nil
}

// indexOn describes the index kind on table over def (a column list or expression in
// parentheses, or "gin (…)" for PostgreSQL).
func (s *Source) indexOn(table, col, kind, def, why string) Index {
	ix := Index{Name: indexName(table, col, kind), Table: table, Def: "(" + def + ")", For: why}
	qt := s.db.Quote(table)
	switch s.db.dialect {
	case Postgres:
		ix.create = "CREATE INDEX CONCURRENTLY IF NOT EXISTS " + s.q(ix.Name) + " ON " + qt + " " + ix.Def
	case MySQL:
		// Online: OTRS keeps reading and writing the table while the index is built.
		ix.create = "ALTER TABLE " + qt + " ADD INDEX " + s.q(ix.Name) + " " + ix.Def + ", ALGORITHM=INPLACE, LOCK=NONE"
	default:
		ix.create = "CREATE INDEX IF NOT EXISTS " + s.q(ix.Name) + " ON " + qt + " " + ix.Def
	}
	if strings.HasPrefix(def, "gin ") {
		ix.Def = def
	}
	return ix
}

// ensureTrigram makes sure pg_trgm is installed and returns the schema of its operator
// class; when it cannot be installed, note says so (and why) instead.
func (db *DB) ensureTrigram(ctx context.Context) (schema, note string, err error) {
	if _, err := db.sql.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm"); err != nil {
		var pg *pgconn.PgError
		if !errors.As(err, &pg) {
			return "", "", fmt.Errorf("create extension pg_trgm: %w", err)
		}
		return "", fmt.Sprintf("the pg_trgm extension could not be created (%s), so the trigram indexes for "+
			"searches were skipped and searches read the table; a database owner can run "+
			"CREATE EXTENSION pg_trgm and then migrate --indexes again.", pg.Message), nil
	}
	err = db.sql.QueryRowContext(ctx, "SELECT n.nspname FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace "+
		"JOIN pg_am a ON a.oid = c.opcmethod WHERE c.opcname = 'gin_trgm_ops' AND a.amname = 'gin' LIMIT 1").Scan(&schema)
	if err != nil {
		return "", "", fmt.Errorf("find pg_trgm's operator class: %w", err)
	}
	// Qualified, so the indexes work whatever schema the extension lives in.
	return db.Quote(schema), "", nil
}

// analyze refreshes table's statistics; on PostgreSQL this also gathers the statistics of
// the index expressions, which the planner needs to estimate LOWER(col) LIKE '%x%'.
func (db *DB) analyze(ctx context.Context, table string) error {
	q := "ANALYZE " + db.Quote(table)
	if db.dialect == MySQL {
		q = "ANALYZE TABLE " + db.Quote(table)
	}
	// MariaDB answers ANALYZE TABLE with a result set.
	rows, err := db.sql.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("analyze %s: %w", table, err)
	}
	for rows.Next() {
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("analyze %s: %w", table, err)
	}
	return nil
}

// indexNames lists the valid indexes of table named IndexPrefix….
func (db *DB) indexNames(ctx context.Context, table string) (map[string]bool, error) {
	var q string
	switch db.dialect {
	case Postgres:
		q = "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid " +
			"JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() AND t.relname = $1 AND i.indisvalid " +
			"AND c.relname LIKE 'gatehouse!_%' ESCAPE '!'"
	case MySQL:
		q = "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? " +
			"AND index_name LIKE 'gatehouse!_%' ESCAPE '!'"
	default:
		q = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name LIKE 'gatehouse!_%' ESCAPE '!'"
	}
	names, err := db.strings(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", table, err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

// leadingColumns maps each column of table that leads a valid index (as its first, plain
// column) to one such index's name.
func (db *DB) leadingColumns(ctx context.Context, table string) (map[string]string, error) {
	var q string
	switch db.dialect {
	case Postgres:
		q = "SELECT a.attname || ' ' || c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid " +
			"JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace " +
			"JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] " +
			"WHERE n.nspname = current_schema() AND t.relname = $1 AND i.indisvalid ORDER BY c.relname"
	case MySQL:
		q = "SELECT CONCAT(column_name, ' ', index_name) FROM information_schema.statistics " +
			"WHERE table_schema = DATABASE() AND table_name = ? AND seq_in_index = 1 ORDER BY index_name"
	default:
		q = "SELECT ii.name || ' ' || il.name FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii " +
			"WHERE ii.seqno = 0 AND ii.name IS NOT NULL ORDER BY il.name"
	}
	pairs, err := db.strings(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", table, err)
	}
	out := map[string]string{}
	for _, p := range pairs {
		col, idx, _ := strings.Cut(p, " ")
		// Prefer an index of OTRS's own: ours may be dropped again.
		if cur, ok := out[col]; !ok || strings.HasPrefix(cur, IndexPrefix) {
			out[col] = idx
		}
	}
	return out, nil
}

// strings runs a query answering one text column.
func (db *DB) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// DropIndexes removes every index named IndexPrefix… from the source's table and from
// customer_company, returning their names; the pg_trgm extension stays (other software may
// use it). It undoes CreateIndexes.
func (s *Source) DropIndexes(ctx context.Context) ([]string, error) {
	var dropped []string
	for _, table := range []string{s.tableName, tableCompany} {
		names, err := s.db.indexNames(ctx, table)
		if err != nil {
			return dropped, fmt.Errorf("drop indexes for %q on %s: %w", s.cfg.Name, s.db, err)
		}
		for _, n := range slices.Sorted(maps.Keys(names)) {
			var q string
			switch s.db.dialect {
			case Postgres:
				q = "DROP INDEX CONCURRENTLY IF EXISTS " + s.q(n)
			case MySQL:
				q = "ALTER TABLE " + s.q(table) + " DROP INDEX " + s.q(n)
			default:
				q = "DROP INDEX IF EXISTS " + s.q(n)
			}
			if _, err := s.db.sql.ExecContext(ctx, q); err != nil {
				return dropped, fmt.Errorf("drop indexes for %q on %s: drop %s: %w", s.cfg.Name, s.db, n, err)
			}
			dropped = append(dropped, n)
		}
	}
	s.pgStats.forget()
	return dropped, nil
}

// GatehouseIndexes lists the indexes named IndexPrefix… in db's current schema, sorted.
func GatehouseIndexes(ctx context.Context, db *DB) ([]string, error) {
	var q string
	switch db.dialect {
	case Postgres:
		q = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE 'gatehouse!_%' ESCAPE '!'"
	case MySQL:
		q = "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name LIKE 'gatehouse!_%' ESCAPE '!'"
	default:
		q = "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'gatehouse!_%' ESCAPE '!'"
	}
	out, err := db.strings(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list gatehouse indexes in %s: %w", db, err)
	}
	slices.Sort(out)
	return out, nil
}

// singlePrimaryKey is the column of table's primary key on MariaDB/MySQL when it has exactly
// one (OTRS's id), else "". Other dialects do not need it (plan.go).
func (db *DB) singlePrimaryKey(ctx context.Context, table string) (string, error) {
	if db.dialect != MySQL {
		return "", nil
	}
	cols, err := db.strings(ctx, "SELECT column_name FROM information_schema.key_column_usage "+
		"WHERE table_schema = DATABASE() AND table_name = ? AND constraint_name = 'PRIMARY'", table)
	if err != nil {
		return "", fmt.Errorf("read primary key of %s: %w", table, err)
	}
	if len(cols) != 1 {
		return "", nil
	}
	return cols[0], nil
}
