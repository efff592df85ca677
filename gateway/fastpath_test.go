package gateway

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/sessions"
	"github.com/gatehouse-sso/gatehouse/sessions/memory"
)

// fastHarness is a harness on a plain memory store (no fault injection wrapper), so the
// session manager's cache is in play as in production.
func fastHarness(t testing.TB, edit func(*configs.Config)) *harness {
	return newHarnessDeps(t, edit, func(d *Deps) {
		d.Sessions = sessions.NewManager(memory.New(), d.Config.Sessions.IdleTimeout, d.Config.Sessions.MaxLifetime)
	})
}

// rawCtx parses a raw HTTP/1.1 request into a fasthttp context from peer 198.51.100.7.
func rawCtx(t testing.TB, raw string) *fasthttp.RequestCtx {
	t.Helper()
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 40000}, nil)
	return ctx
}

// headerLines is the request line and header lines, sorted: fasthttp moves the Cookie line
// to the end once cookies were parsed, which changes nothing the upstream reads.
func headerLines(h *fasthttp.RequestHeader) []string {
	lines := strings.Split(strings.TrimSpace(h.String()), "\r\n")
	slices.Sort(lines)
	return lines
}

// TestFastPathTakesOnlyPlainSignedInRequests: the fast path forwards a signed-in customer
// user's (or a public route's) plain request and declines everything else without touching
// it, so the full path sees the request as it arrived.
func TestFastPathTakesOnlyPlainSignedInRequests(t *testing.T) {
	h := fastHarness(t, func(c *configs.Config) {
		c.Routes = append(c.Routes, configs.Route{Name: "billing", PathPrefix: "/billing", Upstream: "http://127.0.0.1:9",
			Require: configs.Require{Groups: map[string]string{"admin": "rw"}}},
			configs.Route{Name: "small", PathPrefix: "/small", Upstream: "http://127.0.0.1:9", MaxBodySize: 10})
	})
	_, ck := h.login("jdoe", "Secret123!", "")
	if ck == nil {
		t.Fatal("no session cookie")
	}
	sess := "Cookie: gatehouse_session=" + ck.Value + "; theme=dark\r\n"
	const host = "Host: portal.example.com\r\n"
	cases := []struct {
		name, raw string
		fast      bool
	}{
		{"signed-in GET", "GET /app/page?q=1 HTTP/1.1\r\n" + host + sess + "Remote-User: spoof\r\nRemote_User: spoof\r\n\r\n", true},
		{"hop-by-hop and proxy headers", "GET /app/page HTTP/1.1\r\n" + host + sess + "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n" +
			"Proxy-Authorization: Basic spoof\r\nProxy_Authorization: spoof\r\nTe: trailers\r\nX-Request-Id: spoof\r\n" +
			"X-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n\r\n", true},
		{"signed-in POST with a length", "POST /app/form HTTP/1.1\r\n" + host + sess + "Content-Length: 3\r\n\r\na=b", true},
		{"public route without a session", "GET /static/app.css HTTP/1.1\r\n" + host + "Remote-User: spoof\r\nX-Customer-User-Email: spoof\r\n\r\n", true},
		{"chunked body", "POST /app/form HTTP/1.1\r\n" + host + sess + "Transfer-Encoding: chunked\r\n\r\n3\r\na=b\r\n0\r\n\r\n", false},
		{"trailer announced", "GET /app/page HTTP/1.1\r\n" + host + sess + "Trailer: Remote-User\r\n\r\n", false},
		{"websocket", "GET /app/ws HTTP/1.1\r\n" + host + sess + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", false},
		{"h2c upgrade", "GET /app/page HTTP/1.1\r\n" + host + sess + "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n", false},
		{"no cookie", "GET /app/page HTTP/1.1\r\n" + host + "\r\n", false},
		{"malformed cookie", "GET /app/page HTTP/1.1\r\n" + host + "Cookie: gatehouse_session=%%%\r\n\r\n", false},
		{"unknown session", "GET /app/page HTTP/1.1\r\n" + host + "Cookie: gatehouse_session=" + strings.Repeat("A", 43) + "\r\n\r\n", false},
		{"reserved path", "GET /.gatehouse/userinfo HTTP/1.1\r\n" + host + sess + "\r\n", false},
		{"reserved path, other case", "GET /.GateHouse/userinfo HTTP/1.1\r\n" + host + sess + "\r\n", false},
		{"reserved path, encoded", "GET /%2egatehouse/userinfo HTTP/1.1\r\n" + host + sess + "\r\n", false},
		{"reserved path, doubled slash", "GET //.gatehouse/userinfo HTTP/1.1\r\n" + host + sess + "\r\n", false},
		{"absolute-form target", "GET http://portal.example.com/app/page HTTP/1.1\r\n" + host + sess + "\r\n", false},
		{"control character in path", "GET /app/%00x HTTP/1.1\r\n" + host + sess + "\r\n", false},
		{"route policy refuses", "GET /billing/invoices HTTP/1.1\r\n" + host + sess + "\r\n", false},
		{"route policy of another spelling refuses", "GET /BILLING/invoices HTTP/1.1\r\n" + host + sess + "\r\n", false},
		{"body over the route's limit", "POST /small/x HTTP/1.1\r\n" + host + sess + "Content-Length: 11\r\n\r\n01234567890", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := rawCtx(t, tc.raw)
			before := headerLines(&ctx.Request.Header)
			var buf [maxRequestIDLen]byte
			rt, _, rid, ok := h.gw.fastPrepare(ctx, buf[:0])
			if ok != tc.fast {
				t.Fatalf("fast path taken = %v, want %v", ok, tc.fast)
			}
			if !ok {
				if after := headerLines(&ctx.Request.Header); !slices.Equal(after, before) {
					t.Fatalf("declined but changed the request:\nbefore %q\nafter  %q", before, after)
				}
				return
			}
			hd := &ctx.Request.Header
			for _, name := range []string{"Keep-Alive", "Proxy-Authorization", "Proxy_authorization", "Te", "X-Real-Ip", "Forwarded"} {
				if v := hd.Peek(name); len(v) != 0 {
					t.Errorf("%s: %q reached the upstream", name, v)
				}
			}
			if strings.Contains(hd.String(), "spoof") || strings.Contains(hd.String(), "6.6.6.6") {
				t.Errorf("a spoofed identity header survived:\n%s", hd.String())
			}
			if c := string(hd.Peek("Cookie")); strings.Contains(c, "gatehouse_session") {
				t.Errorf("session cookie forwarded: %q", c)
			}
			if got := string(hd.Peek(headerXForwardedFor)); got != "198.51.100.7" {
				t.Errorf("X-Forwarded-For %q", got)
			}
			if got := string(hd.Peek(headerRequestID)); got == "" || got != string(rid) {
				t.Errorf("X-Request-Id %q, rid %q", got, rid)
			}
			if rt.public {
				if len(hd.Peek("Remote-User")) != 0 {
					t.Errorf("identity on a public route: %s", hd.String())
				}
				return
			}
			if got := string(hd.Peek("Remote-User")); got != "jdoe" {
				t.Errorf("Remote-User %q, want jdoe", got)
			}
			if got := string(hd.Peek("X-Customer-User-Email")); got != "jdoe@example.com" {
				t.Errorf("X-Customer-User-Email %q", got)
			}
			if got := string(hd.Peek("Theme")); got != "" {
				t.Errorf("unexpected header Theme %q", got)
			}
			if c := string(hd.Peek("Cookie")); c != "theme=dark" {
				t.Errorf("other cookies: %q, want theme=dark", c)
			}
		})
	}
}

// TestFastPathServes: through the listener, a signed-in request reaches the upstream with the
// identity and is counted and logged like any other.
func TestFastPathServes(t *testing.T) {
	h := fastHarness(t, nil)
	_, ck := h.login("jdoe", "Secret123!", "")
	resp, body := h.do("GET", "/app/page?x=1", nil, map[string]string{"Remote-User": "spoof", "X-Request-Id": "client-chosen"}, ck)
	if resp.StatusCode != 200 || body != "upstream says hi" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	r := h.up.request()
	if got := r.Header.Values("Remote-User"); len(got) != 1 || got[0] != "jdoe" {
		t.Fatalf("Remote-User %q", got)
	}
	// The client is not a trusted proxy: its request id is replaced.
	if got := r.Header.Values("X-Request-Id"); len(got) != 1 || got[0] == "client-chosen" || len(got[0]) != 24 {
		t.Fatalf("X-Request-Id %q", got)
	}
	if !strings.Contains(h.logs.String(), `msg=request`) || !strings.Contains(h.logs.String(), `login=jdoe route=app`) {
		t.Fatalf("no access-log line for the fast path:\n%s", h.logs.String())
	}
	// An upstream that is gone: 502 in gatehouse's own format, with the request id.
	h.up.Close()
	resp, body = h.do("GET", "/app/page", nil, map[string]string{"Accept": "application/json"}, ck)
	if resp.StatusCode != 502 || !strings.Contains(body, `"bad_gateway"`) || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("upstream down: %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

// probeStore records whether a Get's context reaches the request's fasthttp context: a
// store that derives a timeout from it would call its Value from the timer's goroutine
// while the handler writes the request's user values (a data race, seen with Redis down).
type probeStore struct {
	sessions.Store
	gets, leaks atomic.Int32
}

const probeUserValue = "gatehouse.test.probe"

func (p *probeStore) Get(ctx context.Context, key string) (*sessions.Session, error) {
	p.gets.Add(1)
	if ctx.Value(probeUserValue) != nil {
		p.leaks.Add(1)
	}
	return p.Store.Get(ctx, key)
}

// TestFastPathStoreContext: the fast path never hands the *fasthttp.RequestCtx (or a context
// built on it) to the session store.
func TestFastPathStoreContext(t *testing.T) {
	store := &probeStore{Store: memory.New()} // not an Invalidator: no local cache, every lookup reaches Get
	h := newHarnessDeps(t, nil, func(d *Deps) {
		d.Sessions = sessions.NewManager(store, d.Config.Sessions.IdleTimeout, d.Config.Sessions.MaxLifetime)
	})
	_, ck := h.login("jdoe", "Secret123!", "")
	for _, name := range []string{"known session", "unknown session"} {
		value := ck.Value
		if name == "unknown session" {
			value = strings.Repeat("A", 43)
		}
		ctx := rawCtx(t, "GET /app/page HTTP/1.1\r\nHost: portal.example.com\r\nCookie: gatehouse_session="+value+"\r\n\r\n")
		ctx.SetUserValue(probeUserValue, "the request's own")
		before := store.gets.Load()
		var buf [maxRequestIDLen]byte
		h.gw.fastPrepare(ctx, buf[:0])
		if store.gets.Load() == before {
			t.Fatalf("%s: the store was not asked", name)
		}
		if n := store.leaks.Load(); n != 0 {
			t.Fatalf("%s: the store got a context reading the request's user values (%d times)", name, n)
		}
	}
}

// TestFastPathAllocations: the session lookup and header work of a signed-in request
// allocate nothing (the "no allocation per request" lever, kept by this test).
func TestFastPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; the count is checked in the run without -race")
	}
	h := fastHarness(t, nil)
	_, ck := h.login("jdoe", "Secret123!", "")
	tmpl := rawCtx(t, "GET /app/page?q=1 HTTP/1.1\r\nHost: portal.example.com\r\nUser-Agent: Mozilla/5.0\r\n"+
		"Accept: text/html\r\nAccept-Language: de-DE\r\nCookie: gatehouse_session="+ck.Value+"; theme=dark\r\n"+
		"Remote-User: spoof\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n")
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&tmpl.Request, tmpl.RemoteAddr(), nil)
	var buf [maxRequestIDLen]byte
	run := func() {
		tmpl.Request.CopyTo(&ctx.Request)
		if _, _, _, ok := h.gw.fastPrepare(ctx, buf[:0]); !ok {
			t.Fatal("fast path not taken")
		}
	}
	run() // warm fasthttp's buffers and the session cache
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("%v allocations per request on the fast path", n)
	}
}

// BenchmarkFastPathPrepare is the per-request work of the fast path without the network:
// routing, the session lookup (memory store, cached), header scrub, identity headers,
// X-Forwarded-*, request id and target rewrite.
func BenchmarkFastPathPrepare(b *testing.B) {
	h := fastHarness(b, nil)
	_, ck := h.login("jdoe", "Secret123!", "")
	tmpl := rawCtx(b, "GET /app/page?q=1 HTTP/1.1\r\nHost: portal.example.com\r\nUser-Agent: Mozilla/5.0\r\n"+
		"Accept: text/html\r\nAccept-Language: de-DE\r\nCookie: gatehouse_session="+ck.Value+"; theme=dark\r\n\r\n")
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&tmpl.Request, tmpl.RemoteAddr(), nil)
	var buf [maxRequestIDLen]byte
	b.ReportAllocs()
	for b.Loop() {
		tmpl.Request.CopyTo(&ctx.Request)
		if _, _, _, ok := h.gw.fastPrepare(ctx, buf[:0]); !ok {
			b.Fatal("fast path not taken")
		}
	}
}

func TestFasthttpCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"X-Customer-ID": "X-Customer-Id", "remote-user": "Remote-User", "X-FORWARDED-FOR": "X-Forwarded-For",
		"x_customer_user": "X_customer_user", "Te": "Te", "": "",
	} {
		if got := fasthttpCanonical(in); got != want {
			t.Errorf("fasthttpCanonical(%q) = %q, want %q", in, got, want)
		}
		// The same as fasthttp's own spelling.
		var h fasthttp.RequestHeader
		if in != "" {
			h.Set(in, "v")
			h.VisitAll(func(k, _ []byte) {
				if string(k) != want {
					t.Errorf("fasthttp spells %q as %q, we as %q", in, k, want)
				}
			})
		}
	}
}

// TestFastPathTrustedHeader: behind a trusted front proxy that sends its login header on every
// request (OTRS HTTPBasicAuth), a request naming the session's customer user stays on the fast
// path (the header removed); one naming another user goes to the full path, which ends the
// old session.
func TestFastPathTrustedHeader(t *testing.T) {
	h := newHarnessDeps(t, func(c *configs.Config) {
		c.Server.TrustedProxies = []string{"198.51.100.0/24", "127.0.0.1/32"}
	}, func(d *Deps) {
		d.Sessions = sessions.NewManager(memory.New(), d.Config.Sessions.IdleTimeout, d.Config.Sessions.MaxLifetime)
		d.RequestModules = []RequestModule{{Module: headerModule{header: "X-Remote-User"}, TrustedOnly: true, Header: "X-Remote-User", Session: true}}
	})
	_, ck := h.login("jdoe", "Secret123!", "")
	if ck == nil {
		t.Fatal("no session cookie")
	}
	base := "GET /app/page HTTP/1.1\r\nHost: portal.example.com\r\nCookie: gatehouse_session=" + ck.Value + "\r\n"
	for _, tc := range []struct {
		name, header string
		fast         bool
	}{
		{"no login header", "", true},
		{"the session's user", "X-Remote-User: JDoe\r\n", true},
		{"another user", "X-Remote-User: ghost\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := rawCtx(t, base+tc.header+"\r\n")
			before := headerLines(&ctx.Request.Header)
			var buf [maxRequestIDLen]byte
			_, _, _, ok := h.gw.fastPrepare(ctx, buf[:0])
			if ok != tc.fast {
				t.Fatalf("fast path taken = %v, want %v", ok, tc.fast)
			}
			if !ok {
				if after := headerLines(&ctx.Request.Header); !slices.Equal(after, before) {
					t.Fatalf("declined but changed the request:\n%s", after)
				}
				return
			}
			if v := ctx.Request.Header.Peek("X-Remote-User"); len(v) != 0 {
				t.Errorf("the login header reached the upstream: %q", v)
			}
			if v := string(ctx.Request.Header.Peek("Remote-User")); v != "jdoe" {
				t.Errorf("Remote-User %q", v)
			}
		})
	}
}
