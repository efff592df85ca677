package passwd

import (
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"", "0", "*0", "*1", vecSHA2, vecSHA512, vecSHA1, vecMD5, vecAPR1, vecDES, vecBigcrypt, vecDESJdoe,
	vecBcrypt10, vecStd10, "BCRYPT:", "BCRYPT:4:q3Zk8LmN2pR7sT1v:", "BCRYPT:010:q3Zk8LmN2pR7sT1é:x",
	"$apr1$\nsalt$x", "$1$$x", "jo31Cdcnmewyk\n", "äöüäöüäöüäöüä", "_j/..saltkNMuPJIgvBg",
}

// slowForFuzz keeps the fuzzer away from inputs that are valid but take
// seconds: high bcrypt costs and BSDi logins with millions of rounds.
func slowForFuzz(stored, login string) bool {
	if b, ok := parseOTRSBcrypt(stored); ok && b.cost > 5 {
		return true
	}
	return strings.HasPrefix(login, "_")
}

func FuzzCheck(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, vecPassword, vecLogin, false)
		f.Add(s, s, "jo", true)
	}
	f.Add(vecBigcrypt, vecPassword, vecLogin, false)
	f.Add("*0", "x", "@x", false)
	f.Fuzz(func(t *testing.T, stored, password, login string, plain bool) {
		if slowForFuzz(stored, login) {
			return
		}
		got := Check(stored, password, login, plain)
		if !got {
			return
		}
		switch {
		case perlFalse(stored), isFailureToken(stored):
			t.Fatalf("Check(%q, %q, %q, %v) matched a never-match value", stored, password, login, plain)
		case perlFalse(password), perlFalse(login):
			t.Fatalf("Check(%q, %q, %q, %v) matched an empty password or login", stored, password, login, plain)
		case plain && stored != password:
			t.Fatalf("plain Check(%q, %q) matched unequal strings", stored, password)
		}
		if f := Classify(stored, plain); f == FormatEmpty || f == FormatFailureToken {
			t.Fatalf("matched a value classified %v", f)
		}
	})
}

func FuzzClassify(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stored string) {
		fp, ff := Classify(stored, true), Classify(stored, false)
		switch {
		case perlFalse(stored):
			if fp != FormatEmpty || ff != FormatEmpty {
				t.Fatalf("Classify(%q) = %v/%v", stored, fp, ff)
			}
		case isFailureToken(stored):
			if fp != FormatFailureToken || ff != FormatFailureToken {
				t.Fatalf("Classify(%q) = %v/%v", stored, fp, ff)
			}
		case fp != FormatPlain:
			t.Fatalf("Classify(%q, plain) = %v", stored, fp)
		}
		if ff == FormatPlain || ff < FormatEmpty || ff > FormatDES {
			t.Fatalf("Classify(%q, false) = %v", stored, ff)
		}
		if (ff == FormatBcrypt) != (strings.HasPrefix(stored, bcryptPrefix) && !isPerl13(stored)) {
			t.Fatalf("Classify(%q) = %v", stored, ff)
		}
		_ = ff.String()
	})
}

func FuzzParseBcrypt(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stored string) {
		b, ok := parseOTRSBcrypt(stored)
		if !ok {
			return
		}
		if b.cost < 0 || b.cost > 31 || len(b.salt) != bcryptSaltLen {
			t.Fatalf("parse(%q) = %+v", stored, b)
		}
		if bcryptPrefix+b.costText+":"+b.saltText+":"+b.hash != stored {
			t.Fatalf("parse(%q) does not reassemble: %+v", stored, b)
		}
	})
}

// FuzzLibxcrypt checks the crypt() emulation's shape: failure or a DES-family
// value that starts with its salt.
func FuzzLibxcrypt(f *testing.F) {
	f.Add(vecPassword, vecLogin)
	f.Add("3!", "31")
	f.Add("x", "_j/..salt")
	f.Add("x", "@x")
	f.Fuzz(func(t *testing.T, phrase, setting string) {
		if strings.HasPrefix(setting, "_") {
			return // BSDi: the count is the setting's, up to 16 million rounds
		}
		out, ok := libxcrypt(phrase, setting)
		if !ok {
			return
		}
		n := (len(out) - 2) / 11
		if len(out) != 2+11*n || n < 1 || n > 16 || out[:2] != setting[:2] {
			t.Fatalf("crypt(%q, %q) = %q", phrase, setting, out)
		}
		for i := 0; i < len(out); i++ {
			if ascii64Value(out[i]) < 0 {
				t.Fatalf("crypt(%q, %q) = %q", phrase, setting, out)
			}
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	benches := []struct {
		name, stored, login string
		plain               bool
	}{
		{"plain", vecPassword, vecLogin, true},
		{"sha1", vecSHA1, vecLogin, false},
		{"sha2", vecSHA2, vecLogin, false},
		{"sha512", vecSHA512, vecLogin, false},
		{"md5", vecMD5, vecLogin, false},
		{"apr1", vecAPR1, vecLogin, false},
		{"des", vecDES, vecLogin, false},
		{"bigcrypt", vecBigcrypt, vecLogin, false},
		{"bcrypt10", vecBcrypt10, vecLogin, false},
		{"bcrypt12", vecBcrypt12, vecLogin, false},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				if !Check(bb.stored, vecPassword, bb.login, bb.plain) {
					b.Fatal("no match")
				}
			}
		})
	}
}

func BenchmarkClassify(b *testing.B) {
	for b.Loop() {
		for _, s := range fuzzSeeds {
			Classify(s, false)
		}
	}
}
