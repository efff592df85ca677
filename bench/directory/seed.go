package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
)

// seedVersion changes whenever the generated data would change; a database seeded by another
// version (or at another size) is seeded again rather than reused.
const seedVersion = 4

// metaTable records what a bench database holds. It lives only in the dedicated bench
// databases, never in an OTRS one.
const metaTable = "gatehouse_bench_meta"

// dialectSQL holds the few expressions that differ between PostgreSQL and MariaDB; the rest
// of the generating statement is shared, so both databases get the same rows.
type dialectSQL struct {
	series func(n int) string       // a row source with one BIGINT column seq = 1..n
	div    string                   // integer division
	text   func(expr string) string // a number as text
	pw     func(expr string) string // the OTRS sha2 password hash (hex SHA-256) of expr
	ts     func(expr string) string // 2015-01-01 plus expr seconds
}

var pgSQL = dialectSQL{
	series: func(n int) string { return fmt.Sprintf("generate_series(1::bigint, %d) AS q(seq)", n) },
	div:    "/",
	text:   func(e string) string { return "CAST(" + e + " AS TEXT)" },
	pw:     func(e string) string { return "encode(sha256(convert_to(" + e + ", 'UTF8')), 'hex')" },
	ts:     func(e string) string { return "TIMESTAMP '2015-01-01 00:00:00' + (" + e + ") * INTERVAL '1 second'" },
}

var mysqlSQL = dialectSQL{
	series: func(n int) string { return fmt.Sprintf("seq_1_to_%d AS q", n) },
	div:    "DIV",
	text:   func(e string) string { return "CAST(" + e + " AS CHAR)" },
	pw:     func(e string) string { return "SHA2(" + e + ", 256)" },
	ts:     func(e string) string { return "TIMESTAMP '2015-01-01 00:00:00' + INTERVAL (" + e + ") SECOND" },
}

// seedInfo is what a seeded database holds.
type seedInfo struct {
	Rows      int    `json:"rows"`
	Companies int    `json:"companies"`
	Rare      string `json:"rare"`
	Reused    bool   `json:"reused"`
}

// seed makes db hold exactly rows generated customer users (and companies customer
// companies): reused when the meta table says so, otherwise the OTRS tables are created
// (sqldb.Migrate, as gatehouse does) and filled.
func seed(ctx context.Context, db *sqldb.DB, rows, ncomp int, log *slog.Logger) (seedInfo, error) {
	_, rare := lastNames()
	info := seedInfo{Rows: rows, Companies: ncomp, Rare: rare}
	if ncomp < 1 || ncomp > maxCompanies {
		return info, fmt.Errorf("companies: want 1..%d, got %d", maxCompanies, ncomp)
	}
	var d dialectSQL
	switch db.Dialect() {
	case sqldb.Postgres:
		d = pgSQL
	case sqldb.MySQL:
		d = mysqlSQL
	default:
		return info, fmt.Errorf("seed: %s is not supported (PostgreSQL and MariaDB only)", db.Dialect())
	}
	if ok, err := seeded(ctx, db, rows, ncomp); err != nil {
		return info, err
	} else if ok {
		info.Reused = true
		log.Info("reusing seeded database", "db", db.String(), "rows", rows)
		return info, nil
	}
	start := time.Now()
	if _, err := sqldb.Migrate(ctx, db, sqldb.MigrateOptions{}); err != nil {
		return info, err
	}
	x := db.SQL()
	exec := func(what, q string, args ...any) error {
		t := time.Now()
		if _, err := x.ExecContext(ctx, db.Rebind(q), args...); err != nil {
			return fmt.Errorf("seed %s: %w", what, err)
		}
		log.Debug("seed step", "step", what, "took", time.Since(t).Round(time.Millisecond))
		return nil
	}
	// Start from empty OTRS tables and fresh staging tables.
	for _, t := range []string{metaTable, "gh_bench_first", "gh_bench_last", "gh_bench_company"} {
		if err := exec("drop "+t, "DROP TABLE IF EXISTS "+t); err != nil {
			return info, err
		}
	}
	for _, t := range []string{"customer_user_customer", "customer_preferences", "customer_user", "customer_company"} {
		if err := exec("empty "+t, "DELETE FROM "+t); err != nil {
			return info, err
		}
	}
	if db.Dialect() == sqldb.Postgres {
		// Fresh ids 1..rows, so a reseed looks like the first seed.
		if err := exec("reset ids", "ALTER SEQUENCE customer_user_id_seq RESTART WITH 1"); err != nil {
			return info, err
		}
	} else if err := exec("reset ids", "ALTER TABLE customer_user AUTO_INCREMENT = 1"); err != nil {
		return info, err
	}
	for _, t := range []string{"gh_bench_first", "gh_bench_last"} {
		if err := exec("create "+t, "CREATE TABLE "+t+" (slot INTEGER NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, ascii VARCHAR(100) NOT NULL)"); err != nil {
			return info, err
		}
	}
	if err := exec("create gh_bench_company", "CREATE TABLE gh_bench_company (k INTEGER NOT NULL PRIMARY KEY, customer_id VARCHAR(150) NOT NULL, domain VARCHAR(150) NOT NULL)"); err != nil {
		return info, err
	}
	last, _ := lastNames()
	firstSlots, err := fillSlots(ctx, db, "gh_bench_first", firstNames)
	if err != nil {
		return info, err
	}
	lastTotal, err := fillSlots(ctx, db, "gh_bench_last", last)
	if err != nil {
		return info, err
	}
	comps := companies(ncomp)
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := insertRows(ctx, db, "customer_company",
		[]string{"customer_id", "name", "street", "zip", "city", "country", "url", "comments", "valid_id", "create_time", "create_by", "change_time", "change_by"},
		len(comps), func(i int) []any {
			c := comps[i]
			return []any{c.id, c.name, c.street, c.zip, c.city, c.country, c.url, nil, c.valid, now, 1, now, 1}
		}); err != nil {
		return info, err
	}
	if err := insertRows(ctx, db, "gh_bench_company", []string{"k", "customer_id", "domain"}, len(comps), func(i int) []any {
		return []any{i, comps[i].id, comps[i].domain}
	}); err != nil {
		return info, err
	}

	// Per row, a few independent pseudo-random numbers from the row number (multiplicative
	// hashes modulo the prime 4294967291), the same in both databases: hl picks the surname,
	// hf the first name, hc1*hc2 the company (a product of two uniforms, so a few large
	// customers and many small ones), hx the remaining attributes.
	const p = "4294967291"
	h := func(a, b string) string { return "((seq * " + a + " + " + b + ") % " + p + ")" }
	div := " " + d.div + " "
	capital := func(col string) string { return "CONCAT(UPPER(SUBSTR(" + col + ", 1, 1)), SUBSTR(" + col + ", 2))" }
	cities := "CASE (hx" + div + "100000) % 8 WHEN 0 THEN 'Berlin' WHEN 1 THEN 'London' WHEN 2 THEN 'Amsterdam' WHEN 3 THEN 'Paris' " +
		"WHEN 4 THEN 'München' WHEN 5 THEN 'New York' WHEN 6 THEN 'Wien' ELSE 'Milano' END"
	countries := "CASE (hx" + div + "100000) % 8 WHEN 0 THEN 'Germany' WHEN 1 THEN 'United Kingdom' WHEN 2 THEN 'Netherlands' WHEN 3 THEN 'France' " +
		"WHEN 4 THEN 'Germany' WHEN 5 THEN 'United States' WHEN 6 THEN 'Austria' ELSE 'Italy' END"
	gen := `INSERT INTO customer_user (login, email, customer_id, pw, title, first_name, last_name, phone,
	street, zip, city, country, comments, valid_id, create_time, create_by, change_time, change_by)
SELECT
	CASE WHEN seq % 10 = 0 THEN CONCAT(` + capital("f.ascii") + `, '.', ` + capital("l.ascii") + `, ` + d.text("seq") + `)
		ELSE CONCAT(f.ascii, '.', l.ascii, ` + d.text("seq") + `) END,
	CONCAT(f.ascii, '.', l.ascii, '.', ` + d.text("seq") + `, '@', c.domain),
	c.customer_id,
	` + d.pw("CONCAT('pw', "+d.text("seq")+")") + `,
	CASE hx % 10 WHEN 0 THEN 'Mr.' WHEN 1 THEN 'Ms.' WHEN 2 THEN 'Dr.' ELSE NULL END,
	f.name, l.name,
	CASE WHEN (hx` + div + `10) % 10 < 7 THEN CONCAT('+49 30 ', LPAD(` + d.text("(hx"+div+"100) % 10000000") + `, 7, '0')) ELSE NULL END,
	CONCAT(CASE (hx` + div + `1000) % 4 WHEN 0 THEN 'Hauptstraße ' WHEN 1 THEN 'Main Street ' WHEN 2 THEN 'Kerkstraat ' ELSE 'Via Roma ' END,
		` + d.text("1 + (hx"+div+"10000) % 200") + `),
	LPAD(` + d.text("(hx"+div+"1000) % 100000") + `, 5, '0'),
	` + cities + `,
	` + countries + `,
	NULL,
	CASE WHEN (hx` + div + `10000000) % 100 < 95 THEN 1 WHEN (hx` + div + `10000000) % 100 < 99 THEN 2 ELSE 3 END,
	` + d.ts("seq * 250") + `, 1, ` + d.ts("seq * 250 + 86400") + `, 1
FROM (SELECT seq, ` + h("2654435761", "97") + ` AS hl, ` + h("2246822519", "12345") + ` AS hf,
		` + h("3266489917", "1") + ` AS hc1, ` + h("2870177451", "7") + ` AS hc2, ` + h("4093082899", "5") + ` AS hx
	FROM ` + d.series(rows) + `) AS s
JOIN gh_bench_last l ON l.slot = s.hl % ` + strconv.Itoa(lastTotal) + `
JOIN gh_bench_first f ON f.slot = s.hf % ` + strconv.Itoa(firstSlots) + `
JOIN gh_bench_company c ON c.k = ((s.hc1 % ` + strconv.Itoa(ncomp) + `) * (s.hc2 % ` + strconv.Itoa(ncomp) + `))` + div + strconv.Itoa(ncomp)
	log.Info("generating customer users", "db", db.String(), "rows", rows)
	if err := exec("customer_user", gen); err != nil {
		return info, err
	}
	var have int
	if err := x.QueryRowContext(ctx, "SELECT COUNT(*) FROM customer_user").Scan(&have); err != nil {
		return info, fmt.Errorf("seed: count customer_user: %w", err)
	}
	if have != rows {
		// Every row joins one name and one company slot; a miss means a slot table is short.
		return info, fmt.Errorf("seed: generated %d customer users, want %d", have, rows)
	}
	// Every 50th customer user also works for a second customer (customer_user_customer).
	if err := exec("customer_user_customer", `INSERT INTO customer_user_customer (user_id, customer_id, create_time, create_by, change_time, change_by)
SELECT cu.login, c.customer_id, cu.create_time, 1, cu.change_time, 1
FROM customer_user cu JOIN gh_bench_company c ON c.k = (cu.id * 31) % `+strconv.Itoa(ncomp)+`
WHERE cu.id % 50 = 0`); err != nil {
		return info, err
	}
	for _, t := range []string{"gh_bench_first", "gh_bench_last", "gh_bench_company"} {
		if err := exec("drop "+t, "DROP TABLE "+t); err != nil {
			return info, err
		}
	}
	analyze := "ANALYZE customer_user, customer_company, customer_user_customer"
	if db.Dialect() == sqldb.MySQL {
		analyze = "ANALYZE TABLE customer_user, customer_company, customer_user_customer"
	}
	if err := analyzeTables(ctx, db, analyze); err != nil {
		return info, err
	}
	if err := exec("meta", "CREATE TABLE "+metaTable+" (version INTEGER NOT NULL, seeded_rows INTEGER NOT NULL, companies INTEGER NOT NULL)"); err != nil {
		return info, err
	}
	if err := exec("meta", "INSERT INTO "+metaTable+" (version, seeded_rows, companies) VALUES (?, ?, ?)", seedVersion, rows, ncomp); err != nil {
		return info, err
	}
	log.Info("seeded", "db", db.String(), "rows", rows, "took", time.Since(start).Round(time.Second))
	return info, nil
}

// analyzeTables runs ANALYZE (MariaDB's ANALYZE TABLE answers with a result set, which must
// be read).
func analyzeTables(ctx context.Context, db *sqldb.DB, q string) error {
	rows, err := db.SQL().QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("seed analyze: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("seed analyze: %w", err)
	}
	return nil
}

// seeded reports whether the meta table says db already holds this version's data at this
// size, and the customer_user table agrees.
func seeded(ctx context.Context, db *sqldb.DB, rows, ncomp int) (bool, error) {
	var version, n, c int
	err := db.SQL().QueryRowContext(ctx, "SELECT version, seeded_rows, companies FROM "+metaTable).Scan(&version, &n, &c)
	if err != nil {
		// No meta table (a fresh database) or no row: not seeded.
		return false, nil
	}
	if version != seedVersion || n != rows || c != ncomp {
		return false, nil
	}
	var have int
	if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM customer_user").Scan(&have); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return false, fmt.Errorf("count customer_user: %w", err)
	}
	return have == rows, nil
}

// fillSlots writes the slot table of names: each name gets as many consecutive slots as its
// weight. It returns the number of slots.
func fillSlots(ctx context.Context, db *sqldb.DB, table string, names []weighted) (int, error) {
	type slot struct{ name, ascii string }
	var slots []slot
	for _, n := range names {
		for range n.weight {
			slots = append(slots, slot{n.name, asciiFold(n.name)})
		}
	}
	err := insertRows(ctx, db, table, []string{"slot", "name", "ascii"}, len(slots), func(i int) []any {
		return []any{i, slots[i].name, slots[i].ascii}
	})
	return len(slots), err
}

// insertRows inserts n rows, 500 to a statement.
func insertRows(ctx context.Context, db *sqldb.DB, table string, cols []string, n int, row func(i int) []any) error {
	const batch = 500
	ph := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		var args []any
		vals := make([]string, 0, end-start)
		for i := start; i < end; i++ {
			args = append(args, row(i)...)
			vals = append(vals, ph)
		}
		q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " + strings.Join(vals, ", ")
		if _, err := db.SQL().ExecContext(ctx, db.Rebind(q), args...); err != nil {
			return fmt.Errorf("seed %s: %w", table, err)
		}
	}
	return nil
}
