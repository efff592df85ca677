package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// ImportRow is one customer user to import: Map variables, and the line of the input it came
// from (for error reports).
type ImportRow struct {
	Line  int
	Attrs map[string]string
}

// RowError is a refused import row.
type RowError struct {
	Line  int    `json:"line"`
	Login string `json:"login,omitempty"`
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
}

// ImportReport is what an import did.
type ImportReport struct {
	Source   string     `json:"source"`
	Rows     int        `json:"rows"`
	Imported int        `json:"imported"`
	Bad      []RowError `json:"bad"`
}

// Progress receives an import's progress: phase ("validate", "import"), rows done, total.
type Progress func(phase string, done, total int)

// ImportOptions tune Import.
type ImportOptions struct {
	// SkipBad loads the good rows even when some are bad.
	SkipBad bool
	// Bad are rows already refused before Import (by ReadCSV); they count as bad rows.
	Bad []RowError
	// Progress, if set, is called as rows are validated and loaded.
	Progress Progress
}

// ErrBadRows: an import was refused because rows are invalid; nothing was loaded.
var ErrBadRows = errors.New("bad rows")

// bulkAdder is the bulk path of sqldb.Source.
type bulkAdder interface {
	AddMany(ctx context.Context, rows []map[string]string, by string, progress func(int)) (int, error)
}

type loginChecker interface {
	ExistingLogins(ctx context.Context, logins []string) (map[string]string, error)
}

type emailChecker interface {
	ExistingEmails(ctx context.Context, emails []string) (map[string]string, error)
}

// Import adds many customer users to source ("": the first writable one). EVERY row is
// validated first with the rules of AddCustomerUser — required Map fields, email syntax and
// (with customer_user_email_uniq_check) uniqueness, an existing customer, a login unused in
// every source — and against the other rows (a login or email twice). With a bad row
// nothing is loaded and the report lists every bad row with its line, unless skipBad: then
// the good rows are loaded. opts.Bad (rows ReadCSV refused) count as bad rows too. The rows are loaded in one transaction (all or nothing). A
// UserPassword column is hashed in the source's crypt type; rows without one get no password
// (no DB login until set-password), as OTRS's CustomerUserAdd.
func (s *Service) Import(ctx context.Context, by, source string, rows []ImportRow, opts ImportOptions) (*ImportReport, error) {
	progress, skipBad := opts.Progress, opts.SkipBad
	if progress == nil {
		progress = func(string, int, int) {}
	}
	name, err := s.AddSource(source)
	if err != nil {
		return nil, err
	}
	rep := &ImportReport{Source: name, Rows: len(rows) + len(opts.Bad), Bad: append([]RowError{}, opts.Bad...)}
	if err := s.requireCustomers(ctx); err != nil {
		return rep, err
	}
	c := s.cfgs[name]
	good := make([]map[string]string, len(rows)) // nil = bad
	bad := func(i int, err error) {
		good[i] = nil
		rep.Bad = append(rep.Bad, RowError{Line: rows[i].Line, Login: strings.TrimSpace(rows[i].Attrs[directory.VarLogin]),
			Field: FieldOf(err), Error: err.Error()})
	}
	companies := map[string]string{}
	logins := map[string]int{} // lower login → row
	emails := map[string]int{}
	for i, r := range rows {
		if i%1000 == 0 {
			progress("validate", i, len(rows))
		}
		attrs, err := s.normalize(c, r.Attrs, nil)
		if err == nil {
			err = checkRequired(c, attrs, true)
		}
		if err == nil && attrs[directory.VarEmail] != "" {
			err = checkEmail(attrs[directory.VarEmail])
		}
		if err == nil {
			attrs[directory.VarCustomerID], err = s.customerRef(ctx, attrs[directory.VarCustomerID], companies)
			var e *Error
			if err != nil && !errors.As(err, &e) {
				return rep, err
			}
		}
		if err != nil {
			bad(i, err)
			continue
		}
		l := strings.ToLower(attrs[directory.VarLogin])
		if j, ok := logins[l]; ok {
			bad(i, fail(directory.ErrExists, directory.VarLogin, "login %q is also on line %d", attrs[directory.VarLogin], rows[j].Line))
			continue
		}
		logins[l] = i
		if e := strings.ToLower(attrs[directory.VarEmail]); e != "" && c.CustomerUserEmailUniqCheck {
			if j, ok := emails[e]; ok {
				bad(i, fail(directory.ErrExists, directory.VarEmail, "email %q is also on line %d", attrs[directory.VarEmail], rows[j].Line))
				continue
			}
			emails[e] = i
		}
		good[i] = attrs
	}
	// Logins taken in any source, emails taken in the target source: batched where the
	// source can, one lookup per row elsewhere.
	var checkLogins []string
	for _, a := range good {
		if a != nil {
			checkLogins = append(checkLogins, a[directory.VarLogin])
		}
	}
	for _, src := range s.dir.Sources() {
		taken := map[string]string{}
		if lc, ok := unwrap(src).(loginChecker); ok {
			if taken, err = lc.ExistingLogins(ctx, checkLogins); err != nil {
				return rep, err
			}
		} else {
			for n, l := range checkLogins {
				if n%1000 == 0 {
					progress("validate", n, len(checkLogins))
				}
				u, err := src.Get(ctx, l)
				if err == nil {
					taken[strings.ToLower(l)] = u.Login
				} else if !errors.Is(err, directory.ErrNotFound) {
					return rep, fmt.Errorf("check logins in source %q: %w", src.Name(), err)
				}
			}
		}
		for l, stored := range taken {
			if i, ok := logins[strings.ToLower(l)]; ok && good[i] != nil {
				bad(i, fail(directory.ErrExists, directory.VarLogin, "login %q already exists (data source %q)", stored, src.Name()))
			}
		}
	}
	if c.CustomerUserEmailUniqCheck && len(emails) > 0 {
		src, _ := s.dir.Source(name)
		var list []string
		for e, i := range emails {
			if good[i] != nil {
				list = append(list, e)
			}
		}
		if ec, ok := unwrap(src).(emailChecker); ok {
			taken, err := ec.ExistingEmails(ctx, list)
			if err != nil {
				return rep, err
			}
			for e, login := range taken {
				if i, ok := emails[e]; ok && good[i] != nil {
					bad(i, fail(directory.ErrExists, directory.VarEmail, "email %q is already used by customer user %q", good[i][directory.VarEmail], login))
				}
			}
		} else {
			for _, e := range list {
				if other, err := s.emailUsed(ctx, name, e, ""); err != nil {
					return rep, err
				} else if other != "" {
					i := emails[e]
					bad(i, fail(directory.ErrExists, directory.VarEmail, "email %q is already used by customer user %q", good[i][directory.VarEmail], other))
				}
			}
		}
	}
	progress("validate", len(rows), len(rows))
	sortBad(rep.Bad)
	if len(rep.Bad) > 0 && !skipBad {
		return rep, fail(ErrBadRows, "", "%d of %d rows are bad; nothing imported", len(rep.Bad), rep.Rows)
	}
	var load []map[string]string
	for _, a := range good {
		if a != nil {
			load = append(load, a)
		}
	}
	if len(load) == 0 {
		return rep, nil
	}
	src, _ := s.dir.Source(name)
	if ba, ok := unwrap(src).(bulkAdder); ok {
		n, err := ba.AddMany(ctx, load, by, func(done int) { progress("import", done, len(load)) })
		if inv, ok := src.(directory.Invalidator); ok {
			inv.Purge()
		}
		if err != nil {
			return rep, s.mapWriteErr(err)
		}
		rep.Imported = n
	} else {
		for i, a := range load {
			if _, err := s.dir.Add(ctx, name, a, by); err != nil {
				return rep, fmt.Errorf("after %d rows: %w", i, s.mapWriteErr(err))
			}
			rep.Imported++
			if rep.Imported%1000 == 0 {
				progress("import", rep.Imported, len(load))
			}
		}
		progress("import", rep.Imported, len(load))
	}
	s.audit(ctx, by, "customer_user.import", name, "rows", rep.Imported, "skipped", len(rep.Bad))
	return rep, nil
}

func sortBad(b []RowError) {
	sort.SliceStable(b, func(i, j int) bool { return b[i].Line < b[j].Line })
}

// ReadCSV reads customer users for Import from CSV: a header row naming a Map variable of
// source ("": the source new customer users go to) in each column — UserLogin, UserEmail,
// UserRoom, …; the storage column (login, email, room) is accepted too — then one row per
// customer user. Rows are numbered by the line they start on. A header naming no Map
// variable, or a row with the wrong number of fields, is an error; the row errors are
// returned, not the first one only. Empty lines are skipped.
func (s *Service) ReadCSV(source string, r io.Reader) ([]ImportRow, []RowError, error) {
	fields, err := s.Fields(source)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]string{}
	for _, f := range fields {
		byName[f.Var] = f.Var
		byName[strings.ToLower(f.Var)] = f.Var
		if f.Storage != "" {
			if _, ok := byName[strings.ToLower(f.Storage)]; !ok {
				byName[strings.ToLower(f.Storage)] = f.Var
			}
		}
	}
	byName[directory.VarPassword] = directory.VarPassword
	byName[strings.ToLower(directory.VarPassword)] = directory.VarPassword
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fail(directory.ErrInvalid, "", "CSV header: %v", err)
	}
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		v, ok := byName[h]
		if !ok {
			v, ok = byName[strings.ToLower(h)]
		}
		if !ok {
			return nil, nil, fail(directory.ErrInvalid, h, "CSV line 1, column %d: %q is no Map variable of the data source", i+1, h)
		}
		if seen[v] {
			return nil, nil, fail(directory.ErrInvalid, h, "CSV line 1: column %s twice", v)
		}
		seen[v] = true
		cols[i] = v
	}
	var rows []ImportRow
	var bad []RowError
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, RowError{Line: pe.StartLine, Error: pe.Error()})
				if errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) {
					continue
				}
			}
			return nil, nil, fail(directory.ErrInvalid, "", "CSV: %v", err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(cols) {
			bad = append(bad, RowError{Line: line, Error: fmt.Sprintf("%d fields, the header has %d", len(rec), len(cols))})
			continue
		}
		attrs := make(map[string]string, len(cols))
		for i, v := range rec {
			attrs[cols[i]] = v
		}
		rows = append(rows, ImportRow{Line: line, Attrs: attrs})
	}
	return rows, bad, nil
}
