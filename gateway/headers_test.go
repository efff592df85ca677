package gateway

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/gatehouse-sso/gatehouse/configs"
)

func newFastRequest() *fasthttp.Request { return &fasthttp.Request{} }

func fillTypicalHeaders(r *fasthttp.Request) {
	r.Header.Reset()
	r.Header.SetMethod("GET")
	r.SetRequestURI("/app/page")
	r.Header.SetHost("portal.example.com")
	r.Header.Set("User-Agent", "Mozilla/5.0")
	r.Header.Set("Accept", "text/html")
	r.Header.Set("Accept-Language", "de-DE")
	r.Header.Set("Cookie", "gatehouse_session=x; theme=dark")
	r.Header.Set("Remote_User", "spoof")
	r.Header.Set("X-CUSTOMER-ID", "spoof")
}

func TestStripOwned(t *testing.T) {
	g := &Gateway{}
	g.headers, g.owned = compileClaimHeaders(configs.Claims{Headers: configs.DefaultClaimHeaders(), Assertion: configs.Assertion{Header: "X-Gatehouse-Assertion"}})
	r := newFastRequest()
	fillTypicalHeaders(r)
	for _, n := range []string{"remote-user", "REMOTE-USER", "x_customer_ids", "X-Customer-User-Groups", "x-gatehouse-assertion", "X_GATEHOUSE_ASSERTION"} {
		r.Header.Add(n, "spoof")
	}
	g.scrub(&r.Header, g.owned)
	r.Header.VisitAll(func(k, v []byte) {
		if string(v) == "spoof" {
			t.Errorf("%s survived the scrub", k)
		}
	})
	if string(r.Header.Peek("Accept-Language")) != "de-DE" {
		t.Error("an unrelated header was removed")
	}

	// More copies than the scrub's stack buffer holds (by count and by length) go too.
	fillTypicalHeaders(r)
	for i := 0; i < 40; i++ {
		r.Header.Add([]string{"Remote-User", "remote_user", "X-Customer-User-Groups", "X-GATEHOUSE-ASSERTION"}[i%4], "spoof")
	}
	g.scrub(&r.Header, g.owned)
	r.Header.VisitAll(func(k, v []byte) {
		if string(v) == "spoof" {
			t.Errorf("%s survived a scrub of 40 copies", k)
		}
	})
	if string(r.Header.Peek("Accept-Language")) != "de-DE" {
		t.Error("an unrelated header was removed")
	}
}

func TestSanitizeHeaderValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 100, "plain"},
		{"a\r\nX-Evil: 1", 100, "a  X-Evil: 1"},
		{"nul\x00byte", 100, "nul byte"},
		{"tab\there", 100, "tab here"},
		{"  trimmed  ", 100, "trimmed"},
		{"José Müller", 100, "José Müller"},
		{"Müller", 2, "M"}, // never cut inside a rune
		{"abcdef", 3, "abc"},
		{"bad\xffutf8", 100, "bad\uFFFDutf8"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := sanitizeHeaderValue(tc.in, tc.max); got != tc.want {
				t.Errorf("sanitizeHeaderValue(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

func FuzzSanitizeHeaderValue(f *testing.F) {
	for _, s := range []string{"x", "a\r\nb", "\x00", "Müller", "\xff\xfe", strings.Repeat("é", 50)} {
		f.Add(s, 16)
	}
	f.Fuzz(func(t *testing.T, in string, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		out := sanitizeHeaderValue(in, max)
		if max > 0 && len(out) > max {
			t.Fatalf("len %d > max %d", len(out), max)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 %q", out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] == 0x7f {
				t.Fatalf("control byte %#x in %q", out[i], out)
			}
		}
		// The value must survive a header round trip unchanged.
		var h fasthttp.RequestHeader
		h.Set("X-Test", out)
		if got := string(h.Peek("X-Test")); got != out {
			t.Fatalf("header round trip %q → %q", out, got)
		}
	})
}

func FuzzCanonicalHeader(f *testing.F) {
	for _, s := range []string{"Remote-User", "remote_user", "X_CUSTOMER-id", strings.Repeat("A", 70)} {
		f.Add(s)
	}
	owned := ownedHeaders{}
	owned.add("Remote-User")
	f.Fuzz(func(t *testing.T, name string) {
		want := strings.ReplaceAll(strings.ToLower(name), "_", "-") == "remote-user"
		if got := owned.has([]byte(name)); got != want && isASCII(name) {
			t.Fatalf("has(%q) = %v, want %v", name, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
