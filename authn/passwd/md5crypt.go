package passwd

// MD5 crypt ("$1$") and Apache's variant ("$apr1$") as Perl's
// Crypt::PasswdMD5 computes them for OTRS.
//
// Why our own implementation: OTRS takes the salt from the login, so it may
// hold any byte ("john.doe" from john.doe@example.com, '@', non-ASCII bytes,
// even a cut UTF-8 sequence), and Crypt::PasswdMD5 has its own rules for
// trimming a salt. github.com/GehirnInc/crypt (md5_crypt, apr1_crypt) parses
// its salt argument as a "$"-separated setting and reads a leading "rounds="
// as a rounds field, so it cannot be handed an arbitrary salt; the algorithm
// is 40 lines over crypto/md5 and is checked against openssl in testdata/.

import (
	"crypto/md5"
	"regexp"
)

const (
	md5Magic  = "$1$"
	apr1Magic = "$apr1$"
)

// pmd5SaltRE is Crypt::PasswdMD5's s/^(.*)\$.*$/$1/: greedy up to the last
// "$" before any newline; Perl's $ also matches before a final newline.
var pmd5SaltRE = regexp.MustCompile(`^(.*)\$.*(\n?)$`)

// pmd5Salt applies Crypt::PasswdMD5's salt rules: strip the magic, cut at the
// last "$", keep at most 8 bytes (OTRS hands it encoded bytes).
func pmd5Salt(salt, magic string) string {
	if len(salt) >= len(magic) && salt[:len(magic)] == magic {
		salt = salt[len(magic):]
	}
	if m := pmd5SaltRE.FindStringSubmatch(salt); m != nil {
		// s/// replaces only the match, and a $ that matched before a
		// final newline leaves that newline in place.
		salt = m[1] + m[2]
	}
	if len(salt) > 8 {
		salt = salt[:8]
	}
	return salt
}

// md5Crypt returns Crypt::PasswdMD5's unix_md5_crypt (magic "$1$") or
// apache_md5_crypt (magic "$apr1$") of password with the raw salt argument.
func md5Crypt(password, salt, magic string) string {
	salt = pmd5Salt(salt, magic)
	pw := []byte(password)

	alt := md5.New()
	alt.Write(pw)
	alt.Write([]byte(salt))
	alt.Write(pw)
	altSum := alt.Sum(nil)

	ctx := md5.New()
	ctx.Write(pw)
	ctx.Write([]byte(magic))
	ctx.Write([]byte(salt))
	for n := len(pw); n > 0; n -= 16 {
		ctx.Write(altSum[:min(n, 16)])
	}
	for i := len(pw); i != 0; i >>= 1 {
		if i&1 != 0 {
			ctx.Write([]byte{0})
		} else {
			ctx.Write(pw[:1])
		}
	}
	final := ctx.Sum(nil)

	// 1000 rounds that mix password, salt and the running digest.
	for i := 0; i < 1000; i++ {
		h := md5.New()
		if i&1 != 0 {
			h.Write(pw)
		} else {
			h.Write(final)
		}
		if i%3 != 0 {
			h.Write([]byte(salt))
		}
		if i%7 != 0 {
			h.Write(pw)
		}
		if i&1 != 0 {
			h.Write(final)
		} else {
			h.Write(pw)
		}
		final = h.Sum(final[:0])
	}

	out := make([]byte, 0, len(magic)+len(salt)+1+22)
	out = append(out, magic...)
	out = append(out, salt...)
	out = append(out, '$')
	for _, g := range [5][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		out = appendTo64(out, uint32(final[g[0]])<<16|uint32(final[g[1]])<<8|uint32(final[g[2]]), 4)
	}
	return string(appendTo64(out, uint32(final[11]), 2))
}

// appendTo64 appends n ascii64 characters of v, least significant first.
func appendTo64(out []byte, v uint32, n int) []byte {
	for ; n > 0; n-- {
		out = append(out, ascii64[v&0x3f])
		v >>= 6
	}
	return out
}
