package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
)

func rawRequest(t *testing.T, base, raw string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, raw)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestPathBypassCorpus: no spelling of a path reaches the protected route through the public
// one; routing and the upstream see the same normalised path.
func TestPathBypassCorpus(t *testing.T) {
	h := newHarness(t, nil)
	b, err := os.ReadFile("../testdata/path-bypass.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range strings.Split(string(b), "\n") {
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		n++
		before := h.up.n
		resp := rawRequest(t, h.base, "GET "+p+" HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n")
		if h.up.n == before {
			if resp.StatusCode == 200 {
				t.Errorf("%s: 200 without the upstream", p)
			}
			continue
		}
		if got := h.up.request().URL.Path; got != "/static" && !strings.HasPrefix(got, "/static/") {
			t.Errorf("%s: reached the upstream as %q without a session (status %d)", p, got, resp.StatusCode)
		}
	}
	if n < 20 {
		t.Fatalf("corpus has %d paths", n)
	}
}

// An absolute-form target names the host that counts (RFC 9112 §3.2.2): a public route on
// one host cannot carry a request to another host's protected upstream.
func TestAbsoluteFormHost(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) {
		c.Routes = append([]configs.Route{{Name: "public-host", Host: "public.example.com", PathPrefix: "/", Upstream: c.Routes[0].Upstream, Public: true, PreserveHost: true}}, c.Routes...)
	})
	resp := rawRequest(t, h.base, "GET http://secret.example.com/x HTTP/1.1\r\nHost: public.example.com\r\nAccept: application/json\r\n\r\n")
	if resp.StatusCode != http.StatusUnauthorized || h.up.n != 0 {
		t.Fatalf("status %d, upstream requests %d", resp.StatusCode, h.up.n)
	}
	resp = rawRequest(t, h.base, "GET /x HTTP/1.1\r\nHost: public.example.com\r\n\r\n")
	if resp.StatusCode != 200 || h.up.request().Host != "public.example.com" {
		t.Fatalf("host route: %d, upstream Host %q", resp.StatusCode, h.up.request().Host)
	}
}

// Host routes and an upstream base path.
func TestHostRouteAndBasePath(t *testing.T) {
	h := newHarness(t, func(c *configs.Config) {
		c.Routes = append(c.Routes, configs.Route{Name: "docs", Host: "docs.example.com", PathPrefix: "/", Upstream: c.Routes[0].Upstream + "/base/", Public: true})
	})
	resp := rawRequest(t, h.base, "GET /guide?x=1 HTTP/1.1\r\nHost: DOCS.example.com:8080\r\n\r\n")
	got := h.up.request()
	if resp.StatusCode != 200 || got.URL.Path != "/base/guide" || got.URL.RawQuery != "x=1" {
		t.Fatalf("status %d, upstream %s", resp.StatusCode, got.URL)
	}
}
