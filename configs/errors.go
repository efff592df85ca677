package configs

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in a configuration file: where it is and what is wrong.
type Error struct {
	// File is the configuration file's name as given to Load or Parse.
	File string
	// Line is the 1-based line of the offending key or value; 0 when the key is absent
	// from the file and has no present parent (e.g. a required top-level section).
	Line int
	// Path is the key path, e.g. customer_auth[0].crypt_type; empty for YAML syntax errors.
	Path string
	// Msg says what is wrong, e.g. `unknown crypt type "sha3" (want bcrypt, …)`.
	Msg string
}

// Error formats the error as FILE:LINE: PATH: MSG, leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if e.File != "" {
			b.WriteByte(':')
		} else {
			b.WriteString("line ")
		}
		b.WriteString(strconv.Itoa(e.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration, in file order. Load and Parse return
// it (as the error value, never empty); use errors.As with a configs.Errors to inspect it.
type Errors []*Error

// Error lists the errors one per line, e.g.
//
//	gatehouse.yaml:14: customer_auth[0].crypt_type: unknown crypt type "sha3" (want bcrypt, sha2, sha512, sha1, md5, apr1, crypt, plain)
//
// It has a value receiver, so both Errors and *Errors implement error.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders errors by line (errors without a line last), keeping the order of
// discovery otherwise, and drops exact duplicates.
func (e Errors) sorted() Errors {
	sort.SliceStable(e, func(i, j int) bool {
		a, b := e[i].Line, e[j].Line
		if (a == 0) != (b == 0) {
			return b == 0
		}
		return a < b
	})
	out := e[:0]
	seen := map[Error]bool{}
	for _, err := range e {
		if !seen[*err] {
			seen[*err] = true
			out = append(out, err)
		}
	}
	return out
}

// errorList collects errors with their key paths, looking lines up as it goes.
type errorList struct {
	file  string
	lines map[string]int // key path → line; nil for configs built in Go
	errs  Errors
}

// addf records an error at path; the line is that of path or of its nearest present parent.
func (l *errorList) addf(path, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.file, Line: l.line(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// line finds the line of path, or of its nearest ancestor that the file sets.
func (l *errorList) line(path string) int {
	for path != "" {
		if n, ok := l.lines[path]; ok {
			return n
		}
		path = parentPath(path)
	}
	return 0
}

// parentPath strips the last segment of a key path: a.b[1].c → a.b[1] → a.b → a.
func parentPath(p string) string {
	if strings.HasSuffix(p, `"]`) {
		if i := strings.LastIndex(p, `["`); i >= 0 {
			return p[:i]
		}
	}
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// under reports whether path is p or lies below it.
func under(path, p string) bool {
	if p == "" {
		return true
	}
	if !strings.HasPrefix(path, p) {
		return false
	}
	rest := path[len(p):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}
