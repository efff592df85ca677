package configs

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAssertionDefaults checks the defaults of the assertion keys and that set values are kept.
func TestAssertionDefaults(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Assertion
	}{
		{"defaults", base, Assertion{Header: "X-Gatehouse-Assertion", TTL: time.Minute,
			Algorithm: "ES256", KeyDir: "./gatehouse-data/keys"}},
		{"set", base + "claims:\n  assertion: {enabled: true, algorithm: EdDSA, audience: helpdesk, key_dir: /var/lib/gatehouse/keys, rotate_after: 24h, ttl: 30s}\n",
			Assertion{Enabled: true, Header: "X-Gatehouse-Assertion", TTL: 30 * time.Second, Algorithm: "EdDSA",
				Audience: "helpdesk", KeyDir: "/var/lib/gatehouse/keys", RotateAfter: 24 * time.Hour}},
		{"key file", base + "claims:\n  assertion: {enabled: true, algorithm: RS256, key_file: /etc/gatehouse/key.pem}\n",
			Assertion{Enabled: true, Header: "X-Gatehouse-Assertion", TTL: time.Minute, Algorithm: "RS256",
				KeyFile: "/etc/gatehouse/key.pem", KeyDir: "./gatehouse-data/keys"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.src)
			if got := c.Claims.Assertion; got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestAssertionErrors checks the validation of the assertion keys; src is the assertion mapping.
func TestAssertionErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"algorithm", "{algorithm: HS256}", []string{`9 claims.assertion.algorithm: unknown algorithm "HS256" (want ES256, RS256, EdDSA)`}},
		{"algorithm empty", `{algorithm: ""}`, []string{`9 claims.assertion.algorithm: required (want ES256, RS256, EdDSA)`}},
		{"rotate negative", "{rotate_after: -1h}", []string{`9 claims.assertion.rotate_after: must not be negative, got -1h0m0s`}},
		{"rotate with key file", "{rotate_after: 24h, key_file: /k.pem}",
			[]string{`9 claims.assertion.rotate_after: rotation needs generated keys; key_file is a fixed key (leave one of them out)`}},
		{"key dir empty", `{enabled: true, key_dir: ""}`,
			[]string{`9 claims.assertion.key_dir: required: a directory for the generated signing keys (or set key_file)`}},
		{"key dir empty with key file", `{enabled: true, key_dir: "", key_file: /k.pem}`, nil},
		{"key dir empty when disabled", `{key_dir: ""}`, nil},
		{"audience", `{audience: " helpdesk"}`,
			[]string{`9 claims.assertion.audience: want a host name or URI without surrounding spaces or line breaks, got " helpdesk"`}},
		{"ttl", "{ttl: 0s}", []string{`9 claims.assertion.ttl: must be more than 0, got 0s`}},
		{"all good", "{enabled: true, algorithm: RS256, audience: https://helpdesk.example.com, rotate_after: 720h}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parseTest(t, base+"claims:\n  assertion: "+tt.src+"\n")
			var got []string
			for _, e := range errs {
				got = append(got, fmt.Sprintf("%d %s: %s", e.Line, e.Path, e.Msg))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
