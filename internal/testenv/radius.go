package testenv

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// Environment variables for the FreeRADIUS instances of scripts/test-services.sh.
const (
	EnvRadiusAddr     = "GATEHOUSE_TEST_RADIUS_ADDR"
	EnvRadiusNoMAAddr = "GATEHOUSE_TEST_RADIUS_NOMA_ADDR"
	EnvRadiusSecret   = "GATEHOUSE_TEST_RADIUS_SECRET"
)

const (
	defaultRadiusAddr     = "127.0.0.1:21812"
	defaultRadiusNoMAAddr = "127.0.0.1:21822"
	defaultRadiusSecret   = "testing123"
)

// RadiusEnv are the two FreeRADIUS 3.2 servers the tests use (scripts/start-radius.sh users:
// alice/alicepass, bob/bobpass, josé/josepass; mallory is always rejected).
type RadiusEnv struct {
	// Addr requires a Message-Authenticator in requests and sends one in every reply
	// (REQUIRE_MA=yes SEND_MA=yes, as FreeRADIUS 3.2.5+ does).
	Addr string
	// NoMAAddr is Debian 12's plain 3.2.1: no Message-Authenticator in replies, none required.
	NoMAAddr string
	// Secret is the shared secret of both.
	Secret string
}

var (
	radiusOnce sync.Once
	radiusEnv  RadiusEnv
	radiusErr  error
)

// Radius returns the FreeRADIUS servers after proving each answers a real Access-Request for
// alice as configured (Access-Accept, with or without a reply Message-Authenticator). The
// probe runs once per test binary.
func Radius(t testing.TB) RadiusEnv {
	t.Helper()
	radiusOnce.Do(func() {
		radiusEnv = RadiusEnv{
			Addr:     env(EnvRadiusAddr, defaultRadiusAddr),
			NoMAAddr: env(EnvRadiusNoMAAddr, defaultRadiusNoMAAddr),
			Secret:   env(EnvRadiusSecret, defaultRadiusSecret),
		}
		if err := probeRadius(radiusEnv.Addr, radiusEnv.Secret, true); err != nil {
			radiusErr = fmt.Errorf("%s (%s): %w", radiusEnv.Addr, EnvRadiusAddr, err)
			return
		}
		if err := probeRadius(radiusEnv.NoMAAddr, radiusEnv.Secret, false); err != nil {
			radiusErr = fmt.Errorf("%s (%s): %w", radiusEnv.NoMAAddr, EnvRadiusNoMAAddr, err)
		}
	})
	if radiusErr != nil {
		missing(t, "FreeRADIUS", radiusErr)
	}
	return radiusEnv
}

// probeRadius sends alice/alicepass with a Message-Authenticator (computed here on its own,
// independently of authn/radius) and wants an Access-Accept whose reply Message-Authenticator
// is present and valid (wantMA) or absent (!wantMA), so a swapped or misconfigured instance
// is caught here rather than as a puzzling test failure.
func probeRadius(addr, secret string, wantMA bool) error {
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	_ = rfc2869.MessageAuthenticator_Set(p, make([]byte, 16))
	_ = rfc2865.UserName_SetString(p, "alice")
	_ = rfc2865.UserPassword_SetString(p, "alicepass")
	_ = rfc2865.NASIdentifier_SetString(p, "gatehouse-testenv")
	b, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	h := hmac.New(md5.New, []byte(secret))
	h.Write(b)
	_ = rfc2869.MessageAuthenticator_Set(p, h.Sum(nil))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c := radius.Client{Retry: time.Second}
	resp, err := c.Exchange(ctx, p, addr)
	if err != nil {
		return fmt.Errorf("Access-Request for alice: %w", err)
	}
	if resp.Code != radius.CodeAccessAccept {
		return fmt.Errorf("alice got %v, want Access-Accept (users file?)", resp.Code)
	}
	ma := rfc2869.MessageAuthenticator_Get(resp)
	switch {
	case !wantMA && ma != nil:
		return errors.New("reply carries a Message-Authenticator; this instance must not send one (SEND_MA=no)")
	case wantMA && ma == nil:
		return errors.New("reply without Message-Authenticator; this instance must send one (SEND_MA=yes)")
	case wantMA:
		q := *resp
		q.Attributes = append(radius.Attributes(nil), resp.Attributes...)
		q.Authenticator = p.Authenticator
		_ = rfc2869.MessageAuthenticator_Set(&q, make([]byte, 16))
		b, err := q.MarshalBinary()
		if err != nil {
			return err
		}
		h := hmac.New(md5.New, []byte(secret))
		h.Write(b)
		if !hmac.Equal(h.Sum(nil), ma) {
			return errors.New("reply Message-Authenticator does not verify")
		}
	}
	return nil
}

// DeadUDPAddr returns a loopback UDP address with nothing listening on it (a RADIUS server
// that is down: the kernel answers with ICMP port unreachable).
func DeadUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	_ = c.Close()
	return addr
}

// SilentUDP is a bound loopback UDP socket that reads and counts datagrams but never answers
// (a server that swallows requests, or a black hole on the path).
type SilentUDP struct {
	conn net.PacketConn
	mu   sync.Mutex
	pkts [][]byte
}

// StartSilentUDP starts a SilentUDP, closed at the end of the test.
func StartSilentUDP(t testing.TB) *SilentUDP {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SilentUDP{conn: c}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.pkts = append(s.pkts, append([]byte(nil), buf[:n]...))
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = c.Close(); <-done })
	return s
}

// Addr is the socket's address.
func (s *SilentUDP) Addr() string { return s.conn.LocalAddr().String() }

// Packets returns copies of the datagrams received so far.
func (s *SilentUDP) Packets() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.pkts...)
}
