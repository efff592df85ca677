package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
	sessionsredis "github.com/gatehouse-sso/gatehouse/sessions/redis"
)

// Every route of the handler is in the OpenAPI document, and every operation of the
// document is a route — and the handler really answers each (not 404/405 from the mux).
func TestAdminOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	methods := []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}
	var documented []string
	for p, item := range doc.Paths {
		for m := range item {
			if slices.Contains(methods, m) {
				documented = append(documented, strings.ToUpper(m)+" "+p)
			} else if m != "parameters" && m != "summary" && m != "description" {
				t.Errorf("path %s: unexpected key %q", p, m)
			}
		}
	}
	a := &api{}
	var routed []string
	for _, r := range a.routes() {
		routed = append(routed, r.pattern)
	}
	slices.Sort(documented)
	slices.Sort(routed)
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("openapi.json documents %q, which is no route", d)
		}
	}
	// Every $ref resolves.
	var all map[string]any
	_ = json.Unmarshal(OpenAPI(), &all)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
				var cur any = all
				for _, p := range parts {
					m, _ := cur.(map[string]any)
					cur = m[p]
				}
				if cur == nil {
					t.Errorf("unresolved $ref %s", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(all)

	// The handler answers every documented operation (a real route: never the mux's own
	// 404 or 405), and the document is served.
	h := NewAPI(&Service{}, []string{testToken}, nil)
	for _, d := range documented {
		method, path, _ := strings.Cut(d, " ")
		path = strings.NewReplacer("{id}", "X", "{login}", "x", "{name}", "g").Replace(path)
		req := httptest.NewRequest(method, path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if path != "/api/v1/openapi.json" && rec.Code != http.StatusUnauthorized {
			t.Errorf("%s without token: %d, want 401 from the route", d, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if rec.Code != 200 || rec.Body.String() != string(OpenAPI()) {
		t.Fatalf("openapi.json served: %d", rec.Code)
	}
}

// Two gatehouse processes share the Redis session store: an admin change in one (its
// Manager revokes) ends the sessions the other created.
func TestAdminValidityRevokesRedisSessionsAcrossProcesses(t *testing.T) {
	addr := testenv.RedisAddr(t)
	prefix := testenv.RandomName("gh_test_") + ":"
	open := func() *sessions.Manager {
		st, err := sessionsredis.New(configs.Redis{URL: "redis://" + addr + "/0", KeyPrefix: prefix, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return sessions.NewManager(st, time.Hour, 2*time.Hour)
	}
	gateway := open() // process 1: serves the customer
	adminSt := open() // process 2: the admin API
	e := newEnv(t, testenv.SQLiteDSN(t), envOpts{sessions: adminSt.Store()})
	ctx := context.Background()
	e.expect("POST", "/api/v1/customers", map[string]any{"CustomerID": "ACME", "CustomerCompanyName": "Acme"}, 201, "")
	e.expect("POST", "/api/v1/customer-users", user("jdoe", "ACME"), 201, "")
	var ids []string
	for range 2 {
		id, _, err := gateway.Create(ctx, claims.Set{Login: "jdoe"}, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	keep, _, _ := gateway.Create(ctx, claims.Set{Login: "jdoe2"}, "127.0.0.1")
	m := e.expect("PATCH", "/api/v1/customer-users/jdoe", map[string]any{"ValidID": "invalid"}, 200, "")
	if m["SessionsEnded"] != float64(2) {
		t.Fatalf("sessions ended: %v", m["SessionsEnded"])
	}
	for _, id := range ids {
		if _, err := gateway.Load(ctx, id); !errors.Is(err, sessions.ErrNotFound) {
			t.Fatalf("process 1 still has the session: %v", err)
		}
	}
	if _, err := gateway.Load(ctx, keep); err != nil {
		t.Fatalf("another user's session ended: %v", err)
	}
}
