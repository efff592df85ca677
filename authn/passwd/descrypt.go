package passwd

// Traditional crypt(3): DES crypt, bigcrypt and BSDi extended DES, computed the
// way libxcrypt (Debian >= 11, Fedora >= 28) computes Perl's crypt(), which is
// what OTRS / Znuny call for the "crypt" type and for branch 2f.
//
// Why our own implementation: there is no maintained, static pure-Go library
// for traditional DES crypt. github.com/GehirnInc/crypt has only the MD5 and
// SHA families, the old go-crypt forks (nyarlabo, NickTaporuk) are unmaintained
// ports from 2009, and github.com/sergeymakinen/go-crypt is not served by the
// module proxy. None of them knows bigcrypt or libxcrypt's failure rules
// either, and both decide whether a password matches. crypto/des cannot be
// used because crypt(3) perturbs DES's E expansion with the salt. The DES core
// below is checked against crypto/des (salt 0, one pass) and against
// libxcrypt outputs in testdata/.

import (
	"encoding/binary"
	"math/bits"
)

// ascii64 is the crypt(3) base-64 alphabet.
const ascii64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// maxPhrase is libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE: a phrase of this many
// bytes or more makes crypt() fail.
const maxPhrase = 512

// ascii64Value returns the value of an ascii64 character, or -1.
func ascii64Value(c byte) int {
	switch {
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 38
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 12
	case c >= '.' && c <= '9':
		return int(c - '.')
	}
	return -1
}

// badSettingChar is libxcrypt's check_badsalt_chars: a setting may only hold
// printable ASCII other than space and the passwd(5) markers "!*:;\".
func badSettingChar(c byte) bool {
	return c <= 0x20 || c >= 0x7f || c == '!' || c == '*' || c == ':' || c == ';' || c == '\\'
}

// cString cuts s at its first NUL, as the C library sees a Perl string.
func cString(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return s[:i]
		}
	}
	return s
}

// libxcrypt computes crypt(phrase, setting) for the DES family as libxcrypt
// 4.4 does. ok is false where libxcrypt returns its failure token "*0": an
// invalid setting (bad characters, a first two characters outside ./0-9A-Za-z,
// a 1-character or empty setting), a phrase of 512 bytes or more, and every
// modular ("$...") setting. libxcrypt would compute md5crypt, sha-crypt,
// bcrypt, yescrypt or NT hashes for the last; gatehouse does not, so such
// logins fail closed (a "$1$" value reaches the MD5 branch first anyway).
func libxcrypt(phrase, setting string) (string, bool) {
	phrase, setting = cString(phrase), cString(setting)
	if len(phrase) >= maxPhrase {
		return "", false
	}
	for i := 0; i < len(setting); i++ {
		if badSettingChar(setting[i]) {
			return "", false
		}
	}
	switch {
	case setting == "" || setting[0] == '$':
		return "", false
	case setting[0] == '_':
		return bsdiCrypt(phrase, setting)
	case len(setting) < 2 || ascii64Value(setting[0]) < 0 || ascii64Value(setting[1]) < 0:
		return "", false
	}
	salt := uint32(ascii64Value(setting[0])) | uint32(ascii64Value(setting[1]))<<6
	// libxcrypt's bigcrypt entry forwards to plain DES when the phrase is
	// longer than 8 bytes and the setting is not longer than 13 characters;
	// with at most 8 bytes the two agree.
	if len(phrase) > 8 && len(setting) <= 13 {
		return desCrypt(phrase, salt), true
	}
	return bigCrypt(phrase, salt), true
}

// desCrypt is traditional DES crypt: the first 8 bytes of the phrase (7 bits
// each) as key, 25 encryptions of a zero block with the salted E box.
func desCrypt(phrase string, salt uint32) string {
	out := make([]byte, 0, 13)
	out = append(out, ascii64[salt&0x3f], ascii64[salt>>6&0x3f])
	var ks desKeys
	ks.setKey(desKeyBlock(phrase, 0))
	return string(appendDESHash(out, ks.encryptBlock(0, salt, 25)))
}

// bigCrypt is libxcrypt's bigcrypt: the phrase in chunks of 8 bytes (at most
// 16), each DES-crypted with the first two hash characters of the previous
// block as salt, the 11-character hashes joined after the 2-character salt.
func bigCrypt(phrase string, salt uint32) string {
	out := make([]byte, 0, 2+16*11)
	out = append(out, ascii64[salt&0x3f], ascii64[salt>>6&0x3f])
	var ks desKeys
	for seg := 0; seg < 16; seg++ {
		start := len(out)
		ks.setKey(desKeyBlock(phrase, 0))
		out = appendDESHash(out, ks.encryptBlock(0, salt, 25))
		if len(phrase) <= 8 {
			break
		}
		phrase = phrase[8:]
		salt = uint32(ascii64Value(out[start])) | uint32(ascii64Value(out[start+1]))<<6
	}
	return string(out)
}

// bsdiCrypt is BSDi extended DES: "_" + 4 characters of count + 4 of salt;
// the whole phrase is folded into one key.
func bsdiCrypt(phrase, setting string) (string, bool) {
	if len(setting) < 9 {
		return "", false
	}
	var count, salt uint32
	for i := 1; i < 5; i++ {
		v := ascii64Value(setting[i])
		if v < 0 {
			return "", false
		}
		count |= uint32(v) << ((i - 1) * 6)
	}
	for i := 5; i < 9; i++ {
		v := ascii64Value(setting[i])
		if v < 0 {
			return "", false
		}
		salt |= uint32(v) << ((i - 5) * 6)
	}
	if count == 0 {
		// libxcrypt's des_crypt_block runs at least one pass (checked:
		// "_....abcd" and "_/...abcd" give the same hash).
		count = 1
	}
	var ks desKeys
	var prev uint64
	for {
		key := desKeyBlock(phrase, prev)
		ks.setKey(key)
		if len(phrase) <= 8 {
			break
		}
		phrase = phrase[8:]
		// Encrypt the key block under itself, salt 0, one pass.
		prev = ks.encryptBlock(key, 0, 1)
	}
	out := make([]byte, 0, 20)
	out = append(out, setting[:9]...)
	return string(appendDESHash(out, ks.encryptBlock(0, salt, count))), true
}

// desKeyBlock makes a DES key of the first 8 bytes of phrase, each shifted
// left by one bit, zero padded, XORed with prev.
func desKeyBlock(phrase string, prev uint64) uint64 {
	var b [8]byte
	for i := 0; i < 8 && i < len(phrase); i++ {
		b[i] = phrase[i] << 1
	}
	return binary.BigEndian.Uint64(b[:]) ^ prev
}

// appendDESHash encodes a 64-bit block as 11 ascii64 characters, big-endian,
// the last one carrying 4 bits.
func appendDESHash(out []byte, v uint64) []byte {
	for shift := 58; shift >= 4; shift -= 6 {
		out = append(out, ascii64[v>>uint(shift)&0x3f])
	}
	return append(out, ascii64[v<<2&0x3f])
}

// desKeys is a DES key schedule: 16 48-bit subkeys.
type desKeys [16]uint64

// setKey computes the key schedule (PC1, rotations, PC2).
func (ks *desKeys) setKey(key uint64) {
	cd := permute(key, pc1[:], 64)
	c, d := uint32(cd>>28), uint32(cd&0x0fffffff)
	for i, s := range keyShifts {
		c = (c<<s | c>>(28-s)) & 0x0fffffff
		d = (d<<s | d>>(28-s)) & 0x0fffffff
		ks[i] = permute(uint64(c)<<28|uint64(d), pc2[:], 56)
	}
}

// encryptBlock runs count DES encryptions of block. The 12 salt bits swap E
// box outputs k and k+24 where bit k is set (12 bits for DES, 24 for BSDi
// extended DES). IP and FP are applied once, as
// they cancel between passes.
func (ks *desKeys) encryptBlock(block uint64, salt, count uint32) uint64 {
	var mask uint64
	for k := 0; k < 24; k++ {
		if salt>>uint(k)&1 != 0 {
			mask |= 1 << uint(23-k)
		}
	}
	b := permute(block, ipTable[:], 64)
	l, r := uint32(b>>32), uint32(b)
	for ; count > 0; count-- {
		for i := 0; i < 16; i++ {
			// f(r): expand, swap the salted bits, add the subkey, S and P.
			e := eTable[0][r>>24] | eTable[1][r>>16&0xff] | eTable[2][r>>8&0xff] | eTable[3][r&0xff]
			t := (e ^ e>>24) & mask
			e ^= t | t<<24 ^ ks[i]
			l ^= spBox[0][e>>42&0x3f] | spBox[1][e>>36&0x3f] | spBox[2][e>>30&0x3f] | spBox[3][e>>24&0x3f] |
				spBox[4][e>>18&0x3f] | spBox[5][e>>12&0x3f] | spBox[6][e>>6&0x3f] | spBox[7][e&0x3f]
			l, r = r, l
		}
		// The last round does not swap; undoing it here also hands the
		// pre-output to the next pass as its IP'd input.
		l, r = r, l
	}
	return permute(uint64(l)<<32|uint64(r), fpTable[:], 64)
}

// expand is DES's E: group i of the 48 bits is DES bits 4i .. 4i+5
// (1-based, wrapping).
func expand(r uint32) uint64 {
	var e uint64
	for i := 0; i < 8; i++ {
		e = e<<6 | uint64(bits.RotateLeft32(r, 4*i-1)>>26)
	}
	return e
}

// permute maps the inBits-wide value in through table (1-based positions
// counted from the most significant bit) to a len(table)-wide value.
func permute(in uint64, table []byte, inBits int) uint64 {
	var out uint64
	for _, p := range table {
		out = out<<1 | in>>uint(inBits-int(p))&1
	}
	return out
}

var ipTable = [64]byte{
	58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
	62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
	57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
	61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
}

// fpTable is the inverse of ipTable, computed in init.
var fpTable [64]byte

var pTable = [32]byte{
	16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
	2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
}

var pc1 = [56]byte{
	57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
	10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
	63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
	14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
}

var pc2 = [48]byte{
	14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
	23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
	41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
	44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
}

var keyShifts = [16]uint32{1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1}

var sBoxes = [8][4][16]byte{
	{
		{14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7},
		{0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8},
		{4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0},
		{15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13},
	},
	{
		{15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10},
		{3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5},
		{0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15},
		{13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9},
	},
	{
		{10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8},
		{13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1},
		{13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7},
		{1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12},
	},
	{
		{7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15},
		{13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9},
		{10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4},
		{3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14},
	},
	{
		{2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9},
		{14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6},
		{4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14},
		{11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3},
	},
	{
		{12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11},
		{10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8},
		{9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6},
		{4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13},
	},
	{
		{4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1},
		{13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6},
		{1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2},
		{6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12},
	},
	{
		{13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7},
		{1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2},
		{7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8},
		{2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11},
	},
}

// eTable[i][b] is E of byte i (from the most significant) of R alone; E
// only selects bits, so E(R) is the OR of the four.
var eTable [4][256]uint64

// spBox[i][x] is S box i applied to the 6-bit x, placed at its 4 output bits
// and then permuted by P, so a round is 8 lookups.
var spBox [8][64]uint32

func init() {
	for i, p := range ipTable {
		fpTable[p-1] = byte(i + 1)
	}
	for i := range eTable {
		for b := 0; b < 256; b++ {
			eTable[i][b] = expand(uint32(b) << uint(24-8*i))
		}
	}
	for i := range sBoxes {
		for x := 0; x < 64; x++ {
			row := x>>4&2 | x&1
			col := x >> 1 & 0xf
			s := uint64(sBoxes[i][row][col]) << uint(28-4*i)
			spBox[i][x] = uint32(permute(s, pTable[:], 32))
		}
	}
}
