package ldap

import (
	"fmt"
	"regexp"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
)

// attrRe is an attribute description (RFC 4512 §2.5): a name or an OID, with options. Config
// attribute names are put into filters unescaped, so anything else is refused up front.
var attrRe = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)(?:;[A-Za-z0-9-]+)*$`)

// ValidAttr reports whether name is a plain attribute description.
func ValidAttr(name string) bool { return attrRe.MatchString(name) }

// CheckAttr returns an error naming what unless name is a plain attribute description.
func CheckAttr(what, name string) error {
	if !ValidAttr(name) {
		return fmt.Errorf("%s %q is not an LDAP attribute name", what, name)
	}
	return nil
}

// CheckFilter returns an error unless f is empty or a well-formed filter in parentheses
// (always_filter, customer_user_valid_filter): a broken one would fail every request.
func CheckFilter(what, f string) error {
	if f == "" {
		return nil
	}
	if !strings.HasPrefix(f, "(") {
		return fmt.Errorf("%s %q: an LDAP filter must be in parentheses", what, f)
	}
	if _, err := goldap.CompileFilter(f); err != nil {
		return fmt.Errorf("%s %q: %w", what, f, err)
	}
	return nil
}

// Eq is the filter (attr=value) with value escaped per RFC 4515: '*', '(', ')', '\', NUL and
// every byte outside ASCII become \xx, so a value can never widen or restructure the filter.
func Eq(attr string, value []byte) string {
	return "(" + attr + "=" + goldap.EscapeFilter(string(value)) + ")"
}

// And wraps f as (&f extra) when extra is set (OTRS's AlwaysFilter and ValidFilter).
func And(f, extra string) string {
	if extra == "" {
		return f
	}
	return "(&" + f + extra + ")"
}

// Wildcard is the filter (attr=value) in which each '*' of value is a wildcard (OTRS keeps
// '*' unescaped in searches) and everything else is escaped. Runs of '*' collapse to one; a
// value of only '*' is a presence filter.
func Wildcard(attr string, value []byte) string {
	parts := strings.Split(string(value), "*")
	var b strings.Builder
	for i, p := range parts {
		if i > 0 && !strings.HasSuffix(b.String(), "*") {
			b.WriteByte('*')
		}
		b.WriteString(goldap.EscapeFilter(p))
	}
	return "(" + attr + "=" + b.String() + ")"
}
