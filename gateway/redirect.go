package gateway

import (
	"net/url"
	"strings"
)

// redirectPolicy decides where rd (and RequestedURL) may send a browser: to a path on
// gatehouse's own origin, to the own origin, or to an allowed host. Anything a browser could
// read as another origin is refused; the caller falls back to "/".
type redirectPolicy struct {
	self    *url.URL
	allowed []string // lower-case hosts; a leading dot allows subdomains
}

func newRedirectPolicy(publicURL *url.URL, allowed []string) redirectPolicy {
	p := redirectPolicy{self: publicURL}
	for _, h := range allowed {
		p.allowed = append(p.allowed, strings.ToLower(strings.TrimSpace(h)))
	}
	return p
}

// safe returns the redirect target for rd, or "" when rd must not be followed.
func (p redirectPolicy) safe(rd string) string {
	if rd == "" || len(rd) > 4096 {
		return ""
	}
	// Browsers drop tabs and newlines inside URLs and treat "\" like "/": a target that needs
	// either to be read as we read it is refused outright rather than interpreted.
	for i := 0; i < len(rd); i++ {
		if c := rd[i]; c <= 0x20 || c == 0x7f || c == '\\' {
			return ""
		}
	}
	if strings.HasPrefix(rd, "/") {
		return p.safePath(rd)
	}
	u, err := url.Parse(rd)
	if err != nil || u.Opaque != "" || u.User != nil {
		return ""
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return ""
	}
	host := strings.ToLower(u.Host)
	if host == "" || strings.ContainsAny(host, "%@") {
		return ""
	}
	if !(u.Scheme == p.self.Scheme && host == strings.ToLower(p.self.Host)) && !p.hostAllowed(u.Hostname()) {
		return ""
	}
	// The path must itself be a plain path, or "https://own/%2F%2Fevil" style tricks survive
	// into a later relative resolution.
	if u.RawPath != "" || strings.HasPrefix(u.EscapedPath(), "//") {
		if p.safePath(u.EscapedPath()) == "" {
			return ""
		}
	}
	return u.String()
}

// safePath accepts a same-origin absolute path: "/x", never "//host" or anything that
// decodes to one.
func (p redirectPolicy) safePath(path string) string {
	if strings.HasPrefix(path, "//") {
		return ""
	}
	// Decoding once (and twice, for double-encoded input) must not reveal "//", "/\" or
	// control characters that a proxy or browser might decode later.
	dec := path
	for i := 0; i < 2; i++ {
		d, err := url.PathUnescape(dec)
		if err != nil {
			return ""
		}
		dec = d
		if strings.HasPrefix(dec, "//") || strings.HasPrefix(dec, "/\\") {
			return ""
		}
		for j := 0; j < len(dec); j++ {
			if c := dec[j]; c < 0x20 || c == 0x7f {
				return ""
			}
		}
	}
	u, err := url.Parse(path)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return path
}

func (p redirectPolicy) hostAllowed(host string) bool {
	host = strings.ToLower(host)
	for _, a := range p.allowed {
		if strings.HasPrefix(a, ".") {
			if strings.HasSuffix(host, a) || host == a[1:] {
				return true
			}
		} else if host == a {
			return true
		}
	}
	return false
}
