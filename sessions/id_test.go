package sessions_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/sessions"
)

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id, err := sessions.NewID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != sessions.IDLen {
			t.Fatalf("len(%q) = %d", id, len(id))
		}
		if got, err := sessions.ParseID(id); err != nil || got != id {
			t.Fatalf("ParseID(NewID()) = %q, %v", got, err)
		}
		if seen[id] {
			t.Fatal("duplicate id")
		}
		seen[id] = true
	}
}

func TestParseID(t *testing.T) {
	t.Parallel()
	valid := base64.RawURLEncoding.EncodeToString(make([]byte, 32)) // "AAAA…A"
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"valid zeros", valid, true},
		{"valid mixed", "abcdefghijklmnopqrstuvwxyz0123456789-_ABCDE", true},
		{"empty", "", false},
		{"one short", valid[1:], false},
		{"one long", valid + "A", false},
		{"padded", valid + "=", false},
		{"std alphabet +", "+" + valid[1:], false},
		{"std alphabet /", "/" + valid[1:], false},
		{"space", " " + valid[1:], false},
		{"dot", "." + valid[1:], false},
		{"percent", "%" + valid[1:], false},
		{"NUL", "\x00" + valid[1:], false},
		{"non-ASCII", "é" + valid[2:], false},
		{"non-canonical last char", valid[:42] + "B", false}, // low bits of the last sextet set
		{"hex key instead of id", strings.Repeat("a", 64), false},
		{"cookie with attributes", valid + "; Path=/", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sessions.ParseID(tc.in)
			if tc.ok {
				if err != nil || got != tc.in {
					t.Fatalf("ParseID = %q, %v", got, err)
				}
				return
			}
			if !errors.Is(err, sessions.ErrMalformedID) || got != "" {
				t.Fatalf("ParseID = %q, %v; want ErrMalformedID", got, err)
			}
			if strings.Contains(err.Error(), tc.in) && tc.in != "" {
				t.Fatal("error echoes the cookie")
			}
		})
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	// sha256("abc")
	if got := sessions.Key("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Key = %s", got)
	}
	a, _ := sessions.NewID()
	b, _ := sessions.NewID()
	if ka := sessions.Key(a); len(ka) != 64 || ka == sessions.Key(b) || strings.Contains(ka, a) {
		t.Fatalf("Key(%q) = %q", a, ka)
	}
	if s := sessions.ShortKey(sessions.Key(a)); len(s) != 12 {
		t.Fatalf("ShortKey = %q", s)
	}
}

// FuzzParseID: the cookie decoder accepts exactly the canonical 43-character base64url
// encodings of 32 bytes, never panics, and never returns something else than its input.
func FuzzParseID(f *testing.F) {
	id, _ := sessions.NewID()
	for _, s := range []string{id, "", "=", id + "=", id[1:], "+" + id[1:], id[:42] + "B", strings.Repeat("_", 43), "\xff" + id[1:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := sessions.ParseID(in)
		raw, decErr := base64.RawURLEncoding.Strict().DecodeString(in)
		canonical := decErr == nil && len(raw) == 32 && base64.RawURLEncoding.EncodeToString(raw) == in
		if err != nil {
			if !errors.Is(err, sessions.ErrMalformedID) || got != "" {
				t.Fatalf("ParseID(%q) = %q, %v", in, got, err)
			}
			if canonical {
				t.Fatalf("ParseID refused canonical id %q", in)
			}
			return
		}
		if got != in || !canonical {
			t.Fatalf("ParseID(%q) = %q accepted a non-canonical id", in, got)
		}
	})
}
