package db

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// recordingChecker runs the real check and remembers which stored values were checked.
type recordingChecker struct {
	mu      sync.Mutex
	checked []string
}

func (r *recordingChecker) Check(_ context.Context, stored, pw, login string, plain bool) (bool, error) {
	r.mu.Lock()
	r.checked = append(r.checked, stored)
	r.mu.Unlock()
	return passwd.Check(stored, pw, login, plain), nil
}

const sha2 = "94e0f9bc7f5a5225bd141bad5adf9befcc112aef09b88f47a14e20b75a7bbec2" // Secret123!

func setup(t *testing.T, dsn string) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		"CREATE TABLE users (login VARCHAR(200) NOT NULL, pw VARCHAR(128))",
		"INSERT INTO users (login, pw) VALUES ('alice', '" + sha2 + "')",
		"INSERT INTO users (login, pw) VALUES ('nopw', NULL)",
		"INSERT INTO users (login, pw) VALUES ('empty', '')",
		// Two rows for one login: OTRS takes the last one.
		"INSERT INTO users (login, pw) VALUES ('twice', 'af6daf5f1a60c91f73361dd476c97e496beda065')",
		"INSERT INTO users (login, pw) VALUES ('twice', '" + sha2 + "')",
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db
}

func TestAuthenticate(t *testing.T) {
	for _, d := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"sqlite", testenv.SQLiteDSN}, {"postgresql", testenv.PostgresDB}, {"mariadb", testenv.MySQLDB}} {
		t.Run(d.name, func(t *testing.T) {
			db := setup(t, d.dsn(t))
			rec := &recordingChecker{}
			m, err := New(configs.AuthModule{Name: "db", Table: "users", CustomerKey: "login", CustomerPassword: "pw", CryptType: "bcrypt", BcryptCost: 10}, db, rec)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				login, pw  string
				want       authn.Outcome
				wantStored string // the value checked: a dummy for users without a usable row
			}{
				{"alice", "Secret123!", authn.Authenticated, sha2},
				{"alice", "wrong", authn.Rejected, sha2},
				// After alice was found, unknown users are checked against her sha2 value, not a
				// bcrypt dummy: the same cost as her wrong password.
				{"nobody", "Secret123!", authn.Rejected, sha2},
				{"nopw", "Secret123!", authn.Rejected, sha2},
				{"empty", "Secret123!", authn.Rejected, sha2},
				{"twice", "Secret123!", authn.Authenticated, sha2},
				{"alice", "", authn.NotMine, ""},
				{"", "Secret123!", authn.NotMine, ""},
			} {
				rec.checked = nil
				res, err := m.Authenticate(context.Background(), authn.Credentials{Login: tc.login, Password: tc.pw})
				if err != nil {
					t.Fatalf("%s: %v", tc.login, err)
				}
				if res.Outcome != tc.want {
					t.Errorf("%s/%q: %v, want %v", tc.login, tc.pw, res.Outcome, tc.want)
				}
				if tc.want == authn.Authenticated && res.Login != tc.login {
					t.Errorf("%s: returned login %q, want the typed one", tc.login, res.Login)
				}
				// An unknown user is checked against a dummy of the configured type, so it costs
				// what a wrong password costs.
				if tc.wantStored != "" && (len(rec.checked) != 1 || rec.checked[0] != tc.wantStored) {
					t.Errorf("%s: checked %q, want [%q]", tc.login, rec.checked, tc.wantStored)
				}
				if tc.wantStored == "" && len(rec.checked) != 0 {
					t.Errorf("%s: empty credentials reached a hash check", tc.login)
				}
			}
		})
	}
}

// Before any login was found, the dummy is of the configured crypt type.
func TestFirstDummy(t *testing.T) {
	db := setup(t, testenv.SQLiteDSN(t))
	rec := &recordingChecker{}
	m, err := New(configs.AuthModule{Name: "db", Table: "users", CustomerKey: "login", CustomerPassword: "pw", CryptType: "bcrypt", BcryptCost: 10}, db, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(context.Background(), authn.Credentials{Login: "nobody", Password: "x"}); err != nil {
		t.Fatal(err)
	}
	if want := passwd.Dummy("bcrypt", 10); len(rec.checked) != 1 || rec.checked[0] != want {
		t.Fatalf("checked %q, want the bcrypt dummy", rec.checked)
	}
}

func TestFaultsAndOverload(t *testing.T) {
	db := setup(t, testenv.SQLiteDSN(t))
	pool := passwd.NewPool(1, 0)
	m, err := New(configs.AuthModule{Name: "db", Table: "users", CustomerKey: "login", CustomerPassword: "pw", CryptType: "sha2"}, db, pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a saturated pool answers ErrOverloaded", func(t *testing.T) {
		slow, err := passwd.Hash("bcrypt", "Secret123!", "slow", 12) // ~0.25 s per check
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().Exec("INSERT INTO users (login, pw) VALUES ('slow', ?)", slow); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		overloaded := 0
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := m.Authenticate(context.Background(), authn.Credentials{Login: "slow", Password: "Secret123!"})
				if errors.Is(err, authn.ErrOverloaded) {
					mu.Lock()
					overloaded++
					mu.Unlock()
				} else if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		t.Logf("%d of 50 concurrent logins refused by a 1-worker pool without queue", overloaded)
		if overloaded == 0 || overloaded == 50 {
			t.Fatalf("%d of 50 refused: want some refused and some checked", overloaded)
		}
		// A worker frees its slot just after handing back its result.
		deadline := time.Now().Add(5 * time.Second)
		for pool.Running() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if pool.Running() != 0 {
			t.Fatalf("%d checks still running", pool.Running())
		}
	})
	t.Run("database gone is a fault, not a rejection", func(t *testing.T) {
		db.Close()
		_, err := m.Authenticate(context.Background(), authn.Credentials{Login: "alice", Password: "Secret123!"})
		if err == nil || errors.Is(err, authn.ErrOverloaded) {
			t.Fatalf("err %v, want a fault", err)
		}
	})
	t.Run("identifiers are validated", func(t *testing.T) {
		if _, err := New(configs.AuthModule{Table: "users; DROP TABLE users", CustomerKey: "login", CustomerPassword: "pw"}, db, pool); err == nil {
			t.Fatal("SQL in a table name accepted")
		}
	})
}
