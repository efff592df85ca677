package passwd

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestBcryptWriteVectors proves the EksBlowfish write path: the §4 values
// come out for the §4 raw salt.
func TestBcryptWriteVectors(t *testing.T) {
	for _, tt := range []struct {
		cost int
		want string
	}{{10, vecBcrypt10}, {12, vecBcrypt12}} {
		t.Run(fmt.Sprint(tt.cost), func(t *testing.T) {
			if got := bcryptOTRS(vecPassword, []byte(vecBcryptRaw), tt.cost); got != tt.want {
				t.Errorf("bcryptOTRS = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBcryptStandardForm checks the fact sheet's conversion to $2a$ and that
// x/crypto/bcrypt accepts it.
func TestBcryptStandardForm(t *testing.T) {
	b, ok := parseOTRSBcrypt(vecBcrypt10)
	if !ok {
		t.Fatal("parse failed")
	}
	std := fmt.Sprintf("$2a$%02d$%s%s", b.cost, bcryptB64.EncodeToString(b.salt), b.hash)
	if std != vecStd10 {
		t.Fatalf("standard form %q, want %q", std, vecStd10)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(std), []byte(vecPassword)); err != nil {
		t.Fatal(err)
	}
}

// TestBcryptAgainstXCrypto compares the write path with x/crypto/bcrypt over
// salts and passwords of several shapes.
func TestBcryptAgainstXCrypto(t *testing.T) {
	passwords := []string{"a", vecPassword, "pässwörd", strings.Repeat("x", 71), strings.Repeat("y", 72), strings.Repeat("z", 100), "nul\x00inside"}
	for i, pw := range passwords {
		salt := randomAlnum(bcryptSaltLen)
		stored := bcryptOTRS(pw, salt, 4)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			b, ok := parseOTRSBcrypt(stored)
			if !ok {
				t.Fatalf("parse %q", stored)
			}
			std := fmt.Sprintf("$2a$04$%s%s", bcryptB64.EncodeToString(salt), b.hash)
			key := []byte(pw)
			if len(key) > 72 {
				key = key[:72]
			}
			if err := bcrypt.CompareHashAndPassword([]byte(std), key); err != nil {
				t.Errorf("x/crypto rejects %q for %q: %v", std, pw, err)
			}
			if !Check(stored, pw, vecLogin, false) {
				t.Errorf("Check(%q, %q) = false", stored, pw)
			}
		})
	}
}

func TestBcryptCostClamp(t *testing.T) {
	tests := []struct{ in, want int }{
		{0, 12}, {-1, 9}, {1, 9}, {4, 9}, {8, 9}, {9, 9}, {10, 10}, {12, 12}, {31, 31}, {32, 31}, {1000, 31},
	}
	for _, tt := range tests {
		if got := clampBcryptCost(tt.in); got != tt.want {
			t.Errorf("clampBcryptCost(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
	// Hash applies it: cost 4 is written as 9.
	stored, err := Hash(TypeBcrypt, vecPassword, vecLogin, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "BCRYPT:9:") || len(stored) != 57 { // 58 with a 2-digit cost
		t.Errorf("Hash(bcrypt, cost 4) = %q", stored)
	}
	b, ok := parseOTRSBcrypt(stored)
	if !ok {
		t.Fatal("parse")
	}
	for _, c := range b.saltText {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			t.Errorf("salt %q is not [0-9A-Za-z]", b.saltText)
		}
	}
	if !Check(stored, vecPassword, vecLogin, false) || Check(stored, "Secret123", vecLogin, false) {
		t.Error("round trip failed")
	}
	other, _ := Hash(TypeBcrypt, vecPassword, vecLogin, 9)
	if other == stored {
		t.Error("two hashes share a salt")
	}
}

// TestBcrypt72 checks the key_nul cut: 72 and 80 identical bytes give the
// same hash; 71 does not.
func TestBcrypt72(t *testing.T) {
	salt := []byte(vecBcryptRaw)
	h72 := bcryptOTRS(strings.Repeat("a", 72), salt, 4)
	h80 := bcryptOTRS(strings.Repeat("a", 80), salt, 4)
	h71 := bcryptOTRS(strings.Repeat("a", 71), salt, 4)
	if h72 != h80 {
		t.Errorf("72 and 80 bytes differ: %q %q", h72, h80)
	}
	if h71 == h72 {
		t.Error("71 and 72 bytes agree")
	}
	stored, err := Hash(TypeBcrypt, strings.Repeat("a", 72), vecLogin, 9)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{strings.Repeat("a", 72), true},
		{strings.Repeat("a", 80), true},
		{strings.Repeat("a", 72) + "anything", true},
		{strings.Repeat("a", 71), false},
		{strings.Repeat("a", 71) + "b", false},
	}
	for _, tt := range tests {
		if got := Check(stored, tt.pw, vecLogin, false); got != tt.want {
			t.Errorf("Check(%d bytes) = %v, want %v", len(tt.pw), got, tt.want)
		}
	}
}

// TestBcryptParse covers m{^BCRYPT:(\d+):(.{16}):(.*)$}xms and what Check
// makes of each value.
func TestBcryptParse(t *testing.T) {
	const salt, hash = vecBcryptRaw, "Ywyz3wXMvfHYoGut/fzMn7Ldky1BxSC"
	tests := []struct {
		name, stored string
		parses       bool
		match        bool
	}{
		{"vector", vecBcrypt10, true, true},
		{"leading zero cost", "BCRYPT:010:" + salt + ":" + hash, true, true},
		{"many zeros", "BCRYPT:0000000010:" + salt + ":" + hash, true, true},
		{"other cost", "BCRYPT:11:" + salt + ":" + hash, true, false},
		{"cost 32", "BCRYPT:32:" + salt + ":" + hash, false, false},
		{"cost 100", "BCRYPT:100:" + salt + ":" + hash, false, false},
		{"huge cost", "BCRYPT:99999999999999999999999:" + salt + ":" + hash, false, false},
		{"no cost", "BCRYPT::" + salt + ":" + hash, false, false},
		{"signed cost", "BCRYPT:+10:" + salt + ":" + hash, false, false},
		{"arabic digits", "BCRYPT:١٠:" + salt + ":" + hash, false, false},
		{"salt 15", "BCRYPT:10:" + salt[:15] + ":" + hash, false, false},
		{"salt 17", "BCRYPT:10:" + salt + "x:" + hash, false, false},
		{"hash short", "BCRYPT:10:" + salt + ":" + hash[:30], true, false},
		{"hash long", "BCRYPT:10:" + salt + ":" + hash + "x", true, false},
		{"hash newline", "BCRYPT:10:" + salt + ":" + hash + "\n", true, false},
		{"empty hash", "BCRYPT:10:" + salt + ":", true, false},
		{"no hash colon", "BCRYPT:10:" + salt, false, false},
		{"salt with colon", "BCRYPT:10:q3Zk8LmN:pR7sT1v:" + hash, true, false},
		{"salt non-latin1", "BCRYPT:10:q3Zk8LmN2pR7sT1€:" + hash, false, false},
		{"invalid utf8 salt", "BCRYPT:10:q3Zk8LmN2pR7sT1\xff:" + hash, false, false},
		{"prefix only", "BCRYPT:", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := parseOTRSBcrypt(tt.stored)
			if ok != tt.parses {
				t.Fatalf("parse = %v (%+v), want %v", ok, b, tt.parses)
			}
			if ok && "BCRYPT:"+b.costText+":"+b.saltText+":"+b.hash != tt.stored {
				t.Errorf("parse does not reassemble: %+v", b)
			}
			if got := Check(tt.stored, vecPassword, vecLogin, false); got != tt.match {
				t.Errorf("Check = %v, want %v", got, tt.match)
			}
		})
	}
}

// TestBcryptLatin1Salt: OTRS decodes the column as UTF-8 and hands the 16
// salt characters to Crypt::Eksblowfish, which takes characters up to U+00FF
// as single bytes.
func TestBcryptLatin1Salt(t *testing.T) {
	raw := []byte("q3Zk8LmN2pR7sT1\xe9")
	b := bcryptOTRS(vecPassword, raw, 4)
	hash := b[strings.LastIndexByte(b, ':')+1:]
	stored := "BCRYPT:4:q3Zk8LmN2pR7sT1é:" + hash
	if !Check(stored, vecPassword, vecLogin, false) {
		t.Errorf("Check(%q) = false", stored)
	}
}

// TestBcryptLowCost: costs below x/crypto/bcrypt's minimum go through the
// EksBlowfish code, which must agree with itself at cost 4 and with
// x/crypto there.
func TestBcryptLowCost(t *testing.T) {
	for cost := 0; cost <= 4; cost++ {
		stored := bcryptOTRS(vecPassword, []byte(vecBcryptRaw), cost)
		if !Check(stored, vecPassword, vecLogin, false) {
			t.Errorf("cost %d: Check(%q) = false", cost, stored)
		}
		if Check(stored, "wrong", vecLogin, false) {
			t.Errorf("cost %d: wrong password matches", cost)
		}
	}
}
