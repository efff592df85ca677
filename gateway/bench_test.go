package gateway

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/directory"
)

// BenchmarkProxyWithSession measures the authenticated proxy path end to end over loopback:
// cookie → session lookup (memory store) → identity headers stripped and set → upstream →
// response. The HTTP client and the upstream share the machine, so compare runs, not
// absolute numbers; bench/ compares gatehouse with nginx and a direct upstream under wrk.
func BenchmarkProxyWithSession(b *testing.B) {
	h := newHarness(b, nil)
	set := claims.Set{Login: "jdoe", Email: "jdoe@example.com", Name: "John Doe", CustomerID: "ACME",
		CustomerIDs: []string{"ACME"}, Groups: directory.Permissions{"users": {"rw"}}, Source: "Database Backend",
		Attrs: map[string]string{"UserCity": "Berlin", "UserFirstname": "John", "UserLastname": "Doe"}}
	id, _, err := h.sessions.Create(context.Background(), set, "127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", h.base+"/app/page", nil)
		req.Header.Set("Cookie", "gatehouse_session="+id)
		req.Header.Set("Remote-User", "spoofed")
		for pb.Next() {
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkStripOwned measures the header scrub that runs on every request.
func BenchmarkStripOwned(b *testing.B) {
	h := newHarness(b, nil)
	req := newFastRequest()
	b.ReportAllocs()
	for b.Loop() {
		fillTypicalHeaders(req)
		h.gw.scrub(&req.Header, h.gw.owned)
	}
}

// BenchmarkDirectUpstream is the same client against the upstream alone: the baseline for
// BenchmarkProxyWithSession's ratio.
func BenchmarkDirectUpstream(b *testing.B) {
	up := newUpstream(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", up.URL+"/app/page", nil)
		for pb.Next() {
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
