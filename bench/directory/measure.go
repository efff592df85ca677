package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
)

// result is one measured operation in one phase, a line of the JSON lines file.
type result struct {
	DB       string  `json:"db"`        // postgres, mysql
	Server   string  `json:"server"`    // server version
	Phase    string  `json:"phase"`     // before, after
	Key      string  `json:"key"`       // stable id of the operation
	Name     string  `json:"name"`      // what it is, for the table
	N        int     `json:"n"`         // timed runs
	P50      float64 `json:"p50_ms"`    // median latency
	P99      float64 `json:"p99_ms"`    // 99th percentile (nearest rank; the maximum when n < 100)
	Rows     int     `json:"rows"`      // results of the last run
	TimedOut bool    `json:"timed_out"` // a run hit the statement timeout; the op was stopped there
	Timeout  float64 `json:"timeout_ms"`
	// The setting: the data, the login column's collation (MariaDB), the load average at
	// the end of the operation's group, the Go version.
	Seeded    int       `json:"seeded"`
	Companies int       `json:"companies"`
	Collation string    `json:"collation,omitempty"`
	Load      float64   `json:"load1"`
	GoVersion string    `json:"go"`
	Indexes   []string  `json:"indexes"` // gatehouse_ indexes present while measured
	Plan      []string  `json:"plan"`    // EXPLAIN of one run
	Measured  time.Time `json:"measured"`
}

// op is one operation: run does it once with the i-th input and says how many results came back.
type op struct {
	key, name  string
	minN, maxN int
	run        func(ctx context.Context, i int) (int, error)
	explain    func(ctx context.Context) ([]string, error)
}

// measure times every operation against src and appends the results to out.
func measure(ctx context.Context, src *sqldb.Source, phase, out string, budget, timeout time.Duration, stdout io.Writer, log *slog.Logger) error {
	db := src.DB()
	_, rare := lastNames()
	// Inputs: existing logins and emails at random (a fixed seed, so every phase asks the
	// same), typed in upper case so the lookup must ignore case as OTRS does.
	rng := rand.New(rand.NewPCG(8, 2026))
	logins, emails, custID, err := samples(ctx, db, rng, 2000)
	if err != nil {
		return err
	}
	if len(logins) == 0 {
		return errors.New("no customer users: seed first")
	}
	get := func(ctx context.Context, login string) (int, error) {
		_, err := src.Get(ctx, login)
		if errors.Is(err, directory.ErrNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		return 1, nil
	}
	search := func(q directory.Query) func(context.Context, int) (int, error) {
		return func(ctx context.Context, _ int) (int, error) {
			us, err := src.Search(ctx, q)
			return len(us), err
		}
	}
	explainSearch := func(q directory.Query) func(context.Context) ([]string, error) {
		return func(ctx context.Context) ([]string, error) { return src.ExplainSearch(ctx, q) }
	}
	lookups := []op{
		{key: "get", name: "login lookup: Get(login) in another case", minN: 5, maxN: 2000,
			run:     func(ctx context.Context, i int) (int, error) { return get(ctx, strings.ToUpper(logins[i%len(logins)])) },
			explain: func(ctx context.Context) ([]string, error) { return src.ExplainGet(ctx, strings.ToUpper(logins[0])) }},
		{key: "get-unknown", name: "login lookup: unknown login", minN: 5, maxN: 500,
			run: func(ctx context.Context, i int) (int, error) {
				return get(ctx, fmt.Sprintf("Nobody.%d@Nowhere.example", i))
			},
			explain: func(ctx context.Context) ([]string, error) { return src.ExplainGet(ctx, "Nobody.0@Nowhere.example") }},
		{key: "email", name: "email lookup: PostMasterSearch (admin uniqueness check)", minN: 5, maxN: 500,
			run: func(ctx context.Context, i int) (int, error) {
				return search(directory.Query{PostMasterSearch: strings.ToUpper(emails[i%len(emails)]), Limit: 2})(ctx, i)
			},
			explain: explainSearch(directory.Query{PostMasterSearch: strings.ToUpper(emails[0]), Limit: 2})},
	}
	q := func(s string) directory.Query { return directory.Query{Search: s} }
	searches := []op{
		{key: "search-smith", name: "search `*smith*` (limit 250; admin UI and API search)", minN: 3, maxN: 40,
			run: search(q("*smith*")), explain: explainSearch(q("*smith*"))},
		{key: "search-rare", name: fmt.Sprintf("search `*%s*` (rare: a tail surname)", strings.ToLower(rare)), minN: 3, maxN: 40,
			run: search(q("*" + strings.ToLower(rare) + "*")), explain: explainSearch(q("*" + strings.ToLower(rare) + "*"))},
		{key: "search-miss", name: "search `*qxzvj*` (no match)", minN: 3, maxN: 40,
			run: search(q("*qxzvj*")), explain: explainSearch(q("*qxzvj*"))},
		{key: "search-and", name: "search `john+smith` (AND of two words)", minN: 3, maxN: 40,
			run: search(q("john+smith")), explain: explainSearch(q("john+smith"))},
		{key: "customer-users", name: fmt.Sprintf("a customer's users: CustomerID search for %s (admin company page)", custID),
			minN: 3, maxN: 100,
			run:     search(directory.Query{CustomerID: strings.ToLower(custID), Limit: 100000}),
			explain: explainSearch(directory.Query{CustomerID: strings.ToLower(custID), Limit: 100000})},
		{key: "list", name: "admin list, first page (no search, 1001 rows)", minN: 3, maxN: 40,
			run: search(directory.Query{Limit: 1001}), explain: explainSearch(directory.Query{Limit: 1001})},
	}
	indexes, err := sqldb.GatehouseIndexes(ctx, db)
	if err != nil {
		return err
	}
	var server, collation string
	if err := db.SQL().QueryRowContext(ctx, "SELECT version()").Scan(&server); err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	if db.Dialect() == sqldb.MySQL {
		if err := db.SQL().QueryRowContext(ctx, "SELECT collation_name FROM information_schema.columns "+
			"WHERE table_schema = DATABASE() AND table_name = 'customer_user' AND column_name = 'login'").Scan(&collation); err != nil {
			return fmt.Errorf("login collation: %w", err)
		}
	}
	var seeded, ncomp int
	if err := db.SQL().QueryRowContext(ctx, "SELECT seeded_rows, companies FROM "+metaTable).Scan(&seeded, &ncomp); err != nil {
		return fmt.Errorf("read %s (seed first): %w", metaTable, err)
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, group := range [][]op{lookups, searches} {
		res, err := runGroup(ctx, group, budget, log)
		if err != nil {
			return err
		}
		load := loadAverage()
		for i, r := range res {
			r.DB, r.Server, r.Phase, r.Indexes, r.Measured = db.Dialect().String(), server, phase, indexes, time.Now().UTC()
			r.Timeout, r.Seeded, r.Companies, r.Collation, r.Load, r.GoVersion = ms(timeout), seeded, ncomp, collation, load, runtime.Version()
			if r.Plan, err = group[i].explain(ctx); err != nil {
				return fmt.Errorf("explain %s: %w", r.Key, err)
			}
			fmt.Fprintf(stdout, "%-8s %-7s %-14s n=%-5d p50=%9.3f ms  p99=%9.3f ms  rows=%d  timed out: %v\n",
				r.DB, r.Phase, r.Key, r.N, r.P50, r.P99, r.Rows, r.TimedOut)
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// runGroup runs the operations interleaved, round after round (one run of each per round,
// the order rotating), so they share the same cache and load conditions. An operation is
// done after maxN runs, or once the group's budget is spent and it has minN runs.
func runGroup(ctx context.Context, ops []op, budget time.Duration, log *slog.Logger) ([]result, error) {
	timedOut := make([]bool, len(ops))
	// Warm up: one untimed run each (the statement gets prepared, the pages read).
	for i, o := range ops {
		if _, err := o.run(ctx, 0); isTimeout(err) {
			timedOut[i] = true
			log.Info("statement timeout", "op", o.key)
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", o.key, err)
		}
	}
	times := make([][]time.Duration, len(ops))
	rows := make([]int, len(ops))
	start := time.Now()
	for round := 0; ; round++ {
		active := 0
		for k := range ops {
			j := (k + round) % len(ops)
			o := ops[j]
			n := len(times[j])
			if timedOut[j] || n >= o.maxN || (n >= o.minN && time.Since(start) > budget) {
				continue
			}
			active++
			t := time.Now()
			got, err := o.run(ctx, n+1)
			d := time.Since(t)
			if isTimeout(err) {
				timedOut[j] = true
				log.Info("statement timeout", "op", o.key)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", o.key, err)
			}
			times[j] = append(times[j], d)
			rows[j] = got
		}
		if active == 0 {
			break
		}
		if round%200 == 0 {
			log.Debug("measuring", "round", round, "elapsed", time.Since(start).Round(time.Millisecond))
		}
	}
	out := make([]result, len(ops))
	for i, o := range ops {
		ts := times[i]
		slices.Sort(ts)
		out[i] = result{Key: o.key, Name: o.name, N: len(ts), P50: ms(rank(ts, 0.50)), P99: ms(rank(ts, 0.99)), Rows: rows[i], TimedOut: timedOut[i]}
	}
	return out, nil
}

// rank is the nearest-rank percentile of sorted durations.
func rank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// samples picks n customer users at random ids: their logins and emails, and the customer id
// of the first (the same in every phase: the seed of rng is fixed).
func samples(ctx context.Context, db *sqldb.DB, rng *rand.Rand, n int) (logins, emails []string, custID string, err error) {
	var lo, hi int64
	if err := db.SQL().QueryRowContext(ctx, "SELECT MIN(id), MAX(id) FROM customer_user").Scan(&lo, &hi); err != nil {
		return nil, nil, "", fmt.Errorf("id range: %w", err)
	}
	ids := make([]any, n)
	for i := range ids {
		ids[i] = lo + rng.Int64N(hi-lo+1)
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
	rows, err := db.SQL().QueryContext(ctx, db.Rebind("SELECT login, email, customer_id FROM customer_user WHERE id IN ("+ph+")"), ids...)
	if err != nil {
		return nil, nil, "", fmt.Errorf("sample logins: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l, e, c string
		if err := rows.Scan(&l, &e, &c); err != nil {
			return nil, nil, "", fmt.Errorf("sample logins: %w", err)
		}
		logins, emails = append(logins, l), append(emails, e)
		if custID == "" {
			custID = c
		}
	}
	// The database returns them in its own order; shuffle so the lookups do not walk the
	// index in order.
	rng.Shuffle(len(logins), func(i, j int) {
		logins[i], logins[j] = logins[j], logins[i]
		emails[i], emails[j] = emails[j], emails[i]
	})
	return logins, emails, custID, rows.Err()
}

// isTimeout reports whether err is the database cancelling a statement for its timeout
// (PostgreSQL query_canceled, MariaDB ER_STATEMENT_TIMEOUT).
func isTimeout(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "57014"
	}
	var my *mysql.MySQLError
	return errors.As(err, &my) && my.Number == 1969
}

// loadAverage is the 1-minute load average (Linux); 0 elsewhere.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	_, _ = fmt.Sscan(string(b), &l)
	return l
}
