package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
)

// Customer (company) field names, as OTRS's CustomerCompany Map names them.
const (
	CompanyID      = "CustomerID"
	CompanyName    = "CustomerCompanyName"
	CompanyStreet  = "CustomerCompanyStreet"
	CompanyZIP     = "CustomerCompanyZIP"
	CompanyCity    = "CustomerCompanyCity"
	CompanyCountry = "CustomerCompanyCountry"
	CompanyURL     = "CustomerCompanyURL"
	CompanyComment = "CustomerCompanyComment"
)

// CompanyFields are the customer fields in form order (ValidID last).
var CompanyFields = []string{CompanyID, CompanyName, CompanyStreet, CompanyZIP, CompanyCity, CompanyCountry, CompanyURL, CompanyComment, directory.VarValidID}

// CompanyRecord renders a customer for the API and --json.
func CompanyRecord(c *sqldb.Company) map[string]any {
	return map[string]any{
		CompanyID: c.CustomerID, CompanyName: c.Name, CompanyStreet: c.Street, CompanyZIP: c.ZIP,
		CompanyCity: c.City, CompanyCountry: c.Country, CompanyURL: c.URL, CompanyComment: c.Comments,
		directory.VarValidID: c.ValidID,
	}
}

// applyCompany sets the fields in attrs on c.
func applyCompany(c *sqldb.Company, attrs map[string]string) error {
	for k, v := range attrs {
		switch k {
		case CompanyID:
			c.CustomerID = strings.TrimSpace(v)
		case CompanyName:
			c.Name = strings.TrimSpace(v)
		case CompanyStreet:
			c.Street = v
		case CompanyZIP:
			c.ZIP = v
		case CompanyCity:
			c.City = v
		case CompanyCountry:
			c.Country = v
		case CompanyURL:
			c.URL = v
		case CompanyComment:
			c.Comments = v
		case directory.VarValidID:
			id, err := ParseValidity(v)
			if err != nil {
				return err
			}
			c.ValidID = id
		default:
			return fail(directory.ErrInvalid, k, "unknown customer field %s (want one of %s)", k, strings.Join(CompanyFields, ", "))
		}
	}
	return nil
}

func (s *Service) needAdmin() error {
	if s.admin == nil {
		return fail(ErrUnsupported, "", "customers and groups need a db data source")
	}
	return nil
}

// ListCustomers lists customers whose id or name matches search (substring, * wildcard;
// empty: all), at most limit (0: 250), ordered by id.
func (s *Service) ListCustomers(ctx context.Context, search string, limit int) ([]sqldb.Company, error) {
	if err := s.needAdmin(); err != nil {
		return nil, err
	}
	out, err := s.admin.SearchCompanies(ctx, search, limit)
	if out == nil && err == nil {
		out = []sqldb.Company{}
	}
	return out, err
}

// GetCustomer reads a customer (id compared ignoring case).
func (s *Service) GetCustomer(ctx context.Context, id string) (*sqldb.Company, error) {
	if err := s.needAdmin(); err != nil {
		return nil, err
	}
	c, err := s.admin.GetCompany(ctx, strings.TrimSpace(id))
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fail(directory.ErrNotFound, CompanyID, "no customer %q", id)
	}
	return c, err
}

// AddCustomer adds a customer from its fields (CustomerID and CustomerCompanyName required;
// ValidID defaults to valid).
func (s *Service) AddCustomer(ctx context.Context, by string, attrs map[string]string) (*sqldb.Company, error) {
	if err := s.needAdmin(); err != nil {
		return nil, err
	}
	var c sqldb.Company
	if err := applyCompany(&c, attrs); err != nil {
		return nil, err
	}
	if c.CustomerID == "" {
		return nil, fail(directory.ErrInvalid, CompanyID, "%s is required", CompanyID)
	}
	if c.Name == "" {
		return nil, fail(directory.ErrInvalid, CompanyName, "%s is required", CompanyName)
	}
	if cur, err := s.admin.GetCompany(ctx, c.CustomerID); err == nil {
		return nil, fail(directory.ErrExists, CompanyID, "customer %q already exists", cur.CustomerID)
	}
	if err := s.admin.AddCompany(ctx, c, by); err != nil {
		if errors.Is(err, directory.ErrExists) {
			return nil, fail(directory.ErrExists, CompanyName, "a customer named %q already exists", c.Name)
		}
		return nil, err
	}
	s.audit(ctx, by, "customer.add", c.CustomerID)
	return s.GetCustomer(ctx, c.CustomerID)
}

// UpdateCustomer changes the fields in attrs of customer id; the customer id itself cannot
// change (customer users name it).
func (s *Service) UpdateCustomer(ctx context.Context, by, id string, attrs map[string]string) (*sqldb.Company, error) {
	cur, err := s.GetCustomer(ctx, id)
	if err != nil {
		return nil, err
	}
	c := *cur
	if err := applyCompany(&c, attrs); err != nil {
		return nil, err
	}
	if c.CustomerID != cur.CustomerID {
		return nil, fail(directory.ErrInvalid, CompanyID, "the customer id cannot be changed (customer users name it)")
	}
	if c.Name == "" {
		return nil, fail(directory.ErrInvalid, CompanyName, "%s is required", CompanyName)
	}
	if err := s.admin.UpdateCompany(ctx, cur.CustomerID, c, by); err != nil {
		if errors.Is(err, directory.ErrExists) {
			return nil, fail(directory.ErrExists, CompanyName, "a customer named %q already exists", c.Name)
		}
		return nil, err
	}
	s.audit(ctx, by, "customer.update", cur.CustomerID, "fields", joinKeys(attrs))
	return s.GetCustomer(ctx, cur.CustomerID)
}

// SetCustomerValid sets a customer's validity. (An invalid customer does not block its
// customer users' logins, as in OTRS.)
func (s *Service) SetCustomerValid(ctx context.Context, by, id, validity string) (*sqldb.Company, error) {
	return s.UpdateCustomer(ctx, by, id, map[string]string{directory.VarValidID: validity})
}

// ---- groups ----

// GroupRecord renders a group for the API and --json.
func GroupRecord(g *sqldb.Group) map[string]any {
	return map[string]any{"ID": g.ID, "Name": g.Name, "Comment": g.Comments, "ValidID": g.ValidID}
}

// ListGroups lists every group, valid or not, by name.
func (s *Service) ListGroups(ctx context.Context) ([]sqldb.Group, error) {
	if err := s.needAdmin(); err != nil {
		return nil, err
	}
	gs, err := s.admin.ListGroups(ctx)
	if gs == nil && err == nil {
		gs = []sqldb.Group{}
	}
	return gs, err
}

// GetGroup reads a group (exact name) with its member rows.
func (s *Service) GetGroup(ctx context.Context, name string) (*sqldb.Group, []sqldb.Member, error) {
	if err := s.needAdmin(); err != nil {
		return nil, nil, err
	}
	g, err := s.admin.GetGroup(ctx, name)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil, fail(directory.ErrNotFound, "Name", "no group %q", name)
	}
	if err != nil {
		return nil, nil, err
	}
	ms, err := s.admin.GroupMembers(ctx, g.Name)
	if ms == nil {
		ms = []sqldb.Member{}
	}
	return g, ms, err
}

// AddGroup adds a valid group.
func (s *Service) AddGroup(ctx context.Context, by, name, comment string) (*sqldb.Group, error) {
	if err := s.needAdmin(); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, fail(directory.ErrInvalid, "Name", "the group name is required")
	}
	if strings.ContainsAny(name, "/,:") {
		return nil, fail(directory.ErrInvalid, "Name", "a group name cannot contain / , or : (it goes into URLs and the groups header)")
	}
	if _, err := s.admin.GetGroup(ctx, name); err == nil {
		return nil, fail(directory.ErrExists, "Name", "group %q already exists", name)
	}
	if _, err := s.admin.AddGroup(ctx, name, comment, by); err != nil {
		if errors.Is(err, directory.ErrExists) {
			return nil, fail(directory.ErrExists, "Name", "group %q already exists", name)
		}
		return nil, err
	}
	s.audit(ctx, by, "group.add", name)
	g, _, err := s.GetGroup(ctx, name)
	return g, err
}

// UpdateGroup changes a group: Name (rename), Comment, ValidID.
func (s *Service) UpdateGroup(ctx context.Context, by, name string, attrs map[string]string) (*sqldb.Group, error) {
	cur, _, err := s.GetGroup(ctx, name)
	if err != nil {
		return nil, err
	}
	g := *cur
	for k, v := range attrs {
		switch k {
		case "Name":
			g.Name = strings.TrimSpace(v)
			if g.Name == "" || strings.ContainsAny(g.Name, "/,:") {
				return nil, fail(directory.ErrInvalid, "Name", "a group name is required and cannot contain / , or :")
			}
		case "Comment":
			g.Comments = v
		case "ValidID":
			if g.ValidID, err = ParseValidity(v); err != nil {
				return nil, err
			}
		default:
			return nil, fail(directory.ErrInvalid, k, "unknown group field %s (want Name, Comment, ValidID)", k)
		}
	}
	if g.Name != cur.Name {
		if _, err := s.admin.GetGroup(ctx, g.Name); err == nil {
			return nil, fail(directory.ErrExists, "Name", "group %q already exists", g.Name)
		}
	}
	if err := s.admin.UpdateGroup(ctx, cur.Name, g, by); err != nil {
		return nil, err
	}
	s.audit(ctx, by, "group.update", cur.Name, "fields", joinKeys(attrs))
	out, _, err := s.GetGroup(ctx, g.Name)
	return out, err
}

// SetGroupValid sets a group's validity; an invalid group grants nothing.
func (s *Service) SetGroupValid(ctx context.Context, by, name, validity string) (*sqldb.Group, error) {
	return s.UpdateGroup(ctx, by, name, map[string]string{"ValidID": validity})
}

// Permission keys (System::Customer::Permission); rw implies every other.
var PermissionKeys = []string{"ro", "rw"}

// Member kinds for Grant and Revoke.
const (
	MemberUser     = "user"
	MemberCustomer = "customer"
)

// member resolves a member to its stored spelling: the customer user's database login or
// the customer's id.
func (s *Service) member(ctx context.Context, kind, id string) (string, error) {
	switch kind {
	case MemberUser:
		u, err := s.GetCustomerUser(ctx, id)
		if err != nil {
			return "", err
		}
		return u.Login, nil
	case MemberCustomer:
		c, err := s.GetCustomer(ctx, id)
		if err != nil {
			return "", err
		}
		return c.CustomerID, nil
	}
	return "", fail(directory.ErrInvalid, "kind", "member kind %q: want user or customer", kind)
}

func checkPerm(perm string) error {
	for _, p := range PermissionKeys {
		if perm == p {
			return nil
		}
	}
	return fail(directory.ErrInvalid, "permission", "permission %q: want ro or rw (rw implies ro)", perm)
}

// Grant gives group's permission perm (ro or rw) to a customer user (kind user, id the
// login) or to every customer user of a customer (kind customer, id the customer id).
func (s *Service) Grant(ctx context.Context, by, group, kind, id, perm string) error {
	if err := s.needAdmin(); err != nil {
		return err
	}
	if err := checkPerm(perm); err != nil {
		return err
	}
	g, _, err := s.GetGroup(ctx, group)
	if err != nil {
		return err
	}
	m, err := s.member(ctx, kind, id)
	if err != nil {
		return err
	}
	if kind == MemberUser {
		err = s.admin.SetUserGroup(ctx, m, g.Name, perm, true, by)
	} else {
		err = s.admin.SetCompanyGroup(ctx, m, g.Name, perm, true, by)
	}
	if err != nil {
		return err
	}
	s.audit(ctx, by, "group.grant", g.Name, "member_kind", kind, "member", m, "permission", perm)
	return nil
}

// Revoke takes group's permission perm away from the member; an empty perm takes every key.
func (s *Service) Revoke(ctx context.Context, by, group, kind, id, perm string) error {
	if err := s.needAdmin(); err != nil {
		return err
	}
	perms := PermissionKeys
	if perm != "" {
		if err := checkPerm(perm); err != nil {
			return err
		}
		perms = []string{perm}
	}
	g, _, err := s.GetGroup(ctx, group)
	if err != nil {
		return err
	}
	m, err := s.member(ctx, kind, id)
	if err != nil {
		return err
	}
	for _, p := range perms {
		if kind == MemberUser {
			err = s.admin.SetUserGroup(ctx, m, g.Name, p, false, by)
		} else {
			err = s.admin.SetCompanyGroup(ctx, m, g.Name, p, false, by)
		}
		if err != nil {
			return err
		}
	}
	s.audit(ctx, by, "group.revoke", g.Name, "member_kind", kind, "member", m, "permission", strings.Join(perms, ","))
	// Sessions carry the permissions of their login: fewer permissions take effect at once.
	return s.revokeMembers(ctx, by, kind, m)
}

// revokeMembers ends the sessions of a customer user, or of every customer user whose
// primary customer id is the customer's. (Customer users who have the customer only as an
// extra customer id keep their sessions until they log in again.)
func (s *Service) revokeMembers(ctx context.Context, by, kind, member string) error {
	if kind == MemberUser {
		_, err := s.revoke(ctx, by, member)
		return err
	}
	users, err := s.dir.Search(ctx, directory.Query{CustomerID: strings.ReplaceAll(member, "*", ""), Limit: 100000})
	if err != nil {
		return fmt.Errorf("customer %q: finding its customer users to end their sessions: %w", member, err)
	}
	for _, u := range users {
		if !strings.EqualFold(u.CustomerID, member) {
			continue
		}
		if _, err := s.revoke(ctx, by, u.Login); err != nil {
			return err
		}
	}
	return nil
}

func joinKeys(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}
