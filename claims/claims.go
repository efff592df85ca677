// Package claims turns a customer-user record into the identity handed upstream: the claim
// set (built once at login and kept in the session), the header mapping and its sanitising.
package claims

import (
	"sort"
	"strings"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// Set is the identity of a signed-in customer user. It is built once at login and stored in
// the session; nothing else is fetched per request.
type Set struct {
	// Login is UserLogin in the database spelling.
	Login string `json:"login"`
	// Email is UserEmail.
	Email string `json:"email,omitempty"`
	// Name is the full name (customer_user_name_fields joined).
	Name string `json:"name,omitempty"`
	// CustomerID is the primary customer id.
	CustomerID string `json:"customer_id,omitempty"`
	// CustomerIDs are all customer ids.
	CustomerIDs []string `json:"customer_ids,omitempty"`
	// Groups are the effective group permissions.
	Groups directory.Permissions `json:"groups,omitempty"`
	// Source is the data source's name.
	Source string `json:"source,omitempty"`
	// AuthModule is the name of the module that authenticated the login.
	AuthModule string `json:"auth_module,omitempty"`
	// Attrs are the Map variables of the record (UserCity, UserRoom, …).
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Computed variable names that Headers may map besides the Map variables.
const (
	VarFullname    = directory.VarFullname
	VarCustomerIDs = directory.VarCustomerIDs
	VarGroups      = "UserGroups"
	VarSource      = "UserSource"
	VarAuthModule  = "UserAuthModule"
)

// FromCustomerUser builds the claim set of u with the given permissions.
func FromCustomerUser(u *directory.CustomerUser, perms directory.Permissions, authModule string) Set {
	attrs := make(map[string]string, len(u.Attrs))
	for k, v := range u.Attrs {
		if v != "" { // empty Map columns carry nothing upstream; the session stays small
			attrs[k] = v
		}
	}
	return Set{
		Login:       u.Login,
		Email:       u.Attrs[directory.VarEmail],
		Name:        u.Attrs[directory.VarFullname],
		CustomerID:  u.CustomerID,
		CustomerIDs: append([]string(nil), u.CustomerIDs...),
		Groups:      perms,
		Source:      u.Source,
		AuthModule:  authModule,
		Attrs:       attrs,
	}
}

// Value returns the value of variable name for the header mapping.
func (s *Set) Value(name string) string {
	switch name {
	case directory.VarLogin:
		return s.Login
	case directory.VarEmail:
		return s.Email
	case VarFullname:
		return s.Name
	case directory.VarCustomerID:
		return s.CustomerID
	case VarCustomerIDs:
		return strings.Join(s.CustomerIDs, ",")
	case VarGroups:
		return s.GroupsString()
	case VarSource:
		return s.Source
	case VarAuthModule:
		return s.AuthModule
	}
	return s.Attrs[name]
}

// GroupsString renders the groups as "billing:ro,users:rw", sorted, one entry per
// group with its strongest permission listed first when it is rw.
func (s *Set) GroupsString() string {
	names := make([]string, 0, len(s.Groups))
	for g := range s.Groups {
		names = append(names, g)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, g := range names {
		perms := append([]string(nil), s.Groups[g]...)
		sort.Strings(perms)
		for _, p := range perms {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(g)
			b.WriteByte(':')
			b.WriteString(p)
		}
	}
	return b.String()
}
