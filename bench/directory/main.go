// Command directory is the directory-at-scale benchmark behind scripts/bench-directory.sh:
// it seeds a PostgreSQL or MariaDB database with a million generated OTRS customer users
// (in SQL: generate_series, MariaDB's sequence engine) and measures the login lookup and the
// OTRS searches through directory/sqldb — the same Get and Search gatehouse runs at login
// and in the admin UI and API.
//
//	go run ./bench/directory create-db -admin-dsn DSN -name NAME   (drop-db: the same, dropping it)
//	go run ./bench/directory seed    -config FILE [-rows N] [-companies N]
//	go run ./bench/directory measure -config FILE -phase NAME -out FILE.jsonl [-budget D]
//	go run ./bench/directory report  -in FILE.jsonl [-commit C] [-built "postgres=31s mysql=8s"]
//
// FILE is a gatehouse config whose first customer_user source is the bench database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  directory create-db -admin-dsn DSN -name NAME
  directory drop-db   -admin-dsn DSN -name NAME
  directory seed    -config FILE [-rows 1000000] [-companies 3000]
  directory measure -config FILE -phase NAME -out FILE.jsonl [-budget 20s]
  directory report  -in FILE.jsonl [-commit C] [-built "postgres=31s mysql=8s"]
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fs := flag.NewFlagSet("directory "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "gatehouse config; its first customer_user source is the bench database")
	rows := fs.Int("rows", 1_000_000, "customer users to seed")
	ncomp := fs.Int("companies", 3000, "customer companies to seed")
	phase := fs.String("phase", "", "label of this measurement (before, after)")
	out := fs.String("out", "", "JSON lines file the measurements are appended to")
	budget := fs.Duration("budget", 20*time.Second, "time budget per group of operations (lookups, searches)")
	timeout := fs.Duration("statement-timeout", 10*time.Second, "the database cancels a statement after this long (0: never); such an operation is reported as timed out")
	in := fs.String("in", "", "JSON lines file written by measure")
	commit := fs.String("commit", "", "commit the measured code was built from")
	adminDSN := fs.String("admin-dsn", "", "a DSN on the server with the right to create databases (create-db, drop-db)")
	name := fs.String("name", "", "the bench database's name (create-db, drop-db)")
	built := fs.String("built", "", "how long migrate --indexes took, per database: \"postgres=31s mysql=8s\"")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ctx := context.Background()
	var err error
	switch args[0] {
	case "seed":
		err = withSource(ctx, *cfgPath, 0, func(src *sqldb.Source) error {
			info, err := seed(ctx, src.DB(), *rows, *ncomp, log)
			if err == nil {
				fmt.Fprintf(stdout, "%s: %d customer users, %d companies (reused: %v)\n", src.DB(), info.Rows, info.Companies, info.Reused)
			}
			return err
		}, false)
	case "measure":
		if *phase == "" || *out == "" {
			err = errors.New("measure needs -phase and -out")
			break
		}
		err = withSource(ctx, *cfgPath, *timeout, func(src *sqldb.Source) error {
			return measure(ctx, src, *phase, *out, *budget, *timeout, stdout, log)
		}, true)
	case "create-db", "drop-db":
		if *adminDSN == "" || *name == "" {
			err = errors.New(args[0] + " needs -admin-dsn and -name")
			break
		}
		err = benchDatabase(ctx, *adminDSN, *name, args[0] == "drop-db", stdout)
	case "report":
		if *in == "" {
			err = errors.New("report needs -in")
			break
		}
		err = report(*in, *commit, *built, stdout)
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "directory %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// withSource opens the config's first customer_user source exactly as gatehouse does, with
// a server-side statement timeout when timeout > 0 (so an unindexed scan that would take
// minutes is cancelled by the database itself). Unless mustExist, the OTRS tables are
// created first (sqldb.Migrate), as for seeding.
func withSource(ctx context.Context, path string, timeout time.Duration, fn func(*sqldb.Source) error, mustExist bool) error {
	if path == "" {
		return errors.New("-config is required")
	}
	cfg, err := configs.Load(path)
	if err != nil {
		return err
	}
	if len(cfg.CustomerUser) == 0 || cfg.CustomerUser[0].Module != "db" {
		return fmt.Errorf("%s: the first customer_user source must be a db source", path)
	}
	sc := cfg.CustomerUser[0]
	dsn, err := withTimeout(sc.Params.DSN, timeout)
	if err != nil {
		return err
	}
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if !mustExist {
		if _, err := sqldb.Migrate(ctx, db, sqldb.MigrateOptions{GroupsTable: sc.Params.GroupsTable}); err != nil {
			return err
		}
	}
	src, err := sqldb.NewSource(sc, db, sqldb.SourceOptions{})
	if err != nil {
		return err
	}
	return fn(src)
}

// withTimeout adds the server's statement timeout to dsn: PostgreSQL's statement_timeout
// (milliseconds, a pgx runtime parameter), MariaDB's max_statement_time (seconds, a session
// variable the driver sets).
func withTimeout(dsn string, timeout time.Duration) (string, error) {
	if timeout <= 0 {
		return dsn, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("parse dsn: %w", err)
	}
	q := u.Query()
	switch strings.ToLower(u.Scheme) {
	case "postgres", "postgresql":
		q.Set("statement_timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	case "mysql", "mariadb":
		q.Set("max_statement_time", strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64))
	default:
		return "", fmt.Errorf("statement timeout: %s databases are not supported", u.Scheme)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// benchDatabase creates the database name on the server of adminDSN unless it exists, or
// drops it. MariaDB gets utf8mb4 with utf8mb4_general_ci, MariaDB's default collation, which
// an OTRS or Znuny database created without naming a collation has.
func benchDatabase(ctx context.Context, adminDSN, name string, drop bool, stdout io.Writer) error {
	if !sqldb.ValidIdent(name) {
		return fmt.Errorf("database name %q is not a plain identifier", name)
	}
	db, err := sqldb.Open(ctx, adminDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	var q string
	switch {
	case drop && db.Dialect() == sqldb.Postgres:
		q = "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"
	case drop:
		q = "DROP DATABASE IF EXISTS " + name
	case db.Dialect() == sqldb.Postgres:
		var n int
		if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
			return fmt.Errorf("look for database %s: %w", name, err)
		}
		if n > 0 {
			fmt.Fprintf(stdout, "%s: database %s exists\n", db, name)
			return nil
		}
		q = "CREATE DATABASE " + name
	case db.Dialect() == sqldb.MySQL:
		q = "CREATE DATABASE IF NOT EXISTS " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
	default:
		return fmt.Errorf("%s: only PostgreSQL and MariaDB", db)
	}
	if _, err := db.SQL().ExecContext(ctx, q); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	fmt.Fprintf(stdout, "%s: %s\n", db, q)
	return nil
}
