package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-sso/gatehouse/admin"
	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

const adminUsage = `Usage (every command takes --config FILE; --json prints JSON for scripts):
  gatehouse customer add KEY=VALUE…           add a customer (CustomerID=, CustomerCompanyName=, CustomerCompanyCity=, …)
  gatehouse customer list [--search S] [--limit N]
  gatehouse customer set ID KEY=VALUE…        change a customer (ValidID=invalid to deactivate)
  gatehouse customer-user add KEY=VALUE… [--source NAME]
                                              add a customer user (Map variables: UserLogin=, UserEmail=, UserRoom=, …);
                                              without UserPassword= a password is generated and shown once
  gatehouse customer-user set LOGIN KEY=VALUE…
  gatehouse customer-user list [--limit N] [--offset N]
  gatehouse customer-user search EXPR [--limit N]
                                              OTRS search syntax: jo*, "a phrase", AND, OR, !word
  gatehouse customer-user set-password LOGIN [--password-stdin]
                                              without --password-stdin a password is generated and shown once
  gatehouse customer-user set-valid LOGIN valid|invalid|invalid-temporarily
  gatehouse customer-user import FILE.csv [--skip-bad] [--source NAME]
                                              header row of Map variables; every row is validated first
  gatehouse group add NAME [--comment TEXT]
  gatehouse group list
  gatehouse group grant GROUP (--user LOGIN | --customer ID) --permission ro|rw
  gatehouse group revoke GROUP (--user LOGIN | --customer ID) [--permission ro|rw]
  gatehouse group effective LOGIN             effective permissions (as X-Customer-User-Groups carries them)
`

// adminCmd is one run of a customer, customer-user or group command.
type adminCmd struct {
	name   string // "customer-user add"
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	json   bool
	svc    *admin.Service
	app    *application
	by     string
	notes  []string
}

// cmdAdmin runs `gatehouse customer|customer-user|group SUB …` on the admin service layer.
func cmdAdmin(noun string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	sub, rest := args[0], args[1:]
	c := &adminCmd{name: noun + " " + sub, stdin: stdin, stdout: stdout, stderr: stderr}
	var h func(*flag.FlagSet) func(*flag.FlagSet, []string) int
	switch noun + " " + sub {
	case "customer add":
		h = c.customerAdd
	case "customer list":
		h = c.customerList
	case "customer set":
		h = c.customerSet
	case "customer-user add":
		h = c.userAdd
	case "customer-user set":
		h = c.userSet
	case "customer-user list":
		h = c.userList
	case "customer-user search":
		h = c.userSearch
	case "customer-user set-password":
		h = c.userSetPassword
	case "customer-user set-valid":
		h = c.userSetValid
	case "customer-user import":
		h = c.userImport
	case "group add":
		h = c.groupAdd
	case "group list":
		h = c.groupList
	case "group grant":
		h = c.groupGrant(true)
	case "group revoke":
		h = c.groupGrant(false)
	case "group effective":
		h = c.groupEffective
	default:
		fmt.Fprintf(stderr, "gatehouse %s: unknown command %q\n\n%s", noun, sub, adminUsage)
		return 2
	}
	fs := newFlags(c.name, stderr)
	path := fs.String("config", "", "config file (default: the embedded default)")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	run := h(fs) // registers the command's own flags
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return 2
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(cfg.Log, stderr)
	app, err := openSources(ctx, cfg, log, nil)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse %s: %v\n", c.name, err)
		return 1
	}
	defer app.close()
	c.app = app
	deps := admin.Deps{Directory: app.dir, Sources: cfg.CustomerUser, Admin: app.admin, Log: log}
	if len(app.sources) > 0 {
		gr, err := sqldb.NewGroupResolver(app.sources[0].DB(), app.groupsTable, cfg.CustomerGroup)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse %s: %v\n", c.name, err)
			return 1
		}
		deps.Groups = gr
	}
	if cfg.Sessions.Store != "" && cfg.Sessions.Store != "memory" {
		// A shared store (Redis): ending a customer user's sessions here ends them in every
		// gatehouse process.
		st, err := sessions.Open(cfg.Sessions)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse %s: %v\n", c.name, err)
			return 1
		}
		app.closers = append(app.closers, st.Close)
		deps.Sessions = sessions.NewManager(st, cfg.Sessions.IdleTimeout, cfg.Sessions.MaxLifetime)
	} else {
		c.notes = append(c.notes, "sessions.store is memory: the sessions of a running gatehouse live in its own memory, "+
			"so this command cannot end them; use the admin API or UI, or a Redis store")
	}
	if c.svc, err = admin.NewService(deps); err != nil {
		fmt.Fprintf(stderr, "gatehouse %s: %v\n", c.name, err)
		return 1
	}
	c.by = "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		c.by = "cli:" + u.Username
	}
	return run(fs, pos)
}

// parseInterspersed parses flags anywhere among the positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// fail prints an error (with its field) and returns exit code 1.
func (c *adminCmd) fail(err error) int {
	msg := err.Error()
	if f := admin.FieldOf(err); f != "" && !strings.Contains(msg, f) {
		msg += " (field " + f + ")"
	}
	fmt.Fprintf(c.stderr, "gatehouse %s: %s\n", c.name, msg)
	return 1
}

func (c *adminCmd) usage(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "gatehouse %s: %s\n\n%s", c.name, fmt.Sprintf(format, args...), adminUsage)
	return 2
}

func (c *adminCmd) printJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail(err)
	}
	return 0
}

func (c *adminCmd) table() *tabwriter.Writer { return tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0) }

// assignments parses KEY=VALUE arguments; resolve maps a key to its field name.
func assignments(args []string, resolve func(string) (string, bool)) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%q: want KEY=VALUE", a)
		}
		name, ok := resolve(strings.TrimSpace(k))
		if !ok {
			return nil, fmt.Errorf("unknown field %q", k)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("field %s given twice", name)
		}
		out[name] = v
	}
	return out, nil
}

// userField resolves a customer-user field: a Map variable of the source or its storage
// column (UserRoom or room), ignoring case.
func (c *adminCmd) userField(source string) func(string) (string, bool) {
	fields, _ := c.svc.Fields(source)
	return func(k string) (string, bool) {
		for _, f := range fields {
			if strings.EqualFold(k, f.Var) {
				return f.Var, true
			}
		}
		for _, f := range fields {
			if strings.EqualFold(k, f.Storage) {
				return f.Var, true
			}
		}
		for _, v := range []string{directory.VarLogin, directory.VarCustomerID, directory.VarPassword, directory.VarValidID} {
			if strings.EqualFold(k, v) {
				return v, true
			}
		}
		return "", false
	}
}

func companyField(k string) (string, bool) {
	for _, f := range admin.CompanyFields {
		if strings.EqualFold(k, f) {
			return f, true
		}
	}
	return "", false
}

// ---- customers ----

func (c *adminCmd) printCompanies(cs []sqldb.Company) int {
	if c.json {
		out := make([]map[string]any, len(cs))
		for i := range cs {
			out[i] = admin.CompanyRecord(&cs[i])
		}
		return c.printJSON(out)
	}
	tw := c.table()
	fmt.Fprintln(tw, "CUSTOMER ID\tNAME\tCITY\tCOUNTRY\tVALID")
	for _, co := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", co.CustomerID, co.Name, co.City, co.Country, admin.ValidityName(co.ValidID))
	}
	_ = tw.Flush()
	return 0
}

func (c *adminCmd) printCompany(co *sqldb.Company) int {
	if c.json {
		return c.printJSON(admin.CompanyRecord(co))
	}
	rec := admin.CompanyRecord(co)
	tw := c.table()
	for _, f := range admin.CompanyFields {
		v := rec[f]
		if f == directory.VarValidID {
			v = admin.ValidityName(co.ValidID)
		}
		fmt.Fprintf(tw, "%s\t%v\n", f, v)
	}
	_ = tw.Flush()
	return 0
}

func (c *adminCmd) customerAdd(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	return func(_ *flag.FlagSet, args []string) int {
		attrs, err := assignments(args, companyField)
		if err != nil {
			return c.usage("%v", err)
		}
		co, err := c.svc.AddCustomer(context.Background(), c.by, attrs)
		if err != nil {
			return c.fail(err)
		}
		return c.printCompany(co)
	}
}

func (c *adminCmd) customerList(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	search := fs.String("search", "", "customer id or name (substring, * wildcard)")
	limit := fs.Int("limit", 0, "at most this many (default 250)")
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) > 0 {
			return c.usage("unexpected arguments %q", args)
		}
		cs, err := c.svc.ListCustomers(context.Background(), *search, *limit)
		if err != nil {
			return c.fail(err)
		}
		return c.printCompanies(cs)
	}
}

func (c *adminCmd) customerSet(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) < 2 {
			return c.usage("want a customer id and KEY=VALUE…")
		}
		attrs, err := assignments(args[1:], companyField)
		if err != nil {
			return c.usage("%v", err)
		}
		co, err := c.svc.UpdateCustomer(context.Background(), c.by, args[0], attrs)
		if err != nil {
			return c.fail(err)
		}
		return c.printCompany(co)
	}
}

// ---- customer users ----

func (c *adminCmd) printUsers(us []directory.CustomerUser) int {
	if c.json {
		out := make([]map[string]any, len(us))
		for i := range us {
			out[i] = c.svc.Record(&us[i])
		}
		return c.printJSON(out)
	}
	tw := c.table()
	fmt.Fprintln(tw, "LOGIN\tNAME\tEMAIL\tCUSTOMER ID\tVALID\tSOURCE")
	for _, u := range us {
		valid := "-"
		if u.HasValidity {
			valid = admin.ValidityName(u.ValidID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Login, u.Attrs[directory.VarFullname], u.Attrs[directory.VarEmail], u.CustomerID, valid, u.Source)
	}
	_ = tw.Flush()
	if len(us) == 0 {
		fmt.Fprintln(c.stderr, "no customer users")
	}
	return 0
}

// printUser prints one record: the Map fields in Map order, then the computed ones;
// password, when generated, is shown once.
func (c *adminCmd) printUser(u *directory.CustomerUser, password string, revoked int) int {
	rec := c.svc.Record(u)
	if c.json {
		if password != "" {
			rec[directory.VarPassword] = password
		}
		if revoked > 0 {
			rec["SessionsEnded"] = revoked
		}
		return c.printJSON(rec)
	}
	fields, _ := c.svc.Fields(u.Source)
	tw := c.table()
	shown := map[string]bool{}
	for _, f := range fields {
		v, ok := rec[f.Var]
		if !ok {
			continue
		}
		shown[f.Var] = true
		if f.Var == directory.VarValidID && u.HasValidity {
			v = admin.ValidityName(u.ValidID)
		}
		if v == nil {
			v = ""
		}
		fmt.Fprintf(tw, "%s\t%v\n", f.Var, v)
	}
	var rest []string
	for k := range rec {
		if !shown[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		v := rec[k]
		if l, ok := v.([]string); ok {
			v = strings.Join(l, ",")
		}
		fmt.Fprintf(tw, "%s\t%v\n", k, v)
	}
	_ = tw.Flush()
	if password != "" {
		fmt.Fprintf(c.stdout, "\nGenerated password (shown only now): %s\n", password)
	}
	if revoked > 0 {
		fmt.Fprintf(c.stdout, "%d session(s) ended\n", revoked)
	}
	return 0
}

func (c *adminCmd) userAdd(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	source := fs.String("source", "", "data source name (default: the first writable one)")
	return func(_ *flag.FlagSet, args []string) int {
		src, err := c.svc.AddSource(*source)
		if err != nil {
			return c.fail(err)
		}
		attrs, err := assignments(args, c.userField(src))
		if err != nil {
			return c.usage("%v", err)
		}
		u, pw, err := c.svc.AddCustomerUser(context.Background(), c.by, src, attrs)
		if err != nil {
			return c.fail(err)
		}
		return c.printUser(u, pw, 0)
	}
}

func (c *adminCmd) userSet(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) < 2 {
			return c.usage("want a login and KEY=VALUE…")
		}
		cur, err := c.svc.GetCustomerUser(context.Background(), args[0])
		if err != nil {
			return c.fail(err)
		}
		attrs, err := assignments(args[1:], c.userField(cur.Source))
		if err != nil {
			return c.usage("%v", err)
		}
		u, n, err := c.svc.UpdateCustomerUser(context.Background(), c.by, cur.Login, attrs)
		if err != nil {
			return c.fail(err)
		}
		c.validityNote(attrs, u)
		return c.printUser(u, "", n)
	}
}

// validityNote warns when a customer user was set not valid but this process cannot end
// their sessions.
func (c *adminCmd) validityNote(attrs map[string]string, u *directory.CustomerUser) {
	if _, ok := attrs[directory.VarValidID]; ok && !u.Valid() {
		for _, n := range c.notes {
			fmt.Fprintln(c.stderr, "note:", n)
		}
	}
}

func (c *adminCmd) userList(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	limit := fs.Int("limit", admin.DefaultListLimit, "at most this many")
	offset := fs.Int("offset", 0, "skip this many")
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) > 0 {
			return c.usage("unexpected arguments %q (search with: customer-user search EXPR)", args)
		}
		us, err := c.svc.ListCustomerUsers(context.Background(), *limit, *offset)
		if err != nil {
			return c.fail(err)
		}
		return c.printUsers(us)
	}
}

func (c *adminCmd) userSearch(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	limit := fs.Int("limit", 0, "at most this many (each source also stops at its customer_user_search_list_limit)")
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) == 0 {
			return c.usage("want a search expression")
		}
		us, err := c.svc.SearchCustomerUsers(context.Background(), strings.Join(args, " "), *limit)
		if err != nil {
			return c.fail(err)
		}
		return c.printUsers(us)
	}
}

func (c *adminCmd) userSetPassword(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin (else one is generated)")
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) != 1 {
			return c.usage("want one login")
		}
		pw := ""
		if *fromStdin {
			b, err := io.ReadAll(io.LimitReader(c.stdin, 4096))
			if err != nil {
				return c.fail(err)
			}
			pw, _, _ = strings.Cut(string(b), "\n")
			pw = strings.TrimRight(pw, "\r")
			if pw == "" {
				return c.usage("empty password on stdin")
			}
		}
		gen, err := c.svc.SetPassword(context.Background(), c.by, args[0], pw)
		if err != nil {
			return c.fail(err)
		}
		if c.json {
			out := map[string]any{directory.VarLogin: args[0]}
			if gen != "" {
				out[directory.VarPassword] = gen
			}
			return c.printJSON(out)
		}
		if gen != "" {
			fmt.Fprintf(c.stdout, "Generated password for %s (shown only now): %s\n", args[0], gen)
		} else {
			fmt.Fprintf(c.stdout, "Password of %s set.\n", args[0])
		}
		return 0
	}
}

func (c *adminCmd) userSetValid(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) != 2 {
			return c.usage("want a login and valid, invalid or invalid-temporarily")
		}
		u, n, err := c.svc.SetCustomerUserValid(context.Background(), c.by, args[0], args[1])
		if err != nil {
			return c.fail(err)
		}
		c.validityNote(map[string]string{directory.VarValidID: args[1]}, u)
		if c.json {
			rec := c.svc.Record(u)
			rec["SessionsEnded"] = n
			return c.printJSON(rec)
		}
		fmt.Fprintf(c.stdout, "%s is now %s; %d session(s) ended\n", u.Login, admin.ValidityName(u.ValidID), n)
		return 0
	}
}

// progressLine draws a progress line on w (a terminal or a log), at most every 200ms.
type progressLine struct {
	w     io.Writer
	last  time.Time
	start time.Time
	drawn bool
}

func (p *progressLine) update(phase string, done, total int) {
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	if done < total && now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	verb := map[string]string{"validate": "validating", "import": "importing"}[phase]
	if verb == "" {
		verb = phase
	}
	pct := 100
	if total > 0 {
		pct = done * 100 / total
	}
	const width = 30
	bar := strings.Repeat("#", pct*width/100) + strings.Repeat(".", width-pct*width/100)
	fmt.Fprintf(p.w, "\r%-10s [%s] %3d%% %d/%d", verb, bar, pct, done, total)
	p.drawn = true
	if done >= total {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (p *progressLine) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (c *adminCmd) userImport(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	skipBad := fs.Bool("skip-bad", false, "load the good rows even when some are bad")
	source := fs.String("source", "", "data source name (default: the first writable one)")
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) != 1 {
			return c.usage("want one CSV file")
		}
		f, err := os.Open(args[0])
		if err != nil {
			return c.fail(err)
		}
		defer f.Close()
		src, err := c.svc.AddSource(*source)
		if err != nil {
			return c.fail(err)
		}
		rows, csvBad, err := c.svc.ReadCSV(src, f)
		if err != nil {
			return c.fail(fmt.Errorf("%s: %w", args[0], err))
		}
		p := &progressLine{w: c.stderr}
		rep, err := c.svc.Import(context.Background(), c.by, src, rows, admin.ImportOptions{SkipBad: *skipBad, Bad: csvBad, Progress: p.update})
		p.end()
		if rep == nil {
			return c.fail(err)
		}
		if c.json {
			_ = c.printJSON(rep)
		}
		for _, b := range rep.Bad {
			field := ""
			if b.Field != "" && !strings.Contains(b.Error, b.Field) {
				field = " (" + b.Field + ")"
			}
			fmt.Fprintf(c.stderr, "%s:%d: %s%s\n", args[0], b.Line, b.Error, field)
		}
		if err != nil {
			if errors.Is(err, admin.ErrBadRows) {
				fmt.Fprintf(c.stderr, "gatehouse %s: %d of %d rows are bad; nothing imported (fix them, or --skip-bad to load the rest)\n",
					c.name, len(rep.Bad), rep.Rows)
				return 1
			}
			return c.fail(err)
		}
		if !c.json {
			fmt.Fprintf(c.stdout, "imported %d customer users into %q; %d bad rows skipped\n", rep.Imported, rep.Source, len(rep.Bad))
		}
		return 0
	}
}

// ---- groups ----

func (c *adminCmd) groupAdd(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	comment := fs.String("comment", "", "comment")
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) != 1 {
			return c.usage("want one group name")
		}
		g, err := c.svc.AddGroup(context.Background(), c.by, args[0], *comment)
		if err != nil {
			return c.fail(err)
		}
		if c.json {
			return c.printJSON(admin.GroupRecord(g))
		}
		fmt.Fprintf(c.stdout, "group %s added (id %d)\n", g.Name, g.ID)
		return 0
	}
}

func (c *adminCmd) groupList(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) > 0 {
			return c.usage("unexpected arguments %q", args)
		}
		gs, err := c.svc.ListGroups(context.Background())
		if err != nil {
			return c.fail(err)
		}
		if c.json {
			out := make([]map[string]any, len(gs))
			for i := range gs {
				out[i] = admin.GroupRecord(&gs[i])
			}
			return c.printJSON(out)
		}
		tw := c.table()
		fmt.Fprintln(tw, "ID\tNAME\tVALID\tCOMMENT")
		for _, g := range gs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", g.ID, g.Name, admin.ValidityName(g.ValidID), g.Comments)
		}
		_ = tw.Flush()
		return 0
	}
}

func (c *adminCmd) groupGrant(grant bool) func(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	return func(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
		login := fs.String("user", "", "customer user login")
		customer := fs.String("customer", "", "customer id (every customer user of the customer)")
		perm := fs.String("permission", "", "ro or rw (rw implies ro)")
		return func(_ *flag.FlagSet, args []string) int {
			if len(args) != 1 {
				return c.usage("want one group name")
			}
			if (*login == "") == (*customer == "") {
				return c.usage("want --user LOGIN or --customer ID")
			}
			if grant && *perm == "" {
				return c.usage("want --permission ro or rw")
			}
			kind, id := admin.MemberUser, *login
			if *customer != "" {
				kind, id = admin.MemberCustomer, *customer
			}
			var err error
			if grant {
				err = c.svc.Grant(context.Background(), c.by, args[0], kind, id, *perm)
			} else {
				err = c.svc.Revoke(context.Background(), c.by, args[0], kind, id, *perm)
			}
			if err != nil {
				return c.fail(err)
			}
			if c.json {
				return c.printJSON(map[string]any{"group": args[0], "kind": kind, "member": id, "permission": *perm, "granted": grant})
			}
			p := *perm
			if p == "" {
				p = "every permission"
			}
			if grant {
				fmt.Fprintf(c.stdout, "%s %s: %s granted in group %s\n", kind, id, p, args[0])
			} else {
				fmt.Fprintf(c.stdout, "%s %s: %s revoked in group %s\n", kind, id, p, args[0])
			}
			return 0
		}
	}
}

func (c *adminCmd) groupEffective(fs *flag.FlagSet) func(*flag.FlagSet, []string) int {
	return func(_ *flag.FlagSet, args []string) int {
		if len(args) != 1 {
			return c.usage("want one login")
		}
		e, err := c.svc.Permissions(context.Background(), args[0])
		if err != nil {
			return c.fail(err)
		}
		if c.json {
			return c.printJSON(e)
		}
		names := make([]string, 0, len(e.Groups))
		for g := range e.Groups {
			names = append(names, g)
		}
		sort.Strings(names)
		tw := c.table()
		fmt.Fprintln(tw, "GROUP\tPERMISSIONS")
		for _, g := range names {
			fmt.Fprintf(tw, "%s\t%s\n", g, strings.Join(e.Groups[g], ","))
		}
		_ = tw.Flush()
		fmt.Fprintf(c.stdout, "\n%s (customer ids %s): X-Customer-User-Groups: %s\n", e.Login, strings.Join(e.CustomerIDs, ","), e.Header)
		return 0
	}
}
