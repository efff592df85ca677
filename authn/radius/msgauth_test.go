package radius

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"layeh.com/radius"
)

const testSecret = "testing123"

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Hand-built reference packets (secret testing123). The expected values were computed with
// openssl, not with Go:
//
//	xxd -r -p <<<"$PACKET_WITH_MA_ZEROED" | openssl dgst -md5 -mac HMAC -macopt key:testing123
//
// and the reply's Response Authenticator with `openssl dgst -md5` over
// code|id|length|request authenticator|attributes|secret.
const (
	// Access-Request, id 0x2d, authenticator 00 01 … 0f, User-Name "alice", then
	// Message-Authenticator.
	refRequest = "012d002d" + "000102030405060708090a0b0c0d0e0f" + "0107616c696365" +
		"5012" + "bc98c96c135c09bd11f04d3ab38df1fe"
	// Access-Accept to it: Reply-Message "ok", then Message-Authenticator (HMAC over the reply
	// with the request's authenticator in the header and the attribute zeroed).
	refReply = "022d002a" + "c30887dd1a8e7ff1c00f2ed2569c8ea7" + "12046f6b" +
		"5012" + "f2c4fa47e1caedf2a132a42bfed429c3"
)

var refAuth = [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

func TestReferencePackets(t *testing.T) {
	req, reply := unhex(t, refRequest), unhex(t, refReply)

	t.Run("sign request", func(t *testing.T) {
		p := bytes.Clone(req)
		copy(p[len(p)-16:], bytes.Repeat([]byte{0xee}, 16)) // any placeholder
		if err := SignRequest(p, []byte(testSecret)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, req) {
			t.Fatalf("signed\n%x, openssl says\n%x", p, req)
		}
	})
	t.Run("verify request", func(t *testing.T) {
		if err := VerifyRequest(req, []byte(testSecret)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("verify reply", func(t *testing.T) {
		if !radius.IsAuthenticResponse(reply, req, []byte(testSecret)) {
			t.Fatal("Response Authenticator of the reference reply does not verify")
		}
		if err := VerifyResponse(reply, refAuth, []byte(testSecret)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("sign reply", func(t *testing.T) {
		p := bytes.Clone(reply)
		copy(p[len(p)-16:], make([]byte, 16))
		if err := SignResponse(p, refAuth, []byte(testSecret)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p[len(p)-16:], reply[len(reply)-16:]) {
			t.Fatalf("reply MA %x, openssl says %x", p[len(p)-16:], reply[len(reply)-16:])
		}
	})
	t.Run("reply MA uses the request authenticator, not the reply's", func(t *testing.T) {
		var replyAuth [16]byte
		copy(replyAuth[:], reply[4:20])
		if err := VerifyResponse(reply, replyAuth, []byte(testSecret)); !errors.Is(err, ErrBadMessageAuthenticator) {
			t.Fatalf("err = %v, want ErrBadMessageAuthenticator", err)
		}
	})
}

// tamper lists ways a signed packet must stop verifying.
func tamper(t *testing.T, pkt []byte, verify func([]byte, []byte) error) {
	t.Helper()
	cases := []struct {
		name   string
		secret string
		mutate func(p []byte)
	}{
		{"wrong secret", "testing124", func([]byte) {}},
		{"code", testSecret, func(p []byte) { p[0] ^= 0x01 }},
		{"identifier", testSecret, func(p []byte) { p[1]++ }},
		{"authenticator", testSecret, func(p []byte) { p[7] ^= 0x80 }},
		{"attribute", testSecret, func(p []byte) { p[len(p)-19] ^= 0x01 }},
		{"MA value", testSecret, func(p []byte) { p[len(p)-1] ^= 0x01 }},
	}
	for _, c := range cases {
		p := bytes.Clone(pkt)
		c.mutate(p)
		if err := verify(p, []byte(c.secret)); err == nil {
			t.Errorf("%s: a tampered packet verifies", c.name)
		}
	}
}

func TestTamperedReference(t *testing.T) {
	req, reply := unhex(t, refRequest), unhex(t, refReply)
	tamper(t, req, VerifyRequest)
	tamper(t, reply, replyCheck(req))
}

// replyCheck is the whole check of a reply: the Response Authenticator (which covers the
// reply's authenticator field; the Message-Authenticator HMAC does not, it hashes the
// request's there) and the Message-Authenticator.
func replyCheck(req []byte) func(p, secret []byte) error {
	var reqAuth [16]byte
	copy(reqAuth[:], req[4:20])
	return func(p, secret []byte) error {
		if !radius.IsAuthenticResponse(p, req, secret) {
			return errors.New("Response Authenticator")
		}
		return VerifyResponse(p, reqAuth, secret)
	}
}

type captured struct{ name, req, reply string }

func loadCaptured(t *testing.T) []captured {
	t.Helper()
	f, err := os.Open("testdata/captured.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []captured
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 {
			t.Fatalf("captured.txt: bad line %q", line)
		}
		out = append(out, captured{fs[0], fs[1], fs[2]})
	}
	if len(out) == 0 {
		t.Fatal("captured.txt: no packets")
	}
	return out
}

// TestCapturedPackets checks our HMAC against two independent implementations on the wire:
// radclient signed the requests (and FreeRADIUS with require_message_authenticator = yes
// answered them, so it agreed), FreeRADIUS signed the replies (testdata/capture.go).
func TestCapturedPackets(t *testing.T) {
	for _, c := range loadCaptured(t) {
		t.Run(c.name, func(t *testing.T) {
			req, reply := unhex(t, c.req), unhex(t, c.reply)
			var reqAuth [16]byte
			copy(reqAuth[:], req[4:20])

			if err := VerifyRequest(req, []byte(testSecret)); err != nil {
				t.Fatalf("radclient's request: %v", err)
			}
			off, err := findMessageAuthenticator(req)
			if err != nil || off < 0 {
				t.Fatalf("request MA at %d: %v", off, err)
			}
			p := bytes.Clone(req)
			copy(p[off:off+16], make([]byte, 16))
			if err := SignRequest(p, []byte(testSecret)); err != nil || !bytes.Equal(p, req) {
				t.Fatalf("re-signed request differs from radclient's (%v)", err)
			}
			tamper(t, req, VerifyRequest)

			if !radius.IsAuthenticResponse(reply, req, []byte(testSecret)) {
				t.Fatal("Response Authenticator does not verify")
			}
			err = VerifyResponse(reply, reqAuth, []byte(testSecret))
			if strings.HasSuffix(c.name, "-noma") {
				if !errors.Is(err, ErrNoMessageAuthenticator) {
					t.Fatalf("plain 3.2.1 reply: err = %v, want ErrNoMessageAuthenticator", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FreeRADIUS's reply: %v", err)
			}
			tamper(t, reply, replyCheck(req))
			// The reply's code is covered: a forged Accept from a Reject does not verify.
			if reply[0] == byte(radius.CodeAccessReject) {
				p := bytes.Clone(reply)
				p[0] = byte(radius.CodeAccessAccept)
				if err := VerifyResponse(p, reqAuth, []byte(testSecret)); !errors.Is(err, ErrBadMessageAuthenticator) {
					t.Fatalf("Reject turned Accept: err = %v", err)
				}
			}
		})
	}
}

func TestFindMessageAuthenticator(t *testing.T) {
	hdr := func(attrs string) []byte {
		b := unhex(t, "0101"+"0000"+"000102030405060708090a0b0c0d0e0f"+attrs)
		b[2], b[3] = byte(len(b)>>8), byte(len(b))
		return b
	}
	ma := "5012" + strings.Repeat("00", 16)
	cases := []struct {
		name    string
		pkt     []byte
		off     int
		wantErr bool
	}{
		{"none", hdr("0107616c696365"), -1, false},
		{"first", hdr(ma + "0107616c696365"), 22, false},
		{"last", hdr("0107616c696365" + ma), 29, false},
		{"two", hdr(ma + ma), 0, true},
		{"short MA", hdr("5011" + strings.Repeat("00", 15)), 0, true},
		{"zero-length attribute", hdr("0100"), 0, true},
		{"attribute past the end", hdr("0109616c696365"), 0, true},
		{"dangling byte", hdr("01"), 0, true},
		{"short packet", unhex(t, "0101"), 0, true},
		{"length beyond the packet", func() []byte { b := hdr(ma); b[3]++; return b }(), 0, true},
		{"length below the header", func() []byte { b := hdr(""); b[3] = 19; return b }(), 0, true},
		{"padding after length is ignored", append(hdr("0107616c696365"), 0x50, 0x12), -1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			off, err := findMessageAuthenticator(c.pkt)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if off != c.off {
				t.Fatalf("offset %d, want %d", off, c.off)
			}
		})
	}
	if err := SignRequest(hdr("0107616c696365"), []byte(testSecret)); !errors.Is(err, ErrNoMessageAuthenticator) {
		t.Fatalf("SignRequest without the attribute: %v", err)
	}
}

// FuzzVerifyResponse: arbitrary bytes never panic the parser or the check, and only a packet
// that is re-signed verifies.
func FuzzVerifyResponse(f *testing.F) {
	f.Add(unhex(f, refReply))
	f.Add(unhex(f, refRequest))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		err := VerifyResponse(pkt, refAuth, []byte(testSecret))
		if err == nil && !bytes.Equal(pkt, unhex(t, refReply)) {
			// Only possible with a real HMAC collision, or a packet that merely differs after
			// its length field.
			off, _ := findMessageAuthenticator(pkt)
			p := bytes.Clone(pkt)
			if SignResponse(p, refAuth, []byte(testSecret)) != nil || !bytes.Equal(p[off:off+16], pkt[off:off+16]) {
				t.Fatalf("%x verifies but is not signed", pkt)
			}
		}
	})
}
