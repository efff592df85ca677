// Package ldap is the read-only LDAP customer-user data source
// (Kernel::System::CustomerUser::LDAP) and the connection pool it shares with the LDAP
// authentication module (authn/ldap).
//
// Every value a user typed goes into a filter escaped per RFC 4515 (see Eq); configured
// attribute names are checked to be plain attribute descriptions, configured filters to parse.
package ldap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
)

// Defaults of OTRS's LDAP back end.
const (
	// DefaultSearchListLimit is CustomerUserSearchListLimit of CustomerUser/LDAP.pm.
	DefaultSearchListLimit = 200
	// maxSearchParts: OTRS splits a search on '+' into at most 6 parts.
	maxSearchParts = 6
)

// field is one Map row with an attribute.
type field struct {
	v, attr string
}

// Source is a read-only customer-user data source on an LDAP directory. It implements
// directory.Source and directory.Pinger, and not directory.Writer: writes through a
// directory.Directory give directory.ErrReadOnly. It is safe for concurrent use.
type Source struct {
	cfg     configs.CustomerUserSource
	pool    *Pool
	log     *slog.Logger
	charset Charset
	scope   int

	key, custID  string
	custIDs      string // attribute of UserCustomerIDs, if mapped
	validVar     string // attribute of ValidID, if mapped
	fields       []field
	names        []string
	searchFields []string
	postmaster   []string
	attrs        []string // requested attributes
	joinStr      string
	limit        int
}

var (
	_ directory.Source = (*Source)(nil)
	_ directory.Pinger = (*Source)(nil)
)

// New builds the source from its configuration. Nothing is dialled unless params.die is set:
// then, as OTRS connects in the constructor and dies on failure, New fails when the directory
// cannot be reached. opts tune the connection pool (tests count dials with WithDial).
func New(cfg configs.CustomerUserSource, log *slog.Logger, opts ...Option) (*Source, error) {
	s, err := newSource(cfg, log, opts)
	if err != nil {
		return nil, fmt.Errorf("customer_user source %q: %w", cfg.Name, err)
	}
	return s, nil
}

func newSource(cfg configs.CustomerUserSource, log *slog.Logger, opts []Option) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := cfg.Params
	if p.Params.Version != 0 && p.Params.Version != 3 {
		return nil, fmt.Errorf("params.params.version %d: only LDAP version 3 is supported", p.Params.Version)
	}
	s := &Source{cfg: cfg, log: log}
	switch strings.ToLower(p.SScope) {
	case "", "sub":
		s.scope = goldap.ScopeWholeSubtree
	case "one":
		s.scope = goldap.ScopeSingleLevel
	case "base":
		s.scope = goldap.ScopeBaseObject
	default:
		return nil, fmt.Errorf("params.sscope %q: want sub, one or base", p.SScope)
	}
	if p.BaseDN == "" {
		return nil, errors.New("params.base_dn is required")
	}
	if _, err := goldap.ParseDN(p.BaseDN); err != nil {
		return nil, fmt.Errorf("params.base_dn %q: %w", p.BaseDN, err)
	}
	var err error
	if s.charset, err = NewCharset(p.SourceCharset); err != nil {
		return nil, fmt.Errorf("params.source_charset: %w", err)
	}
	for _, f := range []struct{ what, f string }{
		{"params.always_filter", p.AlwaysFilter},
		{"customer_user_valid_filter", cfg.CustomerUserValidFilter},
	} {
		if err := CheckFilter(f.what, f.f); err != nil {
			return nil, err
		}
	}
	s.key, s.custID = cfg.CustomerKey, cfg.CustomerID
	if err := CheckAttr("customer_key", s.key); err != nil {
		return nil, err
	}
	if err := CheckAttr("customer_id", s.custID); err != nil {
		return nil, err
	}
	for i, r := range cfg.Map {
		if r.Storage == "" || r.Type == "dynamic_field" || r.Var == directory.VarPassword {
			continue // passwords are never read from a directory
		}
		if err := CheckAttr(fmt.Sprintf("map[%d] (%s) storage", i, r.Var), r.Storage); err != nil {
			return nil, err
		}
		switch r.Var {
		case directory.VarCustomerIDs:
			s.custIDs = r.Storage
		case directory.VarValidID:
			s.validVar = r.Storage
		}
		s.fields = append(s.fields, field{v: r.Var, attr: r.Storage})
	}
	for _, l := range []struct {
		what string
		in   []string
		out  *[]string
	}{
		{"customer_user_name_fields", cfg.CustomerUserNameFields, &s.names},
		{"customer_user_search_fields", cfg.CustomerUserSearchFields, &s.searchFields},
		{"customer_user_postmaster_search_fields", cfg.CustomerUserPostmasterSearchFields, &s.postmaster},
	} {
		for _, a := range l.in {
			if err := CheckAttr(l.what, a); err != nil {
				return nil, err
			}
			*l.out = append(*l.out, a)
		}
	}
	if len(s.postmaster) == 0 {
		for _, f := range s.fields {
			if f.v == directory.VarEmail {
				s.postmaster = []string{f.attr}
			}
		}
	}
	s.joinStr = " "
	if cfg.CustomerUserNameFieldsJoin != nil {
		s.joinStr = *cfg.CustomerUserNameFieldsJoin
	}
	s.limit = cfg.CustomerUserSearchListLimit
	if s.limit <= 0 {
		s.limit = DefaultSearchListLimit
	}
	add := func(a string) {
		if a != "" && !slices.ContainsFunc(s.attrs, func(x string) bool { return strings.EqualFold(x, a) }) {
			s.attrs = append(s.attrs, a)
		}
	}
	add(s.key)
	add(s.custID)
	for _, f := range s.fields {
		add(f.attr)
	}
	for _, a := range s.names {
		add(a)
	}

	cc := ConnConfig{
		Name:               cfg.Name,
		URLs:               p.Host,
		DefaultPort:        p.Params.Port,
		StartTLS:           p.StartTLS,
		CAFile:             p.CAFile,
		InsecureSkipVerify: p.InsecureSkipVerify,
		BindDN:             p.UserDN,
		BindPassword:       p.UserPw,
		Timeout:            p.Params.Timeout,
		Log:                log,
	}
	for _, o := range opts {
		o(&cc)
	}
	if s.pool, err = NewPool(cc); err != nil {
		return nil, err
	}
	if p.Die {
		ctx, cancel := context.WithTimeout(context.Background(), 2*s.pool.Timeout())
		defer cancel()
		if err := s.pool.Ping(ctx); err != nil {
			return nil, fmt.Errorf("die is set and the directory is unreachable: %w", err)
		}
	}
	return s, nil
}

// Name is the configured name of the source.
func (s *Source) Name() string { return s.cfg.Name }

// ReadOnly is always true: OTRS's LDAP back end refuses every write (directory.Directory
// never picks the source for Add and answers directory.ErrReadOnly for its users' writes).
func (s *Source) ReadOnly() bool { return true }

// Die reports params.die: a fault of this source fails a lookup instead of skipping it.
func (s *Source) Die() bool { return s.cfg.Params.Die }

// Pool is the source's connection pool.
func (s *Source) Pool() *Pool { return s.pool }

// Close closes the idle connections.
func (s *Source) Close() error { return s.pool.Close() }

// Ping checks the directory answers with the source's identity.
func (s *Source) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("customer_user source %q: %w", s.cfg.Name, err)
	}
	return nil
}

// Get looks login up: (customer_key=login) with always_filter, but not
// customer_user_valid_filter (OTRS applies that to searches only, so it does not block a
// login). The first entry wins, and the first value of each attribute.
func (s *Source) Get(ctx context.Context, login string) (*directory.CustomerUser, error) {
	u, err := s.get(ctx, login)
	if err != nil {
		return nil, fmt.Errorf("customer_user get %q: %w", login, err)
	}
	return u, nil
}

func (s *Source) get(ctx context.Context, login string) (*directory.CustomerUser, error) {
	if login == "" {
		return nil, directory.ErrNotFound
	}
	v, ok := s.charset.Encode(login)
	if !ok {
		return nil, directory.ErrNotFound // not representable: cannot be in the directory
	}
	filter := And(Eq(s.key, v), s.cfg.Params.AlwaysFilter)
	entries, err := s.search(ctx, filter, 0)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if u := s.record(e); u != nil {
			return u, nil
		}
	}
	return nil, directory.ErrNotFound
}

// search runs filter under base_dn with the source's scope and attributes. A size limit
// reached is not an error: the entries received are returned.
func (s *Source) search(ctx context.Context, filter string, limit int) ([]*goldap.Entry, error) {
	var entries []*goldap.Entry
	err := s.pool.Do(ctx, func(c *Conn) error {
		req := goldap.NewSearchRequest(s.cfg.Params.BaseDN, s.scope, goldap.NeverDerefAliases, limit, 0, false,
			filter, s.attrs, nil)
		res, err := c.Search(ctx, req)
		if err != nil && !(limit > 0 && goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded)) {
			if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
				// The base DN does not exist (or the ACL hides it): nothing found.
				return nil
			}
			return fmt.Errorf("ldap search %s %s: %w", s.cfg.Params.BaseDN, filter, err)
		}
		if res != nil {
			entries = res.Entries
		}
		return nil
	})
	return entries, err
}

// value is the first value of attr in e (attribute names compare case-insensitively),
// converted from the source charset, with "SMTP:" stripped from targetaddress as OTRS does.
func (s *Source) value(e *goldap.Entry, attr string) string {
	for _, a := range e.Attributes {
		if !strings.EqualFold(a.Name, attr) || len(a.ByteValues) == 0 {
			continue
		}
		v := s.charset.Decode(a.ByteValues[0])
		if strings.EqualFold(attr, "targetaddress") {
			v = stripSMTP(v)
		}
		return v
	}
	return ""
}

// stripSMTP is OTRS's s/SMTP:\s*//i: the first "SMTP:" in any case and the blanks after it.
func stripSMTP(v string) string {
	i := strings.Index(strings.ToLower(v), "smtp:")
	if i < 0 {
		return v
	}
	rest := strings.TrimLeft(v[i+len("smtp:"):], " \t\r\n\f\v")
	return v[:i] + rest
}

// record builds the customer user of e; nil when e has no customer_key value (hidden by an ACL).
func (s *Source) record(e *goldap.Entry) *directory.CustomerUser {
	login := s.value(e, s.key)
	if login == "" {
		return nil
	}
	u := &directory.CustomerUser{
		Login:  login,
		Source: s.cfg.Name,
		Attrs:  make(map[string]string, len(s.fields)+6),
	}
	for _, f := range s.fields {
		u.Attrs[f.v] = s.value(e, f.attr)
	}
	u.CustomerID = s.value(e, s.custID)
	if u.CustomerID == "" {
		u.CustomerID = u.Attrs[directory.VarCustomerID]
	}
	u.Attrs[directory.VarLogin] = u.Login
	u.Attrs["UserID"] = u.Login
	u.Attrs[directory.VarCustomerID] = u.CustomerID
	if s.validVar != "" {
		u.ValidID, _ = strconv.Atoi(strings.TrimSpace(u.Attrs[directory.VarValidID]))
		u.HasValidity = u.Attrs[directory.VarValidID] != ""
	}
	var parts []string
	for _, a := range s.names {
		if v := strings.TrimSpace(s.value(e, a)); v != "" {
			parts = append(parts, v)
		}
	}
	full := strings.Join(parts, s.joinStr)
	u.Attrs[directory.VarFullname] = full
	if email := u.Attrs[directory.VarEmail]; email != "" {
		u.Attrs["UserMailString"] = `"` + full + `" <` + email + `>`
	}
	// CustomerIDs as LDAP.pm's CustomerIDs: UserCustomerIDs split, then the primary id.
	if s.custIDs != "" {
		u.CustomerIDs = directory.SplitCustomerIDs(u.Attrs[directory.VarCustomerIDs])
	}
	if !s.cfg.CustomerUserExcludePrimaryCustomerID && u.CustomerID != "" && !slices.Contains(u.CustomerIDs, u.CustomerID) {
		u.CustomerIDs = append(u.CustomerIDs, u.CustomerID)
	}
	return u
}

// CustomerIDs lists login's customer ids: UserCustomerIDs split, then the primary id.
// Empty, without error, when the login is not in this source.
func (s *Source) CustomerIDs(ctx context.Context, login string) ([]string, error) {
	u, err := s.get(ctx, login)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("customer_user customer ids %q: %w", login, err)
	}
	return u.CustomerIDs, nil
}

// Search finds customer users as CustomerUser/LDAP.pm's CustomerSearch does:
//
//   - Search: split on '+' (at most 6 parts, all must match); each part is wrapped in
//     customer_user_search_prefix/suffix and matched against any customer_user_search_fields
//     (or customer_key without them); '*' is a wildcard, everything else is escaped;
//   - UserLogin: customer_key contains the value ('*' a wildcard);
//   - PostMasterSearch: an exact match on any postmaster field;
//   - CustomerID: customer_id matches ('*' a wildcard);
//   - no criterion: every entry.
//
// Criteria given together must all match. customer_user_valid_filter is added when
// q.ValidOnly (OTRS's Valid => 1), always_filter always. The limit (q.Limit, else
// customer_user_search_list_limit, default 200) is the server's size limit, after q.Offset.
// Results are ordered by login.
func (s *Source) Search(ctx context.Context, q directory.Query) ([]directory.CustomerUser, error) {
	filter, ok := s.searchFilter(q)
	if !ok {
		return nil, nil // a value not representable in the source charset matches nothing
	}
	if q.ValidOnly {
		filter = And(filter, s.cfg.CustomerUserValidFilter)
	}
	filter = And(filter, s.cfg.Params.AlwaysFilter)
	limit := q.Limit
	if limit <= 0 {
		limit = s.limit
	}
	offset := max(q.Offset, 0)
	entries, err := s.search(ctx, filter, limit+offset)
	if err != nil {
		return nil, fmt.Errorf("customer_user search: %w", err)
	}
	var out []directory.CustomerUser
	for _, e := range entries {
		if u := s.record(e); u != nil {
			out = append(out, *u)
		}
	}
	slices.SortStableFunc(out, func(a, b directory.CustomerUser) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Login), strings.ToLower(b.Login)), cmp.Compare(a.Login, b.Login))
	})
	if offset >= len(out) {
		return nil, nil
	}
	out = out[offset:]
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// searchFilter builds the criteria part of a search filter; ok is false when the query can
// match nothing (a value not representable in the source charset, a postmaster search
// without postmaster fields).
func (s *Source) searchFilter(q directory.Query) (string, bool) {
	var conds []string
	enc := func(v string) ([]byte, bool) { return s.charset.Encode(v) }
	if q.Search != "" {
		var parts []string
		for _, part := range strings.SplitN(q.Search, "+", maxSearchParts) {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			v, ok := enc(s.cfg.CustomerUserSearchPrefix + part + s.cfg.CustomerUserSearchSuffix)
			if !ok {
				return "", false
			}
			fields := s.searchFields
			if len(fields) == 0 {
				fields = []string{s.key}
			}
			var ors []string
			for _, f := range fields {
				ors = append(ors, Wildcard(f, v))
			}
			parts = append(parts, or(ors))
		}
		if len(parts) > 0 {
			conds = append(conds, and(parts))
		}
	}
	if q.UserLogin != "" {
		v, ok := enc("*" + q.UserLogin + "*")
		if !ok {
			return "", false
		}
		conds = append(conds, Wildcard(s.key, v))
	}
	if q.PostMasterSearch != "" {
		v, ok := enc(q.PostMasterSearch)
		if !ok || len(s.postmaster) == 0 {
			return "", false
		}
		var ors []string
		for _, f := range s.postmaster {
			ors = append(ors, Eq(f, v))
		}
		conds = append(conds, or(ors))
	}
	if q.CustomerID != "" {
		v, ok := enc(q.CustomerID)
		if !ok {
			return "", false
		}
		conds = append(conds, Wildcard(s.custID, v))
	}
	if len(conds) == 0 {
		return "(objectClass=*)", true
	}
	return and(conds), true
}

func or(fs []string) string {
	if len(fs) == 1 {
		return fs[0]
	}
	return "(|" + strings.Join(fs, "") + ")"
}

func and(fs []string) string {
	if len(fs) == 1 {
		return fs[0]
	}
	return "(&" + strings.Join(fs, "") + ")"
}
