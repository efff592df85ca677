package configs

import (
	"net/netip"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"127.0.0.1", "10.1.2.3/8", "::1", "::ffff:192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1/32", "10.0.0.0/8", "::1/128", "192.0.2.1/32"}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("%d: %s, want %s", i, p, want[i])
		}
	}
	if !got[1].Contains(netip.MustParseAddr("10.9.9.9")) {
		t.Error("10.0.0.0/8 does not contain 10.9.9.9")
	}
	for _, bad := range []string{"", "x", "10.0.0.0/33"} {
		if _, err := ParsePrefixes([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
