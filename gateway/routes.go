package gateway

import (
	"fmt"
	"net"
	"net/url"
	pathpkg "path"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// upstreamEcho is the route upstream value that selects the built-in echo upstream.
const upstreamEcho = "echo"

// route is a compiled routes[] entry.
type route struct {
	name        string
	host        string // lower case, no port; "" matches any host
	prefix      string // "/" or "/x" (no trailing slash)
	public      bool
	basePath    string // upstream URL path, prepended to the request path
	hostHeader  string // Host sent upstream unless preserveHost
	preserve    bool
	maxBody     int64
	client      *fasthttp.HostClient
	upstreamURL string
	require     configs.Require
	stats       *routeStats // request metrics; set by New
	failLog     repeatLog   // "upstream request failed", at most once a second
}

// allows reports whether the customer user may use the route: every required group with its
// permission (rw grants every permission) and, if customer ids are required, one of them.
func (r *route) allows(s *claims.Set) bool {
	for group, perm := range r.require.Groups {
		if !s.Groups.Has(group, perm) {
			return false
		}
	}
	if len(r.require.CustomerIDs) == 0 {
		return true
	}
	for _, want := range r.require.CustomerIDs {
		for _, have := range s.CustomerIDs {
			if strings.EqualFold(want, have) {
				return true
			}
		}
	}
	return false
}

// routeTable matches requests to routes: routes naming the request's host come before
// host-less ones, and within those the longest path prefix wins (as nginx's prefix locations).
type routeTable struct {
	routes []*route
}

func routesNeedEcho(rs []configs.Route) bool {
	for _, r := range rs {
		if r.Upstream == upstreamEcho {
			return true
		}
	}
	return false
}

func compileRoutes(rs []configs.Route, lim configs.Limits, echoAddr string) (*routeTable, error) {
	t := &routeTable{}
	for i, rc := range rs {
		up := rc.Upstream
		if up == upstreamEcho {
			up = "http://" + echoAddr
		}
		u, err := url.Parse(up)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("routes[%d].upstream %q: want http(s)://host:port", i, rc.Upstream)
		}
		addr := u.Host
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" {
				port = "443"
			}
			addr = net.JoinHostPort(u.Hostname(), port)
		}
		prefix := routeKey("/" + strings.Trim(rc.PathPrefix, "/"))
		maxBody := rc.MaxBodySize
		if maxBody == 0 {
			maxBody = lim.MaxBodySize
		}
		maxConns := lim.UpstreamMaxConns
		if maxConns <= 0 {
			maxConns = 1024
		}
		t.routes = append(t.routes, &route{
			name:       rc.Name,
			host:       strings.ToLower(rc.Host),
			prefix:     prefix,
			public:     rc.Public,
			basePath:   strings.TrimSuffix(u.Path, "/"),
			hostHeader: u.Host,
			preserve:   rc.PreserveHost,
			maxBody:    maxBody,
			client: &fasthttp.HostClient{
				Addr:  addr,
				IsTLS: u.Scheme == "https",
				// Stream both ways: with fasthttp >= 1.78 bodies of any size pass through in
				// bounded memory (see the 1 GiB tests).
				StreamResponseBody: true,
				// Kept below common upstream keep-alive timeouts (Apache: 5 s) so a streamed
				// upload never lands on a connection the upstream already closed.
				MaxIdleConnDuration:      4 * time.Second,
				NoDefaultUserAgentHeader: true,
				// The normalised path that routing matched is the path sent upstream.
				MaxConns:           maxConns,
				MaxConnWaitTimeout: 5 * time.Second,
				ReadBufferSize:     16 << 10,
			},
			upstreamURL: u.Scheme + "://" + u.Host + u.Path,
			require:     rc.Require,
		})
	}
	sort.SliceStable(t.routes, func(i, j int) bool {
		a, b := t.routes[i], t.routes[j]
		if (a.host != "") != (b.host != "") {
			return a.host != ""
		}
		return len(a.prefix) > len(b.prefix)
	})
	return t, nil
}

// match finds the route for host (may carry a port) and the normalised path.
func (t *routeTable) match(host, path string) *route { return t.matchKey(host, routeKey(path)) }

// matchKey matches an already folded (or deliberately unfolded) path.
func (t *routeTable) matchKey(host, path string) *route {
	host = strings.TrimSuffix(hostOnly(host), ".")
	for _, r := range t.routes {
		if r.host != "" && !strings.EqualFold(r.host, host) {
			continue
		}
		if prefixMatch(path, r.prefix) {
			return r
		}
	}
	return nil
}

// prefixMatch matches at a segment boundary: "/app" matches "/app" and "/app/x", not "/apple".
func prefixMatch(path, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

// routeKey is the form of a normalised path that routes are matched on. Upstreams disagree
// about some spellings, so each is folded the way the most lenient one reads it, and a policy
// on the specific route then applies (fail closed): ";params" are cut from each segment
// (Tomcat: "/public/..;/admin" is "/admin"), trailing dots and spaces are trimmed (Windows:
// "/admin." is "/admin"), and case is ignored (IIS: "/ADMIN" is "/admin").
func routeKey(p string) string {
	if plainKey(p) {
		return p // the common case: nothing to fold
	}
	return foldKey(p)
}

// foldKey is routeKey without the fast path. It also reads '\\' as '/' (IIS, ASP.NET) and
// a '#' — only ever there percent-encoded — as the end of the path.
func foldKey(p string) string {
	if i := strings.IndexByte(p, '#'); i >= 0 {
		p = p[:i]
	}
	p = strings.ReplaceAll(p, "\\", "/")
	segs := strings.Split(p, "/")
	out := segs[:0]
	for _, seg := range segs {
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if seg != "." && seg != ".." {
			seg = strings.TrimRight(seg, ". ")
		}
		out = append(out, strings.ToLower(seg))
	}
	return pathpkg.Clean("/" + strings.Join(out, "/"))
}

// plainKey reports a normalised path that routeKey would return unchanged: ASCII lower case, no
// ';', no segment ending in '.' or ' ', no dot segments.
func plainKey(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c >= 'A' && c <= 'Z', c == ';', c == '\\', c == '#', c >= 0x80: // the full fold
			return false
		case c == '.' || c == ' ':
			if i+1 == len(p) || p[i+1] == '/' {
				return false
			}
		case c == '/' && i+1 < len(p) && p[i+1] == '/':
			return false
		}
	}
	return true
}

// badPath reports a decoded path no upstream reads the same way: control characters (NUL
// ends C strings) or bytes that are not UTF-8 (overlong forms such as %c0%ae once meant ".").
func badPath(p []byte) bool {
	for _, c := range p {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return !utf8.Valid(p)
}

// decision is the routes one request may be read as. Upstreams disagree on spellings (one
// decodes %2f, one cuts ";params", one ignores case), so each reading is routed and the
// request must satisfy the policy of every route it could be (fail closed); it is forwarded
// by the first.
type decision struct {
	route  *route   // the route that serves the request; nil when none matches
	others []*route // other routes a reading of the path leads to
}

// decide routes every spelling (the first is the one that serves the request).
func (t *routeTable) decide(host string, spellings ...string) decision {
	var d decision
	for i, sp := range spellings {
		r := t.matchKey(host, sp)
		if i == 0 {
			d.route = r
			continue
		}
		if r != nil && r != d.route && !slices.Contains(d.others, r) {
			d.others = append(d.others, r)
		}
	}
	return d
}

// public reports whether no reading of the request needs a signed-in customer user.
func (d decision) public() bool {
	if d.route == nil || !d.route.public {
		return false
	}
	for _, r := range d.others {
		if !r.public {
			return false
		}
	}
	return true
}

// allows reports whether s satisfies the policy of every route the request may be read as.
func (d decision) allows(s *claims.Set) bool {
	if d.route != nil && !d.route.public && !d.route.allows(s) {
		return false
	}
	for _, r := range d.others {
		if r != nil && !r.public && !r.allows(s) {
			return false
		}
	}
	return true
}
