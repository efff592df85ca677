package assertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
)

const testIssuer = "https://portal.example.com"

var algorithms = []string{ES256, RS256, EdDSA}

// clock is a settable clock shared by the Signer and the verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTestSigner returns a Signer on clk with generated keys in a fresh directory unless cfg
// names a key_file or key_dir.
func newTestSigner(t testing.TB, cfg configs.Assertion, clk *clock) *Signer {
	t.Helper()
	if cfg.KeyFile == "" && cfg.KeyDir == "" {
		cfg.KeyDir = filepath.Join(t.TempDir(), "keys")
	}
	s, err := newSigner(cfg, testIssuer, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testSet is a claim set with every kind of claim.
func testSet() *claims.Set {
	return &claims.Set{
		Login:       "jdoe",
		Email:       "jdoe@example.com",
		Name:        "Dr. Jane Doe",
		CustomerID:  "ACME",
		CustomerIDs: []string{"ACME", "ACME-EU"},
		Groups:      directory.Permissions{"users": {"rw"}, "billing": {"ro", "move_into"}},
		Source:      "Database Backend",
		AuthModule:  "db",
		Attrs:       map[string]string{"UserCity": "Köln", "UserRoom": "4.17"},
	}
}

// gotClaims is what the verifier reads from a token.
type gotClaims struct {
	jwt.RegisteredClaims
	Email       string              `json:"email"`
	Name        string              `json:"name"`
	CustomerID  string              `json:"customer_id"`
	CustomerIDs []string            `json:"customer_ids"`
	Groups      map[string][]string `json:"groups"`
	Source      string              `json:"source"`
	AuthModule  string              `json:"auth_module"`
	Attrs       map[string]string   `json:"attrs"`
}

var errUnknownKid = errors.New("kid not in the JWKS")

// verify checks tok with golang-jwt (the signature check is golang-jwt's alone) against the
// key named by its kid in the served JWKS, as an upstream would: the JWK's alg must be the
// token's, iss and aud must match, exp is required and checked at clk's time.
func verify(t testing.TB, jwksJSON []byte, tok, audience string, now func() time.Time) (*gotClaims, *jwt.Token, error) {
	t.Helper()
	return verifyWith(t, jwksJSON, tok, audience, now, false)
}

// verifyWith is verify; naive leaves out the algorithm checks (the JWK's alg and the list of
// valid methods), as a careless upstream might: the key found by kid is used for whatever alg
// the token names.
func verifyWith(t testing.TB, jwksJSON []byte, tok, audience string, now func() time.Time, naive bool) (*gotClaims, *jwt.Token, error) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwksJSON, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, jwksJSON)
	}
	keyfunc := func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		keys := set.Key(kid)
		if len(keys) != 1 {
			return nil, fmt.Errorf("%w: %q", errUnknownKid, kid)
		}
		if !naive && keys[0].Algorithm != tk.Method.Alg() {
			return nil, fmt.Errorf("token alg %s, key alg %s", tk.Method.Alg(), keys[0].Algorithm)
		}
		return keys[0].Key, nil
	}
	opts := []jwt.ParserOption{jwt.WithIssuer(testIssuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(now)}
	if !naive {
		opts = append(opts, jwt.WithValidMethods([]string{"ES256", "RS256", "EdDSA"}))
	}
	c := &gotClaims{}
	parsed, err := jwt.ParseWithClaims(tok, c, keyfunc, opts...)
	return c, parsed, err
}

// mustVerify verifies tok and fails the test on error.
func mustVerify(t testing.TB, jwksJSON []byte, tok, audience string, now func() time.Time) (*gotClaims, *jwt.Token) {
	t.Helper()
	c, parsed, err := verify(t, jwksJSON, tok, audience, now)
	if err != nil {
		t.Fatalf("token does not verify: %v\ntoken: %s\nJWKS: %s", err, tok, jwksJSON)
	}
	return c, parsed
}

// kids lists the kids of a JWKS document, in order.
func kids(t testing.TB, jwksJSON []byte) []string {
	t.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwksJSON, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range doc.Keys {
		out = append(out, k["kid"].(string))
	}
	return out
}

// thumbprint computes the RFC 7638 thumbprint of a JWK from its JSON members, by hand: the
// required members in lexicographic order, no whitespace, SHA-256, base64url.
func thumbprint(t testing.TB, jwk map[string]any) string {
	t.Helper()
	var members []string
	switch jwk["kty"] {
	case "EC":
		members = []string{"crv", "kty", "x", "y"}
	case "RSA":
		members = []string{"e", "kty", "n"}
	case "OKP":
		members = []string{"crv", "kty", "x"}
	default:
		t.Fatalf("kty %v", jwk["kty"])
	}
	b := []byte{'{'}
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%q:%q", m, jwk[m].(string))
	}
	b = append(b, '}')
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newPrivateKey generates a key of kind alg ("P-384" and "RSA-1024" give unusable ones).
func newPrivateKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "P-384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "RSA-1024":
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case EdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeKeyFile writes k as PEM the way common tools do: EC as SEC 1 after an EC PARAMETERS
// block (openssl ecparam -genkey), RSA as PKCS #1 (openssl genrsa, traditional), Ed25519 as
// PKCS #8 (openssl genpkey); pkcs8 forces PKCS #8 for every kind.
func writeKeyFile(t testing.TB, k crypto.Signer, pkcs8 bool) string {
	t.Helper()
	var blocks []*pem.Block
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if !pkcs8 {
			der, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, &pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}},
				&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
		}
	case *rsa.PrivateKey:
		if !pkcs8 {
			blocks = append(blocks, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		}
	}
	if len(blocks) == 0 {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	var data []byte
	for _, b := range blocks {
		data = append(data, pem.EncodeToMemory(b)...)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// segments splits a compact JWS.
func segments(t testing.TB, tok string) (header, payload, sig string) {
	t.Helper()
	var parts [3]string
	n := 0
	start := 0
	for i := 0; i < len(tok); i++ {
		if tok[i] == '.' {
			if n == 2 {
				t.Fatalf("more than three segments: %s", tok)
			}
			parts[n] = tok[start:i]
			n++
			start = i + 1
		}
	}
	if n != 2 {
		t.Fatalf("not a compact JWS: %s", tok)
	}
	parts[2] = tok[start:]
	return parts[0], parts[1], parts[2]
}

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
