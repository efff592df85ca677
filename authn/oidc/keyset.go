package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// minRefetch is the least time between two JWKS fetches caused by unknown keys.
//
// go-oidc's RemoteKeySet refetches the JWKS on every signature it cannot verify, so anyone
// could make gatehouse fetch the provider's JWKS once per request by sending bearer tokens
// with made-up key ids. keySet keeps RemoteKeySet's strategy (cache; refetch on an unknown
// kid, as OpenID Connect Core §10.1.1 recommends, so key rotation is followed at once) but
// spaces the refetches: a rotation is picked up by the first token with the new kid, unless a
// refetch happened in the last minRefetch, in which case tokens with that kid are refused
// until the interval has passed.
const minRefetch = 10 * time.Second

// maxJWKSBytes bounds the JWKS document.
const maxJWKSBytes = 1 << 20

// errUnknownKey: no cached key verifies the signature and no refetch was allowed or helped.
var errUnknownKey = errors.New("no key of the provider verifies the signature")

// faultKey carries a *faultBox through go-oidc's verifier to VerifySignature.
type faultKey struct{}

// faultBox receives a JWKS fetch fault (ErrUnavailable) during one verification.
type faultBox struct{ err error }

// keySet implements go-oidc's KeySet on the provider's jwks_uri with cached keys.
type keySet struct {
	url    string
	client *http.Client
	algs   []jose.SignatureAlgorithm
	log    *slog.Logger

	// now is the clock for minRefetch (the provider's clock; tests move it).
	now func() time.Time

	mu        sync.RWMutex
	keys      []jose.JSONWebKey
	lastFetch time.Time
	fetches   int
	fetchMu   sync.Mutex // one fetch at a time; waiters reuse its result
}

func newKeySet(url string, client *http.Client, algs []string, log *slog.Logger, now func() time.Time) *keySet {
	ks := &keySet{url: url, client: client, log: log, now: now}
	for _, a := range algs {
		ks.algs = append(ks.algs, jose.SignatureAlgorithm(a))
	}
	return ks
}

// VerifySignature implements gooidc.KeySet. The verifier has already checked the algorithm
// against the allowed list; it is checked again here because the JWT is parsed anew.
func (ks *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSigned(jwt, ks.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID

	ks.mu.RLock()
	keys, last := ks.keys, ks.lastFetch
	ks.mu.RUnlock()
	if payload := verifyWith(jws, kid, keys); payload != nil {
		return payload, nil
	}
	keys, err = ks.refresh(ctx, last)
	if err != nil {
		// go-oidc flattens the error into text; the box lets the caller tell a fault.
		if box, ok := ctx.Value(faultKey{}).(*faultBox); ok {
			box.err = err
		}
		return nil, err
	}
	if payload := verifyWith(jws, kid, keys); payload != nil {
		return payload, nil
	}
	return nil, errUnknownKey
}

// verifyWith tries the keys with the token's kid (all keys when the token names none).
func verifyWith(jws *jose.JSONWebSignature, kid string, keys []jose.JSONWebKey) []byte {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p
		}
	}
	return nil
}

// refresh fetches the JWKS unless another fetch happened since seen (then its result is used)
// or the last fetch is younger than minRefetch (then the cached keys are returned as they are).
// A fetch failure is an ErrUnavailable fault.
func (ks *keySet) refresh(ctx context.Context, seen time.Time) ([]jose.JSONWebKey, error) {
	ks.fetchMu.Lock()
	defer ks.fetchMu.Unlock()
	ks.mu.RLock()
	keys, last := ks.keys, ks.lastFetch
	ks.mu.RUnlock()
	if last.After(seen) || (!last.IsZero() && ks.now().Sub(last) < minRefetch) {
		return keys, nil
	}
	fetched, err := ks.fetch(ctx)
	ks.mu.Lock()
	ks.lastFetch = ks.now()
	ks.fetches++
	if err == nil {
		ks.keys = fetched
	}
	ks.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: jwks: %v", ErrUnavailable, err)
	}
	ks.log.Info("openid provider keys fetched", "keys", len(fetched))
	return fetched, nil
}

func (ks *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", ks.url, resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		// A key of a type go-jose does not know is skipped, not fatal: providers publish
		// keys for other purposes in the same set.
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		// Only public signature keys: an "enc" key must not verify a signature.
		if k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Fetches returns the number of JWKS fetches so far (tests and metrics).
func (ks *keySet) Fetches() int {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.fetches
}
