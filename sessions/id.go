package sessions

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// IDBytes is the number of random bytes in a session id (256 bits).
const IDBytes = 32

// IDLen is the length of an encoded session id: IDBytes in unpadded base64url.
const IDLen = 43

var idEncoding = base64.RawURLEncoding.Strict()

// NewID returns a fresh session id: 256 bits from crypto/rand, base64url without padding
// (IDLen characters). It is the cookie value; stores only ever see Key(id).
func NewID() (string, error) {
	return randomToken()
}

// randomToken returns IDBytes random bytes in unpadded base64url.
func randomToken() (string, error) {
	var b [IDBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sessions: random id: %w", err)
	}
	return idEncoding.EncodeToString(b[:]), nil
}

// ParseID checks that cookie is a well-formed session id and returns it. It is strict:
// exactly IDLen characters of the base64url alphabet in canonical form (the unused low bits
// of the last character are zero), else ErrMalformedID. The cookie value is never echoed in
// the error.
func ParseID(cookie string) (string, error) {
	if !wellFormed(cookie) {
		return "", ErrMalformedID
	}
	return cookie, nil
}

// wellFormed reports whether id is a session id in the form ParseID accepts, without
// allocating (LoadCookie's hot path): IDLen characters of the base64url alphabet, the last
// one canonical. IDLen sextets carry 258 bits for IDBytes*8 = 256, so the last character's
// two low bits must be zero.
func wellFormed[T string | []byte](id T) bool {
	if len(id) != IDLen {
		return false
	}
	var bad byte
	for i := 0; i < IDLen; i++ {
		bad |= sextets[id[i]] // no branch per character
	}
	return bad&0x80 == 0 && sextets[id[IDLen-1]]&(1<<(IDLen*6-IDBytes*8)-1) == 0
}

// sextets maps a byte to its base64url value, or to 0xff for a byte outside the alphabet.
var sextets = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range []byte(alphabet) {
		t[c] = byte(i)
	}
	return t
}()

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Key returns the store key of a session id: the hex SHA-256 of the id. Stores only ever
// see keys, so a dump of the store does not hand out live sessions. A key may appear in
// logs and errors (truncated, see ShortKey); an id never may.
func Key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// digestOf decodes a store key (Key's hex) into the digest it spells.
func digestOf(key string) (d [sha256.Size]byte, ok bool) {
	if len(key) != 2*sha256.Size {
		return d, false
	}
	_, err := hex.Decode(d[:], []byte(key))
	return d, err == nil
}

// ShortKey returns the first 12 characters of a store key, for log lines and errors.
func ShortKey(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}
