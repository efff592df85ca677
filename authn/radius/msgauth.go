package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// Message-Authenticator (RFC 2869 §5.14, RFC 3579 §3.2): HMAC-MD5, keyed with the shared
// secret, over the whole packet with the attribute's 16-byte value zeroed. It is the defence
// against BlastRADIUS (CVE-2024-3596): an MD5 chosen-prefix collision can forge a Response
// Authenticator, but not this HMAC. layeh.com/radius neither computes nor checks it, so this
// file does both, on the wire bytes.

const (
	// attrMessageAuthenticator is the attribute type of Message-Authenticator.
	attrMessageAuthenticator = 80
	// maLen is the length of the attribute value (an MD5 sum).
	maLen = md5.Size
	// headerLen is the RADIUS header: code, identifier, length, authenticator.
	headerLen = 20
)

var (
	// ErrNoMessageAuthenticator: a reply carries no Message-Authenticator while one is required.
	ErrNoMessageAuthenticator = errors.New("radius: reply without Message-Authenticator")
	// ErrBadMessageAuthenticator: a Message-Authenticator does not match (wrong secret or forged).
	ErrBadMessageAuthenticator = errors.New("radius: invalid Message-Authenticator")
	// ErrMalformed: a packet's length or attribute framing is broken.
	ErrMalformed = errors.New("radius: malformed packet")
)

// findMessageAuthenticator returns the offset of the Message-Authenticator value in the
// packet, or -1 when there is none. Several of them, a wrong attribute length or a broken
// attribute list are ErrMalformed: RFC 3579 allows at most one, 18 bytes long.
func findMessageAuthenticator(pkt []byte) (int, error) {
	if len(pkt) < headerLen {
		return -1, fmt.Errorf("%w: %d bytes, less than a header", ErrMalformed, len(pkt))
	}
	n := int(binary.BigEndian.Uint16(pkt[2:4]))
	if n < headerLen || n > len(pkt) {
		return -1, fmt.Errorf("%w: length field %d, packet %d bytes", ErrMalformed, n, len(pkt))
	}
	off := -1
	for i := headerLen; i < n; {
		if i+2 > n {
			return -1, fmt.Errorf("%w: truncated attribute at %d", ErrMalformed, i)
		}
		typ, l := pkt[i], int(pkt[i+1])
		if l < 2 || i+l > n {
			return -1, fmt.Errorf("%w: attribute %d at %d has length %d", ErrMalformed, typ, i, l)
		}
		if typ == attrMessageAuthenticator {
			if l != 2+maLen {
				return -1, fmt.Errorf("%w: Message-Authenticator of length %d", ErrMalformed, l)
			}
			if off >= 0 {
				return -1, fmt.Errorf("%w: more than one Message-Authenticator", ErrMalformed)
			}
			off = i + 2
		}
		i += l
	}
	return off, nil
}

// messageAuthenticator computes the HMAC-MD5 of pkt (up to its length field) with the value
// at off taken as zeros and, when auth is not nil, auth in place of the header's
// authenticator (a reply is signed with the request's authenticator there).
func messageAuthenticator(pkt []byte, off int, auth *[16]byte, secret []byte) []byte {
	n := int(binary.BigEndian.Uint16(pkt[2:4]))
	var zero [maLen]byte
	h := hmac.New(md5.New, secret)
	h.Write(pkt[:4])
	if auth != nil {
		h.Write(auth[:])
	} else {
		h.Write(pkt[4:headerLen])
	}
	h.Write(pkt[headerLen:off])
	h.Write(zero[:])
	h.Write(pkt[off+maLen : n])
	return h.Sum(nil)
}

// SignRequest fills in the Message-Authenticator of an encoded Access-Request (or
// Status-Server) in place. The packet must already hold the attribute (any 16-byte value);
// its authenticator field is the Request Authenticator and is hashed as it is.
func SignRequest(pkt, secret []byte) error {
	off, err := findMessageAuthenticator(pkt)
	if err != nil {
		return err
	}
	if off < 0 {
		return ErrNoMessageAuthenticator
	}
	copy(pkt[off:off+maLen], messageAuthenticator(pkt, off, nil, secret))
	return nil
}

// VerifyRequest checks the Message-Authenticator of an encoded Access-Request (used by the
// tests' fake servers and to check captured packets).
func VerifyRequest(pkt, secret []byte) error {
	off, err := findMessageAuthenticator(pkt)
	if err != nil {
		return err
	}
	if off < 0 {
		return ErrNoMessageAuthenticator
	}
	if subtle.ConstantTimeCompare(pkt[off:off+maLen], messageAuthenticator(pkt, off, nil, secret)) != 1 {
		return ErrBadMessageAuthenticator
	}
	return nil
}

// VerifyResponse checks the Message-Authenticator of an encoded reply to a request whose
// Request Authenticator is reqAuth: the HMAC is over the reply with reqAuth in the
// authenticator field and the attribute zeroed (RFC 3579 §3.2). A reply without the
// attribute is ErrNoMessageAuthenticator; a wrong value ErrBadMessageAuthenticator.
func VerifyResponse(pkt []byte, reqAuth [16]byte, secret []byte) error {
	off, err := findMessageAuthenticator(pkt)
	if err != nil {
		return err
	}
	if off < 0 {
		return ErrNoMessageAuthenticator
	}
	if subtle.ConstantTimeCompare(pkt[off:off+maLen], messageAuthenticator(pkt, off, &reqAuth, secret)) != 1 {
		return ErrBadMessageAuthenticator
	}
	return nil
}

// SignResponse fills in the Message-Authenticator of an encoded reply (before its Response
// Authenticator is computed, which covers it), for the tests' fake servers.
func SignResponse(pkt []byte, reqAuth [16]byte, secret []byte) error {
	off, err := findMessageAuthenticator(pkt)
	if err != nil {
		return err
	}
	if off < 0 {
		return ErrNoMessageAuthenticator
	}
	copy(pkt[off:off+maLen], messageAuthenticator(pkt, off, &reqAuth, secret))
	return nil
}
