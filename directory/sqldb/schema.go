package sqldb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// Default table names (fact sheet §9).
const (
	// DefaultGroupsTable is the Znuny 6.x/7 group table; OTRS 5/6 call it "groups".
	DefaultGroupsTable = "permission_groups"
	// DefaultCustomerUserTable is the customer-user table.
	DefaultCustomerUserTable = "customer_user"
)

// The fixed OTRS tables this package reads and writes besides the configured ones.
const (
	tableValid       = "valid"
	tableCompany     = "customer_company"
	tableCUCustomer  = "customer_user_customer"
	tablePreferences = "customer_preferences"
	tableGroupUser   = "group_customer_user"
	tableGroupComp   = "group_customer"
)

// MigrateOptions tunes Migrate.
type MigrateOptions struct {
	// GroupsTable is the group table: permission_groups (Znuny, the default) or groups (OTRS 6).
	GroupsTable string
}

// MigrateResult reports what Migrate did.
type MigrateResult struct {
	// Created lists the tables Migrate created, in creation order.
	Created []string
	// Existing lists the tables that were already there and were left untouched.
	Existing []string
}

// column types of the OTRS schema.xml, rendered per dialect by colType.
const (
	tSerial      = "SERIAL"      // INTEGER auto-increment primary key
	tSmallSerial = "SMALLSERIAL" // SMALLINT auto-increment primary key
	tSmallInt    = "SMALLINT"
	tInteger     = "INTEGER"
	tDate        = "DATE" // timestamp(0) / DATETIME
)

type colDef struct {
	name    string
	typ     string // one of the t* constants or VARCHAR(n)
	notNull bool
}

type fkDef struct{ name, col, refTable, refCol string }

type tableDef struct {
	name    string
	cols    []colDef
	pk      string
	uniques [][2]string // constraint name, column
	indexes [][2]string // index name, column
	fks     []fkDef
	seed    []string // names inserted into (id, name, …) tables right after creation
}

// auditCols are OTRS's create_time/create_by/change_time/change_by. The create_by and
// change_by foreign keys to the agent table users are left out: gatehouse has no agents, and
// a fresh database would have no users table to point at.
var auditCols = []colDef{
	{"create_time", tDate, true},
	{"create_by", tInteger, true},
	{"change_time", tDate, true},
	{"change_by", tInteger, true},
}

func withAudit(cols ...colDef) []colDef { return append(cols, auditCols...) }

// schema is the OTRS/Znuny customer part of scripts/database/schema.xml (fact sheet §9), in
// creation order (referenced tables first).
func schema(groups string) []tableDef {
	return []tableDef{
		{
			name: tableValid,
			cols: withAudit(
				colDef{"id", tSmallSerial, true},
				colDef{"name", "VARCHAR(200)", true},
			),
			pk:      "id",
			uniques: [][2]string{{"valid_name", "name"}},
			// Ids 1, 2, 3 on a fresh table: the validity ids OTRS hard-codes.
			seed: []string{"valid", "invalid", "invalid-temporarily"},
		},
		{
			name: DefaultCustomerUserTable,
			cols: withAudit(
				colDef{"id", tSerial, true},
				colDef{"login", "VARCHAR(200)", true},
				colDef{"email", "VARCHAR(150)", true},
				colDef{"customer_id", "VARCHAR(150)", true},
				colDef{"pw", "VARCHAR(128)", false},
				colDef{"title", "VARCHAR(50)", false},
				colDef{"first_name", "VARCHAR(100)", true},
				colDef{"last_name", "VARCHAR(100)", true},
				colDef{"phone", "VARCHAR(150)", false},
				colDef{"fax", "VARCHAR(150)", false},
				colDef{"mobile", "VARCHAR(150)", false},
				colDef{"street", "VARCHAR(150)", false},
				colDef{"zip", "VARCHAR(200)", false},
				colDef{"city", "VARCHAR(200)", false},
				colDef{"country", "VARCHAR(200)", false},
				colDef{"comments", "VARCHAR(250)", false},
				colDef{"valid_id", tSmallInt, true},
			),
			pk:      "id",
			uniques: [][2]string{{"customer_user_login", "login"}},
			fks:     []fkDef{{"FK_customer_user_valid_id_id", "valid_id", tableValid, "id"}},
		},
		{
			name: tableCompany,
			cols: withAudit(
				colDef{"customer_id", "VARCHAR(150)", true},
				colDef{"name", "VARCHAR(200)", true},
				colDef{"street", "VARCHAR(200)", false},
				colDef{"zip", "VARCHAR(200)", false},
				colDef{"city", "VARCHAR(200)", false},
				colDef{"country", "VARCHAR(200)", false},
				colDef{"url", "VARCHAR(200)", false},
				colDef{"comments", "VARCHAR(250)", false},
				colDef{"valid_id", tSmallInt, true},
			),
			pk:      "customer_id",
			uniques: [][2]string{{"customer_company_name", "name"}},
			fks:     []fkDef{{"FK_customer_company_valid_id_id", "valid_id", tableValid, "id"}},
		},
		{
			name: tableCUCustomer,
			cols: withAudit(
				colDef{"user_id", "VARCHAR(200)", true},
				colDef{"customer_id", "VARCHAR(150)", true},
			),
			indexes: [][2]string{
				{"customer_user_customer_customer_id", "customer_id"},
				{"customer_user_customer_user_id", "user_id"},
			},
		},
		{
			name: tablePreferences,
			cols: []colDef{
				{"user_id", "VARCHAR(250)", true},
				{"preferences_key", "VARCHAR(150)", true},
				{"preferences_value", "VARCHAR(250)", false},
			},
			indexes: [][2]string{{"customer_preferences_user_id", "user_id"}},
		},
		{
			name: groups,
			cols: withAudit(
				colDef{"id", tSerial, true},
				colDef{"name", "VARCHAR(200)", true},
				colDef{"comments", "VARCHAR(250)", false},
				colDef{"valid_id", tSmallInt, true},
			),
			pk:      "id",
			uniques: [][2]string{{groups + "_name", "name"}},
			fks:     []fkDef{{"FK_" + groups + "_valid_id_id", "valid_id", tableValid, "id"}},
			// OTRS's initial data has the group users, which is also the default
			// customer_group.always_groups; without it that default would grant nothing.
			seed: []string{"users"},
		},
		{
			name: tableGroupUser,
			cols: withAudit(
				colDef{"user_id", "VARCHAR(100)", true},
				colDef{"group_id", tInteger, true},
				colDef{"permission_key", "VARCHAR(20)", true},
				colDef{"permission_value", tSmallInt, true},
			),
			indexes: [][2]string{
				{"group_customer_user_group_id", "group_id"},
				{"group_customer_user_user_id", "user_id"},
			},
			fks: []fkDef{{"FK_group_customer_user_group_id_id", "group_id", groups, "id"}},
		},
		{
			name: tableGroupComp,
			cols: withAudit(
				colDef{"customer_id", "VARCHAR(150)", true},
				colDef{"group_id", tInteger, true},
				colDef{"permission_key", "VARCHAR(20)", true},
				colDef{"permission_value", tSmallInt, true},
				colDef{"permission_context", "VARCHAR(100)", true},
			),
			indexes: [][2]string{
				{"group_customer_customer_id", "customer_id"},
				{"group_customer_group_id", "group_id"},
			},
			fks: []fkDef{{"FK_group_customer_group_id_id", "group_id", groups, "id"}},
		},
	}
}

// colType renders an OTRS column type for the dialect.
func (db *DB) colType(c colDef) string {
	nn := ""
	if c.notNull {
		nn = " NOT NULL"
	} else {
		nn = " NULL"
	}
	switch c.typ {
	case tSerial, tSmallSerial:
		switch db.dialect {
		case Postgres:
			return strings.ToLower(c.typ) + " NOT NULL"
		case MySQL:
			if c.typ == tSerial {
				return "INTEGER NOT NULL AUTO_INCREMENT"
			}
			return "SMALLINT NOT NULL AUTO_INCREMENT"
		default:
			// SQLite only auto-increments an INTEGER PRIMARY KEY declared inline.
			return "INTEGER PRIMARY KEY AUTOINCREMENT"
		}
	case tDate:
		if db.dialect == Postgres {
			return "timestamp(0)" + nn
		}
		return "DATETIME" + nn
	}
	return c.typ + nn
}

// createStatements renders t as CREATE TABLE (+ CREATE INDEX) statements. IF NOT EXISTS
// guards against a second gatehouse migrating at the same moment; Migrate has already
// checked that the table is absent.
func (db *DB) createStatements(t tableDef) []string {
	var parts []string
	inlinePK := false
	for _, c := range t.cols {
		if db.dialect == SQLite && (c.typ == tSerial || c.typ == tSmallSerial) {
			inlinePK = true
		}
		parts = append(parts, db.Quote(c.name)+" "+db.colType(c))
	}
	if t.pk != "" && !inlinePK {
		parts = append(parts, "PRIMARY KEY ("+db.Quote(t.pk)+")")
	}
	for _, u := range t.uniques {
		if db.dialect == MySQL {
			parts = append(parts, "UNIQUE INDEX "+db.Quote(u[0])+" ("+db.Quote(u[1])+")")
		} else {
			parts = append(parts, "CONSTRAINT "+db.Quote(u[0])+" UNIQUE ("+db.Quote(u[1])+")")
		}
	}
	if db.dialect == MySQL {
		for _, ix := range t.indexes {
			parts = append(parts, "INDEX "+db.Quote(ix[0])+" ("+db.Quote(ix[1])+")")
		}
	}
	for _, fk := range t.fks {
		parts = append(parts, "CONSTRAINT "+db.Quote(fk.name)+" FOREIGN KEY ("+db.Quote(fk.col)+") REFERENCES "+
			db.Quote(fk.refTable)+" ("+db.Quote(fk.refCol)+")")
	}
	create := "CREATE TABLE IF NOT EXISTS " + db.Quote(t.name) + " (\n    " + strings.Join(parts, ",\n    ") + "\n)"
	if db.dialect == MySQL {
		create += " ENGINE = InnoDB"
	}
	stmts := []string{create}
	if db.dialect != MySQL {
		for _, ix := range t.indexes {
			stmts = append(stmts, "CREATE INDEX IF NOT EXISTS "+db.Quote(ix[0])+" ON "+db.Quote(t.name)+" ("+db.Quote(ix[1])+")")
		}
	}
	return stmts
}

// Migrate creates the OTRS/Znuny customer tables (fact sheet §9) that are absent: valid (with
// its seed rows valid, invalid, invalid-temporarily), customer_user, customer_company,
// customer_user_customer, customer_preferences, the groups table (with the group users),
// group_customer_user and group_customer. Each table is checked on its own; an existing table
// is used as it is — never altered, never re-seeded — so Migrate is safe on a live OTRS
// database and idempotent.
func Migrate(ctx context.Context, db *DB, opts MigrateOptions) (MigrateResult, error) {
	var res MigrateResult
	groups := opts.GroupsTable
	if groups == "" {
		groups = DefaultGroupsTable
	}
	if err := checkIdent("groups table", groups); err != nil {
		return res, fmt.Errorf("migrate %s: %w", db, err)
	}
	now := db.timeValue(time.Now())
	for _, t := range schema(groups) {
		exists, err := db.tableExists(ctx, t.name)
		if err != nil {
			return res, fmt.Errorf("migrate %s: %w", db, err)
		}
		if exists {
			res.Existing = append(res.Existing, t.name)
			continue
		}
		for _, stmt := range db.createStatements(t) {
			if _, err := db.sql.ExecContext(ctx, stmt); err != nil {
				return res, fmt.Errorf("migrate %s: create %s: %w", db, t.name, err)
			}
		}
		for _, name := range t.seed {
			q := db.Rebind("INSERT INTO " + db.Quote(t.name) + " (name, " + seedExtraCols(t) +
				"create_time, create_by, change_time, change_by) VALUES (?, " + seedExtraVals(t) + "?, 1, ?, 1)")
			_, err := db.sql.ExecContext(ctx, q, name, now, now)
			// A concurrent migration may have seeded the same name (UNIQUE): that is fine.
			if err = classify(err); err != nil && !errors.Is(err, directory.ErrExists) {
				return res, fmt.Errorf("migrate %s: seed %s %q: %w", db, t.name, name, err)
			}
		}
		res.Created = append(res.Created, t.name)
	}
	return res, nil
}

// seedExtraCols/Vals add valid_id for seeded tables that have one (the groups table).
func seedExtraCols(t tableDef) string {
	for _, c := range t.cols {
		if c.name == "valid_id" {
			return "valid_id, "
		}
	}
	return ""
}

func seedExtraVals(t tableDef) string {
	if seedExtraCols(t) != "" {
		return "1, "
	}
	return ""
}
