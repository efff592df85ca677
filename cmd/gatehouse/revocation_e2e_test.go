package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// refuseWithin is how soon every gatehouse process must refuse a session revoked on another
// (issue 8): the local session caches are kept honest by the Redis invalidation feed.
const refuseWithin = 100 * time.Millisecond

// TestRevocationRefusedWithin100ms runs two gatehouse OS processes, A and B, on one real
// Redis. A customer user logs in on A and uses the session on B, which then serves it from
// its local cache (checked: B stops asking Redis for it). The session is revoked — by
// logout on A, by setting the customer user invalid through A's admin API, and by the CLI
// (a third process) — and B must refuse it within 100 ms of the revoking call's return.
func TestRevocationRefusedWithin100ms(t *testing.T) {
	_, upURL := startRecorder(t)
	dsn := sqliteOTRS(t)
	rs := testenv.StartRedisServer(t) // its own server: its command counts are this test's
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(revocationToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	prefix := testenv.RandomName("gh_test_") + ":"
	config := func(name, listen, adminListen string) string {
		path := filepath.Join(dir, name+".yaml")
		yaml := fmt.Sprintf(`
server:
  listen: %q
  public_url: http://%s
admin:
  listen: %q
  api_tokens_file: %q
sessions:
  store: redis
  redis: {url: "redis://%s/0", key_prefix: %q}
routes:
  - name: helpdesk
    path_prefix: /
    upstream: %s
customer_auth:
  - module: db
    dsn: %q
    crypt_type: sha2
customer_user:
  - name: OTRS
    module: db
    params: {dsn: %q}
    customer_company_support: false
log:
  level: warn
`, listen, listen, adminListen, tokens, rs.Addr(), prefix, upURL, dsn, dsn)
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	addrA, adminA, addrB := freeAddr(t), freeAddr(t), freeAddr(t)
	cfgA := config("a", addrA, adminA)
	a := startChild(t, dir, addrA, "serve", "--config", cfgA)
	b := startChild(t, dir, addrB, "serve", "--config", config("b", addrB, ""))
	hmgets := redisCalls(t, rs.Addr(), "hmget") // how a session is read from Redis

	// loginOnAUseOnB logs login in on A and uses the session on B until B serves it from
	// its local cache.
	loginOnAUseOnB := func(login string) *http.Cookie {
		t.Helper()
		c := faAPILogin(t, noRedirect, a.base, login, vectorPassword)
		deadline := time.Now().Add(5 * time.Second)
		for {
			if code := getStatus(t, b.base, c); code != http.StatusOK {
				t.Fatalf("the session from A answered %d on B", code)
			}
			before := hmgets()
			for range 3 {
				getStatus(t, b.base, c)
			}
			if hmgets() == before {
				return c // three requests, no read from Redis: cached
			}
			if time.Now().After(deadline) {
				t.Fatal("B still reads the session from Redis on every request: its local cache is not in use")
			}
			time.Sleep(20 * time.Millisecond) // B's feed subscribes at its first session load
		}
	}

	revocations := []struct {
		name   string
		login  string
		revoke func(t *testing.T, c *http.Cookie)
	}{
		{"logout on A", "u-sha2", func(t *testing.T, c *http.Cookie) {
			req, _ := http.NewRequest("POST", a.base+"/.gatehouse/logout", strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			req.AddCookie(c)
			do(t, req, http.StatusOK)
		}},
		{"set invalid through A's admin API", "u-sha1", func(t *testing.T, _ *http.Cookie) {
			req, _ := http.NewRequest("PATCH", "http://"+adminA+"/api/v1/customer-users/u-sha1", strings.NewReader(`{"ValidID": 2}`))
			req.Header.Set("Authorization", "Bearer "+revocationToken)
			req.Header.Set("Content-Type", "application/json")
			do(t, req, http.StatusOK)
		}},
		{"set invalid by the CLI", "u-sha512", func(t *testing.T, _ *http.Cookie) {
			cmd := exec.Command(os.Args[0], "customer-user", "set-valid", "u-sha512", "invalid", "--config", cfgA)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), envRunMain+"=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("gatehouse customer-user set-valid: %v\n%s", err, out)
			}
		}},
	}
	for _, rv := range revocations {
		t.Run(rv.name, func(t *testing.T) {
			c := loginOnAUseOnB(rv.login)
			rv.revoke(t, c)
			revoked := time.Now() // the revoking call has returned
			for {
				code := getStatus(t, b.base, c)
				took := time.Since(revoked)
				if code == http.StatusUnauthorized {
					t.Logf("%s: B refused the session %v after the revocation returned", rv.name, took.Round(time.Microsecond))
					break
				}
				if code != http.StatusOK {
					t.Fatalf("B answered %d", code)
				}
				if took > refuseWithin {
					t.Fatalf("B still served the revoked session %v after the revocation (limit %v)", took, refuseWithin)
				}
			}
			// And it stays refused (not served again from a cache).
			for range 5 {
				if code := getStatus(t, b.base, c); code != http.StatusUnauthorized {
					t.Fatalf("the revoked session answered %d on B later", code)
				}
			}
		})
	}
}

const revocationToken = "revocation-token-0123456789"

// getStatus GETs / on base with the cookie as an API client (401, not a redirect, without
// a session) and returns the status.
func getStatus(t *testing.T, base string, c *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(c)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// do sends req and fails unless it answers want.
func do(t *testing.T, req *http.Request, want int) {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", req.Method, req.URL.Path, resp.StatusCode, b, want)
	}
}

// redisCalls returns a function reading how many times the Redis server at addr has run
// command (INFO commandstats).
func redisCalls(t *testing.T, addr, command string) func() int {
	cli := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = cli.Close() })
	return func() int {
		t.Helper()
		info, err := cli.Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+command+":calls="); ok {
				n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
				return n
			}
		}
		return 0 // not run yet
	}
}

// TestLocalCacheConfig: sessions.local_cache_ttl reaches the session manager (0 turns the
// cache off: every request asks the store).
func TestLocalCacheConfig(t *testing.T) {
	_, upURL := startRecorder(t)
	dsn := sqliteOTRS(t)
	for _, ttl := range []time.Duration{0, 500 * time.Millisecond} {
		cfg := e2eConfig(t, dsn, "  store: memory", upURL)
		cfg.Sessions.LocalCacheTTL = ttl
		app, err := build(context.Background(), cfg, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		got := app.sessions.LocalCacheTTL()
		app.close()
		if got != ttl {
			t.Errorf("local_cache_ttl %v: the manager caches for %v", ttl, got)
		}
	}
}
