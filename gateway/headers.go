package gateway

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// claimHeader is one configured identity header: its name and the claim variable it carries.
type claimHeader struct {
	name     string
	variable string
	max      int
}

// ownedHeaders is a set of header names in canonical form (lower case, '_' read as '-') —
// those gatehouse injects, so a client cannot smuggle any spelling of them upstream, and
// others it removes.
type ownedHeaders map[string]struct{}

// canonicalHeader lower-cases name and maps '_' to '-': servers behind gatehouse (CGI, PHP,
// Perl's HTTP_REMOTE_USER) read both spellings as the same variable.
func canonicalHeader(name []byte) string { return string(appendCanonical(nil, name)) }

// appendCanonical appends name lower-cased with '_' read as '-'.
func appendCanonical(dst, name []byte) []byte {
	for _, c := range name {
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		dst = append(dst, c)
	}
	return dst
}

func (o ownedHeaders) has(name []byte) bool {
	// A stack buffer keeps the common case free of allocations: most request headers are
	// short and not ours (the map lookup with string(bytes) does not allocate).
	var buf [64]byte
	_, ok := o[string(appendCanonical(buf[:0], name))]
	return ok
}

func (o ownedHeaders) add(name string) { o[canonicalHeader([]byte(name))] = struct{}{} }

// headerMatcher reports header names of a set, in any spelling.
type headerMatcher interface{ has(name []byte) bool }

// headerSet is an ownedHeaders with a quick first test: the lengths of its names. Most
// request headers have a length no member has and are passed over without a map lookup.
type headerSet struct {
	names   ownedHeaders
	lengths [2]uint64 // bit n: some name is n bytes long (n < 128)
}

func newHeaderSet(sets ...ownedHeaders) *headerSet {
	hs := &headerSet{names: ownedHeaders{}}
	for _, set := range sets {
		for n := range set {
			hs.names[n] = struct{}{}
			if len(n) < 128 {
				hs.lengths[len(n)/64] |= 1 << (len(n) % 64)
			}
		}
	}
	return hs
}

func (hs *headerSet) has(name []byte) bool {
	if n := len(name); n < 128 && hs.lengths[n/64]&(1<<(n%64)) == 0 {
		return false
	}
	return hs.names.has(name)
}

// fasthttpCanonical spells name as fasthttp normalises header names (upper case at the start
// and after '-', lower case elsewhere), so it can be set without being normalised per request.
func fasthttpCanonical(name string) string {
	b := []byte(name)
	upper := true
	for i, c := range b {
		switch {
		case upper && c >= 'a' && c <= 'z':
			b[i] = c - ('a' - 'A')
		case !upper && c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	return string(b)
}

// compileClaimHeaders turns claims.headers into a sorted list and the owned set (which also
// holds the assertion header).
func compileClaimHeaders(c configs.Claims) ([]claimHeader, ownedHeaders) {
	owned := ownedHeaders{}
	var hs []claimHeader
	for name, v := range c.Headers {
		hs = append(hs, claimHeader{name: name, variable: v, max: c.MaxHeaderValue})
		owned.add(name)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].name < hs[j].name })
	if c.Assertion.Header != "" {
		owned.add(c.Assertion.Header)
	}
	return hs, owned
}

// headerValue renders variable of s for a header: control characters (CR, LF, NUL, …) become
// spaces so no value can split a header, and the value is cut to max bytes at a rune
// boundary. Non-ASCII stays plain UTF-8, which every upstream in this field reads.
func headerValue(s *claims.Set, h claimHeader) string {
	return sanitizeHeaderValue(s.Value(h.variable), h.max)
}

func sanitizeHeaderValue(v string, max int) string {
	clean := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if !clean {
		v = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, v)
	}
	v = strings.TrimSpace(v)
	if max > 0 && len(v) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		v = v[:cut]
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	return v
}
