package assertion

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
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
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// TestSignVerify signs with each algorithm, with generated keys and with a key_file, and
// verifies with golang-jwt against the served JWKS: header, every claim, the JWKS entry.
func TestSignVerify(t *testing.T) {
	type source struct {
		name string
		cfg  func(t *testing.T, alg string) configs.Assertion
	}
	sources := []source{
		{"generated", func(t *testing.T, alg string) configs.Assertion { return configs.Assertion{Algorithm: alg} }},
		{"key_file", func(t *testing.T, alg string) configs.Assertion {
			return configs.Assertion{Algorithm: alg, KeyFile: writeKeyFile(t, newPrivateKey(t, alg), false)}
		}},
		{"key_file pkcs8", func(t *testing.T, alg string) configs.Assertion {
			return configs.Assertion{Algorithm: alg, KeyFile: writeKeyFile(t, newPrivateKey(t, alg), true)}
		}},
	}
	for _, alg := range algorithms {
		for _, src := range sources {
			t.Run(alg+"/"+src.name, func(t *testing.T) {
				clk := newClock()
				s := newTestSigner(t, src.cfg(t, alg), clk)
				set := testSet()
				tok, err := s.Sign(set, "helpdesk.example.com", "session-1")
				if err != nil {
					t.Fatal(err)
				}
				c, parsed := mustVerify(t, s.JWKS(), tok, "helpdesk.example.com", clk.Now)

				if h := parsed.Header; h["alg"] != alg || h["typ"] != "JWT" || h["kid"] != s.KeyID() || len(h) != 3 {
					t.Errorf("header %v, want alg %s, typ JWT, kid %s and nothing else", h, alg, s.KeyID())
				}
				now := clk.Now().Unix()
				if c.Issuer != testIssuer || c.Subject != "jdoe" || !slices.Equal(c.Audience, jwt.ClaimStrings{"helpdesk.example.com"}) {
					t.Errorf("iss %q sub %q aud %v", c.Issuer, c.Subject, c.Audience)
				}
				if c.IssuedAt.Unix() != now || c.ExpiresAt.Unix() != now+60 {
					t.Errorf("iat %d exp %d, want %d and %d", c.IssuedAt.Unix(), c.ExpiresAt.Unix(), now, now+60)
				}
				if jti, err := base64.RawURLEncoding.DecodeString(c.ID); err != nil || len(jti) != 16 {
					t.Errorf("jti %q is not 128 bits in base64url", c.ID)
				}
				got := claims.Set{Login: c.Subject, Email: c.Email, Name: c.Name, CustomerID: c.CustomerID,
					CustomerIDs: c.CustomerIDs, Groups: c.Groups, Source: c.Source, AuthModule: c.AuthModule, Attrs: c.Attrs}
				if !reflect.DeepEqual(&got, set) {
					t.Errorf("claims\n got %+v\nwant %+v", got, *set)
				}

				var doc struct {
					Keys []map[string]any `json:"keys"`
				}
				if err := json.Unmarshal(s.JWKS(), &doc); err != nil || len(doc.Keys) != 1 {
					t.Fatalf("JWKS %s: %v", s.JWKS(), err)
				}
				k := doc.Keys[0]
				if k["kid"] != s.KeyID() || k["alg"] != alg || k["use"] != "sig" {
					t.Errorf("JWK %v: want kid %s, alg %s, use sig", k, s.KeyID(), alg)
				}
				if tp := thumbprint(t, k); tp != s.KeyID() {
					t.Errorf("kid %s is not the RFC 7638 thumbprint %s", s.KeyID(), tp)
				}
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
					if _, ok := k[private]; ok {
						t.Errorf("JWKS publishes private member %q", private)
					}
				}
			})
		}
	}
}

// TestMinimalClaims: empty claims are left out, the registered ones are always there.
func TestMinimalClaims(t *testing.T) {
	clk := newClock()
	s := newTestSigner(t, configs.Assertion{}, clk)
	tok, err := s.Sign(&claims.Set{Login: "jdoe"}, "app", "")
	if err != nil {
		t.Fatal(err)
	}
	_, payload, _ := segments(t, tok)
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	if want := []string{"aud", "exp", "iat", "iss", "jti", "sub"}; !slices.Equal(names, want) {
		t.Errorf("claims %v, want %v", names, want)
	}
}

// TestExpiry: a token verifies until exp (iat + ttl) and not from then on.
func TestExpiry(t *testing.T) {
	for _, ttl := range []time.Duration{0, 10 * time.Second, 5 * time.Minute} {
		t.Run(fmt.Sprint(ttl), func(t *testing.T) {
			clk := newClock()
			s := newTestSigner(t, configs.Assertion{TTL: ttl}, clk)
			want := ttl
			if want == 0 {
				want = DefaultTTL
			}
			signedAt := clk.Now()
			tok, err := s.Sign(testSet(), "app", "s")
			if err != nil {
				t.Fatal(err)
			}
			at := func(d time.Duration) func() time.Time { return func() time.Time { return signedAt.Add(d) } }
			mustVerify(t, s.JWKS(), tok, "app", at(want-time.Second))
			if _, _, err := verify(t, s.JWKS(), tok, "app", at(want)); !errors.Is(err, jwt.ErrTokenExpired) {
				t.Errorf("at exp: %v, want %v", err, jwt.ErrTokenExpired)
			}
		})
	}
}

// TestTampered: modified tokens, tokens of other keys and alg downgrades fail, for a strict
// verifier and for a naive one that lets the token pick the algorithm.
func TestTampered(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			s := newTestSigner(t, configs.Assertion{Algorithm: alg}, clk)
			other := newTestSigner(t, configs.Assertion{Algorithm: alg}, clk)
			tok, err := s.Sign(testSet(), "app", "s")
			if err != nil {
				t.Fatal(err)
			}
			mustVerify(t, s.JWKS(), tok, "app", clk.Now)
			h, p, sig := segments(t, tok)

			otherTok, err := other.Sign(testSet(), "app", "s")
			if err != nil {
				t.Fatal(err)
			}
			_, _, otherSig := segments(t, otherTok)

			// An attacker's own key, with the header claiming the real kid.
			var header map[string]any
			raw, _ := base64.RawURLEncoding.DecodeString(h)
			if err := json.Unmarshal(raw, &header); err != nil {
				t.Fatal(err)
			}
			rawPayload, _ := base64.RawURLEncoding.DecodeString(p)
			var claimsMap map[string]any
			if err := json.Unmarshal(rawPayload, &claimsMap); err != nil {
				t.Fatal(err)
			}
			claimsMap["sub"] = "admin"
			forgedPayload := b64(claimsMap)
			otherHeader, _, _ := segments(t, otherTok)
			forgedByOther, err := other.ring.Load().cur.signer.Sign(mustJSON(claimsMap))
			if err != nil {
				t.Fatal(err)
			}
			forgedCompact, _ := forgedByOther.CompactSerialize()
			_, fp, fs := segments(t, forgedCompact)

			// The public key as an HMAC secret, in the forms an attacker would try.
			pub := s.ring.Load().cur.priv.Public()
			der, err := x509.MarshalPKIXPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			secrets := [][]byte{pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), der, s.JWKS()}
			switch k := pub.(type) {
			case ed25519.PublicKey:
				secrets = append(secrets, k)
			case *ecdsa.PublicKey:
				b, _ := k.Bytes()
				secrets = append(secrets, b)
			case *rsa.PublicKey:
				secrets = append(secrets, x509.MarshalPKCS1PublicKey(k))
			}

			flip := func(seg string, i int) string {
				b := []byte(seg)
				if b[i] == 'A' {
					b[i] = 'B'
				} else {
					b[i] = 'A'
				}
				return string(b)
			}
			withHeader := func(changes map[string]any) string {
				hh := map[string]any{}
				for k, v := range header {
					hh[k] = v
				}
				for k, v := range changes {
					hh[k] = v
				}
				return b64(hh)
			}
			hs256 := func(secret []byte) string {
				hd := withHeader(map[string]any{"alg": "HS256"})
				mac := hmac.New(sha256.New, secret)
				mac.Write([]byte(hd + "." + forgedPayload))
				return hd + "." + forgedPayload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
			}

			tests := []struct {
				name string
				tok  string
			}{
				{"payload byte flipped at start", h + "." + flip(p, 5) + "." + sig},
				{"payload byte flipped in the middle", h + "." + flip(p, len(p)/2) + "." + sig},
				{"payload byte flipped at end", h + "." + flip(p, len(p)-2) + "." + sig},
				{"payload changed (sub admin)", h + "." + forgedPayload + "." + sig},
				{"header byte flipped", flip(h, len(h)/2) + "." + p + "." + sig},
				{"signature byte flipped", h + "." + p + "." + flip(sig, len(sig)/2)},
				{"signature truncated", h + "." + p + "." + sig[:len(sig)-4]},
				{"signature from another key", h + "." + p + "." + otherSig},
				{"signed by another key, real kid", h + "." + fp + "." + fs},
				{"another key's header and signature", otherHeader + "." + p + "." + otherSig},
				{"alg none, no signature", withHeader(map[string]any{"alg": "none"}) + "." + forgedPayload + "."},
				{"alg none, old signature", withHeader(map[string]any{"alg": "none"}) + "." + p + "." + sig},
				{"kid removed", withHeader(map[string]any{"kid": nil}) + "." + p + "." + sig},
				{"kid of another key", withHeader(map[string]any{"kid": other.KeyID()}) + "." + p + "." + sig},
				{"no signature segment", h + "." + p},
			}
			for i, secret := range secrets {
				tests = append(tests, struct {
					name string
					tok  string
				}{fmt.Sprintf("alg HS256 with the public key as secret (form %d)", i), hs256(secret)})
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					for _, naive := range []bool{false, true} {
						if _, _, err := verifyWith(t, s.JWKS(), tt.tok, "app", clk.Now, naive); err == nil {
							t.Errorf("tampered token verified (naive verifier: %v): %s", naive, tt.tok)
						}
					}
				})
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestRotation: a token signed before Rotate verifies against the JWKS after it; the
// previous key is published until ttl after the rotation, then dropped with its file.
func TestRotation(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			dir := filepath.Join(t.TempDir(), "keys")
			s := newTestSigner(t, configs.Assertion{Algorithm: alg, KeyDir: dir, TTL: time.Minute}, clk)
			old := s.KeyID()
			signedAt := clk.Now()
			tok, err := s.Sign(testSet(), "app", "s")
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(20 * time.Second)
			if err := s.Rotate(); err != nil {
				t.Fatal(err)
			}
			cur := s.KeyID()
			if cur == old {
				t.Fatal("Rotate kept the kid")
			}
			if got := kids(t, s.JWKS()); !slices.Equal(got, []string{cur, old}) {
				t.Errorf("JWKS kids %v, want current %s and previous %s", got, cur, old)
			}
			mustVerify(t, s.JWKS(), tok, "app", clk.Now)

			// The same session now gets a token of the new key.
			tok2, err := s.Sign(testSet(), "app", "s")
			if err != nil {
				t.Fatal(err)
			}
			if tok2 == tok {
				t.Error("cached token of the previous key reused after Rotate")
			}
			if _, parsed := mustVerify(t, s.JWKS(), tok2, "app", clk.Now); parsed.Header["kid"] != cur {
				t.Errorf("kid %v after Rotate, want %s", parsed.Header["kid"], cur)
			}
			if _, err := os.Stat(filepath.Join(dir, old+".pem")); err != nil {
				t.Errorf("previous key file gone while published: %v", err)
			}

			// Just before ttl after the rotation the previous key is still there…
			clk.Advance(time.Minute - time.Second)
			if got := kids(t, s.JWKS()); len(got) != 2 {
				t.Errorf("JWKS kids %v before the previous key's tokens expired", got)
			}
			// …and at ttl after it, it is gone, file and all.
			clk.Advance(time.Second)
			if got := kids(t, s.JWKS()); !slices.Equal(got, []string{cur}) {
				t.Errorf("JWKS kids %v ttl after the rotation, want only %s", got, cur)
			}
			if _, err := os.Stat(filepath.Join(dir, old+".pem")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("previous key file still there: %v", err)
			}
			// Verified at a time it had not expired, the old token now fails for want of its key.
			if _, _, err := verify(t, s.JWKS(), tok, "app", func() time.Time { return signedAt }); !errors.Is(err, errUnknownKid) {
				t.Errorf("old token after its key was dropped: %v, want %v", err, errUnknownKid)
			}
			mustVerify(t, s.JWKS(), tok2, "app", func() time.Time { return signedAt.Add(21 * time.Second) })
		})
	}
}

// TestRotateAfter: with rotate_after the Signer rotates by itself when it next signs, and
// several rotations within ttl keep every still-valid key published.
func TestRotateAfter(t *testing.T) {
	clk := newClock()
	s := newTestSigner(t, configs.Assertion{RotateAfter: time.Hour, TTL: 2 * time.Hour}, clk)
	first := s.KeyID()
	tok1, _ := s.Sign(testSet(), "app", "s")
	clk.Advance(59 * time.Minute)
	if s.KeyID() != first {
		t.Fatal("rotated early")
	}
	clk.Advance(time.Minute)
	tok2, err := s.Sign(testSet(), "app", "s")
	if err != nil {
		t.Fatal(err)
	}
	second := s.KeyID()
	if second == first {
		t.Fatal("not rotated after rotate_after")
	}
	_, parsed := mustVerify(t, s.JWKS(), tok2, "app", clk.Now)
	if parsed.Header["kid"] != second {
		t.Errorf("kid %v, want the new %s", parsed.Header["kid"], second)
	}
	mustVerify(t, s.JWKS(), tok1, "app", clk.Now)
	clk.Advance(time.Hour) // the JWKS alone triggers the next rotation
	if got := kids(t, s.JWKS()); len(got) != 3 || got[1] != second || got[2] != first {
		t.Errorf("JWKS kids %v, want a third key, then %s and %s", got, second, first)
	}
	clk.Advance(time.Hour) // first retired 2h ago: dropped
	if got := kids(t, s.JWKS()); len(got) != 3 || slices.Contains(got, first) {
		t.Errorf("JWKS kids %v, want three without %s", got, first)
	}
}

// TestRotateKeyFile: a key_file key is never rotated.
func TestRotateKeyFile(t *testing.T) {
	s := newTestSigner(t, configs.Assertion{KeyFile: writeKeyFile(t, newPrivateKey(t, ES256), false), RotateAfter: time.Second}, newClock())
	if err := s.Rotate(); !errors.Is(err, ErrFixedKey) {
		t.Errorf("Rotate: %v, want %v", err, ErrFixedKey)
	}
}

// TestPersistence: generated keys are stored as 0600 files named by kid and loaded again by
// the next New, so tokens stay verifiable across restarts, rotations included.
func TestPersistence(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			dir := filepath.Join(t.TempDir(), "keys")
			cfg := configs.Assertion{Algorithm: alg, KeyDir: dir, TTL: time.Minute}
			s1 := newTestSigner(t, cfg, clk)
			kid := s1.KeyID()
			tok, err := s1.Sign(testSet(), "app", "s")
			if err != nil {
				t.Fatal(err)
			}
			checkFiles(t, dir, kid)

			s2 := newTestSigner(t, cfg, clk)
			if s2.KeyID() != kid {
				t.Fatalf("restart changed the kid: %s, was %s", s2.KeyID(), kid)
			}
			mustVerify(t, s2.JWKS(), tok, "app", clk.Now)

			// Rotate, restart: the new key is current and the old one still published.
			clk.Advance(10 * time.Second)
			if err := s2.Rotate(); err != nil {
				t.Fatal(err)
			}
			rotated := s2.KeyID()
			checkFiles(t, dir, kid, rotated)
			s3 := newTestSigner(t, cfg, clk)
			if got := kids(t, s3.JWKS()); !slices.Equal(got, []string{rotated, kid}) {
				t.Errorf("after restart JWKS kids %v, want %s and %s", got, rotated, kid)
			}
			mustVerify(t, s3.JWKS(), tok, "app", clk.Now)

			// A restart ttl after the rotation drops the old key and its file.
			clk.Advance(time.Minute)
			s4 := newTestSigner(t, cfg, clk)
			if got := kids(t, s4.JWKS()); !slices.Equal(got, []string{rotated}) {
				t.Errorf("JWKS kids %v, want only %s", got, rotated)
			}
			checkFiles(t, dir, rotated)
		})
	}
}

// TestAlgorithmChange: changing the algorithm generates a key of the new kind at the next
// start; the old key stays published until its tokens expire.
func TestAlgorithmChange(t *testing.T) {
	clk := newClock()
	dir := filepath.Join(t.TempDir(), "keys")
	es := newTestSigner(t, configs.Assertion{Algorithm: ES256, KeyDir: dir}, clk)
	tok, _ := es.Sign(testSet(), "app", "s")
	ed := newTestSigner(t, configs.Assertion{Algorithm: EdDSA, KeyDir: dir}, clk)
	if ed.KeyID() == es.KeyID() {
		t.Fatal("same key after the algorithm changed")
	}
	if got := kids(t, ed.JWKS()); !slices.Equal(got, []string{ed.KeyID(), es.KeyID()}) {
		t.Errorf("JWKS kids %v", got)
	}
	mustVerify(t, ed.JWKS(), tok, "app", clk.Now)
	tok2, _ := ed.Sign(testSet(), "app", "s")
	if _, parsed := mustVerify(t, ed.JWKS(), tok2, "app", clk.Now); parsed.Method.Alg() != EdDSA {
		t.Errorf("alg %s", parsed.Method.Alg())
	}
}

func checkFiles(t *testing.T, dir string, wantKids ...string) {
	t.Helper()
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v, want 0700", info.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	var want []string
	for _, k := range wantKids {
		want = append(want, k+".pem")
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("key files %v, want %v", names, want)
	}
}

// TestNewErrors: unusable keys, algorithms and key directories are refused with their
// sentinel errors.
func TestNewErrors(t *testing.T) {
	es := newPrivateKey(t, ES256)
	notPEM := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(notPEM, []byte("not a key\n"), 0o600)
	encrypted := filepath.Join(t.TempDir(), "enc.pem")
	os.WriteFile(encrypted, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), 0o600)
	certOnly := filepath.Join(t.TempDir(), "cert.pem")
	os.WriteFile(certOnly, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), 0o600)

	badDir := filepath.Join(t.TempDir(), "keys")
	os.MkdirAll(badDir, 0o700)
	os.WriteFile(filepath.Join(badDir, strings.Repeat("A", 43)+".pem"), []byte("garbage"), 0o600)
	wrongName := filepath.Join(t.TempDir(), "keys")
	os.MkdirAll(wrongName, 0o700)
	der, _ := x509.MarshalPKCS8PrivateKey(es)
	os.WriteFile(filepath.Join(wrongName, strings.Repeat("B", 43)+".pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	fileAsDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(fileAsDir, nil, 0o600)

	tests := []struct {
		name   string
		cfg    configs.Assertion
		issuer string
		want   error
	}{
		{"EC key for RS256", configs.Assertion{Algorithm: RS256, KeyFile: writeKeyFile(t, es, false)}, testIssuer, ErrKeyType},
		{"EC key for EdDSA", configs.Assertion{Algorithm: EdDSA, KeyFile: writeKeyFile(t, es, true)}, testIssuer, ErrKeyType},
		{"Ed25519 key for ES256", configs.Assertion{Algorithm: ES256, KeyFile: writeKeyFile(t, newPrivateKey(t, EdDSA), false)}, testIssuer, ErrKeyType},
		{"P-384 key", configs.Assertion{Algorithm: ES256, KeyFile: writeKeyFile(t, newPrivateKey(t, "P-384"), false)}, testIssuer, ErrKeyType},
		{"RSA 1024", configs.Assertion{Algorithm: RS256, KeyFile: writeKeyFile(t, newPrivateKey(t, "RSA-1024"), false)}, testIssuer, ErrWeakKey},
		{"not PEM", configs.Assertion{KeyFile: notPEM}, testIssuer, ErrKeyFile},
		{"encrypted", configs.Assertion{KeyFile: encrypted}, testIssuer, ErrKeyFile},
		{"certificate only", configs.Assertion{KeyFile: certOnly}, testIssuer, ErrKeyFile},
		{"missing key file", configs.Assertion{KeyFile: "/nonexistent/key.pem"}, testIssuer, ErrKeyFile},
		{"unknown algorithm", configs.Assertion{Algorithm: "HS256"}, testIssuer, ErrAlgorithm},
		{"no issuer", configs.Assertion{}, "", ErrNoIssuer},
		{"garbage in key dir", configs.Assertion{KeyDir: badDir}, testIssuer, ErrKeyFile},
		{"key file named by another kid", configs.Assertion{KeyDir: wrongName}, testIssuer, ErrKeyFile},
		{"key dir is a file", configs.Assertion{KeyDir: fileAsDir}, testIssuer, ErrKeyDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.KeyFile == "" && tt.cfg.KeyDir == "" {
				tt.cfg.KeyDir = t.TempDir()
			}
			s, err := New(tt.cfg, tt.issuer, nil)
			if !errors.Is(err, tt.want) {
				t.Errorf("New: %v, want %v", err, tt.want)
			}
			if s != nil {
				t.Error("a Signer with the error")
			}
		})
	}
}

// TestSignErrors: Sign refuses a claim set without a login and a missing audience; the
// configured audience replaces the route's host.
func TestSignErrors(t *testing.T) {
	clk := newClock()
	s := newTestSigner(t, configs.Assertion{}, clk)
	tests := []struct {
		name     string
		set      *claims.Set
		audience string
		want     error
	}{
		{"nil set", nil, "app", ErrNoLogin},
		{"no login", &claims.Set{Email: "x@example.com"}, "app", ErrNoLogin},
		{"no audience", testSet(), "", ErrNoAudience},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Sign(tt.set, tt.audience, "s"); !errors.Is(err, tt.want) {
				t.Errorf("Sign: %v, want %v", err, tt.want)
			}
		})
	}
	if got := s.Audience("helpdesk.example.com"); got != "helpdesk.example.com" {
		t.Errorf("Audience without a configured one: %q", got)
	}
	fixed := newTestSigner(t, configs.Assertion{Audience: "urn:helpdesk"}, clk)
	if got := fixed.Audience("helpdesk.example.com"); got != "urn:helpdesk" {
		t.Errorf("Audience with a configured one: %q", got)
	}
	tok, err := fixed.Sign(testSet(), "", "s")
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, fixed.JWKS(), tok, "urn:helpdesk", clk.Now)
}

// TestCache: a token is reused per session and audience while more than half of its
// lifetime remains, and only for the same claims.
func TestCache(t *testing.T) {
	clk := newClock()
	s := newTestSigner(t, configs.Assertion{TTL: time.Minute}, clk)
	first, _ := s.Sign(testSet(), "app", "s1")
	sign := func(set *claims.Set, aud, session string) string {
		t.Helper()
		tok, err := s.Sign(set, aud, session)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	changed := testSet()
	changed.Groups["billing"] = []string{"rw"}

	tests := []struct {
		name    string
		advance time.Duration
		set     *claims.Set
		aud     string
		session string
		same    bool
	}{
		{"same session and audience", 0, testSet(), "app", "s1", true},
		{"within half-life", 29 * time.Second, testSet(), "app", "s1", true},
		{"other audience", 0, testSet(), "other", "s1", false},
		{"other session", 0, testSet(), "app", "s2", false},
		{"no session key", 0, testSet(), "app", "", false},
		{"other claims", 0, changed, "app", "s1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Advance(tt.advance)
			if got := sign(tt.set, tt.aud, tt.session); (got == first) != tt.same {
				t.Errorf("same token: %v, want %v", got == first, tt.same)
			}
		})
	}
	// "other claims" replaced the entry of (s1, app); go back to the original claims.
	clk = newClock()
	s = newTestSigner(t, configs.Assertion{TTL: time.Minute}, clk)
	a := sign(testSet(), "app", "s1")
	clk.Advance(29 * time.Second)
	if b := sign(testSet(), "app", "s1"); b != a {
		t.Error("new token within half-life")
	}
	clk.Advance(time.Second)
	b := sign(testSet(), "app", "s1")
	if b == a {
		t.Fatal("same token after half-life")
	}
	ca, _ := mustVerify(t, s.JWKS(), a, "app", clk.Now)
	cb, _ := mustVerify(t, s.JWKS(), b, "app", clk.Now)
	if ca.ID == cb.ID {
		t.Error("a new token with the old jti")
	}
	if left := cb.ExpiresAt.Sub(clk.Now()); left != time.Minute {
		t.Errorf("new token lives %v, want 1m", left)
	}

	// A caller changing its Set after Sign does not change what the cache compares with.
	set := testSet()
	c := sign(set, "app", "s3")
	set.Attrs["UserRoom"] = "9.99"
	if d := sign(set, "app", "s3"); d == c {
		t.Error("cached token reused after the caller changed the claim set")
	}
}

// TestCacheBound: the cache never holds more than its bound.
func TestCacheBound(t *testing.T) {
	s := newTestSigner(t, configs.Assertion{Algorithm: EdDSA}, newClock())
	const perShard = 16
	s.cache = newTokenCache(perShard)
	limit := cacheShards * perShard
	set := testSet()
	for i := range limit + limit/2 {
		if _, err := s.Sign(set, "app", fmt.Sprint("session-", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.cache.len(); n > limit || n < limit/4 {
		t.Errorf("cache holds %d tokens, bound %d", n, limit)
	}
	// The most recent session is still cached.
	last := fmt.Sprint("session-", limit+limit/2-1)
	a, _ := s.Sign(set, "app", last)
	b, _ := s.Sign(set, "app", last)
	if a != b {
		t.Error("most recent session not cached")
	}
}

// TestConcurrent signs, rotates and renders the JWKS from many goroutines (run with -race);
// every token verifies against a JWKS fetched after it was signed.
func TestConcurrent(t *testing.T) {
	clk := newClock()
	s := newTestSigner(t, configs.Assertion{TTL: time.Minute, RotateAfter: 10 * time.Second}, clk)
	type signed struct{ tok, aud string }
	var (
		mu     sync.Mutex
		tokens []signed
		wg     sync.WaitGroup
	)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				set := testSet()
				if i%7 == 0 {
					set.Attrs = map[string]string{"UserRoom": fmt.Sprint(i)}
				}
				aud := fmt.Sprint("app", i%3)
				tok, err := s.Sign(set, aud, fmt.Sprint("s", (g*200+i)%50))
				if err != nil {
					t.Error(err)
					return
				}
				if i%20 == 0 {
					mu.Lock()
					tokens = append(tokens, signed{tok, aud})
					mu.Unlock()
				}
				_ = s.JWKS()
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := s.Rotate(); err != nil {
				t.Error(err)
			}
			clk.Advance(time.Second) // also triggers rotate_after now and then
		}
	})
	wg.Wait()
	jwksNow := s.JWKS()
	if n := len(kids(t, jwksNow)); n < 2 {
		t.Errorf("JWKS of %d keys after 20 rotations within ttl", n)
	}
	for _, st := range tokens {
		mustVerify(t, jwksNow, st.tok, st.aud, clk.Now)
	}
}

// BenchmarkSignCached is the cost of a request whose session already has a token.
func BenchmarkSignCached(b *testing.B) {
	for _, alg := range algorithms {
		b.Run(alg, func(b *testing.B) {
			s := newTestSigner(b, configs.Assertion{Algorithm: alg}, newClock())
			set := testSet()
			if _, err := s.Sign(set, "app", "session"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(set, "app", "session"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignCachedParallel is the cached path from every CPU, 1000 sessions.
func BenchmarkSignCachedParallel(b *testing.B) {
	s := newTestSigner(b, configs.Assertion{}, newClock())
	set := testSet()
	sessions := make([]string, 1000)
	for i := range sessions {
		sessions[i] = fmt.Sprint("session-", i)
		s.Sign(set, "app", sessions[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Sign(set, "app", sessions[i%len(sessions)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkSignUncached is the cost of a signature: a new session every time.
func BenchmarkSignUncached(b *testing.B) {
	for _, alg := range algorithms {
		b.Run(alg, func(b *testing.B) {
			s := newTestSigner(b, configs.Assertion{Algorithm: alg}, newClock())
			set := testSet()
			sessions := make([]string, 4096)
			for i := range sessions {
				sessions[i] = fmt.Sprint("session-", i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.cache.clear()
				if _, err := s.Sign(set, "app", sessions[i%len(sessions)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
