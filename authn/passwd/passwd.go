// Package passwd checks and writes every password format an OTRS / Znuny
// customer_user table can hold, exactly as Kernel/System/CustomerAuth/DB.pm
// checks them and Kernel/System/CustomerUser/DB.pm::SetPassword writes them
// (fact sheet reference/otrs-customer-backends.md §2, §3, §4, §10).
//
// The stored value is classified in the fact sheet's §2 order (Classify), the
// typed password is hashed the same way OTRS would hash it, and the result is
// compared byte-exact in constant time. Deliberate differences from OTRS are
// all fail-closed: the libxcrypt failure tokens "*0" and "*1" never match
// (OTRS lets any password match a stored "*0"), and crypt() settings that
// libxcrypt would send to a modular hash ("$5$", "$y$", ...) are not computed.
package passwd

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Crypt types: the values of Customer::AuthModule::DB::CryptType (crypt_type).
const (
	TypeBcrypt = "bcrypt"
	TypeSHA2   = "sha2"
	TypeSHA512 = "sha512"
	TypeSHA1   = "sha1"
	TypeMD5    = "md5"
	TypeAPR1   = "apr1"
	TypeCrypt  = "crypt"
	TypePlain  = "plain"

	// DefaultType is what OTRS writes when no crypt type is set.
	DefaultType = TypeSHA2
)

// Types lists every crypt type, in the order of the config documentation.
var Types = []string{TypeBcrypt, TypeSHA2, TypeSHA512, TypeSHA1, TypeMD5, TypeAPR1, TypeCrypt, TypePlain}

// MaxStoredLen is the size of customer_user.pw (VARCHAR(128)), in characters.
const MaxStoredLen = 128

// Errors returned by Hash.
var (
	ErrUnknownType   = errors.New("passwd: unknown crypt type")
	ErrEmptyPassword = errors.New("passwd: empty password (OTRS treats \"\" and \"0\" as no password)")
	ErrEmptyLogin    = errors.New("passwd: empty login (OTRS treats \"\" and \"0\" as no login)")
	ErrInvalidSalt   = errors.New("passwd: crypt() makes no usable value with this login as salt (libxcrypt's *0, or a \"$\" setting gatehouse does not compute)")
	ErrTooLong       = errors.New("passwd: stored value longer than 128 characters")
	ErrUnverifiable  = errors.New("passwd: OTRS could never verify the stored value")
)

// ValidType reports whether t is one of Types.
func ValidType(t string) bool { return slices.Contains(Types, t) }

// Format is the class of a stored value, the branch of fact sheet §2 that
// checks it.
type Format int

// Formats, in the order Classify tries them.
const (
	FormatEmpty        Format = iota // NULL, "" or "0": never matches
	FormatFailureToken               // "*0" or "*1": never matches (not an OTRS rule)
	FormatPlain                      // branch 1: crypt type plain
	FormatMD5                        // branch 2a: unix_md5_crypt, any magic but $apr1$
	FormatAPR1                       // branch 2a: apache_md5_crypt
	FormatSHA256                     // branch 2b: 64 hex digits
	FormatSHA512                     // branch 2c: 128 hex digits
	FormatBcrypt                     // branch 2d: BCRYPT:
	FormatSHA1                       // branch 2e: 40 hex digits
	FormatCryptLogin                 // branch 2f: crypt(P, typed login)
	FormatDES                        // branch 3: 13 characters, crypt(P, first 2)
)

var formatNames = [...]string{
	FormatEmpty:        "empty",
	FormatFailureToken: "failure-token",
	FormatPlain:        "plain",
	FormatMD5:          "md5-crypt",
	FormatAPR1:         "apr1",
	FormatSHA256:       "sha256",
	FormatSHA512:       "sha512",
	FormatBcrypt:       "bcrypt",
	FormatSHA1:         "sha1",
	FormatCryptLogin:   "crypt-login",
	FormatDES:          "des-crypt",
}

// String returns the format's name.
func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// The Perl patterns of DB.pm, translated. Perl's "." does not match a
// newline unless /s; Perl's "$" also matches before a final newline, which
// Go's does not, so that newline is matched explicitly.
var (
	// m{\A \$.+? \$.+? \$.* \z}xms
	md5ClassRE = regexp.MustCompile(`(?s)\A\$.+?\$.+?\$.*\z`)
	// s/^(\$.+?\$)(.+?)\$.*$/$2/ : magic, salt, and a final newline that
	// s/// leaves behind.
	md5SaltRE = regexp.MustCompile(`^(\$.+?\$)(.+?)\$.*(\n?)$`)
	// m{\A [0-9a-f]{N} \z}xmsi
	hex64RE  = regexp.MustCompile(`\A[0-9a-fA-F]{64}\z`)
	hex128RE = regexp.MustCompile(`\A[0-9a-fA-F]{128}\z`)
	hex40RE  = regexp.MustCompile(`\A[0-9a-fA-F]{40}\z`)
)

// isPerl13 is $GetPw =~ /^.{13}$/ on the decoded string: 13 characters, none
// a newline, optionally followed by one final newline.
func isPerl13(s string) bool {
	s = strings.TrimSuffix(s, "\n")
	return utf8.RuneCountInString(s) == 13 && !strings.Contains(s, "\n")
}

// perlFalse reports whether s is false in Perl: "" or "0".
func perlFalse(s string) bool { return s == "" || s == "0" }

// isFailureToken reports whether s is a libxcrypt failure token.
func isFailureToken(s string) bool { return s == "*0" || s == "*1" }

// Classify returns the branch of fact sheet §2 that checks stored.
// cryptTypePlain is whether the module's crypt type is "plain".
func Classify(stored string, cryptTypePlain bool) Format {
	switch {
	case perlFalse(stored):
		return FormatEmpty
	case isFailureToken(stored):
		return FormatFailureToken
	case cryptTypePlain:
		return FormatPlain
	case isPerl13(stored):
		return FormatDES
	case md5ClassRE.MatchString(stored):
		if m := md5SaltRE.FindStringSubmatch(stored); m != nil && m[1] == apr1Magic {
			return FormatAPR1
		}
		return FormatMD5
	case hex64RE.MatchString(stored):
		return FormatSHA256
	case hex128RE.MatchString(stored):
		return FormatSHA512
	case strings.HasPrefix(stored, bcryptPrefix):
		return FormatBcrypt
	case hex40RE.MatchString(stored):
		return FormatSHA1
	}
	return FormatCryptLogin
}

// Check reports whether password matches the stored value, as OTRS's DB
// customer auth module decides it. login is the login as typed (branch 2f
// uses it as the crypt() salt); cryptTypePlain is whether the module's crypt
// type is "plain" (branch 1).
//
// A NULL or empty stored value, a password or login that Perl sees as false
// ("" or "0") and the failure tokens "*0" and "*1" never match. The
// comparison is byte-exact (UTF-8 bytes, untrimmed) and constant-time.
func Check(stored, password, login string, cryptTypePlain bool) bool {
	if perlFalse(password) || perlFalse(login) {
		return false
	}
	var computed string
	switch Classify(stored, cryptTypePlain) {
	case FormatEmpty, FormatFailureToken:
		return false
	case FormatPlain:
		computed = password
	case FormatMD5, FormatAPR1:
		computed = md5Branch(stored, password)
	case FormatSHA256:
		computed = hexDigest(sha256.New(), password)
	case FormatSHA512:
		computed = hexDigest(sha512.New(), password)
	case FormatSHA1:
		computed = hexDigest(sha1.New(), password)
	case FormatBcrypt:
		b, ok := parseOTRSBcrypt(stored)
		return ok && checkBcrypt(b, password)
	case FormatCryptLogin:
		var ok bool
		if computed, ok = libxcrypt(password, login); !ok {
			return false
		}
	case FormatDES:
		var ok bool
		if computed, ok = libxcrypt(password, desSetting(stored)); !ok {
			return false
		}
	}
	return subtle.ConstantTimeCompare([]byte(computed), []byte(stored)) == 1
}

// md5Branch computes branch 2a for stored: the salt is what DB.pm's
// substitution leaves. Where that substitution fails (a newline inside the
// value) the whole value is the salt and $1 is unset, so unix_md5_crypt is used.
func md5Branch(stored, password string) string {
	m := md5SaltRE.FindStringSubmatch(stored)
	if m == nil {
		return md5Crypt(password, stored, md5Magic)
	}
	salt := m[2] + m[3]
	if m[1] == apr1Magic {
		return md5Crypt(password, salt, apr1Magic)
	}
	return md5Crypt(password, salt, md5Magic)
}

// desSetting is DB.pm's salt for a 13-character value: s/^(..).*/$1/, which
// keeps a final newline (and so makes crypt() fail). DB.pm keeps the whole
// value when it starts like "$1$"; that setting starts with "$" as the first
// two characters do, and libxcrypt() refuses both alike.
func desSetting(stored string) string {
	_, n1 := utf8.DecodeRuneInString(stored)
	_, n2 := utf8.DecodeRuneInString(stored[n1:])
	return stored[:n1+n2] + stored[len(strings.TrimSuffix(stored, "\n")):]
}

// hexDigest returns the lowercase hex digest of s.
func hexDigest(h hash.Hash, s string) string {
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// Hash returns the value OTRS's SetPassword stores for password under
// cryptType ("" means DefaultType): the password itself (plain),
// crypt(P, whole login) (crypt), $1$ / $apr1$ with the login as salt (md5,
// apr1, Crypt::PasswdMD5 keeps at most 8 bytes), unsalted lowercase hex
// (sha1, sha2, sha512) or BCRYPT:<cost>:<salt16>:<hash31> with 16 random
// [0-9A-Za-z] characters as the raw salt (bcrypt; bcryptCost 0 means 12,
// others are clamped to 9..31).
//
// Unlike OTRS, Hash refuses what could never log in: an empty password, a
// login crypt() refuses (ErrInvalidSalt), a value longer than the pw column
// (ErrTooLong), or any value Check would not accept (ErrUnverifiable, e.g.
// an MD5 salt that comes out empty).
func Hash(cryptType, password, login string, bcryptCost int) (string, error) {
	if cryptType == "" {
		cryptType = DefaultType
	}
	if !ValidType(cryptType) {
		return "", fmt.Errorf("%w: %q", ErrUnknownType, cryptType)
	}
	if perlFalse(password) {
		return "", ErrEmptyPassword
	}
	if perlFalse(login) {
		return "", ErrEmptyLogin
	}
	var stored string
	switch cryptType {
	case TypePlain:
		stored = password
	case TypeCrypt:
		var ok bool
		if stored, ok = libxcrypt(password, login); !ok {
			return "", fmt.Errorf("%w: login %q", ErrInvalidSalt, login)
		}
	case TypeMD5:
		stored = md5Crypt(password, login, md5Magic)
	case TypeAPR1:
		stored = md5Crypt(password, login, apr1Magic)
	case TypeSHA1:
		stored = hexDigest(sha1.New(), password)
	case TypeSHA2:
		stored = hexDigest(sha256.New(), password)
	case TypeSHA512:
		stored = hexDigest(sha512.New(), password)
	case TypeBcrypt:
		stored = bcryptOTRS(password, randomAlnum(bcryptSaltLen), clampBcryptCost(bcryptCost))
	}
	if utf8.RuneCountInString(stored) > MaxStoredLen {
		return "", fmt.Errorf("%w: %s value of %d characters", ErrTooLong, cryptType, utf8.RuneCountInString(stored))
	}
	// The bcrypt value is right by construction; recomputing it would double
	// the cost of every password change. Every other type is re-checked.
	if cryptType == TypeBcrypt {
		if Classify(stored, false) != FormatBcrypt {
			return "", ErrUnverifiable
		}
	} else if !Check(stored, password, login, cryptType == TypePlain) {
		return "", fmt.Errorf("%w: %s for login %q", ErrUnverifiable, cryptType, login)
	}
	return stored, nil
}

// randomAlnum returns n random [0-9A-Za-z] bytes, like OTRS's
// GenerateRandomString.
func randomAlnum(n int) []byte {
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			panic("passwd: crypto/rand: " + err.Error()) // never returns an error since Go 1.24
		}
		for _, b := range buf {
			// 248 = 4*62: rejecting the rest keeps the choice unbiased.
			if b < 248 && len(out) < n {
				out = append(out, alnum[b%62])
			}
		}
	}
	return out
}

var (
	dummyMu     sync.Mutex
	dummyFixed  = map[string]string{} // crypt types whose dummy does not depend on cost
	dummyBcrypt = map[int]string{}    // bcrypt dummies by clamped cost
)

// Dummy returns a stored value of cryptType ("" or unknown means
// DefaultType) that no password matches, to check against when the user is
// unknown, so that an unknown user costs the same time as a wrong password.
// The bcrypt dummy uses bcryptCost as Hash does; it is computed on first use
// and kept. For TypePlain, check it with cryptTypePlain set.
func Dummy(cryptType string, bcryptCost int) string {
	if !ValidType(cryptType) {
		cryptType = DefaultType
	}
	dummyMu.Lock()
	defer dummyMu.Unlock()
	if cryptType == TypeBcrypt {
		cost := clampBcryptCost(bcryptCost)
		if v, ok := dummyBcrypt[cost]; ok {
			return v
		}
		v := bcryptOTRS(string(randomAlnum(32)), randomAlnum(bcryptSaltLen), cost)
		dummyBcrypt[cost] = v
		return v
	}
	if v, ok := dummyFixed[cryptType]; ok {
		return v
	}
	secret := string(randomAlnum(32))
	var v string
	switch cryptType {
	case TypePlain:
		v = secret
	case TypeCrypt:
		// A 13-character DES value: the common case for crypt; the salt is
		// valid, so the check does the full 25 DES passes.
		v, _ = libxcrypt(secret, "du")
	case TypeMD5:
		v = md5Crypt(secret, "dummysal", md5Magic)
	case TypeAPR1:
		v = md5Crypt(secret, "dummysal", apr1Magic)
	case TypeSHA1:
		v = hexDigest(sha1.New(), secret)
	case TypeSHA2:
		v = hexDigest(sha256.New(), secret)
	case TypeSHA512:
		v = hexDigest(sha512.New(), secret)
	}
	dummyFixed[cryptType] = v
	return v
}
