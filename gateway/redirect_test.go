package gateway

import (
	"bufio"
	"net/url"
	"os"
	"strings"
	"testing"
)

const corpusAllowedHost = "www.whitelisteddomain.tld"

func testPolicy(t testing.TB) redirectPolicy {
	self, err := url.Parse("https://gatehouse.test")
	if err != nil {
		t.Fatal(err)
	}
	return newRedirectPolicy(self, []string{corpusAllowedHost})
}

func readCorpus(t testing.TB, files ...string) []string {
	t.Helper()
	var lines []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
				lines = append(lines, l)
			}
		}
		fh.Close()
	}
	return lines
}

// browserResolve reads a Location value the way a browser does: tabs and newlines are
// dropped, a backslash is a slash in http(s) URLs, and the result is resolved against the page.
func browserResolve(base *url.URL, loc string) (*url.URL, error) {
	loc = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		if r == '\\' {
			return '/'
		}
		return r
	}, strings.TrimSpace(loc))
	u, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(u), nil
}

// assertStaysHome fails when target, followed by a browser, leaves the allowed origins.
func assertStaysHome(t *testing.T, base *url.URL, rd, target string) {
	t.Helper()
	if target == "" {
		return
	}
	u, err := browserResolve(base, target)
	if err != nil {
		t.Errorf("rd %q: accepted %q, which does not parse: %v", rd, target, err)
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		t.Errorf("rd %q: accepted %q with scheme %q", rd, target, u.Scheme)
	}
	if h := strings.ToLower(u.Hostname()); h != base.Hostname() && h != corpusAllowedHost {
		t.Errorf("rd %q: accepted %q, which leads to host %q", rd, target, h)
	}
	if u.User != nil {
		t.Errorf("rd %q: accepted %q with user info", rd, target)
	}
}

// TestRedirectCorpus runs the open-redirect corpus: no line, raw or query-decoded once,
// may lead a browser off gatehouse's origin or the allowed host.
func TestRedirectCorpus(t *testing.T) {
	p := testPolicy(t)
	lines := readCorpus(t, "../testdata/openredirects.txt", "../testdata/openredirects-extra.txt")
	if len(lines) < 559 {
		t.Fatalf("corpus has %d lines, want at least 559", len(lines))
	}
	accepted := 0
	for _, l := range lines {
		cands := []string{l}
		if d, err := url.QueryUnescape(l); err == nil && d != l {
			cands = append(cands, d)
		}
		for _, rd := range cands {
			target := p.safe(rd)
			if target != "" {
				accepted++
			}
			assertStaysHome(t, p.self, rd, target)
		}
	}
	t.Logf("%d corpus lines, %d candidates accepted as safe (each checked to stay home)", len(lines), accepted)
}

func TestRedirectAccepts(t *testing.T) {
	p := testPolicy(t)
	for _, tc := range []struct{ rd, want string }{
		{"/", "/"},
		{"/helpdesk/ticket?id=7&x=1", "/helpdesk/ticket?id=7&x=1"},
		{"/a%20b", "/a%20b"},
		{"https://gatehouse.test/x", "https://gatehouse.test/x"},
		{"https://www.whitelisteddomain.tld/y?z=1", "https://www.whitelisteddomain.tld/y?z=1"},
		{"https://WWW.Whitelisteddomain.TLD/", "https://WWW.Whitelisteddomain.TLD/"},
		{"", ""},
		{"//evil.example", ""},
		{"http://gatehouse.test/x", ""}, // other scheme: other origin
		{"https://evil.example/", ""},
		{"https://user@gatehouse.test/", ""},
		{"/\\evil.example", ""},
		{"/%2F%2Fevil.example", ""},
		{"/%252F%252Fevil.example", ""},
	} {
		t.Run(tc.rd, func(t *testing.T) {
			if got := p.safe(tc.rd); got != tc.want {
				t.Errorf("safe(%q) = %q, want %q", tc.rd, got, tc.want)
			}
		})
	}
}

func FuzzRedirect(f *testing.F) {
	for _, l := range readCorpus(f, "../testdata/openredirects.txt", "../testdata/openredirects-extra.txt") {
		f.Add(l)
	}
	p := testPolicy(f)
	f.Fuzz(func(t *testing.T, rd string) {
		assertStaysHome(t, p.self, rd, p.safe(rd))
	})
}
