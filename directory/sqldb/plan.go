package sqldb

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// How a search query is shaped for the database, so that the indexes of `gatehouse migrate
// --indexes` (indexes.go) can serve it without changing which rows come back: the rows
// matching the conditions, ordered by the customer key, limit and offset applied.
//
// A search has ORDER BY key LIMIT n, so a database can either walk the key's index in order
// and stop after n matches, or collect every match and sort. With leading-wildcard
// conditions both are expensive in their own way, and the databases misjudge them:
//
//   - MariaDB has no index for LIKE '%x%'; the walk reads whole rows in key order (random
//     reads once the table outgrows the buffer pool). The search is therefore a "deferred
//     join": the inner query finds the primary keys, in key order, from the covering index
//     gatehouse_<table>_search (the key, the search fields and the validity), reading only
//     that narrow index and stopping at n matches; the outer query fetches those n rows.
//   - PostgreSQL with pg_trgm can collect the matches from the trigram indexes (a bitmap
//     scan), but it prices the in-order walk far too low: every walked row pays LOWER() on
//     each search column, which it counts as almost free. For a term of about one customer
//     user in a hundred ("smith") it walks 27 000 rows (130 ms here) instead of collecting
//     8 700 (30 ms). So when the trigram indexes exist, gatehouse asks the planner how many
//     rows match and, when collecting is cheaper by the measured per-row costs, wraps the
//     filter in a subquery the planner cannot flatten (OFFSET 0), which makes it collect
//     first and sort after. Common terms ("son", 64 000 matches) keep the walk.
//
// Search queries on PostgreSQL also run as unnamed statements (planned with their values),
// never as cached prepared statements: a generic plan cannot see the pattern and walked
// the whole table for rare terms (seconds, measured).

// pgSearchMode is how searches run on PostgreSQL: described once, then planned per
// execution with the actual values (see above).
const pgSearchMode = pgx.QueryExecModeCacheDescribe

// Measured per-row costs (bench/directory, 1 000 000 customer users, four search fields):
// walking the key index in order costs about 4.5 µs per row walked (heap fetch and LOWER()
// on the fields of every row), collecting through the trigram bitmap about 3.5 µs per
// match (heap fetch and recheck). Only their ratio matters.
const walkPerBitmapRow = 4.5 / 3.5

// orOverlap is how many times the planner overestimates the matches of a term searched in
// several fields. It adds up the fields' matches as if they were different customer users,
// but a surname is usually also in the login and the email: "smith" is estimated at 17 700
// and matches 8 730. The walk is then underestimated by as much, so both sides are corrected.
const orOverlap = 2.0

// pgStatsTTL is how long the trigram-index check and the table-size estimate are reused: a
// `migrate --indexes` run while gatehouse serves takes effect within it.
const pgStatsTTL = time.Minute

// pgStats is what the search shape needs to know about a PostgreSQL table.
type pgStats struct {
	mu      sync.Mutex
	checked time.Time
	trigram map[string]bool // search columns with a valid gatehouse trigram index
	rows    float64         // the planner's estimate of the table's rows
}

// forget makes the next search check again.
func (st *pgStats) forget() {
	st.mu.Lock()
	st.checked = time.Time{}
	st.mu.Unlock()
}

// pgTrigram returns the search columns that have a gatehouse trigram index and the table's
// estimated size, refreshed every pgStatsTTL. Errors leave the answer empty: the plain
// query shape is always correct.
func (s *Source) pgTrigram(ctx context.Context) (map[string]bool, float64) {
	st := &s.pgStats
	st.mu.Lock()
	defer st.mu.Unlock()
	if time.Since(st.checked) < pgStatsTTL {
		return st.trigram, st.rows
	}
	st.checked = time.Now()
	st.trigram, st.rows = map[string]bool{}, 0
	names := map[string]string{}
	var list []string
	for _, c := range s.trigramCols() {
		n := indexName(s.tableName, c, s.trigramKind())
		names[n] = c
		list = append(list, n)
	}
	rows, err := s.db.sql.QueryContext(ctx, "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "+
		"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND i.indisvalid AND c.relname = ANY($1)", list)
	if err != nil {
		return st.trigram, 0
	}
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			st.trigram[names[n]] = true
		}
	}
	rows.Close()
	if len(st.trigram) > 0 {
		st.rows = s.pgEstimate(ctx, "SELECT 1 FROM "+s.table, nil)
	}
	return st.trigram, st.rows
}

// trigramKind is the name suffix of the trigram indexes the searches can use: over
// LOWER(col) for the default case-insensitive search, over col with search_case_sensitive.
func (s *Source) trigramKind() string {
	if s.cfg.Params.SearchCaseSensitive {
		return "trgm"
	}
	return "lower_trgm"
}

// trigramCols are the columns LIKE conditions of a search touch: the search fields and the
// key (UserLogin).
func (s *Source) trigramCols() []string {
	cols := append([]string(nil), s.search...)
	for _, c := range cols {
		if c == s.key {
			return cols
		}
	}
	return append(cols, s.key)
}

// pgEstimate is the planner's row estimate for query (EXPLAIN, planned with args); 0 if it
// cannot be had.
func (s *Source) pgEstimate(ctx context.Context, query string, args []any) float64 {
	var raw []byte
	a := append([]any{pgSearchMode}, args...)
	if err := s.db.sql.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+query, a...).Scan(&raw); err != nil {
		return 0
	}
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plan); err != nil || len(plan) == 0 {
		return 0
	}
	return plan[0].Plan.Rows
}

// trigramFriendly reports whether a search tree can be answered from trigram indexes: every
// word it needs (all kids of an OR, one kid of an AND) is a positive match, over columns
// that all have a trigram index, with a literal run of at least three characters (pg_trgm
// finds nothing shorter).
func (s *Source) trigramFriendly(n *node, indexed map[string]bool) bool {
	if n == nil {
		return false
	}
	switch n.op {
	case "AND":
		for _, k := range n.kids {
			if s.trigramFriendly(k, indexed) {
				return true
			}
		}
		return false
	case "OR":
		for _, k := range n.kids {
			if !s.trigramFriendly(k, indexed) {
				return false
			}
		}
		return true
	}
	if n.not {
		return false
	}
	for _, c := range s.search {
		if !indexed[c] {
			return false
		}
	}
	return hasTrigram(newPattern(s.cfg.CustomerUserSearchPrefix + n.word + s.cfg.CustomerUserSearchSuffix))
}

// hasTrigram reports whether a literal segment of p has three or more characters.
func hasTrigram(p pattern) bool {
	for _, seg := range p.segs {
		if len([]rune(seg)) >= 3 {
			return true
		}
	}
	return false
}

// collectFirst decides, on PostgreSQL with trigram indexes, whether collecting the matches
// of where and sorting them beats walking the key index for want rows (see the top of the
// file): the walk reads about want × table / matches rows, collecting reads the matches.
func (s *Source) collectFirst(ctx context.Context, where string, args []any, want int, tableRows float64) bool {
	if tableRows <= 0 {
		return false
	}
	matches := math.Max(1, s.pgEstimate(ctx, "SELECT 1 FROM "+s.table+" WHERE "+where, args)/orOverlap)
	walked := math.Min(tableRows, float64(want)*tableRows/matches)
	return matches < walkPerBitmapRow*walked
}

// shapeSearch renders the search query for where (empty: no condition) with args, ordered by
// the key, limit and offset applied; friendly says the conditions could use trigram
// indexes (PostgreSQL, see trigramFriendly).
func (s *Source) shapeSearch(ctx context.Context, where string, args []any, limit, offset int, friendly func(map[string]bool) bool) string {
	tail := " ORDER BY " + s.q(s.key) + " LIMIT " + strconv.Itoa(limit)
	if offset > 0 {
		tail += " OFFSET " + strconv.Itoa(offset)
	}
	if where == "" {
		return s.selectSQL + tail
	}
	switch s.db.dialect {
	case MySQL:
		if s.pk != "" {
			pk := s.q(s.pk)
			return s.selectC + " JOIN (SELECT " + pk + " FROM " + s.table + " WHERE " + where + tail +
				") AS k ON c." + pk + " = k." + pk + " ORDER BY c." + s.q(s.key)
		}
	case Postgres:
		if indexed, rows := s.pgTrigram(ctx); len(indexed) > 0 && friendly(indexed) &&
			s.collectFirst(ctx, s.db.Rebind(where), args, limit+offset, rows) {
			return "SELECT * FROM (" + s.selectSQL + " WHERE " + where + " OFFSET 0) AS m" + tail
		}
	}
	return s.selectSQL + " WHERE " + where + tail
}
