package passwd

// OTRS's bcrypt format, BCRYPT:<cost>:<salt16>:<hash31>, as written and read
// by Crypt::Eksblowfish::Bcrypt with key_nul => 1 (fact sheet §3, §4, §10.2).
//
// Checking goes through golang.org/x/crypto/bcrypt on the equivalent
// "$2a$<cc>$<b64(salt)><hash31>" string. Writing needs a given raw salt,
// which x/crypto/bcrypt cannot take, so the EksBlowfish setup is done here on
// golang.org/x/crypto/blowfish, as x/crypto/bcrypt does it internally.
// x/crypto/bcrypt also refuses costs below 4, which Crypt::Eksblowfish
// accepts, so those few check through the same code as writing.

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/blowfish"
)

const (
	bcryptPrefix = "BCRYPT:"
	// bcryptMaxKey is the number of key bytes EksBlowfish uses.
	bcryptMaxKey = 72
	// bcryptSaltLen is the raw salt length, and the number of characters
	// OTRS stores it as.
	bcryptSaltLen = 16
	// bcryptHashLen is the length of en_base64 of the 23-byte result.
	bcryptHashLen = 31
	// Cost bounds OTRS applies when writing (SetPassword).
	bcryptMinWriteCost = 9
	bcryptMaxCost      = 31
	// DefaultBcryptCost is OTRS's default for
	// Customer::AuthModule::DB::bcryptCost.
	DefaultBcryptCost = 12
)

// bcryptB64 is the bcrypt base-64 encoding (en_base64 in
// Crypt::Eksblowfish::Bcrypt), without padding.
var bcryptB64 = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// bcryptMagic is the plaintext bcrypt encrypts 64 times: "OrpheanBeholderScryDoubt".
var bcryptMagic = []byte("OrpheanBeholderScryDoubt")

// otrsBcrypt is a parsed BCRYPT:<cost>:<salt>:<hash> value.
type otrsBcrypt struct {
	costText string // the digits as stored ("010" stays "010")
	cost     int
	salt     []byte // 16 raw bytes
	saltText string // the 16 characters as stored
	hash     string // everything after the third colon
}

// parseOTRSBcrypt parses stored the way OTRS's
// m{^BCRYPT:(\d+):(.{16}):(.*)$}xms does. The 16 salt characters are Perl
// characters: OTRS hands them to Crypt::Eksblowfish undowngraded, so each must
// fit one byte (Latin-1). ok is false for any value OTRS could not compute,
// including costs above 31 and non-ASCII digits (which Perl would numify to
// something else or die on).
func parseOTRSBcrypt(stored string) (otrsBcrypt, bool) {
	var b otrsBcrypt
	rest, found := strings.CutPrefix(stored, bcryptPrefix)
	if !found {
		return b, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(rest) || rest[i] != ':' {
		return b, false
	}
	b.costText = rest[:i]
	digits := strings.TrimLeft(b.costText, "0")
	if len(digits) > 2 {
		return b, false
	}
	for _, c := range digits {
		b.cost = b.cost*10 + int(c-'0')
	}
	if b.cost > bcryptMaxCost {
		return b, false
	}
	rest = rest[i+1:]
	b.salt = make([]byte, 0, bcryptSaltLen)
	for j, r := range rest {
		if len(b.salt) == bcryptSaltLen {
			b.saltText, rest = rest[:j], rest[j:]
			break
		}
		if r > 0xff { // also utf8.RuneError for invalid bytes
			return b, false
		}
		b.salt = append(b.salt, byte(r))
	}
	if len(b.salt) != bcryptSaltLen || b.saltText == "" || rest == "" || rest[0] != ':' {
		return b, false
	}
	b.hash = rest[1:]
	return b, true
}

// checkBcrypt reports whether password matches the parsed OTRS value.
func checkBcrypt(b otrsBcrypt, password string) bool {
	if len(b.hash) != bcryptHashLen {
		// OTRS's computed hash is always 31 characters.
		return false
	}
	pw := []byte(password)
	if len(pw) > bcryptMaxKey {
		pw = pw[:bcryptMaxKey]
	}
	if b.cost < bcrypt.MinCost {
		sum := eksBlowfishHash(pw, b.cost, b.salt)
		return subtle.ConstantTimeCompare([]byte(bcryptB64.EncodeToString(sum[:])), []byte(b.hash)) == 1
	}
	std := fmt.Sprintf("$2a$%02d$%s%s", b.cost, bcryptB64.EncodeToString(b.salt), b.hash)
	return bcrypt.CompareHashAndPassword([]byte(std), pw) == nil
}

// bcryptOTRS returns the OTRS value for password with the given raw salt and
// cost (not clamped here).
func bcryptOTRS(password string, salt []byte, cost int) string {
	pw := []byte(password)
	if len(pw) > bcryptMaxKey {
		pw = pw[:bcryptMaxKey]
	}
	sum := eksBlowfishHash(pw, cost, salt)
	return fmt.Sprintf("%s%d:%s:%s", bcryptPrefix, cost, salt, bcryptB64.EncodeToString(sum[:]))
}

// clampBcryptCost applies OTRS's write rule: unset (0) means 12, then 9..31.
func clampBcryptCost(cost int) int {
	switch {
	case cost == 0:
		return DefaultBcryptCost
	case cost < bcryptMinWriteCost:
		return bcryptMinWriteCost
	case cost > bcryptMaxCost:
		return bcryptMaxCost
	}
	return cost
}

// eksBlowfishHash is Crypt::Eksblowfish::Bcrypt::bcrypt_hash with key_nul:
// the key is password + NUL (EksBlowfish uses its first 72 bytes), 2^cost
// rounds of expensive key setup, then "OrpheanBeholderScryDoubt" encrypted
// 64 times; the last of the 24 bytes is dropped.
func eksBlowfishHash(password []byte, cost int, salt []byte) [23]byte {
	key := make([]byte, len(password)+1)
	copy(key, password)
	c, err := blowfish.NewSaltedCipher(key, salt)
	if err != nil {
		// Only an empty key fails, and key holds at least the NUL.
		panic("passwd: blowfish: " + err.Error())
	}
	for i := uint64(0); i < 1<<uint(cost); i++ {
		blowfish.ExpandKey(key, c)
		blowfish.ExpandKey(salt, c)
	}
	var data [24]byte
	copy(data[:], bcryptMagic)
	for i := 0; i < 24; i += 8 {
		for j := 0; j < 64; j++ {
			c.Encrypt(data[i:i+8], data[i:i+8])
		}
	}
	var out [23]byte
	copy(out[:], data[:23])
	return out
}
