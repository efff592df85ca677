// Package assertion signs the identity assertion handed upstream with each request: a compact
// JWS (a JWT) of the claim set, and publishes the public keys as a JSON Web Key Set for
// /.gatehouse/jwks.json.
//
// # Tokens
//
// A token's header is {alg, kid, typ: "JWT"}; its claims are iss (the public URL), aud, sub
// (the login), iat, exp (iat + ttl), jti and the claim set: email, name, customer_id,
// customer_ids, groups ({"billing": ["ro"]}), source, auth_module and the Map attributes under
// attrs. Empty values are left out.
//
// Tokens are cached per session and audience and reused while more than half of their
// lifetime remains, so a request does not cost a signature. A reused token keeps its jti:
// jti identifies a token, not a request, and an upstream must not treat a repeated jti as a
// replay within the token's lifetime. A cached token is only reused for the same claims and
// the current key; after a rotation every session gets a new token.
//
// # Keys
//
// The key comes from key_file (PEM: EC P-256 for ES256, RSA of at least 2048 bits for RS256,
// Ed25519 for EdDSA) or is generated and persisted in key_dir, one 0600 PKCS #8 file per key
// named <kid>.pem, and loaded again at the next start, so tokens stay verifiable across
// restarts. The kid is the key's RFC 7638 JWK thumbprint (SHA-256, base64url).
//
// Rotate makes a new key current. The previous key stays published in the JWKS until every
// token it signed has expired (ttl after the rotation); then it is dropped and its file
// removed. With rotate_after the Signer rotates by itself, checked lazily when it signs or
// renders the JWKS (no goroutine). A key_file key never rotates; changing the algorithm of
// generated keys rotates at the next start.
//
// Several gatehouse processes behind a load balancer each serve their own JWKS; give them
// one key_file so that every node's JWKS verifies every node's tokens.
package assertion

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
)

// Errors of New, Sign and Rotate; match them with errors.Is.
var (
	// ErrAlgorithm is an algorithm other than ES256, RS256 and EdDSA.
	ErrAlgorithm = errors.New("assertion: unknown algorithm")
	// ErrKeyFile is a key file that cannot be read or holds no usable private key.
	ErrKeyFile = errors.New("assertion: bad key file")
	// ErrKeyType is a key of another kind than the algorithm (or of no supported kind).
	ErrKeyType = errors.New("assertion: key does not fit the algorithm")
	// ErrWeakKey is an RSA key shorter than MinRSABits.
	ErrWeakKey = errors.New("assertion: key too short")
	// ErrKeyDir is a key directory that cannot be read or written.
	ErrKeyDir = errors.New("assertion: key directory")
	// ErrFixedKey is returned by Rotate for a key_file key.
	ErrFixedKey = errors.New("assertion: a key_file key is not rotated")
	// ErrNoIssuer is an empty issuer.
	ErrNoIssuer = errors.New("assertion: issuer (the public URL) is required")
	// ErrNoLogin is a claim set without a login (sub).
	ErrNoLogin = errors.New("assertion: claim set without login")
	// ErrNoAudience is a Sign call without an audience when none is configured.
	ErrNoAudience = errors.New("assertion: no audience")
)

// DefaultTTL is the token lifetime when the config sets none.
const DefaultTTL = 60 * time.Second

// rotateRetry is how long the Signer waits before trying again after an automatic
// rotation failed (the current key keeps signing meanwhile).
const rotateRetry = time.Minute

// Signer signs assertions and serves the public keys. It is safe for concurrent use.
type Signer struct {
	alg         string
	issuer      string
	audience    string
	ttl         time.Duration
	rotateAfter time.Duration
	dir         string // empty with key_file
	log         *slog.Logger
	now         func() time.Time

	mu sync.Mutex // serialises rotation and pruning
	// retryRotation delays the next automatic rotation after a failed one; s.mu.
	retryRotation time.Time
	ring          atomic.Pointer[ring] // read without the lock
	cache         *tokenCache
}

// ring is an immutable snapshot of the keys.
type ring struct {
	cur  *key
	prev []*key // retired, still published, oldest first
	jwks []byte
	// due is when the ring next needs work (a rotation or a key to drop); zero: never.
	due time.Time
}

// New returns a Signer for cfg. issuer is the public URL (the iss claim). log may be nil.
func New(cfg configs.Assertion, issuer string, log *slog.Logger) (*Signer, error) {
	return newSigner(cfg, issuer, log, time.Now)
}

func newSigner(cfg configs.Assertion, issuer string, log *slog.Logger, now func() time.Time) (*Signer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Signer{
		alg:         cfg.Algorithm,
		issuer:      issuer,
		audience:    cfg.Audience,
		ttl:         cfg.TTL,
		rotateAfter: cfg.RotateAfter,
		log:         log.With("component", "assertion"),
		now:         now,
		cache:       newTokenCache(cacheShardSize),
	}
	if s.alg == "" {
		s.alg = configs.DefaultAssertionAlgorithm
	}
	switch s.alg {
	case ES256, RS256, EdDSA:
	default:
		return nil, fmt.Errorf("%w %q (want %s, %s or %s)", ErrAlgorithm, s.alg, ES256, RS256, EdDSA)
	}
	if issuer == "" {
		return nil, ErrNoIssuer
	}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.rotateAfter < 0 {
		s.rotateAfter = 0
	}
	t := now()
	if cfg.KeyFile != "" {
		if mode, loose := looseMode(cfg.KeyFile); loose {
			s.log.Warn("signing key file is readable by others than its owner", "file", cfg.KeyFile, "mode", mode.String())
		}
		k, err := loadKeyFile(cfg.KeyFile, s.alg, t)
		if err != nil {
			return nil, err
		}
		s.rotateAfter = 0
		if err := s.store(&ring{cur: k}); err != nil {
			return nil, err
		}
		s.log.Info("assertion signing key loaded", "file", cfg.KeyFile, "alg", k.alg, "kid", k.kid)
		return s, nil
	}

	s.dir = cfg.KeyDir
	if s.dir == "" {
		s.dir = configs.DefaultAssertionKeyDir
	}
	if mode, loose := looseMode(s.dir); loose {
		s.log.Warn("key directory is accessible by others than its owner", "dir", s.dir, "mode", mode.String())
	}
	keys, err := loadDir(s.dir)
	if err != nil {
		return nil, err
	}
	r := &ring{}
	if n := len(keys); n > 0 {
		r.cur, r.prev = keys[n-1], keys[:n-1]
	}
	if r.cur == nil || r.cur.alg != s.alg {
		k, err := s.generate(t)
		if err != nil {
			return nil, err
		}
		if r.cur != nil {
			r.cur.retired = t
			r.prev = append(r.prev, r.cur)
		}
		r.cur = k
	}
	r.prev = s.prune(r.prev, t)
	if err := s.store(r); err != nil {
		return nil, err
	}
	s.log.Info("assertion signing keys loaded", "dir", s.dir, "alg", r.cur.alg, "kid", r.cur.kid, "previous", describe(r.prev))
	return s, nil
}

// Audience returns the aud claim for a request to routeHost: the configured audience, or
// else routeHost (the route's host; for a host-less route the request's host without port).
func (s *Signer) Audience(routeHost string) string {
	if s.audience != "" {
		return s.audience
	}
	return routeHost
}

// TTL is the lifetime of the tokens.
func (s *Signer) TTL() time.Duration { return s.ttl }

// KeyID returns the kid of the current key.
func (s *Signer) KeyID() string { return s.current(s.now()).cur.kid }

// JWKS returns the JSON Web Key Set of the current key and the previous keys still published,
// newest first (each with kid, alg and use "sig"). It is rendered once per change; callers must not modify
// the slice. Serve it as application/jwk-set+json (or application/json) with a short
// Cache-Control max-age (at most the ttl), so verifiers see a rotated key soon.
func (s *Signer) JWKS() []byte { return s.current(s.now()).jwks }

// Rotate makes a newly generated key current. The previous key stays in the JWKS until the
// tokens it signed have expired. It fails with ErrFixedKey for a key_file key.
func (s *Signer) Rotate() error {
	if s.dir == "" {
		return ErrFixedKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rotate(s.ring.Load(), s.now())
}

// Sign returns the assertion of c for audience (empty takes the configured audience).
// sessionKey identifies the session for the cache; any stable per-session string will do
// (the session id or its hash; it is kept in memory only). An empty sessionKey signs without
// caching.
func (s *Signer) Sign(c *claims.Set, audience, sessionKey string) (string, error) {
	if c == nil || c.Login == "" {
		return "", ErrNoLogin
	}
	if audience == "" {
		audience = s.audience
		if audience == "" {
			return "", ErrNoAudience
		}
	}
	now := s.now()
	r := s.current(now)
	ck := cacheKey{session: sessionKey, audience: audience}
	if sessionKey != "" {
		if tok, ok := s.cache.get(ck, r.cur.kid, c, now); ok {
			return tok, nil
		}
	}
	tok, err := s.sign(r.cur, c, audience, now)
	if err != nil {
		return "", err
	}
	if sessionKey != "" {
		s.cache.put(&entry{key: ck, token: tok, kid: r.cur.kid, reuseUntil: now.Add(s.ttl / 2), set: cloneClaims(c)})
	}
	return tok, nil
}

// payload is the JWT claims set.
type payload struct {
	Issuer      string                `json:"iss"`
	Audience    string                `json:"aud"`
	Subject     string                `json:"sub"`
	IssuedAt    int64                 `json:"iat"`
	Expires     int64                 `json:"exp"`
	ID          string                `json:"jti"`
	Email       string                `json:"email,omitempty"`
	Name        string                `json:"name,omitempty"`
	CustomerID  string                `json:"customer_id,omitempty"`
	CustomerIDs []string              `json:"customer_ids,omitempty"`
	Groups      directory.Permissions `json:"groups,omitempty"`
	Source      string                `json:"source,omitempty"`
	AuthModule  string                `json:"auth_module,omitempty"`
	Attrs       map[string]string     `json:"attrs,omitempty"`
}

func (s *Signer) sign(k *key, c *claims.Set, audience string, now time.Time) (string, error) {
	var jti [16]byte
	rand.Read(jti[:]) // never fails (crypto/rand, Go 1.24+)
	b, err := json.Marshal(&payload{
		Issuer:      s.issuer,
		Audience:    audience,
		Subject:     c.Login,
		IssuedAt:    now.Unix(),
		Expires:     now.Add(s.ttl).Unix(),
		ID:          base64.RawURLEncoding.EncodeToString(jti[:]),
		Email:       c.Email,
		Name:        c.Name,
		CustomerID:  c.CustomerID,
		CustomerIDs: c.CustomerIDs,
		Groups:      c.Groups,
		Source:      c.Source,
		AuthModule:  c.AuthModule,
		Attrs:       c.Attrs,
	})
	if err != nil {
		return "", fmt.Errorf("assertion: encode claims: %w", err)
	}
	jws, err := k.signer.Sign(b)
	if err != nil {
		return "", fmt.Errorf("assertion: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// current returns the key ring at now, rotating or dropping keys first when that is due.
func (s *Signer) current(now time.Time) *ring {
	r := s.ring.Load()
	if r.due.IsZero() || now.Before(r.due) {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r = s.ring.Load()
	if r.due.IsZero() || now.Before(r.due) {
		return r // done by another caller meanwhile
	}
	if s.rotationDue(r, now) {
		err := s.rotate(r, now)
		if err == nil {
			return s.ring.Load()
		}
		// Keep signing with the current key, and try again later rather than on every request.
		s.retryRotation = now.Add(rotateRetry)
		s.log.Error("automatic key rotation failed; the current key keeps signing", "err", err, "retry_at", s.retryRotation)
	}
	if err := s.store(&ring{cur: r.cur, prev: s.prune(r.prev, now)}); err != nil {
		s.log.Error("JWKS not re-rendered", "err", err)
		return r
	}
	return s.ring.Load()
}

// rotationDue reports whether r's current key is due for automatic rotation at now.
func (s *Signer) rotationDue(r *ring, now time.Time) bool {
	at := s.rotationAt(r)
	return !at.IsZero() && !now.Before(at)
}

// rotationAt is when r's current key is due for automatic rotation; zero: never.
func (s *Signer) rotationAt(r *ring) time.Time {
	if s.rotateAfter <= 0 {
		return time.Time{}
	}
	at := r.cur.created.Add(s.rotateAfter)
	if at.Before(s.retryRotation) {
		at = s.retryRotation
	}
	return at
}

// rotate generates and persists a new key, retires r's current one and publishes the ring.
// s.mu is held.
func (s *Signer) rotate(r *ring, now time.Time) error {
	k, err := s.generate(now)
	if err != nil {
		return err
	}
	old := *r.cur
	old.retired = now
	prev := append(append([]*key(nil), r.prev...), &old)
	if err := s.store(&ring{cur: k, prev: s.prune(prev, now)}); err != nil {
		return err
	}
	s.retryRotation = time.Time{}
	s.cache.clear()
	s.log.Info("assertion signing key rotated", "kid", k.kid, "previous", old.kid, "published_until", now.Add(s.ttl))
	return nil
}

// generate makes and persists a new key created at now.
func (s *Signer) generate(now time.Time) (*key, error) {
	priv, err := generate(s.alg)
	if err != nil {
		return nil, err
	}
	k, err := newKey(priv, now, "")
	if err != nil {
		return nil, err
	}
	if err := persist(s.dir, k); err != nil {
		return nil, err
	}
	s.log.Info("assertion signing key generated", "alg", k.alg, "kid", k.kid, "file", k.path)
	return k, nil
}

// prune returns the keys of prev whose tokens may still be alive at now, and removes the
// files of the others.
func (s *Signer) prune(prev []*key, now time.Time) []*key {
	var keep []*key
	for _, k := range prev {
		if now.Before(k.retired.Add(s.ttl)) {
			keep = append(keep, k)
			continue
		}
		if k.path != "" {
			if err := os.Remove(k.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Error("expired signing key file not removed", "file", k.path, "err", err)
			}
		}
		s.log.Info("expired signing key dropped from the JWKS", "kid", k.kid)
	}
	return keep
}

// store renders r's JWKS, computes when it is due next and publishes it. s.mu is held (or
// s is not shared yet).
func (s *Signer) store(r *ring) error {
	all := []*key{r.cur} // then the previous keys, newest first
	for i := len(r.prev) - 1; i >= 0; i-- {
		all = append(all, r.prev[i])
	}
	b, err := jwks(all)
	if err != nil {
		return err
	}
	r.jwks = b
	r.due = s.rotationAt(r)
	for _, k := range r.prev {
		if drop := k.retired.Add(s.ttl); r.due.IsZero() || drop.Before(r.due) {
			r.due = drop
		}
	}
	s.ring.Store(r)
	return nil
}
