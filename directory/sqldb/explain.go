package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// ExplainGet returns the database's plan for the query Get runs to find login: EXPLAIN on
// PostgreSQL and MariaDB/MySQL, EXPLAIN QUERY PLAN on SQLite, one line per plan row. It is a
// diagnostic (is the login lookup using an index?) and what the directory benchmark records.
// PostgreSQL plans it for these values; a prepared statement that switched to a generic plan
// may run differently.
func (s *Source) ExplainGet(ctx context.Context, login string) ([]string, error) {
	q, args := s.getSQL(login)
	plan, err := s.db.explain(ctx, q, args)
	if err != nil {
		return nil, fmt.Errorf("customer_user explain get %q: %w", login, err)
	}
	return plan, nil
}

// ExplainSearch returns the database's plan for the query Search runs for q (see
// ExplainGet); nil when q matches nothing without asking the database.
func (s *Source) ExplainSearch(ctx context.Context, q directory.Query) ([]string, error) {
	query, args, ok := s.searchSQL(ctx, q)
	if !ok {
		return nil, nil
	}
	plan, err := s.db.explain(ctx, s.db.Rebind(query), args)
	if err != nil {
		return nil, fmt.Errorf("customer_user explain search in %q: %w", s.cfg.Name, err)
	}
	return plan, nil
}

// explain runs the dialect's EXPLAIN for query and flattens its answer into lines: the plan
// text on PostgreSQL, "column=value" pairs per table row on MariaDB, the detail column on
// SQLite.
func (db *DB) explain(ctx context.Context, query string, args []any) ([]string, error) {
	prefix := "EXPLAIN "
	if db.dialect == SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	if db.dialect == Postgres {
		// As the searches run: planned with these values, never a cached generic plan.
		args = append([]any{pgSearchMode}, args...)
	}
	rows, err := db.sql.QueryContext(ctx, prefix+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		switch db.dialect {
		case Postgres:
			out = append(out, vals[0].String)
		case SQLite:
			out = append(out, vals[len(vals)-1].String)
		default:
			var parts []string
			for i, c := range cols {
				if vals[i].Valid && vals[i].String != "" {
					parts = append(parts, c+"="+vals[i].String)
				}
			}
			out = append(out, strings.Join(parts, " "))
		}
	}
	return out, rows.Err()
}
