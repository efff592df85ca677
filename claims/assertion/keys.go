package assertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Algorithms are the JWS algorithms a Signer can use (configs' claims.assertion.algorithm).
const (
	ES256 = "ES256" // ECDSA on P-256 with SHA-256, the default
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, keys of at least 2048 bits
	EdDSA = "EdDSA" // Ed25519
)

// MinRSABits is the smallest RSA key accepted.
const MinRSABits = 2048

// generatedRSABits is the size of generated RSA keys.
const generatedRSABits = 3072

// createdHeader is the PEM header of a persisted key that records when it was generated;
// the newest key is the current one and each older key was retired when the next was made.
const createdHeader = "Created"

// keyFileName matches the files of persisted keys: the kid (a base64url SHA-256 thumbprint)
// and ".pem".
var keyFileName = regexp.MustCompile(`^[A-Za-z0-9_-]{43}\.pem$`)

// key is one signing key.
type key struct {
	kid     string
	alg     string
	priv    crypto.Signer
	signer  jose.Signer
	created time.Time
	// retired is when a newer key replaced this one; zero while it is current.
	retired time.Time
	// path is the persisted file; empty for a key_file key (never removed).
	path string
}

// algorithmOf returns the algorithm of a private key, or an error wrapping ErrKeyType or
// ErrWeakKey for keys gatehouse does not sign with.
func algorithmOf(priv any) (string, error) {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: EC key on %s, want P-256", ErrKeyType, k.Curve.Params().Name)
		}
		return ES256, nil
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < MinRSABits {
			return "", fmt.Errorf("%w: RSA key of %d bits, want at least %d", ErrWeakKey, n, MinRSABits)
		}
		return RS256, nil
	case ed25519.PrivateKey:
		return EdDSA, nil
	}
	return "", fmt.Errorf("%w: %T (want an EC P-256, RSA or Ed25519 private key)", ErrKeyType, priv)
}

// newKey wraps a private key: its kid (RFC 7638 thumbprint) and a JWS signer with
// typ JWT and that kid.
func newKey(priv crypto.Signer, created time.Time, path string) (*key, error) {
	alg, err := algorithmOf(priv)
	if err != nil {
		return nil, err
	}
	pub := jose.JSONWebKey{Key: priv.Public()}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("assertion: key thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("assertion: signer for %s key: %w", alg, err)
	}
	return &key{kid: kid, alg: alg, priv: priv, signer: signer, created: created, path: path}, nil
}

// generate makes a new private key for alg.
func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		return rsa.GenerateKey(rand.Reader, generatedRSABits)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("%w %q (want %s, %s or %s)", ErrAlgorithm, alg, ES256, RS256, EdDSA)
}

// parsePrivateKey reads the first private key of a PEM file: PKCS #8 ("PRIVATE KEY"), SEC 1
// ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY"); other blocks (EC PARAMETERS,
// certificates) are skipped. It returns the block's headers too.
func parsePrivateKey(data []byte) (crypto.Signer, map[string]string, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, nil, fmt.Errorf("%w: no PEM private key block", ErrKeyFile)
		}
		var (
			k   any
			err error
		)
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, nil, fmt.Errorf("%w: the key is encrypted; store it unencrypted with mode 0600", ErrKeyFile)
		default:
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s block: %v", ErrKeyFile, b.Type, err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, nil, fmt.Errorf("%w: %T", ErrKeyType, k)
		}
		// ParsePKCS8PrivateKey returns ed25519.PrivateKey by value; the others are pointers.
		return signer, b.Headers, nil
	}
}

// loadKeyFile reads the configured key_file; its algorithm must be alg.
func loadKeyFile(path, alg string, now time.Time) (*key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	priv, _, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k, err := newKey(priv, now, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if k.alg != alg {
		return nil, fmt.Errorf("%s: %w: the key is for %s, claims.assertion.algorithm is %s", path, ErrKeyType, k.alg, alg)
	}
	return k, nil
}

// loadDir reads the persisted keys of dir, oldest first, with their retirement times set
// (each key but the newest was retired when the next one was created). A missing dir holds
// no keys. Files of other names (temporary files of an interrupted write) are ignored.
func loadDir(dir string) ([]*key, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyDir, err)
	}
	var keys []*key
	for _, e := range entries {
		if !e.Type().IsRegular() || !keyFileName.MatchString(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKeyDir, err)
		}
		priv, headers, err := parsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		created, err := time.Parse(time.RFC3339Nano, headers[createdHeader])
		if err != nil {
			info, serr := e.Info()
			if serr != nil {
				return nil, fmt.Errorf("%w: %v", ErrKeyDir, serr)
			}
			created = info.ModTime()
		}
		k, err := newKey(priv, created, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if want := k.kid + ".pem"; e.Name() != want {
			return nil, fmt.Errorf("%s: %w: the key's kid is %s", path, ErrKeyFile, k.kid)
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if !keys[i].created.Equal(keys[j].created) {
			return keys[i].created.Before(keys[j].created)
		}
		return keys[i].kid < keys[j].kid
	})
	for i := 0; i+1 < len(keys); i++ {
		keys[i].retired = keys[i+1].created
	}
	return keys, nil
}

// persist writes k to dir as <kid>.pem (PKCS #8, mode 0600, with its creation time),
// atomically: a reader never sees half a key.
func persist(dir string, k *key) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %v", ErrKeyDir, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return fmt.Errorf("assertion: encode key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{
		Type:    "PRIVATE KEY",
		Headers: map[string]string{createdHeader: k.created.UTC().Format(time.RFC3339Nano)},
		Bytes:   der,
	})
	tmp, err := os.CreateTemp(dir, ".key-*.tmp") // CreateTemp uses mode 0600
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeyDir, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %v", ErrKeyDir, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %v", ErrKeyDir, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %v", ErrKeyDir, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: %v", ErrKeyDir, err)
	}
	path := filepath.Join(dir, k.kid+".pem")
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%w: %v", ErrKeyDir, err)
	}
	k.path = path
	return nil
}

// looseMode reports whether a key file or directory is readable by others than its owner.
func looseMode(path string) (os.FileMode, bool) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return info.Mode().Perm(), info.Mode().Perm()&0o077 != 0
}

// jwks renders the public keys as a JSON Web Key Set.
func jwks(keys []*key) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("assertion: render JWKS: %w", err)
	}
	return b, nil
}

// describe lists kids for logs.
func describe(keys []*key) string {
	kids := make([]string, len(keys))
	for i, k := range keys {
		kids[i] = k.kid
	}
	return strings.Join(kids, ",")
}
