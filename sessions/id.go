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
	if len(cookie) != IDLen {
		return "", ErrMalformedID
	}
	for i := 0; i < len(cookie); i++ {
		c := cookie[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", ErrMalformedID
		}
	}
	var b [IDBytes + 1]byte
	n, err := idEncoding.Decode(b[:], []byte(cookie))
	if err != nil || n != IDBytes {
		return "", ErrMalformedID
	}
	return cookie, nil
}

// Key returns the store key of a session id: the hex SHA-256 of the id. Stores only ever
// see keys, so a dump of the store does not hand out live sessions. A key may appear in
// logs and errors (truncated, see ShortKey); an id never may.
func Key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// ShortKey returns the first 12 characters of a store key, for log lines and errors.
func ShortKey(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}
