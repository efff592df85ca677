package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// Sentinel errors of the connection layer. Both are faults, never "wrong password".
var (
	// ErrUnavailable: no configured host could be reached (or it stopped answering).
	ErrUnavailable = errors.New("ldap server unavailable")
	// ErrSearchBind: the server refused the search identity (search_user_dn / user_dn and its
	// password), so nobody can be looked up: a configuration fault.
	ErrSearchBind = errors.New("ldap bind with the search credentials refused")
	// ErrPoolClosed: the pool was closed.
	ErrPoolClosed = errors.New("ldap connection pool closed")
)

// Defaults of the connection layer.
const (
	// DefaultTimeout bounds each connection attempt and each request.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxConns is the pool size: connections open at once (checked out or idle).
	DefaultMaxConns = 8
	// maxIdleTime closes pooled connections idle this long: servers and firewalls drop idle
	// connections silently (Active Directory after 15 minutes), and a connection found dead
	// costs a retry.
	maxIdleTime = 5 * time.Minute
)

// DialFunc opens the TCP connection to addr ("host:port"); TLS is layered on top by the pool.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// ConnConfig says how to reach a directory and as whom to search it.
type ConnConfig struct {
	// Name labels the pool in logs and errors (the module's or source's name).
	Name string
	// URLs are ldap:// or ldaps:// URLs, tried in this order for every new connection.
	URLs []string
	// DefaultPort is used for URLs without a port; 0 takes 389 (ldap://) or 636 (ldaps://).
	DefaultPort int
	// StartTLS upgrades ldap:// connections with the StartTLS extended operation.
	StartTLS bool
	// CAFile is a PEM file of CA certificates for ldaps:// and StartTLS; empty: the system's.
	CAFile string
	// InsecureSkipVerify skips certificate verification (tests only).
	InsecureSkipVerify bool
	// BindDN and BindPassword are the search identity; an empty BindDN searches anonymously.
	BindDN, BindPassword string
	// Timeout bounds each request; 0 takes DefaultTimeout.
	Timeout time.Duration
	// DialTimeout bounds connecting (TCP, TLS handshake, StartTLS, the search bind); 0 takes
	// Timeout.
	DialTimeout time.Duration
	// MaxConns bounds the connections open at once; 0 takes DefaultMaxConns.
	MaxConns int
	// Dial opens TCP connections; nil uses a net.Dialer. Tests wrap it to count connections
	// and binds.
	Dial DialFunc
	// Log receives connection-level messages; nil discards them.
	Log *slog.Logger
}

// Option changes a ConnConfig built from the configuration (for tests and tuning).
type Option func(*ConnConfig)

// WithDial makes the pool open its TCP connections with dial.
func WithDial(dial DialFunc) Option { return func(c *ConnConfig) { c.Dial = dial } }

// WithMaxConns sets the pool size.
func WithMaxConns(n int) Option { return func(c *ConnConfig) { c.MaxConns = n } }

// Pool is a small pool of connections bound as the search identity. A connection is used by
// one caller at a time; one that failed at the network level, timed out, or was found closed
// by the server (restarted) is discarded, and the next checkout dials a fresh one. It is safe
// for concurrent use.
type Pool struct {
	cfg     ConnConfig
	tls     *tls.Config
	log     *slog.Logger
	slots   chan struct{} // one token per open connection
	mu      sync.Mutex
	idle    []*pooled
	closed  bool
	dials   atomic.Int64
	targets []target
}

type target struct {
	url     string
	addr    string // host:port
	host    string
	ldaps   bool
	display string
}

type pooled struct {
	c        *goldap.Conn
	raw      net.Conn // the TCP connection under any TLS: deadlines are set here
	url      string
	lastUsed time.Time
}

// NewPool checks cfg (URLs, CA file) and returns an empty pool; nothing is dialled yet.
func NewPool(cfg ConnConfig) (*Pool, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("ldap: no host configured")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = cfg.Timeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
		cfg.Dial = d.DialContext
	}
	p := &Pool{cfg: cfg, log: cfg.Log, slots: make(chan struct{}, cfg.MaxConns)}
	for _, raw := range cfg.URLs {
		t, err := parseTarget(raw, cfg.DefaultPort)
		if err != nil {
			return nil, err
		}
		if t.ldaps && cfg.StartTLS {
			return nil, fmt.Errorf("ldap host %s: start_tls is for ldap:// URLs; ldaps:// is TLS already", t.display)
		}
		p.targets = append(p.targets, t)
	}
	if cfg.StartTLS || p.anyLDAPS() {
		p.tls = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in, tests only
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ldap ca_file: %w", err)
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ldap ca_file %s: no PEM certificate found", cfg.CAFile)
			}
			p.tls.RootCAs = roots
		}
	}
	return p, nil
}

func (p *Pool) anyLDAPS() bool {
	for _, t := range p.targets {
		if t.ldaps {
			return true
		}
	}
	return false
}

func parseTarget(raw string, defPort int) (target, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return target{}, fmt.Errorf("ldap host %q: %w", raw, err)
	}
	t := target{url: raw, host: u.Hostname()}
	switch strings.ToLower(u.Scheme) {
	case "ldap":
	case "ldaps":
		t.ldaps = true
	default:
		return target{}, fmt.Errorf("ldap host %q: want an ldap:// or ldaps:// URL", raw)
	}
	if t.host == "" {
		return target{}, fmt.Errorf("ldap host %q: no host name", raw)
	}
	port := u.Port()
	if port == "" {
		switch {
		case defPort > 0:
			port = strconv.Itoa(defPort)
		case t.ldaps:
			port = goldap.DefaultLdapsPort
		default:
			port = goldap.DefaultLdapPort
		}
	}
	t.addr = net.JoinHostPort(t.host, port)
	t.display = strings.ToLower(u.Scheme) + "://" + t.addr
	return t, nil
}

// Timeout is the per-request bound.
func (p *Pool) Timeout() time.Duration { return p.cfg.Timeout }

// Dials reports how many connections the pool has opened so far (tests, metrics).
func (p *Pool) Dials() int64 { return p.dials.Load() }

// Close closes the idle connections; connections checked out are closed when returned.
func (p *Pool) Close() error {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, pc := range idle {
		_ = pc.c.Close()
	}
	return nil
}

// Do runs fn on a pooled connection bound as the search identity. fn must leave the
// connection bound as the search identity (Conn.CheckPassword does). A connection taken from
// the pool that turns out dead on its first request (the server restarted, an idle timeout)
// is discarded and fn runs once more on a freshly dialled one.
func (p *Pool) Do(ctx context.Context, fn func(*Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := p.get(ctx, attempt > 0)
		if err != nil {
			return err
		}
		err = fn(c)
		p.put(c)
		if err != nil && c.staleAtFirstUse && attempt == 0 {
			p.log.Info("ldap: pooled connection was dead, retrying on a new one", "pool", p.cfg.Name, "url", c.pc.url, "err", err)
			continue
		}
		return err
	}
}

// Ping checks the directory answers: a base search of the root DSE.
func (p *Pool) Ping(ctx context.Context) error {
	return p.Do(ctx, func(c *Conn) error {
		_, err := c.Search(ctx, goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		return err
	})
}

// get checks a connection out: an idle one (newest first) unless fresh, else a new one.
func (p *Pool) get(ctx context.Context, fresh bool) (*Conn, error) {
	wait := time.NewTimer(p.cfg.Timeout)
	defer wait.Stop()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("ldap %s: waiting for a connection: %w", p.cfg.Name, ctx.Err())
	case <-wait.C:
		return nil, fmt.Errorf("ldap %s: all %d connections busy for %s: %w", p.cfg.Name, p.cfg.MaxConns, p.cfg.Timeout, ErrUnavailable)
	}
	if !fresh {
		for {
			pc := p.popIdle()
			if pc == nil {
				break
			}
			if pc.c.IsClosing() || time.Since(pc.lastUsed) > maxIdleTime {
				_ = pc.c.Close()
				continue
			}
			return &Conn{p: p, pc: pc, reused: true}, nil
		}
	}
	pc, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return &Conn{p: p, pc: pc}, nil
}

func (p *Pool) popIdle() *pooled {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	pc := p.idle[n-1]
	p.idle = p.idle[:n-1]
	return pc
}

// put returns c to the pool, or closes it when it is no longer trustworthy.
func (p *Pool) put(c *Conn) {
	defer func() { <-p.slots }()
	p.mu.Lock()
	if c.bad || p.closed || c.pc.c.IsClosing() {
		p.mu.Unlock()
		_ = c.pc.c.Close()
		return
	}
	c.pc.lastUsed = time.Now()
	p.idle = append(p.idle, c.pc)
	p.mu.Unlock()
}

// dial opens a connection to the first host that answers, in the configured order, and binds
// it as the search identity.
func (p *Pool) dial(ctx context.Context) (*pooled, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrPoolClosed
	}
	var errs []error
	for _, t := range p.targets {
		pc, err := p.dialTarget(ctx, t)
		if err == nil {
			p.dials.Add(1)
			return pc, nil
		}
		if errors.Is(err, ErrSearchBind) {
			// The next host holds the same directory: the same credentials fail there too.
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ldap connect: %w", ctx.Err())
		}
		p.log.Warn("ldap: host unreachable, trying the next", "pool", p.cfg.Name, "url", t.display, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", t.display, err))
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

func (p *Pool) dialTarget(ctx context.Context, t target) (_ *pooled, err error) {
	dctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	raw, err := p.cfg.Dial(dctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = raw.Close()
		}
	}()
	// Everything up to the search bind must finish within the dial timeout.
	deadline, _ := dctx.Deadline()
	_ = raw.SetDeadline(deadline)
	nc := raw
	if t.ldaps {
		tc := tls.Client(raw, p.tlsFor(t))
		if err := tc.HandshakeContext(dctx); err != nil {
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	c := goldap.NewConn(nc, t.ldaps)
	c.Start()
	c.SetTimeout(p.cfg.DialTimeout)
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	if p.cfg.StartTLS {
		if err := c.StartTLS(p.tlsFor(t)); err != nil {
			return nil, fmt.Errorf("starttls: %w", err)
		}
	}
	if p.cfg.BindDN != "" {
		if err := c.Bind(p.cfg.BindDN, p.cfg.BindPassword); err != nil {
			if isConnErr(err, c) {
				return nil, fmt.Errorf("bind as %s: %w", p.cfg.BindDN, err)
			}
			return nil, fmt.Errorf("%s: bind as %s: %w: %w", t.display, p.cfg.BindDN, ErrSearchBind, err)
		}
	}
	_ = raw.SetDeadline(time.Time{})
	return &pooled{c: c, raw: raw, url: t.display, lastUsed: time.Now()}, nil
}

func (p *Pool) tlsFor(t target) *tls.Config {
	c := p.tls.Clone()
	c.ServerName = t.host
	return c
}

// isConnErr reports whether err means the connection is unusable (network, timeout, closed),
// as opposed to an LDAP result such as invalidCredentials.
func isConnErr(err error, c *goldap.Conn) bool {
	if err == nil {
		return false
	}
	if c != nil && c.IsClosing() {
		return true
	}
	var le *goldap.Error
	if errors.As(err, &le) {
		return le.ResultCode == goldap.ErrorNetwork || le.ResultCode == goldap.LDAPResultServerDown ||
			le.ResultCode == goldap.LDAPResultUnavailable || le.ResultCode == goldap.LDAPResultBusy ||
			le.ResultCode == goldap.ErrorUnexpectedResponse
	}
	return true // not an LDAP result at all: I/O
}

// Conn is a pooled connection checked out by Pool.Do.
type Conn struct {
	p      *Pool
	pc     *pooled
	reused bool
	ops    int
	// bad: discard instead of returning to the pool.
	bad bool
	// staleAtFirstUse: a reused connection failed its first request at the network level.
	staleAtFirstUse bool
}

// URL is the server the connection goes to.
func (c *Conn) URL() string { return c.pc.url }

// run bounds one request by the pool's timeout and ctx: the request timeout of go-ldap, and a
// past deadline on the socket when ctx ends, which fails the request at once.
func (c *Conn) run(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := c.p.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		if r := time.Until(dl); r < d {
			d = r
		}
	}
	if d <= 0 {
		return context.DeadlineExceeded
	}
	c.pc.c.SetTimeout(d)
	stop := context.AfterFunc(ctx, func() { _ = c.pc.raw.SetDeadline(time.Unix(1, 0)) })
	err := f()
	if !stop() {
		// ctx ended during the request: the socket's deadline is in the past, so the
		// connection is dead whatever the request returned.
		c.bad = true
		if err == nil {
			err = ctx.Err()
		} else {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
	if err != nil && isConnErr(err, c.pc.c) {
		c.bad = true
		if c.reused && c.ops == 0 && ctx.Err() == nil {
			c.staleAtFirstUse = true
		}
		err = fmt.Errorf("%s: %w: %w", c.pc.url, ErrUnavailable, err)
	}
	c.ops++
	return err
}

// Search runs req. A size-limit-exceeded result returns the entries received with the error;
// callers that set a size limit treat it as success.
func (c *Conn) Search(ctx context.Context, req *goldap.SearchRequest) (*goldap.SearchResult, error) {
	if req.TimeLimit == 0 {
		req.TimeLimit = int(max(c.p.cfg.Timeout/time.Second, 1))
	}
	var res *goldap.SearchResult
	err := c.run(ctx, func() error {
		var err error
		res, err = c.pc.c.Search(req)
		return err
	})
	return res, err
}

// CheckPassword binds as dn with password and reports whether the server accepted it; the
// connection is then bound as the search identity again before it goes back to the pool, and
// discarded if that fails, so a user's bind never leaks into later searches. An empty password
// is refused here too (an empty simple bind is an unauthenticated bind, RFC 4513 §5.1.2),
// without a request.
func (c *Conn) CheckPassword(ctx context.Context, dn, password string) (bool, error) {
	if dn == "" || password == "" {
		return false, nil
	}
	var bindErr error
	err := c.run(ctx, func() error {
		bindErr = c.pc.c.Bind(dn, password)
		if isConnErr(bindErr, c.pc.c) {
			return bindErr
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	// Back to the search identity, whatever the user's bind did: after a failed bind the
	// connection is anonymous (RFC 4511 §4.2.1), after a good one it is the user.
	rebind := c.run(ctx, func() error {
		if c.p.cfg.BindDN == "" {
			return c.pc.c.UnauthenticatedBind("")
		}
		return c.pc.c.Bind(c.p.cfg.BindDN, c.p.cfg.BindPassword)
	})
	if rebind != nil {
		c.bad = true
		c.p.log.Warn("ldap: re-bind as the search identity failed; connection discarded", "pool", c.p.cfg.Name, "url", c.pc.url, "err", rebind)
	}
	if bindErr != nil {
		var le *goldap.Error
		if errors.As(bindErr, &le) && le.ResultCode != goldap.LDAPResultInvalidCredentials {
			// Locked, expired, unwilling to perform: still no login, but worth a note.
			c.p.log.Info("ldap: user bind refused", "pool", c.p.cfg.Name, "dn", dn, "result", goldap.LDAPResultCodeMap[le.ResultCode])
		}
		return false, nil
	}
	return true, nil
}
