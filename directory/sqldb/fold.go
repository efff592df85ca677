package sqldb

import (
	"context"
	"fmt"
	"strings"
)

// MariaDB has no functional indexes, so OTRS's case-insensitive LOWER(col) = LOWER(?) can
// never use an index there: every login lookup reads the whole table. But MariaDB's usual
// collations (utf8mb4_general_ci, utf8mb4_unicode_ci, …) already compare without case, so
// for such a column "col = ?" and "col LIKE ?" find the same rows as the LOWER() forms — and
// use the column's indexes. foldsLikeLower decides, per collation and on the server itself,
// whether that holds, and the queries drop LOWER() only for the columns where it does.
//
// The test: every Unicode code point c must compare equal to LOWER(c) under the collation.
// Then a string and its LOWER() have the same weights, so LOWER on both sides changes no
// "=" or LIKE result. Case-sensitive collations (_bin, _cs) fail it and keep LOWER(). The
// *_unicode_ci ones pass (so do the Turkish ones: there LOWER('I') is 'ı', as they sort).
// The *_general_ci ones fail it by three characters only: OHM SIGN, KELVIN SIGN and
// ANGSTROM SIGN (U+2126, U+212A, U+212B). Those three are canonical singletons: Unicode
// normalization (NFC, which keyboards and browsers produce) replaces them with Ω, K and Å,
// so no normalized text contains them. gatehouse treats such a collation as folding — a login
// spelled with a KELVIN SIGN is matched exactly as "=" matches it, which is also how OTRS's
// own password check (login = ?) matches it — because general_ci is MariaDB's default
// collation for utf8mb4 and utf8, so it is what an OTRS or Znuny database created without
// naming a collation has, and keeping LOWER() there would make every login lookup a table
// scan.

// nfcSingletons are the cased code points that Unicode normalization (NFC) always replaces,
// so they never occur in normalized text (see the test that checks this with x/text/norm).
var nfcSingletons = map[int]bool{0x2126: true, 0x212A: true, 0x212B: true}

// foldsLikeLower reports whether comparing under collation (of charset) gives the results of
// LOWER() on both sides, for every character but the NFC singletons. It asks the server once
// per collation (about 0.3 s, with MariaDB's sequence engine); where the check cannot run
// (MySQL has no sequence engine, or an error) the answer is false and LOWER() stays.
func (db *DB) foldsLikeLower(ctx context.Context, charset, collation string) bool {
	if db.dialect != MySQL || !strings.Contains(strings.ToLower(collation), "_ci") ||
		!ValidIdent(charset) || !ValidIdent(collation) {
		return false
	}
	key := charset + "/" + collation
	db.foldMu.Lock()
	defer db.foldMu.Unlock()
	if v, ok := db.folds[key]; ok {
		return v
	}
	ok, err := db.checkFold(ctx, charset, collation)
	if err != nil {
		// Not cached: a passing fault (a timeout) should not decide for the process's life.
		return false
	}
	if db.folds == nil {
		db.folds = map[string]bool{}
	}
	db.folds[key] = ok
	return ok
}

// checkFold runs the per-code-point comparison on the server.
func (db *DB) checkFold(ctx context.Context, charset, collation string) (bool, error) {
	c := "CONVERT(CHAR(seq USING utf32) USING " + charset + ") COLLATE " + collation
	// Surrogates (U+D800–U+DFFF) are not characters; utf32 refuses them.
	q := "SELECT seq FROM seq_1_to_1114111 WHERE seq NOT BETWEEN 55296 AND 57343 AND " + c + " <> LOWER(" + c + ")"
	rows, err := db.sql.QueryContext(ctx, q)
	if err != nil {
		return false, fmt.Errorf("check collation %s: %w", collation, err)
	}
	defer rows.Close()
	ok := true
	for rows.Next() {
		var cp int
		if err := rows.Scan(&cp); err != nil {
			return false, fmt.Errorf("check collation %s: %w", collation, err)
		}
		if !nfcSingletons[cp] {
			ok = false
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("check collation %s: %w", collation, err)
	}
	return ok, nil
}

// foldedColumns returns the columns of table whose collation folds case like LOWER() (see
// foldsLikeLower), by their real names. Empty on PostgreSQL and SQLite, where LOWER() stays
// and functional indexes serve it.
func (db *DB) foldedColumns(ctx context.Context, table string) (map[string]bool, error) {
	out := map[string]bool{}
	if db.dialect != MySQL {
		return out, nil
	}
	rows, err := db.sql.QueryContext(ctx, "SELECT column_name, character_set_name, collation_name FROM information_schema.columns "+
		"WHERE table_schema = DATABASE() AND table_name = ? AND collation_name IS NOT NULL", table)
	if err != nil {
		return nil, fmt.Errorf("read collations of %s: %w", table, err)
	}
	type col struct{ name, charset, collation string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.name, &c.charset, &c.collation); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read collations of %s: %w", table, err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read collations of %s: %w", table, err)
	}
	for _, c := range cols {
		out[c.name] = db.foldsLikeLower(ctx, c.charset, c.collation)
	}
	return out, nil
}
