package configs

import (
	"fmt"
	"strings"
)

// expandEnv replaces ${VAR} and ${VAR:-default} in a scalar value with the environment
// variable's value. "$$" is a literal "$" (so "$${" is a literal "${"); any other "$" is kept
// as it is, so password hashes such as $2a$10$… or $apr1$… need no escaping. An unset variable
// without a default is an error; with ":-" the default is used when the variable is unset or
// empty (as in the shell). The result is never parsed as YAML again, so a variable cannot add
// keys or change a value's structure.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf(`unterminated "${" (write "$${" for a literal "${")`)
			}
			expr := s[i+2 : i+2+end]
			name, def, hasDef := strings.Cut(expr, ":-")
			if !validEnvName(name) {
				return "", fmt.Errorf(`invalid environment variable name in "${%s}" (write "$${" for a literal "${")`, expr)
			}
			val, ok := lookup(name)
			if !ok || (hasDef && val == "") {
				if !hasDef {
					return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
				}
				val = def
			}
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// validEnvName reports whether s is a POSIX-style variable name.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}
