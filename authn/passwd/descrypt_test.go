package passwd

import (
	"crypto/des"
	"encoding/binary"
	"testing"
)

// TestDESCoreAgainstStdlib: with salt 0 and one pass the crypt(3) DES core is
// plain DES, so it must agree with crypto/des.
func TestDESCoreAgainstStdlib(t *testing.T) {
	for i := 0; i < 200; i++ {
		kb, pb := randomAlnum(8), randomAlnum(8)
		kb[0] ^= byte(i) // reach high bits too
		c, err := des.NewCipher(kb)
		if err != nil {
			t.Fatal(err)
		}
		var want [8]byte
		c.Encrypt(want[:], pb)
		var ks desKeys
		ks.setKey(binary.BigEndian.Uint64(kb))
		if got := ks.encryptBlock(binary.BigEndian.Uint64(pb), 0, 1); got != binary.BigEndian.Uint64(want[:]) {
			t.Fatalf("key %x block %x: got %016x, want %x", kb, pb, got, want)
		}
	}
}

func TestLibxcryptRules(t *testing.T) {
	tests := []struct {
		name, phrase, setting, want string
	}{
		{"des", vecPassword, "jo", vecDES},
		{"13-char setting is des", vecPassword, "jo34567890123", vecDES},
		{"14-char setting is bigcrypt", vecPassword, "jo345678901234", vecBigcrypt},
		{"short phrase long setting is one block", "Secret12", vecLogin, vecDES},
		{"only the first two setting chars are salt", vecPassword, "jo@", vecDES},
		{"NUL ends the phrase", "Secret12\x00ignored", "jo", vecDES},
		{"bsdi", vecPassword, "_j/..salt", "_j/..saltkNMuPJIgvBg"},
		{"bsdi ignores the rest", vecPassword, "_j/..salt_extra", "_j/..saltkNMuPJIgvBg"},
		{"bsdi count 0 runs once", "x", "_....abcd", "_....abcdvzL6lPFPNwU"},
		{"bsdi count 1", "x", "_/...abcd", "_/...abcdvzL6lPFPNwU"},
		{"bsdi long phrase", "a much longer password here", "_J9..abcd", "_J9..abcdyGuz0ZsEn4I"},
		{"empty setting", "x", "", ""},
		{"1-char setting", "x", "j", ""},
		{"@ salt", "x", "@x", ""},
		{"- salt", "x", "-john", ""},
		{"non-ascii", "x", "jo\xe9x", ""},
		{"colon anywhere", "x", "jo:", ""},
		{"space anywhere", "x", "jo x", ""},
		{"newline", "x", "jo\n", ""},
		{"DEL", "x", "jo\x7f", ""},
		{"modular", "x", "$1$abc", ""},
		{"bsdi too short", "x", "_john", ""},
		{"failure token as setting", "x", "*0", ""},
		{"phrase of 512 bytes", string(randomAlnum(512)), "jo", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := libxcrypt(tt.phrase, tt.setting)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("crypt(%q, %q) = %q, %v; want %q", tt.phrase, tt.setting, got, ok, tt.want)
			}
		})
	}
}
