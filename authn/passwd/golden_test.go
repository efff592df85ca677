package passwd

import (
	"bufio"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// goldenLine is one line of a testdata/*.golden file, written by
// testdata/gen.pl from libxcrypt (Perl's crypt) and openssl passwd.
type goldenLine struct {
	line           int
	password, salt string
	want           string
}

func readGolden(t *testing.T, name string) []goldenLine {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			t.Fatalf("%s:%d: %d fields", name, n, len(fields))
		}
		pw, err1 := hex.DecodeString(fields[0])
		salt, err2 := hex.DecodeString(fields[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s:%d: bad hex", name, n)
		}
		out = append(out, goldenLine{n, string(pw), string(salt), fields[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 100 {
		t.Fatalf("%s: only %d lines", name, len(out))
	}
	return out
}

// TestGoldenCrypt compares DES, bigcrypt, BSDi and libxcrypt's failures with
// this machine's libxcrypt.
func TestGoldenCrypt(t *testing.T) {
	var failures, big, bsdi, modular int
	for _, g := range readGolden(t, "crypt.golden") {
		if slowBSDi(g.salt) && (testing.Short() || raceDetector) {
			continue
		}
		got, ok := libxcrypt(g.password, g.salt)
		if strings.HasPrefix(g.salt, "$") && !isFailureToken(g.want) {
			// libxcrypt computes md5crypt, sha-crypt, ... for these;
			// gatehouse fails closed.
			modular++
			if ok {
				t.Errorf("crypt.golden:%d: crypt(%q, %q) = %q, want no value", g.line, g.password, g.salt, got)
			}
			continue
		}
		if isFailureToken(g.want) {
			failures++
			if ok {
				t.Errorf("crypt.golden:%d: crypt(%q, %q) = %q, want failure", g.line, g.password, g.salt, got)
			}
			continue
		}
		switch {
		case strings.HasPrefix(g.salt, "_"):
			bsdi++
		case len(g.want) > 13:
			big++
		}
		if !ok || got != g.want {
			t.Errorf("crypt.golden:%d: crypt(%q, %q) = %q, %v; want %q", g.line, g.password, g.salt, got, ok, g.want)
		}
	}
	if failures == 0 || big == 0 || bsdi == 0 || modular == 0 {
		t.Errorf("golden file lacks cases: %d failures, %d bigcrypt, %d bsdi, %d modular", failures, big, bsdi, modular)
	}
}

// slowBSDi reports whether setting is BSDi extended DES with more than a
// million rounds ("_john.doe@example.com": 13.5 million, seconds of CPU).
func slowBSDi(setting string) bool {
	if len(setting) < 5 || setting[0] != '_' {
		return false
	}
	var count int
	for i := 1; i < 5; i++ {
		count |= max(ascii64Value(setting[i]), 0) << (6 * (i - 1))
	}
	return count > 1_000_000
}

// TestGoldenCryptCheck runs the golden values through Check the way OTRS
// would meet them: the setting was the login.
func TestGoldenCryptCheck(t *testing.T) {
	for _, g := range readGolden(t, "crypt.golden") {
		if isFailureToken(g.want) || perlFalse(g.password) || perlFalse(g.salt) || slowBSDi(g.salt) {
			continue
		}
		// The stored value has to come back through Classify: a
		// 13-character value is DES with its own first two characters, a
		// longer one is crypt(P, login).
		// A modular value only comes back through the MD5 branch, and only
		// if it is $1$.
		want := !strings.HasPrefix(g.salt, "$") || strings.HasPrefix(g.want, md5Magic)
		if got := Check(g.want, g.password, g.salt, false); got != want {
			t.Errorf("crypt.golden:%d: Check(%q, %q, login %q) = %v (format %v)", g.line, g.want, g.password, g.salt, got, Classify(g.want, false))
		}
	}
}

// TestGoldenMD5 compares $1$ and $apr1$ with openssl passwd for salts of
// any bytes, and checks them through Check.
func TestGoldenMD5(t *testing.T) {
	for _, g := range readGolden(t, "md5.golden") {
		magic := md5Magic
		if strings.HasPrefix(g.want, apr1Magic) {
			magic = apr1Magic
		}
		if got := md5Crypt(g.password, g.salt, magic); got != g.want {
			t.Errorf("md5.golden:%d: md5Crypt(%q, %q, %q) = %q, want %q", g.line, g.password, g.salt, magic, got, g.want)
		}
		if !Check(g.want, g.password, "login", false) {
			t.Errorf("md5.golden:%d: Check(%q, %q) = false", g.line, g.want, g.password)
		}
		if Check(g.want, g.password+"x", "login", false) {
			t.Errorf("md5.golden:%d: Check(%q, wrong) = true", g.line, g.want)
		}
	}
}
