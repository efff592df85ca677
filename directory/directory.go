// Package directory holds customer users, customer companies, groups and permissions: the
// data-source interfaces, the ordered multi-source lookup of OTRS (first source with data
// wins), and the write side used by the admin tools. Implementations live in sub-packages
// (directory/sqldb for PostgreSQL, MariaDB/MySQL and SQLite).
package directory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// Sentinel errors. Implementations wrap them with context.
var (
	// ErrNotFound: no customer user (or company, group) with that key.
	ErrNotFound = errors.New("not found")
	// ErrReadOnly: the data source does not accept writes.
	ErrReadOnly = errors.New("data source is read-only")
	// ErrExists: the login (or customer id, group name) already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid: the record fails validation (missing required field, bad email, …).
	ErrInvalid = errors.New("invalid record")
)

// Validity ids, as seeded in the OTRS valid table.
const (
	ValidID              = 1
	InvalidID            = 2
	InvalidTemporarilyID = 3
)

// Well-known Map variables.
const (
	VarLogin       = "UserLogin"
	VarPassword    = "UserPassword"
	VarEmail       = "UserEmail"
	VarCustomerID  = "UserCustomerID"
	VarCustomerIDs = "UserCustomerIDs"
	VarFirstname   = "UserFirstname"
	VarLastname    = "UserLastname"
	VarTitle       = "UserTitle"
	VarValidID     = "ValidID"
	VarFullname    = "UserFullname"
)

// CustomerUser is one customer-user record as a data source returns it.
type CustomerUser struct {
	// Login is UserLogin in the database spelling: the identity.
	Login string
	// Source is the name of the data source that holds the record.
	Source string
	// Attrs are the Map variables with their values (UserEmail, UserFirstname, UserCity, UserRoom, …),
	// plus UserFullname. Passwords are never included.
	Attrs map[string]string
	// ValidID is the record's validity id (0 also when it is not a number).
	ValidID int
	// HasValidity is set when the record has a validity value: the source maps one and the
	// value is defined (not NULL or empty). OTRS refuses a defined value other than 1.
	HasValidity bool
	// CustomerID is UserCustomerID, the primary customer id.
	CustomerID string
	// CustomerIDs are all customer ids (fact sheet §6): UserCustomerIDs split, the primary id,
	// the customer_user_customer rows.
	CustomerIDs []string
	// ChangeTime is the record's change time when the table has one.
	ChangeTime time.Time
}

// Valid reports whether the record may log in: validity 1, or no defined validity (as OTRS's
// `defined $UserData{ValidID} && $UserData{ValidID} ne 1` check). A validity of 0 or of text
// that is not a number refuses.
func (u *CustomerUser) Valid() bool { return !u.HasValidity || u.ValidID == ValidID }

// Query is a customer-user search.
type Query struct {
	// Search is the OTRS search expression (wildcards, AND/OR/!, phrases).
	Search string
	// UserLogin is a substring match on the login.
	UserLogin string
	// PostMasterSearch is an exact email match on the postmaster fields.
	PostMasterSearch string
	// CustomerID matches the primary customer id (with * wildcards).
	CustomerID string
	// ValidOnly restricts to valid records.
	ValidOnly bool
	// Limit bounds the results; 0 takes the source's customer_user_search_list_limit.
	Limit int
	// Offset skips results (paging).
	Offset int
}

// Source is a customer-user data source (CustomerUser, CustomerUser1 … CustomerUser10).
type Source interface {
	// Name is the configured name of the source.
	Name() string
	// Get looks the login up (case-insensitively unless the source is case-sensitive) and
	// returns the record with the database spelling of the login; ErrNotFound if absent.
	// Validity is not checked (as in OTRS).
	Get(ctx context.Context, login string) (*CustomerUser, error)
	// Search finds customer users.
	Search(ctx context.Context, q Query) ([]CustomerUser, error)
	// CustomerIDs lists the customer ids of login; empty if none.
	CustomerIDs(ctx context.Context, login string) ([]string, error)
}

// Writer is a data source that accepts writes. Read-only sources do not implement it.
type Writer interface {
	// Add creates a customer user from Map variables; the password, if any, is stored in the
	// source's crypt type.
	Add(ctx context.Context, attrs map[string]string, by string) (*CustomerUser, error)
	// Update changes Map variables of an existing customer user.
	Update(ctx context.Context, login string, attrs map[string]string, by string) (*CustomerUser, error)
	// SetPassword stores password in the source's crypt type.
	SetPassword(ctx context.Context, login, password string) error
}

// Pinger is a source that can report whether its back end is reachable (readiness).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Permission is a group permission key: ro, rw, …; rw implies every other.
type Permission = string

// Permissions maps group names to the permission keys granted.
type Permissions map[string][]Permission

// Has reports whether group grants perm (rw grants everything).
func (p Permissions) Has(group string, perm Permission) bool {
	for _, k := range p[group] {
		if k == perm || k == "rw" {
			return true
		}
	}
	return false
}

// GroupResolver computes the effective group permissions of a customer user (fact sheet §8).
type GroupResolver interface {
	Permissions(ctx context.Context, login string, customerIDs []string) (Permissions, error)
}

// SplitCustomerIDs splits UserCustomerIDs as OTRS does (fact sheet §6): on the first of ";",
// ",", "|" that occurs in the value (checked in that order), each item trimmed; empty and
// repeated items are dropped. Every source reads the variable this way.
func SplitCustomerIDs(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	items := []string{v}
	for _, sep := range []string{";", ",", "|"} {
		if strings.Contains(v, sep) {
			items = strings.Split(v, sep)
			break
		}
	}
	var out []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" && !slices.Contains(out, it) {
			out = append(out, it)
		}
	}
	return out
}
