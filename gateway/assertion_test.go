package gateway

import (
	"encoding/json"
	"net/http"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-sso/gatehouse/claims/assertion"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// The upstream receives a signed assertion of the identity that an independent JOSE
// implementation (golang-jwt) verifies against gatehouse's served JWKS.
func TestAssertionUpstream(t *testing.T) {
	dir := t.TempDir()
	h := newHarnessDeps(t, func(c *configs.Config) {
		c.Routes = append(c.Routes, configs.Route{Name: "vhost", Host: "helpdesk.example.com", PathPrefix: "/", Upstream: c.Routes[0].Upstream})
	}, func(d *Deps) {
		a := d.Config.Claims.Assertion
		a.Enabled, a.KeyDir = true, dir
		s, err := assertion.New(a, d.Config.Server.PublicURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Config.Claims.Assertion = a
		d.Assertion = s
	})
	_, sess := h.login("jdoe", "Secret123!", "/")
	_, jwksBody := h.do("GET", PathJWKS, nil, nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(jwksBody), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks %s: %v", jwksBody, err)
	}
	keyfunc := func(tok *jwt.Token) (any, error) {
		keys := set.Key(tok.Header["kid"].(string))
		if len(keys) == 0 {
			return nil, jwt.ErrTokenUnverifiable
		}
		return keys[0].Key, nil
	}
	// A host route's audience is its host; a host-less route's is gatehouse's public host,
	// never the Host the client chose.
	for host, aud := range map[string]string{"helpdesk.example.com": "helpdesk.example.com", "other.example.com": "127.0.0.1"} {
		rawRequest(t, h.base, "GET /tickets HTTP/1.1\r\nHost: "+host+"\r\nCookie: gatehouse_session="+sess.Value+"\r\nX-Gatehouse-Assertion: forged\r\n\r\n")
		tok := h.up.request().Header.Get("X-Gatehouse-Assertion")
		claims := jwt.MapClaims{}
		parsed, err := jwt.ParseWithClaims(tok, claims, keyfunc, jwt.WithValidMethods([]string{"ES256"}),
			jwt.WithIssuer(h.base), jwt.WithAudience(aud), jwt.WithExpirationRequired())
		if err != nil || !parsed.Valid {
			t.Fatalf("%s: assertion %q does not verify: %v", host, tok, err)
		}
		if claims["sub"] != "jdoe" || claims["customer_id"] != "ACME" {
			t.Fatalf("claims %v", claims)
		}
		tampered := tok[:len(tok)-4] + "AAAA"
		if _, err := jwt.Parse(tampered, keyfunc, jwt.WithValidMethods([]string{"ES256"})); err == nil {
			t.Fatal("a tampered assertion verified")
		}
	}
	if r, _ := h.do("GET", PathJWKS, nil, nil); r.Header.Get("Content-Type") != "application/jwk-set+json" || r.StatusCode != http.StatusOK {
		t.Fatalf("jwks answer %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
}
