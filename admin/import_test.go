package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// A CSV import validates every row first, reports the bad ones with their line numbers and
// loads nothing; with skipBad it loads the good ones.
func TestImportCSV(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d.dsn(t), envOpts{second: true})
		ctx := context.Background()
		csv := "UserLogin,UserFirstname,UserLastname,email,UserCustomerID,room,UserPassword\n" +
			"alice,Alice,A,alice@example.com,ACME,R1,Secret123!\n"
		// No customer yet: the whole import is refused.
		rows, bad, err := e.svc.ReadCSV("", strings.NewReader(csv))
		if err != nil || len(bad) != 0 || len(rows) != 1 {
			t.Fatalf("read: %v %v %v", rows, bad, err)
		}
		if _, err := e.svc.Import(ctx, "test", "", rows, ImportOptions{}); !errors.Is(err, ErrNoCustomer) {
			t.Fatalf("import before any customer: %v", err)
		}
		if _, err := e.svc.AddCustomer(ctx, "test", map[string]string{"CustomerID": "ACME", "CustomerCompanyName": "Acme"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.AddCustomerUser(ctx, "test", "Second", map[string]string{"UserLogin": "taken", "UserFirstname": "T",
			"UserLastname": "T", "UserEmail": "taken@example.com", "UserCustomerID": "ACME"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.AddCustomerUser(ctx, "test", "", map[string]string{"UserLogin": "mailowner", "UserFirstname": "M",
			"UserLastname": "O", "UserEmail": "used@example.com", "UserCustomerID": "ACME"}); err != nil {
			t.Fatal(err)
		}
		csv += "bob,Bob,B,bob@example.com,acme,,\n" + // 3 good (customer id in any case)
			"carol,,C,carol@example.com,ACME,,\n" + // 4 required first name
			"dave,Dave,D,not-an-email,ACME,,\n" + // 5 email syntax
			"erin,Erin,E,erin@example.com,NOPE,,\n" + // 6 unknown customer
			"TAKEN,T,T,t2@example.com,ACME,,\n" + // 7 login in another source
			"Alice,A,A,a2@example.com,ACME,,\n" + // 8 login twice in the file
			"frank,Frank,F,USED@example.com,ACME,,\n" + // 9 email taken
			"gina,Gina,G,BOB@example.com,ACME,,\n" + // 10 email twice in the file
			"\"multi\nline\",Hans,H,hans@example.com,ACME,,\n" + // 11-12 good, a quoted newline
			"ivan,Ivan,I,ivan@example.com,ACME\n" + // 13 wrong field count
			"jo,Jo,J,jo@example.com,ACME,,\n" // 14 good
		rows, bad, err = e.svc.ReadCSV("", strings.NewReader(csv))
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) != 1 || bad[0].Line != 13 {
			t.Fatalf("CSV-level bad rows: %+v", bad)
		}
		rep, err := e.svc.Import(ctx, "test", "", rows, ImportOptions{Bad: bad})
		if !errors.Is(err, ErrBadRows) {
			t.Fatalf("import with bad rows: %v", err)
		}
		var lines []string
		for _, b := range rep.Bad {
			lines = append(lines, fmt.Sprintf("%d:%s", b.Line, b.Field))
		}
		want := "4:UserFirstname 5:UserEmail 6:UserCustomerID 7:UserLogin 8:UserLogin 9:UserEmail 10:UserEmail 13:"
		if strings.Join(lines, " ") != want {
			t.Fatalf("bad rows %v\nwant %s\n%+v", lines, want, rep.Bad)
		}
		if rep.Imported != 0 {
			t.Fatal("imported despite bad rows")
		}
		if _, err := e.svc.GetCustomerUser(ctx, "alice"); err == nil {
			t.Fatal("alice loaded although the import was refused")
		}

		// --skip-bad: the good rows go in.
		var phases []string
		rep, err = e.svc.Import(ctx, "test", "", rows, ImportOptions{SkipBad: true, Bad: bad, Progress: func(phase string, done, total int) {
			if len(phases) == 0 || phases[len(phases)-1] != phase {
				phases = append(phases, phase)
			}
		}})
		if err != nil || rep.Imported != 4 || len(rep.Bad) != 8 || rep.Bad[7].Line != 13 {
			t.Fatalf("skip bad: %+v %v", rep, err)
		}
		if strings.Join(phases, ",") != "validate,import" {
			t.Fatalf("progress phases %v", phases)
		}
		u, err := e.svc.GetCustomerUser(ctx, "alice")
		if err != nil || u.Attrs["UserRoom"] != "R1" || u.CustomerID != "ACME" || u.ValidID != 1 {
			t.Fatalf("alice: %+v %v", u, err)
		}
		if !passwd.Check(storedPassword(t, e.db, "alice"), "Secret123!", "alice", false) {
			t.Fatal("alice's password not stored")
		}
		if storedPassword(t, e.db, "bob") != "" {
			t.Fatal("bob got a password")
		}
		if u, err := e.svc.GetCustomerUser(ctx, "multi\nline"); err != nil || u.Attrs["UserFirstname"] != "Hans" {
			t.Fatalf("quoted newline row: %v", err)
		}
		// Importing again: every row is now taken.
		rep, err = e.svc.Import(ctx, "test", "", rows, ImportOptions{})
		if !errors.Is(err, ErrBadRows) || len(rep.Bad) != len(rows) {
			t.Fatalf("reimport: %d bad of %d: %v", len(rep.Bad), len(rows), err)
		}
		// A header naming no Map variable.
		if _, _, err := e.svc.ReadCSV("", strings.NewReader("UserLogin,ShoeSize\nx,44\n")); FieldOf(err) != "ShoeSize" {
			t.Fatalf("bad header: %v", err)
		}
	})
}

// BenchmarkImport100k imports 100 000 customer users from CSV into a fresh SQLite database
// per iteration and reports rows/s (validation included, database setup excluded).
func BenchmarkImport100k(b *testing.B) {
	const n = 100_000
	var sb strings.Builder
	sb.WriteString("UserLogin,UserFirstname,UserLastname,UserEmail,UserCustomerID,UserCity,UserRoom\n")
	for i := range n {
		fmt.Fprintf(&sb, "user%06d,First%d,Last%d,user%06d@example.com,C%02d,City %d,R%d\n", i, i, i, i, i%20, i%97, i%500)
	}
	data := sb.String()
	var total time.Duration
	for range b.N {
		b.StopTimer()
		e := newEnv(b, testenv.SQLiteDSN(b), envOpts{})
		ctx := context.Background()
		for c := range 20 {
			if _, err := e.svc.AddCustomer(ctx, "bench", map[string]string{"CustomerID": fmt.Sprintf("C%02d", c), "CustomerCompanyName": fmt.Sprintf("Company %d", c)}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		rows, bad, err := e.svc.ReadCSV("", strings.NewReader(data))
		if err != nil || len(bad) > 0 {
			b.Fatalf("read: %v %v", bad, err)
		}
		rep, err := e.svc.Import(ctx, "bench", "", rows, ImportOptions{})
		if err != nil || rep.Imported != n {
			b.Fatalf("import: %v %+v", err, rep)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "rows/s")
	b.ReportMetric(total.Seconds()/float64(b.N), "s/import")
}
