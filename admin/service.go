// Package admin is customer-user management for gatehouse admins: one service layer (Service)
// over the directory, the OTRS tables around it (companies, groups, memberships) and the
// session store, shared by the JSON API (NewAPI, mounted on the admin listener under
// /api/v1/), the admin web UI and the CLI (gatehouse customer, customer-user, group).
//
// The rules are OTRS's (fact sheet §3, §6, §8): a customer user can only be added once a
// customer exists and must name one; the Map's required fields are mandatory; emails are
// checked for syntax and, with customer_user_email_uniq_check, for uniqueness in their
// source; logins are unique across all sources; an empty password is generated and shown
// once; there is no delete, only validity; read-only sources are listed but never written.
// Field lists come from each source's Map, so a custom column (UserRoom → room) needs no
// code. Every change is logged as one audit line (who, what, target).
package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
)

// SessionRevoker ends every session of a customer user; *sessions.Manager implements it
// (in Redis, across every gatehouse process sharing the store).
type SessionRevoker interface {
	DestroyUser(ctx context.Context, login string) (int, error)
}

// Deps are what a Service works on.
type Deps struct {
	// Directory holds the customer-user sources in lookup order.
	Directory *directory.Directory
	// Sources is the customer_user configuration, one entry per directory source (matched
	// by name): the Map, limits, read_only, customer_user_email_uniq_check.
	Sources []configs.CustomerUserSource
	// Admin manages companies, groups and memberships in the first db source's database;
	// nil (no db source) refuses those operations.
	Admin *sqldb.Admin
	// Groups computes effective permissions (sqldb.GroupResolver); nil refuses them.
	Groups directory.GroupResolver
	// Sessions ends the sessions of a customer user set not valid; nil skips it.
	Sessions SessionRevoker
	// Log receives the audit lines; nil means slog.Default.
	Log *slog.Logger
}

// Service is the admin service layer. It is safe for concurrent use.
type Service struct {
	dir      *directory.Directory
	cfgs     map[string]configs.CustomerUserSource
	order    []string
	admin    *sqldb.Admin
	groups   directory.GroupResolver
	sessions SessionRevoker
	log      *slog.Logger
}

// NewService checks d and returns the service.
func NewService(d Deps) (*Service, error) {
	if d.Directory == nil {
		return nil, errors.New("admin: no directory")
	}
	s := &Service{dir: d.Directory, cfgs: map[string]configs.CustomerUserSource{}, admin: d.Admin,
		groups: d.Groups, sessions: d.Sessions, log: d.Log}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, c := range d.Sources {
		s.cfgs[c.Name] = c
	}
	for _, src := range d.Directory.Sources() {
		if _, ok := s.cfgs[src.Name()]; !ok {
			return nil, fmt.Errorf("admin: no configuration for data source %q", src.Name())
		}
		s.order = append(s.order, src.Name())
	}
	return s, nil
}

// ErrNoCustomer: a customer user was to be added before any customer (company) exists.
var ErrNoCustomer = errors.New("no customer exists yet")

// ErrUnsupported: the operation needs what is not configured (a db data source for
// companies and groups).
var ErrUnsupported = errors.New("not available")

// Error is a refusal with the field it concerns (empty when none). It wraps one of
// directory.ErrInvalid, ErrExists, ErrNotFound, ErrReadOnly, or ErrNoCustomer.
type Error struct {
	Err   error
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func fail(kind error, field, format string, args ...any) *Error {
	return &Error{Err: kind, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// FieldOf returns the field an error concerns, if any.
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// audit logs one change: who did what to which target.
func (s *Service) audit(ctx context.Context, by, action, target string, attrs ...any) {
	s.log.LogAttrs(ctx, slog.LevelInfo, "admin change", append([]slog.Attr{
		slog.String("by", by), slog.String("action", action), slog.String("target", target)}, argsToAttrs(attrs)...)...)
}

func argsToAttrs(args []any) []slog.Attr {
	var out []slog.Attr
	for i := 0; i+1 < len(args); i += 2 {
		out = append(out, slog.Any(fmt.Sprint(args[i]), args[i+1]))
	}
	return out
}

// ---- validity ----

// Validity names, as seeded in the OTRS valid table.
var validityNames = map[int]string{directory.ValidID: "valid", directory.InvalidID: "invalid", directory.InvalidTemporarilyID: "invalid-temporarily"}

// ParseValidity accepts valid, invalid, invalid-temporarily or their ids 1, 2, 3.
func ParseValidity(v string) (int, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	for id, name := range validityNames {
		if v == name || v == strconv.Itoa(id) {
			return id, nil
		}
	}
	return 0, fail(directory.ErrInvalid, directory.VarValidID, "validity %q: want valid, invalid or invalid-temporarily (1, 2, 3)", v)
}

// ValidityName names a validity id ("valid", …; the number for others).
func ValidityName(id int) string {
	if n, ok := validityNames[id]; ok {
		return n
	}
	return strconv.Itoa(id)
}

// ---- sources and fields ----

// Field is one Map row of a source, for forms and table headers.
type Field struct {
	Var      string `json:"var"`
	Label    string `json:"label"`
	Storage  string `json:"storage"`
	Type     string `json:"type"`
	Link     string `json:"link,omitempty"`
	Shown    bool   `json:"shown"`
	Required bool   `json:"required"`
	ReadOnly bool   `json:"readonly"`
}

// SourceInfo describes one data source.
type SourceInfo struct {
	Name     string  `json:"name"`
	Module   string  `json:"module"`
	ReadOnly bool    `json:"read_only"`
	Validity bool    `json:"validity"`
	Fields   []Field `json:"fields"`
}

// Sources describes the data sources in lookup order, with their Map fields.
func (s *Service) Sources() []SourceInfo {
	var out []SourceInfo
	for _, n := range s.order {
		c := s.cfgs[n]
		info := SourceInfo{Name: n, Module: c.Module, ReadOnly: !s.writable(n), Validity: c.CustomerValid != "" || hasVar(c, directory.VarValidID)}
		for _, r := range c.Map {
			info.Fields = append(info.Fields, Field{Var: r.Var, Label: r.Label, Storage: r.Storage, Type: r.Type, Link: r.Link,
				Shown: r.Shown, Required: r.Required, ReadOnly: r.ReadOnly})
		}
		out = append(out, info)
	}
	return out
}

// Fields are the Map fields of source ("" means the source new customer users go to).
func (s *Service) Fields(source string) ([]Field, error) {
	if source == "" {
		var err error
		if source, err = s.AddSource(""); err != nil {
			return nil, err
		}
	}
	for _, info := range s.Sources() {
		if info.Name == source {
			return info.Fields, nil
		}
	}
	return nil, fail(directory.ErrNotFound, "Source", "no data source named %q", source)
}

func hasVar(c configs.CustomerUserSource, v string) bool {
	for _, r := range c.Map {
		if r.Var == v {
			return true
		}
	}
	return false
}

func mapRow(c configs.CustomerUserSource, v string) (configs.MapRow, bool) {
	for _, r := range c.Map {
		if r.Var == v {
			return r, true
		}
	}
	return configs.MapRow{}, false
}

// writable reports whether the source named n accepts writes.
func (s *Service) writable(n string) bool {
	if s.cfgs[n].ReadOnly {
		return false
	}
	src, ok := s.dir.Source(n)
	if !ok {
		return false
	}
	if _, ok := src.(directory.Writer); !ok {
		return false
	}
	if ro, ok := src.(directory.ReadOnlySource); ok && ro.ReadOnly() {
		return false
	}
	return true
}

// AddSource resolves the source a new customer user goes to: name, or the first writable
// source when name is empty.
func (s *Service) AddSource(name string) (string, error) {
	if name != "" {
		if _, ok := s.cfgs[name]; !ok || !slices.Contains(s.order, name) {
			return "", fail(directory.ErrNotFound, "Source", "no data source named %q", name)
		}
		if !s.writable(name) {
			return "", fail(directory.ErrReadOnly, "Source", "data source %q is read-only: gatehouse does not add customer users there", name)
		}
		return name, nil
	}
	for _, n := range s.order {
		if s.writable(n) {
			return n, nil
		}
	}
	return "", fail(directory.ErrReadOnly, "", "no writable data source: every customer_user source is read-only")
}

func readOnlyErr(u *directory.CustomerUser) *Error {
	return fail(directory.ErrReadOnly, "", "customer user %q comes from the read-only data source %q: change it there, gatehouse does not write to it",
		u.Login, u.Source)
}

// ---- records ----

// Record renders a customer user for the API and --json: the Map variables of its source
// (UserPassword never), ValidID as a number (null without validity), plus Source,
// UserFullname, CustomerIDs and ReadOnly.
func (s *Service) Record(u *directory.CustomerUser) map[string]any {
	c := s.cfgs[u.Source]
	out := map[string]any{}
	for _, r := range c.Map {
		if r.Var == directory.VarPassword || r.Type == "dynamic_field" {
			continue
		}
		out[r.Var] = u.Attrs[r.Var]
	}
	out[directory.VarLogin] = u.Login
	out[directory.VarCustomerID] = u.CustomerID
	if u.HasValidity {
		out[directory.VarValidID] = u.ValidID
	} else {
		out[directory.VarValidID] = nil
	}
	out[directory.VarFullname] = u.Attrs[directory.VarFullname]
	out["Source"] = u.Source
	ids := u.CustomerIDs
	if ids == nil {
		ids = []string{}
	}
	out["CustomerIDs"] = ids
	out["ReadOnly"] = !s.writable(u.Source)
	return out
}

// ---- customer users: reads ----

// DefaultListLimit is how many customer users a list shows unless told otherwise.
const DefaultListLimit = 1000

// ListCustomerUsers lists customer users of every source (source order, then login),
// limit (0: DefaultListLimit) from offset.
func (s *Service) ListCustomerUsers(ctx context.Context, limit, offset int) ([]directory.CustomerUser, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	us, err := s.dir.Search(ctx, directory.Query{Limit: limit, Offset: max(offset, 0)})
	if err != nil {
		return nil, err
	}
	if us == nil {
		return []directory.CustomerUser{}, nil
	}
	return us[:min(len(us), limit)], nil // several sources: the limit applies per source
}

// SearchCustomerUsers runs an OTRS search expression (fact sheet §6: prefix/suffix wildcards,
// *, AND/OR/!, phrases) over every source. Each source returns at most its
// customer_user_search_list_limit; limit (> 0) bounds the whole answer further.
func (s *Service) SearchCustomerUsers(ctx context.Context, search string, limit int) ([]directory.CustomerUser, error) {
	if strings.TrimSpace(search) == "" {
		return nil, fail(directory.ErrInvalid, "search", "empty search")
	}
	q := directory.Query{Search: search}
	if limit > 0 && limit <= s.minSearchLimit() {
		q.Limit = limit
	}
	out, err := s.dir.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []directory.CustomerUser{}
	}
	return out, nil
}

func (s *Service) minSearchLimit() int {
	m := 0
	for _, n := range s.order {
		l := s.cfgs[n].CustomerUserSearchListLimit
		if l <= 0 {
			l = sqldb.DefaultSearchListLimit
		}
		if m == 0 || l < m {
			m = l
		}
	}
	return m
}

// GetCustomerUser looks login up across the sources (first wins).
func (s *Service) GetCustomerUser(ctx context.Context, login string) (*directory.CustomerUser, error) {
	u, err := s.dir.Get(ctx, strings.TrimSpace(login))
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fail(directory.ErrNotFound, directory.VarLogin, "no customer user %q", login)
	}
	return u, err
}

// ---- customer users: writes ----

// RandomPassword returns n characters of [0-9A-Za-z] from crypto/rand (OTRS's
// GenerateRandomPassword alphabet).
func RandomPassword(n int) (string, error) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

// GeneratedPasswordLength is the length of generated passwords.
const GeneratedPasswordLength = 16

// checkEmail checks an address for syntax: one plain address, no display name.
func checkEmail(v string) error {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" {
		return fail(directory.ErrInvalid, directory.VarEmail, "email %q is not a valid address", v)
	}
	return nil
}

// normalize checks attrs against the Map of the source cfg and returns a cleaned copy:
// unknown variables refused, ValidID as its id, the login trimmed. cur is the record being
// changed (nil on add).
func (s *Service) normalize(c configs.CustomerUserSource, attrs map[string]string, cur *directory.CustomerUser) (map[string]string, error) {
	out := make(map[string]string, len(attrs))
	validity := c.CustomerValid != "" || hasVar(c, directory.VarValidID)
	for k, v := range attrs {
		switch {
		case k == directory.VarValidID:
			if !validity {
				return nil, fail(directory.ErrInvalid, k, "data source %q has no validity column", c.Name)
			}
			id, err := ParseValidity(v)
			if err != nil {
				return nil, err
			}
			v = strconv.Itoa(id)
		case k == directory.VarPassword || k == directory.VarCustomerID || k == directory.VarLogin:
		case !hasVar(c, k):
			return nil, fail(directory.ErrInvalid, k, "unknown field %s: not in the Map of data source %q", k, c.Name)
		}
		if k == directory.VarLogin || k == directory.VarEmail || k == directory.VarCustomerID {
			v = strings.TrimSpace(v)
		}
		if r, ok := mapRow(c, k); ok && r.Type == "int" && k != directory.VarValidID && strings.TrimSpace(v) != "" {
			if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
				return nil, fail(directory.ErrInvalid, k, "%s %q is not a number", k, v)
			}
		}
		if cur != nil {
			if r, ok := mapRow(c, k); ok && r.ReadOnly && v != cur.Attrs[k] {
				return nil, fail(directory.ErrInvalid, k, "%s is read-only in the Map of data source %q", k, c.Name)
			}
		}
		out[k] = v
	}
	return out, nil
}

// checkRequired refuses empty required Map fields: all on add, the given ones on edit.
func checkRequired(c configs.CustomerUserSource, attrs map[string]string, add bool) error {
	for _, r := range c.Map {
		if !r.Required || r.Var == directory.VarPassword || r.Var == directory.VarValidID {
			continue
		}
		v, ok := attrs[r.Var]
		if (ok || add) && strings.TrimSpace(v) == "" {
			return fail(directory.ErrInvalid, r.Var, "%s (%s) is required", r.Var, r.Label)
		}
	}
	if add && strings.TrimSpace(attrs[directory.VarLogin]) == "" {
		return fail(directory.ErrInvalid, directory.VarLogin, "%s is required", directory.VarLogin)
	}
	if add && strings.TrimSpace(attrs[directory.VarCustomerID]) == "" {
		return fail(directory.ErrInvalid, directory.VarCustomerID, "%s is required: every customer user belongs to a customer", directory.VarCustomerID)
	}
	return nil
}

// customerRef checks that id names an existing customer and returns its stored spelling.
// companies caches lookups for imports (may be nil).
func (s *Service) customerRef(ctx context.Context, id string, companies map[string]string) (string, error) {
	if s.admin == nil {
		return id, nil
	}
	if companies != nil {
		if v, ok := companies[strings.ToLower(id)]; ok {
			if v == "" {
				return "", fail(directory.ErrInvalid, directory.VarCustomerID, "customer %q does not exist: add it first", id)
			}
			return v, nil
		}
	}
	c, err := s.admin.GetCompany(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		if companies != nil {
			companies[strings.ToLower(id)] = ""
		}
		return "", fail(directory.ErrInvalid, directory.VarCustomerID, "customer %q does not exist: add it first", id)
	}
	if err != nil {
		return "", err
	}
	if companies != nil {
		companies[strings.ToLower(id)] = c.CustomerID
	}
	return c.CustomerID, nil
}

// requireCustomers refuses adds while no customer exists.
func (s *Service) requireCustomers(ctx context.Context) error {
	if s.admin == nil {
		return nil
	}
	ok, err := s.admin.HasCompanies(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fail(ErrNoCustomer, directory.VarCustomerID, "no customer exists yet: add a customer (company) before adding customer users")
	}
	return nil
}

// emailUsed reports the login using email in source (customer_user_email_uniq_check, as
// OTRS: the same source, any validity), "" if none; except is the login being edited.
func (s *Service) emailUsed(ctx context.Context, source, email, except string) (string, error) {
	src, ok := s.dir.Source(source)
	if !ok {
		return "", nil
	}
	if ee, ok := unwrap(src).(interface {
		ExistingEmails(context.Context, []string) (map[string]string, error)
	}); ok {
		m, err := ee.ExistingEmails(ctx, []string{email})
		if err != nil {
			return "", err
		}
		if l, ok := m[strings.ToLower(email)]; ok && !strings.EqualFold(l, except) {
			return l, nil
		}
		return "", nil
	}
	us, err := src.Search(ctx, directory.Query{PostMasterSearch: email, Limit: 2})
	if err != nil {
		return "", err
	}
	for _, u := range us {
		if !strings.EqualFold(u.Login, except) {
			return u.Login, nil
		}
	}
	return "", nil
}

// unwrap returns the source under cache wrappers.
func unwrap(src directory.Source) directory.Source {
	for {
		w, ok := src.(interface{ Unwrap() directory.Source })
		if !ok {
			return src
		}
		src = w.Unwrap()
	}
}

// AddCustomerUser adds a customer user from Map variables to source ("": the first writable
// one). An empty UserPassword is generated (16 characters) and returned — the only time it
// is shown; a given password is stored and "" returned.
func (s *Service) AddCustomerUser(ctx context.Context, by, source string, attrs map[string]string) (*directory.CustomerUser, string, error) {
	name, err := s.AddSource(source)
	if err != nil {
		return nil, "", err
	}
	c := s.cfgs[name]
	attrs, err = s.normalize(c, attrs, nil)
	if err != nil {
		return nil, "", err
	}
	if err := s.requireCustomers(ctx); err != nil {
		return nil, "", err
	}
	if err := checkRequired(c, attrs, true); err != nil {
		return nil, "", err
	}
	if e := attrs[directory.VarEmail]; e != "" {
		if err := checkEmail(e); err != nil {
			return nil, "", err
		}
	}
	if attrs[directory.VarCustomerID], err = s.customerRef(ctx, attrs[directory.VarCustomerID], nil); err != nil {
		return nil, "", err
	}
	login := attrs[directory.VarLogin]
	if u, err := s.dir.Get(ctx, login); err == nil {
		return nil, "", fail(directory.ErrExists, directory.VarLogin, "login %q already exists (data source %q)", u.Login, u.Source)
	} else if !errors.Is(err, directory.ErrNotFound) {
		return nil, "", err
	}
	if e := attrs[directory.VarEmail]; e != "" && c.CustomerUserEmailUniqCheck {
		if other, err := s.emailUsed(ctx, name, e, ""); err != nil {
			return nil, "", err
		} else if other != "" {
			return nil, "", fail(directory.ErrExists, directory.VarEmail, "email %q is already used by customer user %q", e, other)
		}
	}
	generated := ""
	if attrs[directory.VarPassword] == "" {
		if generated, err = RandomPassword(GeneratedPasswordLength); err != nil {
			return nil, "", err
		}
		attrs[directory.VarPassword] = generated
	}
	u, err := s.dir.Add(ctx, name, attrs, by)
	if err != nil {
		return nil, "", s.mapWriteErr(err)
	}
	s.audit(ctx, by, "customer_user.add", u.Login, "source", u.Source, "password_generated", generated != "")
	return u, generated, nil
}

// mapWriteErr gives the sqldb layer's refusals a field where it can tell.
func (s *Service) mapWriteErr(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, directory.ErrExists) && strings.Contains(msg, "email"):
		return fail(directory.ErrExists, directory.VarEmail, "%s", msg)
	case errors.Is(err, directory.ErrExists):
		return fail(directory.ErrExists, directory.VarLogin, "%s", msg)
	case errors.Is(err, directory.ErrReadOnly):
		return fail(directory.ErrReadOnly, "", "%s", msg)
	}
	return err
}

// UpdateCustomerUser changes the Map variables in attrs of login; absent ones are kept, an
// empty UserPassword keeps the password. Setting ValidID to anything but valid ends all the
// customer user's sessions; so does a rename (for the old login). It returns the new record
// and the number of sessions ended.
func (s *Service) UpdateCustomerUser(ctx context.Context, by, login string, attrs map[string]string) (*directory.CustomerUser, int, error) {
	cur, err := s.GetCustomerUser(ctx, login)
	if err != nil {
		return nil, 0, err
	}
	if !s.writable(cur.Source) {
		return nil, 0, readOnlyErr(cur)
	}
	c := s.cfgs[cur.Source]
	attrs, err = s.normalize(c, attrs, cur)
	if err != nil {
		return nil, 0, err
	}
	if v, ok := attrs[directory.VarPassword]; ok && v == "" {
		delete(attrs, directory.VarPassword)
	}
	if len(attrs) == 0 {
		return cur, 0, nil
	}
	if err := checkRequired(c, attrs, false); err != nil {
		return nil, 0, err
	}
	if v, ok := attrs[directory.VarLogin]; ok && v == "" {
		return nil, 0, fail(directory.ErrInvalid, directory.VarLogin, "%s is required", directory.VarLogin)
	}
	if e, ok := attrs[directory.VarEmail]; ok && e != "" {
		if err := checkEmail(e); err != nil {
			return nil, 0, err
		}
		if c.CustomerUserEmailUniqCheck {
			if other, err := s.emailUsed(ctx, cur.Source, e, cur.Login); err != nil {
				return nil, 0, err
			} else if other != "" {
				return nil, 0, fail(directory.ErrExists, directory.VarEmail, "email %q is already used by customer user %q", e, other)
			}
		}
	}
	if id, ok := attrs[directory.VarCustomerID]; ok {
		if id == "" {
			return nil, 0, fail(directory.ErrInvalid, directory.VarCustomerID, "%s is required", directory.VarCustomerID)
		}
		if attrs[directory.VarCustomerID], err = s.customerRef(ctx, id, nil); err != nil {
			return nil, 0, err
		}
	}
	if nl, ok := attrs[directory.VarLogin]; ok && !strings.EqualFold(nl, cur.Login) {
		if u, err := s.dir.Get(ctx, nl); err == nil {
			return nil, 0, fail(directory.ErrExists, directory.VarLogin, "login %q already exists (data source %q)", u.Login, u.Source)
		} else if !errors.Is(err, directory.ErrNotFound) {
			return nil, 0, err
		}
	}
	nu, err := s.dir.Update(ctx, cur.Login, attrs, by)
	if err != nil {
		return nil, 0, s.mapWriteErr(err)
	}
	extra := []any{"fields", joinKeys(attrs)}
	if _, ok := attrs[directory.VarValidID]; ok {
		extra = append(extra, "validity", ValidityName(nu.ValidID))
	}
	s.audit(ctx, by, "customer_user.update", cur.Login, extra...)
	revoked := 0
	if _, ok := attrs[directory.VarValidID]; ok && !nu.Valid() {
		n, err := s.revoke(ctx, by, nu.Login)
		if err != nil {
			return nu, 0, err
		}
		revoked += n
	}
	if nu.Login != cur.Login {
		n, err := s.revoke(ctx, by, cur.Login)
		if err != nil {
			return nu, revoked, err
		}
		revoked += n
	}
	return nu, revoked, nil
}

// revoke ends every session of login.
func (s *Service) revoke(ctx context.Context, by, login string) (int, error) {
	if s.sessions == nil {
		return 0, nil
	}
	n, err := s.sessions.DestroyUser(ctx, login)
	if err != nil {
		return n, fmt.Errorf("customer user %q changed, but ending the sessions failed: %w", login, err)
	}
	s.audit(ctx, by, "sessions.revoke", login, "sessions", n)
	return n, nil
}

// SetCustomerUserValid sets the validity of login (valid, invalid, invalid-temporarily or
// 1, 2, 3); anything but valid ends all the customer user's sessions at once. It returns the
// number of sessions ended.
func (s *Service) SetCustomerUserValid(ctx context.Context, by, login, validity string) (*directory.CustomerUser, int, error) {
	id, err := ParseValidity(validity)
	if err != nil {
		return nil, 0, err
	}
	return s.UpdateCustomerUser(ctx, by, login, map[string]string{directory.VarValidID: strconv.Itoa(id)})
}

// SetPassword stores password for login in its source's crypt type; an empty password is
// generated and returned (shown once).
func (s *Service) SetPassword(ctx context.Context, by, login, password string) (string, error) {
	cur, err := s.GetCustomerUser(ctx, login)
	if err != nil {
		return "", err
	}
	if !s.writable(cur.Source) {
		return "", readOnlyErr(cur)
	}
	generated := ""
	if password == "" {
		if generated, err = RandomPassword(GeneratedPasswordLength); err != nil {
			return "", err
		}
		password = generated
	}
	if err := s.dir.SetPassword(ctx, cur.Login, password); err != nil {
		return "", s.mapWriteErr(err)
	}
	s.audit(ctx, by, "customer_user.set_password", cur.Login, "generated", generated != "")
	return generated, nil
}

// ---- customer ids of a customer user ----

// CustomerIDs are the customer ids of a customer user.
type CustomerIDs struct {
	// Primary is UserCustomerID.
	Primary string `json:"UserCustomerID"`
	// Extra are the customer_user_customer rows (Customer Users ↔ Customers).
	Extra []string `json:"CustomerUserCustomers"`
	// All are every customer id (fact sheet §6), as the headers carry them.
	All []string `json:"CustomerIDs"`
}

// CustomerIDsOf lists login's customer ids.
func (s *Service) CustomerIDsOf(ctx context.Context, login string) (*CustomerIDs, error) {
	u, err := s.GetCustomerUser(ctx, login)
	if err != nil {
		return nil, err
	}
	out := &CustomerIDs{Primary: u.CustomerID, All: append([]string{}, u.CustomerIDs...), Extra: []string{}}
	if s.admin != nil {
		extra, err := s.admin.CustomerUserCustomers(ctx, u.Login)
		if err != nil {
			return nil, err
		}
		out.Extra = append(out.Extra, extra...)
		for _, id := range extra {
			if !slices.Contains(out.All, id) {
				out.All = append(out.All, id)
			}
		}
	}
	return out, nil
}

// AddCustomerID gives login the extra customer id customerID (customer_user_customer).
// Customer users of read-only sources may get extra ids too: the table is gatehouse's.
func (s *Service) AddCustomerID(ctx context.Context, by, login, customerID string) error {
	if s.admin == nil {
		return fail(ErrUnsupported, "", "customer ids need a db data source")
	}
	u, err := s.GetCustomerUser(ctx, login)
	if err != nil {
		return err
	}
	id, err := s.customerRef(ctx, strings.TrimSpace(customerID), nil)
	if err != nil {
		return err
	}
	if err := s.admin.AddCustomerUserCustomer(ctx, u.Login, id, by); err != nil {
		return err
	}
	s.invalidate(u.Login)
	s.audit(ctx, by, "customer_user.customer_add", u.Login, "customer_id", id)
	return nil
}

// RemoveCustomerID takes the extra customer id customerID away from login.
func (s *Service) RemoveCustomerID(ctx context.Context, by, login, customerID string) error {
	if s.admin == nil {
		return fail(ErrUnsupported, "", "customer ids need a db data source")
	}
	u, err := s.GetCustomerUser(ctx, login)
	if err != nil {
		return err
	}
	extra, err := s.admin.CustomerUserCustomers(ctx, u.Login)
	if err != nil {
		return err
	}
	id := ""
	for _, e := range extra {
		if strings.EqualFold(e, strings.TrimSpace(customerID)) {
			id = e
		}
	}
	if id == "" {
		return fail(directory.ErrNotFound, "CustomerID", "customer user %q has no extra customer id %q", u.Login, customerID)
	}
	if err := s.admin.RemoveCustomerUserCustomer(ctx, u.Login, id); err != nil {
		return err
	}
	s.invalidate(u.Login)
	s.audit(ctx, by, "customer_user.customer_remove", u.Login, "customer_id", id)
	return nil
}

// invalidate drops cached lookups of login (its customer ids changed behind the sources).
func (s *Service) invalidate(login string) {
	for _, src := range s.dir.Sources() {
		if inv, ok := src.(directory.Invalidator); ok {
			inv.Invalidate(login)
		}
	}
}

// ---- effective permissions ----

// Effective are a customer user's effective group permissions (fact sheet §8).
type Effective struct {
	Login       string                `json:"UserLogin"`
	CustomerIDs []string              `json:"CustomerIDs"`
	Groups      directory.Permissions `json:"Groups"`
	// Header is the X-Customer-User-Groups value: group:perm,… sorted.
	Header string `json:"Header"`
}

// Permissions computes login's effective group permissions exactly as the gateway does at
// login (sqldb.GroupResolver over the login's customer ids).
func (s *Service) Permissions(ctx context.Context, login string) (*Effective, error) {
	if s.groups == nil {
		return nil, fail(ErrUnsupported, "", "group permissions need a db data source")
	}
	u, err := s.GetCustomerUser(ctx, login)
	if err != nil {
		return nil, err
	}
	perms, err := s.groups.Permissions(ctx, u.Login, u.CustomerIDs)
	if err != nil {
		return nil, err
	}
	ids := u.CustomerIDs
	if ids == nil {
		ids = []string{}
	}
	if perms == nil {
		perms = directory.Permissions{}
	}
	set := claims.Set{Groups: perms}
	return &Effective{Login: u.Login, CustomerIDs: ids, Groups: perms, Header: set.GroupsString()}, nil
}
