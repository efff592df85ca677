//go:build !race

// The race detector multiplies memory use, so RSS is only meaningful without it;
// scripts/test.sh runs this file in a separate pass without -race.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

const gib = 1 << 30

// period is one cycle of the test pattern (bytes 0..250), repeated to 64 KiB+ so a window at
// any offset can be sliced out of it.
var period = func() []byte {
	b := make([]byte, 251*262)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}()

const window = 251 * 261 // largest slice taken from period at offset < 251

// pattern is a deterministic byte stream of limit bytes, so both ends can check content.
type pattern struct{ n, limit int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.n >= p.limit {
		return 0, io.EOF
	}
	if rem := p.limit - p.n; int64(len(b)) > rem {
		b = b[:rem]
	}
	if len(b) > window {
		b = b[:window]
	}
	off := int(p.n % 251)
	k := copy(b, period[off:off+len(b)])
	p.n += int64(k)
	return k, nil
}

// verify consumes r and checks it is the pattern, returning the byte count.
func verify(r io.Reader) (int64, error) {
	buf := make([]byte, window)
	var n int64
	for {
		k, err := r.Read(buf)
		off := int(n % 251)
		if !bytes.Equal(buf[:k], period[off:off+k]) {
			return n, fmt.Errorf("corrupted bytes in %d..%d", n, n+int64(k))
		}
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func streamingUpstream(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/download", func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		}
		if r.Header.Get("Remote-User") != "demo" {
			http.Error(w, "no identity", 403)
			return
		}
		_, _ = io.Copy(w, &pattern{limit: size})
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := verify(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d", n)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestStreamingOneGiB sends 1 GiB down and 1 GiB up (with Content-Length and chunked)
// through a gatehouse process and checks its peak RSS stays under 150 MB.
func TestStreamingOneGiB(t *testing.T) {
	up := streamingUpstream(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`
server: {listen: %q}
admin: {listen: ""}
routes: [{name: files, path_prefix: /, upstream: %q}]
customer_auth: [{module: db}]
customer_user: [{module: db, params: {dsn: "sqlite://%s/gh.db"}}]
log: {level: warn}
`, addr, up, dir)
	if err := os.WriteFile(filepath.Join(dir, "gatehouse.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	gh := startChild(t, dir, addr, "serve", "--config", "gatehouse.yaml", "--demo")
	pw := gh.stdout.waitFor(t, regexp.MustCompile(`^\s+password:\s+(\S+)`), 10*time.Second)[1]
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	body, _ := json.Marshal(map[string]string{"username": "demo", "password": pw})
	resp, err := c.Post(gh.base+"/.gatehouse/api/login", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %v", err, resp)
	}
	resp.Body.Close()

	for _, tc := range []struct {
		name   string
		upload bool
		length int64 // -1: chunked
	}{
		{"download content-length", false, gib},
		{"download chunked", false, -1},
		{"upload content-length", true, gib},
		{"upload chunked", true, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			var n int64
			if tc.upload {
				req, _ := http.NewRequest("PUT", gh.base+"/upload", io.NopCloser(&pattern{limit: gib}))
				req.ContentLength = tc.length
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, b)
				}
				n, _ = strconv.ParseInt(string(b), 10, 64)
			} else {
				u := gh.base + "/download?size=" + strconv.Itoa(gib)
				if tc.length < 0 {
					u += "&chunked=1"
				}
				resp, err := c.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if tc.length > 0 && resp.ContentLength != tc.length {
					t.Errorf("Content-Length %d, want %d kept", resp.ContentLength, tc.length)
				}
				n, err = verify(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			if n != gib {
				t.Fatalf("%d bytes arrived, want %d", n, gib)
			}
			t.Logf("1 GiB in %v", time.Since(start).Round(time.Millisecond))
		})
	}
	rss := vmHWM(t, gh.cmd.Process.Pid)
	t.Logf("gatehouse peak RSS after 4 GiB: %.1f MB", float64(rss)/1e6)
	if rss > 150e6 {
		t.Fatalf("peak RSS %.1f MB, want < 150 MB", float64(rss)/1e6)
	}
}
