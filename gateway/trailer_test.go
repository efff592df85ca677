package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Request trailers never reach the upstream: fasthttp keeps received trailers apart from the
// header section (so the header scrub cannot see them) and would write them out again, and
// some upstreams merge trailers into headers (Apache's MergeTrailers, CGI bridges).
func TestRequestTrailersDropped(t *testing.T) {
	for _, size := range []int{5, 64 << 10} {
		h := newHarness(t, nil)
		_, sess := h.login("jdoe", "Secret123!", "/")
		for _, path := range []string{"/static/x", "/app"} { // public and protected
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			body := strings.Repeat("a", size)
			_, _ = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: Remote-User\r\n"+
				"Cookie: gatehouse_session="+sess.Value+"\r\n\r\n"+
				strings.ToLower(strings.TrimLeft(strings.ToUpper(itoaHex(size)), "0"))+"\r\n"+body+"\r\n0\r\nRemote-User: admin\r\nX-Customer-Id: EVIL\r\nRemote_User: admin\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			conn.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("%s: status %d", path, resp.StatusCode)
			}
			got := h.up.request()
			for _, hdr := range []http.Header{got.Header, got.Trailer} {
				for k, v := range hdr {
					for _, x := range v {
						if x == "admin" || x == "EVIL" {
							t.Errorf("size %d %s: %s: %s reached the upstream", size, path, k, x)
						}
					}
				}
			}
		}
	}
}

func itoaHex(n int) string {
	const digits = "0123456789abcdef"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 16 {
		b = append([]byte{digits[n%16]}, b...)
	}
	return string(b)
}
