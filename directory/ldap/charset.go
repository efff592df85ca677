package ldap

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// Charset converts between UTF-8 (gatehouse's internal text) and a directory's character set
// (OTRS's Charset / SourceCharset). The zero value, and the Charset of "utf-8", convert
// nothing.
type Charset struct {
	name string
	enc  encoding.Encoding // nil: UTF-8
}

// NewCharset looks name up in the IANA registry ("utf-8", "iso-8859-1", "windows-1252", …);
// empty means UTF-8.
func NewCharset(name string) (Charset, error) {
	if name == "" {
		return Charset{name: "utf-8"}, nil
	}
	enc, err := ianaindex.IANA.Encoding(name)
	if err != nil || enc == nil {
		return Charset{}, fmt.Errorf("unknown charset %q (want an IANA name such as utf-8 or iso-8859-1)", name)
	}
	if enc == unicode.UTF8 || strings.EqualFold(name, "utf8") {
		return Charset{name: "utf-8"}, nil
	}
	return Charset{name: name, enc: enc}, nil
}

// Name is the charset's configured name.
func (c Charset) Name() string {
	if c.name == "" {
		return "utf-8"
	}
	return c.name
}

// Encode converts s (UTF-8) into the directory's charset. ok is false when s holds a
// character the charset cannot represent: such a value cannot be in the directory, and
// substituting a '?' for it could match a different entry.
func (c Charset) Encode(s string) (b []byte, ok bool) {
	if c.enc == nil {
		return []byte(s), true
	}
	out, err := c.enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		return nil, false
	}
	return out, true
}

// Decode converts a value read from the directory into UTF-8. Bytes that are not valid in a
// UTF-8 directory become U+FFFD, so no invalid UTF-8 reaches headers or JSON.
func (c Charset) Decode(b []byte) string {
	if c.enc == nil {
		if utf8.Valid(b) {
			return string(b)
		}
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	out, err := c.enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}
