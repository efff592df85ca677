package sqldb

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// fillUsers adds n generated customer users in one statement (PostgreSQL generate_series,
// MariaDB's sequence engine, a recursive CTE on SQLite), enough rows for the planners to
// prefer an index over reading the table.
func fillUsers(t testing.TB, db *DB, n int) {
	t.Helper()
	var series string
	cat := func(parts ...string) string { return "CONCAT(" + strings.Join(parts, ", ") + ")" }
	switch db.Dialect() {
	case Postgres:
		series = fmt.Sprintf("generate_series(1, %d) AS q(seq)", n)
	case MySQL:
		series = fmt.Sprintf("seq_1_to_%d AS q", n)
	default:
		series = fmt.Sprintf("(WITH RECURSIVE r(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM r WHERE seq < %d) SELECT seq FROM r) AS q", n)
		cat = func(parts ...string) string { return "(" + strings.Join(parts, " || ") + ")" }
	}
	num := "CAST(seq AS CHAR(10))"
	if db.Dialect() != MySQL {
		num = "CAST(seq AS TEXT)"
	}
	now := db.timeValue(time.Now())
	q := "INSERT INTO customer_user (login, email, customer_id, first_name, last_name, valid_id, create_time, create_by, change_time, change_by) " +
		"SELECT " + cat("'Gen.User'", num) + ", " + cat("'gen.user'", num, "'@Filler.example'") + ", " + cat("'FILL'", num) + ", " +
		"'Filler', " + cat("'Person'", num) + ", 1, ?, 1, ?, 1 FROM " + series
	if _, err := db.SQL().Exec(db.Rebind(q), now, now); err != nil {
		t.Fatalf("fill %d users: %v", n, err)
	}
}

// indexFixture is a migrated database with the OTRS tables, a few hand-made customer users
// (the edge cases of the search syntax) and 3 000 generated ones.
func indexFixture(t *testing.T, d dialectCase) (*DB, *Source) {
	t.Helper()
	db := migrated(t, d)
	cfg := otrsConfig()
	cfg.CustomerCompanySupport = true
	s := mkSource(t, db, cfg)
	admin, err := NewAdmin(db, AdminOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"ACME", "BUILD"} {
		if err := admin.AddCompany(context.Background(), Company{CustomerID: c, Name: c + " Inc."}, "1"); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []map[string]string{
		user("jdoe", "John", "Doe", "ACME", "UserEmail", "John.Doe@Acme.test"),
		user("JSmith", "Jane", "Smith-Jones (HQ)", "ACME"),
		user("bob", "Bob", "Builder", "BUILD", "ValidID", "2"),
		user("axb", "Ex", "Bee!", "U2"),
		user("pcta", "100%", "Percent", "P1"),
		user("vdb", "Anna", "van der Berg", "NL"),
		user("Müller.Jörg", "Jörg", "Müller", "acme", "UserEmail", "JOERG@Müller.test"),
	} {
		mustAdd(t, s, u)
	}
	fillUsers(t, db, 3000)
	return db, s
}

// indexQueries are lookups and searches whose answers the indexes must not change.
var indexQueries = []directory.Query{
	{Search: "john"}, {Search: "JOHN"}, {Search: "smith"}, {Search: "*smith*"}, {Search: "acme"},
	{Search: "j*e"}, {Search: "acme+doe"}, {Search: "john OR bob"}, {Search: "acme&&!jane"}, {Search: "!a"},
	{Search: `"(HQ)"`}, {Search: "van der"}, {Search: "100%"}, {Search: "e!"}, {Search: "müller"}, {Search: "MÜLLER"},
	{Search: "person12"}, {Search: "qxzvj"}, {Search: "*"}, {Search: "fill*"}, {Search: "er", Limit: 7, Offset: 3},
	{UserLogin: "SMITH"}, {UserLogin: "user29"}, {PostMasterSearch: "JOHN.DOE@ACME.TEST"}, {PostMasterSearch: "joerg@müller.test"},
	{CustomerID: "ACME"}, {CustomerID: "ac*"}, {CustomerID: "FILL17"}, {Search: "b", ValidOnly: true}, {Limit: 5, Offset: 2},
}

var indexLogins = []string{"JDOE", "jsmith", "MÜLLER.JÖRG", "müller.jörg", "gen.user2999", "GEN.USER1", "nobody"}

// answers runs every lookup and search and renders the results, in order.
func answers(t *testing.T, s *Source) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, l := range indexLogins {
		u, err := s.Get(ctx, l)
		switch {
		case err == nil:
			out = append(out, fmt.Sprintf("get %s: %s %s %s %v", l, u.Login, u.Attrs["UserEmail"], u.Attrs["CustomerCompanyName"], u.CustomerIDs))
		case strings.Contains(err.Error(), directory.ErrNotFound.Error()):
			out = append(out, "get "+l+": not found")
		default:
			t.Fatalf("Get(%q): %v", l, err)
		}
	}
	for _, q := range indexQueries {
		us, err := s.Search(ctx, q)
		if err != nil {
			t.Fatalf("Search(%+v): %v", q, err)
		}
		logins := make([]string, len(us))
		for i, u := range us {
			logins[i] = u.Login
		}
		out = append(out, fmt.Sprintf("search %+v: %d %v", q, len(us), logins))
	}
	return out
}

// The indexes of migrate --indexes: only when asked, idempotent, used by the lookups, and
// no answer changes (before, after, after dropping them again).
func TestCreateIndexes(t *testing.T) {
	ctx := context.Background()
	want := map[string][]string{
		"postgres": {"gatehouse_customer_company_customer_id_lower", "gatehouse_customer_user_customer_id_lower",
			"gatehouse_customer_user_customer_id_lower_trgm", "gatehouse_customer_user_email_lower",
			"gatehouse_customer_user_first_name_lower_trgm", "gatehouse_customer_user_last_name_lower_trgm",
			"gatehouse_customer_user_login_lower", "gatehouse_customer_user_login_lower_trgm"},
		// login: OTRS's unique index serves "login = ?" once LOWER() is gone (fold.go).
		"mariadb": {"gatehouse_customer_user_customer_id", "gatehouse_customer_user_email", "gatehouse_customer_user_search"},
		"sqlite": {"gatehouse_customer_company_customer_id_lower", "gatehouse_customer_user_customer_id_lower",
			"gatehouse_customer_user_email_lower", "gatehouse_customer_user_login_lower"},
	}
	// The lookups' plans name these indexes once they exist.
	getIndex := map[string]string{"postgres": "gatehouse_customer_user_login_lower", "mariadb": "key=customer_user_login",
		"sqlite": "gatehouse_customer_user_login_lower"}
	emailIndex := map[string]string{"postgres": "gatehouse_customer_user_email_lower", "mariadb": "gatehouse_customer_user_email",
		"sqlite": "gatehouse_customer_user_email_lower"}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db, s := indexFixture(t, d)
			before := answers(t, s)
			if ix, err := GatehouseIndexes(ctx, db); err != nil || len(ix) != 0 {
				t.Fatalf("plain Migrate made indexes %v (%v)", ix, err)
			}
			plan, err := s.PlanIndexes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(plan.Planned); !reflect.DeepEqual(got, want[d.name]) {
				t.Errorf("planned %v, want %v", got, want[d.name])
			}
			if ix, _ := GatehouseIndexes(ctx, db); len(ix) != 0 {
				t.Fatalf("PlanIndexes created %v", ix)
			}

			rep, err := s.CreateIndexes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(rep.Created); !reflect.DeepEqual(got, want[d.name]) {
				t.Errorf("created %v, want %v", got, want[d.name])
			}
			if ix, err := GatehouseIndexes(ctx, db); err != nil || !reflect.DeepEqual(ix, want[d.name]) {
				t.Errorf("indexes in the database %v (%v), want %v", ix, err, want[d.name])
			}
			t.Logf("notes: %q", rep.Notes)

			again, err := s.CreateIndexes(ctx)
			if err != nil {
				t.Fatalf("second CreateIndexes: %v", err)
			}
			if len(again.Created) != 0 || !reflect.DeepEqual(names(again.Existing), want[d.name]) {
				t.Errorf("second run created %v, existing %v", names(again.Created), names(again.Existing))
			}

			if after := answers(t, s); !reflect.DeepEqual(after, before) {
				t.Errorf("answers changed by the indexes:\n%s", diffLines(before, after))
			}
			// A fresh source (a restarted gatehouse) answers the same.
			if fresh := answers(t, mkSource(t, db, s.cfg)); !reflect.DeepEqual(fresh, before) {
				t.Errorf("answers of a new source differ:\n%s", diffLines(before, fresh))
			}

			plan2, err := s.ExplainGet(ctx, "GEN.USER17")
			if err != nil || !strings.Contains(strings.Join(plan2, "\n"), getIndex[d.name]) {
				t.Errorf("Get does not use %s:\n%s (%v)", getIndex[d.name], strings.Join(plan2, "\n"), err)
			}
			plan3, err := s.ExplainSearch(ctx, directory.Query{PostMasterSearch: "GEN.USER17@FILLER.EXAMPLE", Limit: 2})
			if err != nil || !strings.Contains(strings.Join(plan3, "\n"), emailIndex[d.name]) {
				t.Errorf("postmaster search does not use %s:\n%s (%v)", emailIndex[d.name], strings.Join(plan3, "\n"), err)
			}

			dropped, err := s.DropIndexes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(dropped)
			if !reflect.DeepEqual(dropped, want[d.name]) {
				t.Errorf("dropped %v, want %v", dropped, want[d.name])
			}
			if ix, _ := GatehouseIndexes(ctx, db); len(ix) != 0 {
				t.Errorf("left after DropIndexes: %v", ix)
			}
			if after := answers(t, s); !reflect.DeepEqual(after, before) {
				t.Errorf("answers changed after dropping the indexes:\n%s", diffLines(before, after))
			}
		})
	}
}

func names(ixs []Index) []string {
	out := make([]string, len(ixs))
	for i, ix := range ixs {
		out[i] = ix.Name
	}
	slices.Sort(out)
	return out
}

func diffLines(a, b []string) string {
	var out []string
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			out = append(out, "- "+x, "+ "+y)
		}
	}
	return strings.Join(out, "\n")
}

// The case-sensitive modes need plain indexes, and get them only where no index leads with
// the column already.
func TestCreateIndexesCaseSensitive(t *testing.T) {
	ctx := context.Background()
	want := map[string][]string{
		"postgres": {"gatehouse_customer_user_customer_id", "gatehouse_customer_user_customer_id_trgm", "gatehouse_customer_user_email",
			"gatehouse_customer_user_email_lower", "gatehouse_customer_user_first_name_trgm", "gatehouse_customer_user_last_name_trgm",
			"gatehouse_customer_user_login_trgm"},
		"mariadb": {"gatehouse_customer_user_customer_id", "gatehouse_customer_user_email", "gatehouse_customer_user_search"},
		"sqlite":  {"gatehouse_customer_user_customer_id", "gatehouse_customer_user_email", "gatehouse_customer_user_email_lower"},
	}
	forEachDialect(t, func(t *testing.T, db *DB, d dialectCase) {
		if _, err := Migrate(ctx, db, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		cfg := otrsConfig()
		cfg.Params.CaseSensitive, cfg.Params.SearchCaseSensitive = true, true
		s := mkSource(t, db, cfg)
		mustAdd(t, s, user("John", "John", "Doe", "ACME"))
		before := [][]string{loginsOfSearch(t, s, "John"), loginsOfSearch(t, s, "john")}
		rep, err := s.CreateIndexes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(rep.Created); !reflect.DeepEqual(got, want[d.name]) {
			t.Errorf("created %v, want %v", got, want[d.name])
		}
		// login is case-sensitive: OTRS's unique index on login serves it.
		if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "the login lookup uses the existing index") }) {
			t.Errorf("no note about the login index: %q", rep.Notes)
		}
		after := [][]string{loginsOfSearch(t, s, "John"), loginsOfSearch(t, s, "john")}
		if !reflect.DeepEqual(before, after) || len(after[0]) != 1 || len(after[1]) != 0 {
			t.Errorf("case-sensitive search before %v, after %v", before, after)
		}
	})
}

func loginsOfSearch(t *testing.T, s *Source, q string) []string {
	t.Helper()
	us, err := s.Search(context.Background(), directory.Query{Search: q})
	if err != nil {
		t.Fatal(err)
	}
	return loginsOf(us)
}

// Without the right to create pg_trgm, CreateIndexes says so and creates the rest.
func TestCreateIndexesWithoutTrigram(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDB(t)
	super := openDB(t, dsn)
	role := testenv.RandomName("gh_noext_")
	// The role may create tables in the schema (and so owns and may index them) but not
	// extensions in the database.
	for _, q := range []string{"CREATE ROLE " + role + " LOGIN", "GRANT CREATE ON SCHEMA public TO " + role} {
		if _, err := super.SQL().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// Before testenv drops the database: the role's objects go first, then the role.
		_, _ = super.SQL().Exec("DROP OWNED BY " + role)
		_, _ = super.SQL().Exec("DROP ROLE IF EXISTS " + role)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	db := openDB(t, u.String())
	if _, err := Migrate(ctx, db, MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := mkSource(t, db, otrsConfig())
	mustAdd(t, s, user("jdoe", "John", "Doe", "ACME"))
	rep, err := s.CreateIndexes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"gatehouse_customer_user_customer_id_lower", "gatehouse_customer_user_email_lower", "gatehouse_customer_user_login_lower"}
	if got := names(rep.Created); !reflect.DeepEqual(got, want) {
		t.Errorf("created %v, want %v", got, want)
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool {
		return strings.Contains(n, "pg_trgm extension could not be created") && strings.Contains(n, "permission denied")
	}) {
		t.Errorf("notes do not say pg_trgm was refused: %q", rep.Notes)
	}
	if got := loginsOfSearch(t, s, "doe"); !reflect.DeepEqual(got, []string{"jdoe"}) {
		t.Errorf("search without trigram indexes: %v", got)
	}
}

// The search shapes of plan.go: MariaDB reads primary keys first (deferred join);
// PostgreSQL collects first only with its trigram indexes, when the terms allow it.
func TestSearchShape(t *testing.T) {
	ctx := context.Background()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			_, s := indexFixture(t, d)
			shape := func(q directory.Query) string {
				sq, _, ok := s.searchSQL(ctx, q)
				if !ok {
					t.Fatalf("searchSQL(%+v) matches nothing", q)
				}
				return sq
			}
			collect := func() bool { return strings.Contains(shape(directory.Query{Search: "smith"}), "OFFSET 0) AS m") }
			if strings.Contains(shape(directory.Query{Limit: 10}), " JOIN ") || strings.Contains(shape(directory.Query{Limit: 10}), "OFFSET 0") {
				t.Errorf("a list without conditions is not a plain walk: %s", shape(directory.Query{Limit: 10}))
			}
			switch d.name {
			case "mariadb":
				if sq := shape(directory.Query{Search: "smith"}); !strings.Contains(sq, "JOIN (SELECT `id` FROM") {
					t.Errorf("MariaDB search is not a deferred join: %s", sq)
				}
			case "postgres":
				if collect() {
					t.Error("collects first without trigram indexes")
				}
				if _, err := s.CreateIndexes(ctx); err != nil {
					t.Fatal(err)
				}
				if !collect() {
					t.Errorf("does not collect first with trigram indexes: %s", shape(directory.Query{Search: "smith"}))
				}
				for _, q := range []string{"!smith", "sm", "smith OR !x"} {
					if sq := shape(directory.Query{Search: q}); strings.Contains(sq, "OFFSET 0) AS m") {
						t.Errorf("%q cannot use trigram indexes but collects first: %s", q, sq)
					}
				}
				// Filler matches every generated customer user: walking is cheaper.
				if sq := shape(directory.Query{Search: "filler"}); strings.Contains(sq, "OFFSET 0) AS m") {
					t.Errorf("a term matching nearly everyone collects first: %s", sq)
				}
				if _, err := s.DropIndexes(ctx); err != nil {
					t.Fatal(err)
				}
				if collect() {
					t.Error("still collects first after the trigram indexes were dropped")
				}
			default:
				if sq := shape(directory.Query{Search: "smith"}); !strings.HasPrefix(sq, s.selectSQL+" WHERE ") {
					t.Errorf("SQLite search is not plain: %s", sq)
				}
			}
		})
	}
}

func TestTrigramFriendly(t *testing.T) {
	s := &Source{search: []string{"login", "last_name"}, key: "login"}
	s.cfg.CustomerUserSearchPrefix, s.cfg.CustomerUserSearchSuffix = "*", "*"
	all := map[string]bool{"login": true, "last_name": true}
	for _, tt := range []struct {
		expr    string
		indexed map[string]bool
		want    bool
	}{
		{"smith", all, true},
		{"sm", all, false},
		{"s*mi*th", all, false},
		{"smi*th", all, true},
		{"!smith", all, false},
		{"smith AND !x", all, true},
		{"smith OR !x", all, false},
		{"smith OR jones", all, true},
		{"smith OR jo", all, false},
		{"(ab OR cd) AND smith", all, true},
		{"smith", map[string]bool{"login": true}, false},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			n, ok := parseSearch(tt.expr)
			if !ok {
				t.Fatal("parse")
			}
			if got := s.trigramFriendly(n, tt.indexed); got != tt.want {
				t.Errorf("trigramFriendly(%q) = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestIndexName(t *testing.T) {
	for _, tt := range []struct{ table, col, kind, want string }{
		{"customer_user", "login", "lower", "gatehouse_customer_user_login_lower"},
		{"customer_user", "search", "", "gatehouse_customer_user_search"},
	} {
		if got := indexName(tt.table, tt.col, tt.kind); got != tt.want {
			t.Errorf("indexName(%q, %q, %q) = %q, want %q", tt.table, tt.col, tt.kind, got, tt.want)
		}
	}
	long := strings.Repeat("t", 60)
	a, b := indexName(long, "column_a", "lower_trgm"), indexName(long, "column_b", "lower_trgm")
	if len(a) > maxIdent || len(b) > maxIdent || a == b || !strings.HasPrefix(a, IndexPrefix) {
		t.Errorf("long names %q, %q", a, b)
	}
}

// The characters gatehouse lets a folding collation treat differently from LOWER() are
// exactly those that Unicode normalization (NFC) never leaves in a text.
func TestNFCSingletons(t *testing.T) {
	for cp := range nfcSingletons {
		s := string(rune(cp))
		if norm.NFC.String(s) == s {
			t.Errorf("U+%04X survives NFC", cp)
		}
	}
}

// On MariaDB, case-insensitive comparisons drop LOWER() only under collations that fold
// case as LOWER() does (checked on the server), and answer the same either way.
func TestCollationFold(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.MySQLDB(t)
	db := openDB(t, dsn)
	if _, err := Migrate(ctx, db, MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The server's own verdicts on the collations OTRS installs meet.
	for _, tt := range []struct {
		charset, collation string
		want               bool
	}{
		{"utf8mb4", "utf8mb4_unicode_ci", true},
		{"utf8mb4", "utf8mb4_unicode_520_ci", true},
		{"utf8mb4", "utf8mb4_general_ci", true}, // only the NFC singletons differ
		{"utf8mb3", "utf8mb3_general_ci", true},
		{"utf8mb4", "utf8mb4_turkish_ci", true}, // LOWER follows the Turkish rules there: LOWER('I') = 'ı'
		{"utf8mb4", "utf8mb4_general_nopad_ci", true},
		{"utf8mb4", "utf8mb4_bin", false},
		{"latin1", "latin1_swedish_ci", true},
	} {
		if got := db.foldsLikeLower(ctx, tt.charset, tt.collation); got != tt.want {
			t.Errorf("foldsLikeLower(%s) = %v, want %v", tt.collation, got, tt.want)
		}
	}
	s := mkSource(t, db, otrsConfig())
	mustAdd(t, s, user("John.Doe", "John", "Doe", "ACME", "UserEmail", "John.Doe@Example.test"))
	lookups := func(s *Source) []string {
		var out []string
		for _, l := range []string{"john.doe", "JOHN.DOE", "John.Doe"} {
			u, err := s.Get(ctx, l)
			if err != nil {
				t.Fatalf("Get(%q): %v", l, err)
			}
			out = append(out, u.Login)
		}
		for _, q := range []directory.Query{{Search: "JOHN"}, {PostMasterSearch: "JOHN.DOE@EXAMPLE.TEST"}, {CustomerID: "acme"}} {
			out = append(out, loginsOfQuery(t, s, q)...)
		}
		return out
	}
	want := lookups(s)
	if !reflect.DeepEqual(want, []string{"John.Doe", "John.Doe", "John.Doe", "John.Doe", "John.Doe", "John.Doe"}) {
		t.Fatalf("case-insensitive lookups under utf8mb4_unicode_ci: %v", want)
	}
	if cond, _ := s.loginMatch("x"); cond != "`login` = ?" {
		t.Errorf("login condition under utf8mb4_unicode_ci: %s", cond)
	}
	for _, coll := range []string{"utf8mb4_bin", "utf8mb4_general_ci"} {
		t.Run(coll, func(t *testing.T) {
			for _, col := range []string{"login VARCHAR(200)", "email VARCHAR(150)", "customer_id VARCHAR(150)", "first_name VARCHAR(100)", "last_name VARCHAR(100)"} {
				if _, err := db.SQL().Exec("ALTER TABLE customer_user MODIFY " + col + " CHARACTER SET utf8mb4 COLLATE " + coll + " NOT NULL"); err != nil {
					t.Fatal(err)
				}
			}
			s := mkSource(t, db, otrsConfig())
			if got := lookups(s); !reflect.DeepEqual(got, want) {
				t.Errorf("lookups under %s: %v, want %v", coll, got, want)
			}
			cond, _ := s.loginMatch("x")
			folds := coll != "utf8mb4_bin"
			if strings.Contains(cond, "LOWER") == folds {
				t.Errorf("login condition under %s: %s", coll, cond)
			}
			plan, err := s.PlanIndexes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			note := slices.ContainsFunc(plan.Notes, func(n string) bool {
				return strings.Contains(n, "customer_user.login: its collation does not ignore case")
			})
			if note == folds {
				t.Errorf("notes under %s: %q", coll, plan.Notes)
			}
		})
	}
}

func loginsOfQuery(t *testing.T, s *Source, q directory.Query) []string {
	t.Helper()
	us, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return loginsOf(us)
}

// BenchmarkSearch: the OTRS search on the small fixture (run with -benchmem).
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) {
			db := migrated(b, d)
			s := mkSource(b, db, otrsConfig())
			for i, l := range []string{"alice.smith", "bob.jones", "carol.smithers", "dave.miller"} {
				mustAdd(b, s, user(l, "F", "L", fmt.Sprintf("C%d", i)))
			}
			fillUsers(b, db, 500)
			for _, q := range []directory.Query{{Search: "*smith*"}, {Search: "qxzvj"}} {
				b.Run(q.Search, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := s.Search(ctx, q); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
