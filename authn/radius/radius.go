// Package radius is the Radius authentication module (Kernel::System::CustomerAuth::Radius): one
// PAP Access-Request per login, only an Access-Accept authenticates.
//
// It differs from OTRS's Radius.pm on purpose in three ways: several hosts are tried in order
// (failover), a request may be resent (retries), and every request carries a
// Message-Authenticator while replies must carry a valid one unless
// require_message_authenticator is false (BlastRADIUS, CVE-2024-3596).
package radius

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// Defaults (Radius.pm: the radius service port and a fixed 5 s timeout).
const (
	DefaultPort    = "1812"
	DefaultTimeout = 5 * time.Second
)

// Sentinel errors.
var (
	// ErrNoAnswer: a server sent no (acceptable) reply in time; a wrong shared secret looks like
	// this too, since the server drops the request.
	ErrNoAnswer = errors.New("radius: no answer")
	// ErrUnexpectedCode: an authentic reply that is neither Accept, Reject nor Challenge.
	ErrUnexpectedCode = errors.New("radius: unexpected reply code")
	// ErrAllServersFailed: no host of the module gave an answer; it wraps each host's fault.
	ErrAllServersFailed = errors.New("radius: no server answered")
)

// RFC 2865 §5.1/§5.2 limits: longer values cannot be sent, so no server can accept them.
const (
	maxUserName = 253
	maxPassword = 128
)

// Module is the Radius auth module.
type Module struct {
	name      string
	hosts     []string
	secret    []byte
	timeout   time.Duration
	retries   int
	nasID     string
	requireMA bool
	log       *slog.Logger
}

// New builds the module. Hosts and the shared secret are required (Radius.pm dies without
// them); a host without a port gets 1812.
func New(cfg configs.AuthModule, log *slog.Logger) (*Module, error) {
	name := cfg.Name
	if name == "" {
		name = "radius"
	}
	if len(cfg.Host) == 0 {
		return nil, fmt.Errorf("auth module %s: no host", name)
	}
	if cfg.Password == "" {
		return nil, fmt.Errorf("auth module %s: no shared secret (password)", name)
	}
	if cfg.Retries < 0 {
		return nil, fmt.Errorf("auth module %s: retries %d is negative", name, cfg.Retries)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("auth module %s: timeout %s is negative", name, cfg.Timeout)
	}
	if len(cfg.NASIdentifier) > maxUserName {
		return nil, fmt.Errorf("auth module %s: nas_identifier longer than %d bytes", name, maxUserName)
	}
	hosts := make([]string, 0, len(cfg.Host))
	for _, h := range cfg.Host {
		addr, err := hostPort(h)
		if err != nil {
			return nil, fmt.Errorf("auth module %s: host %q: %w", name, h, err)
		}
		hosts = append(hosts, addr)
	}
	m := &Module{
		name:      name,
		hosts:     hosts,
		secret:    []byte(cfg.Password),
		timeout:   cfg.Timeout,
		retries:   cfg.Retries,
		nasID:     cfg.NASIdentifier,
		requireMA: cfg.RequireMessageAuthenticator == nil || *cfg.RequireMessageAuthenticator,
		log:       log,
	}
	if m.timeout == 0 {
		m.timeout = DefaultTimeout
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("module", name)
	return m, nil
}

// hostPort adds the default port to a host without one (IPv6 literals with or without
// brackets).
func hostPort(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty")
	}
	if host, port, err := net.SplitHostPort(h); err == nil {
		if host == "" || port == "" {
			return "", errors.New("want host[:port]")
		}
		return h, nil
	}
	if len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return net.JoinHostPort(h, DefaultPort), nil
}

// Name implements authn.Module.
func (m *Module) Name() string { return m.name }

// Hosts returns the servers in the order they are tried, each with its port.
func (m *Module) Hosts() []string { return append([]string(nil), m.hosts...) }

// Authenticate implements authn.Module. An empty login or password is Rejected without a
// packet (Radius.pm; an empty PAP password must never reach a server). The hosts are tried
// in order until one answers; only an Access-Accept authenticates, and the typed login is
// returned. When no host answers the error wraps ErrAllServersFailed, so the chain tries the
// next module (or answers 503 with die).
func (m *Module) Authenticate(ctx context.Context, c authn.Credentials) (authn.Result, error) {
	if c.Login == "" || c.Password == "" {
		return authn.Result{Outcome: authn.Rejected}, nil
	}
	if len(c.Login) > maxUserName || len(c.Password) > maxPassword {
		// Cannot be encoded (RFC 2865); no server could accept it, so it is a plain reject
		// rather than a fault that die would turn into a 503 for anyone.
		m.log.Info("login or password too long for RADIUS: rejected without a request")
		return authn.Result{Outcome: authn.Rejected}, nil
	}
	var errs []error
	for i, addr := range m.hosts {
		code, err := m.exchange(ctx, addr, c.Login, c.Password)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return authn.Result{}, fmt.Errorf("%s: %s: %w", m.name, addr, ctxErr)
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			if i+1 < len(m.hosts) {
				m.log.Warn("RADIUS server failed; trying the next host", "host", addr, "err", err)
			}
			continue
		}
		switch code {
		case radius.CodeAccessAccept:
			return authn.Result{Outcome: authn.Authenticated, Login: c.Login}, nil
		case radius.CodeAccessReject, radius.CodeAccessChallenge:
			// A challenge (a second factor, a new PIN) cannot be answered from a login form:
			// not authenticated, as in Radius.pm.
			m.log.Debug("RADIUS did not accept the login", "host", addr, "code", code.String())
			return authn.Result{Outcome: authn.Rejected}, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w %s", addr, ErrUnexpectedCode, code))
	}
	return authn.Result{}, fmt.Errorf("%s: %w: %w", m.name, ErrAllServersFailed, errors.Join(errs...))
}

// exchange sends one Access-Request to addr (again on each retry: same identifier and
// authenticator, so the server's duplicate cache answers it) and returns the code of the
// first authentic reply. Replies from elsewhere, with another identifier or a wrong Response
// Authenticator are dropped and the wait goes on; an authentic reply without a valid
// Message-Authenticator (when required) ends the exchange as a fault.
func (m *Module) exchange(ctx context.Context, addr, login, password string) (radius.Code, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	// A cancelled context must end a blocked Read at once, not at the next deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	wire, reqAuth, err := m.request(conn.LocalAddr(), login, password)
	if err != nil {
		return 0, err
	}
	var buf [radius.MaxPacketLength]byte
	for attempt := 0; attempt <= m.retries; attempt++ {
		if _, err := conn.Write(wire); err != nil {
			return 0, fmt.Errorf("send: %w", err)
		}
		deadline := time.Now().Add(m.timeout)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		if err := conn.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
		if ctx.Err() != nil { // AfterFunc may have run before the deadline above replaced its own
			return 0, ctx.Err()
		}
		for {
			n, err := conn.Read(buf[:])
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend, or give up on this host
				}
				// ICMP port unreachable (ECONNREFUSED) and the like: this host is down.
				return 0, fmt.Errorf("receive: %w", err)
			}
			resp, why := m.checkReply(buf[:n], wire)
			if why != "" {
				m.log.Debug("RADIUS reply dropped", "host", addr, "reason", why)
				continue
			}
			if err := VerifyResponse(resp, reqAuth, m.secret); err != nil {
				// Without a Message-Authenticator the Response Authenticator is the only proof,
				// and BlastRADIUS forges exactly that: the reply is not believed. A present but
				// wrong one is never believed.
				if m.requireMA || !errors.Is(err, ErrNoMessageAuthenticator) {
					return 0, fmt.Errorf("reply %s dropped: %w", radius.Code(resp[0]), err)
				}
			}
			return radius.Code(resp[0]), nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
	return 0, fmt.Errorf("%w after %d tries of %s", ErrNoAnswer, m.retries+1, m.timeout)
}

// request encodes the Access-Request: Message-Authenticator first (the BlastRADIUS advice, so
// no attribute can be slipped in front of it), User-Name, User-Password (PAP, encrypted with
// the secret and the random Request Authenticator), then NAS-Identifier when configured or
// else the local address as NAS-IP-Address (NAS-IPv6-Address over IPv6).
func (m *Module) request(local net.Addr, login, password string) ([]byte, [16]byte, error) {
	p := radius.New(radius.CodeAccessRequest, m.secret)
	var zero [maLen]byte
	if err := rfc2869.MessageAuthenticator_Set(p, zero[:]); err != nil {
		return nil, p.Authenticator, fmt.Errorf("Message-Authenticator: %w", err)
	}
	if err := rfc2865.UserName_SetString(p, login); err != nil {
		return nil, p.Authenticator, fmt.Errorf("User-Name: %w", err)
	}
	if err := rfc2865.UserPassword_SetString(p, password); err != nil {
		return nil, p.Authenticator, errors.New("User-Password: cannot be encoded") // never the value
	}
	var err error
	if m.nasID != "" {
		err = rfc2865.NASIdentifier_SetString(p, m.nasID)
	} else {
		ip := net.IPv4(127, 0, 0, 1) // Radius.pm's fallback
		if ua, ok := local.(*net.UDPAddr); ok && ua.IP != nil && !ua.IP.IsUnspecified() {
			ip = ua.IP
		}
		if ip4 := ip.To4(); ip4 != nil {
			err = rfc2865.NASIPAddress_Set(p, ip4)
		} else {
			err = rfc3162.NASIPv6Address_Set(p, ip)
		}
	}
	if err != nil {
		return nil, p.Authenticator, fmt.Errorf("NAS attribute: %w", err)
	}
	wire, err := p.Encode()
	if err != nil {
		return nil, p.Authenticator, fmt.Errorf("encode Access-Request: %w", err)
	}
	if err := SignRequest(wire, m.secret); err != nil {
		return nil, p.Authenticator, fmt.Errorf("sign Access-Request: %w", err)
	}
	return wire, p.Authenticator, nil
}

// checkReply says why a datagram is not a reply to req ("" when it is): framing, identifier,
// Response Authenticator (RFC 2865 §3, checked with layeh's IsAuthenticResponse). It returns
// the packet cut to its length field (RFC 2865: octets beyond it are padding).
func (m *Module) checkReply(b, req []byte) ([]byte, string) {
	if len(b) < headerLen {
		return nil, "short packet"
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < headerLen || n > len(b) {
		return nil, "bad length"
	}
	resp := b[:n]
	if resp[1] != req[1] {
		return nil, "other identifier"
	}
	if !radius.IsAuthenticResponse(resp, req, m.secret) {
		return nil, "wrong Response Authenticator (shared secret?)"
	}
	if _, err := radius.ParseAttributes(resp[headerLen:]); err != nil {
		return nil, "malformed attributes"
	}
	return resp, ""
}
