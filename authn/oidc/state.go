package oidc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// StateCookie is the cookie the gateway sets when it redirects the browser to the provider
// (HttpOnly, Secure as the session cookie, SameSite=Lax so that the provider's top-level
// redirect back carries it, Path /.gatehouse/oidc/<name>/) and clears on the callback.
type StateCookie struct {
	Name   string
	Value  string
	MaxAge time.Duration
}

// loginState is what the state cookie binds together.
//
// The cookie is sealed with AES-256-GCM rather than only signed: besides integrity, it keeps
// the PKCE verifier and nonce secret, so the cookie alone (in a log, a proxy, a shared
// computer's jar) does not hand over what is needed to redeem a leaked code. The key is
// derived per provider from the gateway's state key (HMAC-SHA256 as a KDF, with a label), and
// the cookie name is the additional data, so a cookie of one provider is refused by another.
type loginState struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	RD       string `json:"rd,omitempty"`
	Expires  int64  `json:"e"`
}

// stateAEAD derives the provider's cookie key from the gateway's state key.
func stateAEAD(stateKey []byte, provider string) (cipher.AEAD, error) {
	mac := hmac.New(sha256.New, stateKey)
	mac.Write([]byte("gatehouse oidc state cookie v1\x00" + provider))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("state cookie key: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts s into a cookie value: base64url(nonce || ciphertext).
func (p *Provider) seal(s loginState) (string, error) {
	plain, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, p.aead.NonceSize(), p.aead.NonceSize()+len(plain)+p.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(p.aead.Seal(nonce, nonce, plain, []byte(p.cookieName))), nil
}

// open decrypts and checks a cookie value: authentic, for this provider, not expired.
func (p *Provider) open(value string) (loginState, error) {
	var s loginState
	if value == "" {
		return s, errors.New("no state cookie")
	}
	if len(value) > 4096 {
		return s, errors.New("state cookie too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < p.aead.NonceSize()+p.aead.Overhead() {
		return s, errors.New("state cookie malformed")
	}
	n := p.aead.NonceSize()
	plain, err := p.aead.Open(nil, raw[:n], raw[n:], []byte(p.cookieName))
	if err != nil {
		return s, errors.New("state cookie not authentic")
	}
	if err := json.Unmarshal(plain, &s); err != nil {
		return s, errors.New("state cookie malformed")
	}
	if s.Provider != p.name {
		return s, errors.New("state cookie of another provider")
	}
	if p.now().Unix() > s.Expires {
		return s, errors.New("state cookie expired")
	}
	return s, nil
}

// randomString returns n random bytes, base64url: state, nonce, and the PKCE verifier (43
// characters from 32 bytes, RFC 7636 §4.1).
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// maxUsedStates bounds the replay set. An entry costs ~50 bytes, so the cap is ~50 MB. Only
// a callback with an authentic cookie and the matching state adds one, and each lives at most
// StateLifetime; when full, callbacks fail closed (ErrUnavailable) rather than forget states.
const maxUsedStates = 1 << 20

// usedStates remembers consumed states until their cookie expires, so the same cookie and
// state cannot complete a second login in this process. With several gatehouse processes the
// set is per process; the gateway clears the cookie on the callback, and the provider itself
// refuses a second redemption of the code, so a replay needs the victim's cookie and code.
type usedStates struct {
	mu    sync.Mutex
	max   int
	seen  map[[32]byte]int64 // sha256(state) → expiry (unix seconds)
	sweep int64              // next time expired entries are swept
}

func newUsedStates(max int) *usedStates {
	return &usedStates{max: max, seen: make(map[[32]byte]int64)}
}

var errReplaySetFull = errors.New("too many logins in progress")

// consume marks state used until expires. It returns false if it was used already.
func (u *usedStates) consume(state string, expires, now int64) (bool, error) {
	key := sha256.Sum256([]byte(state))
	u.mu.Lock()
	defer u.mu.Unlock()
	if now >= u.sweep || len(u.seen) >= u.max {
		for k, e := range u.seen {
			if e < now {
				delete(u.seen, k)
			}
		}
		u.sweep = now + 60
	}
	if e, ok := u.seen[key]; ok && e >= now {
		return false, nil
	}
	if len(u.seen) >= u.max {
		return false, errReplaySetFull
	}
	u.seen[key] = expires
	return true, nil
}
