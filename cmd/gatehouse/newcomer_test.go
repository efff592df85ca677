package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNewcomer does what the README's first command promises: `gatehouse serve --demo` on
// the embedded default in an empty directory, a login as the demo user, and the echo page
// showing Remote-User.
func TestNewcomer(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	gh := startChild(t, dir, addr, "serve", "--demo", "--listen", addr)
	login := gh.stdout.waitFor(t, regexp.MustCompile(`^\s+login:\s+(\S+)`), 10*time.Second)[1]
	pw := gh.stdout.waitFor(t, regexp.MustCompile(`^\s+password:\s+(\S+)`), 10*time.Second)[1]
	if _, err := os.Stat(filepath.Join(dir, "gatehouse-data", "gatehouse.db")); err != nil {
		t.Fatalf("embedded default did not create its SQLite database: %v", err)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	body, _ := json.Marshal(map[string]string{"username": login, "password": pw})
	resp, err := c.Post(gh.base+"/.gatehouse/api/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("demo login: %d", resp.StatusCode)
	}
	resp, err = c.Get(gh.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"Remote-User: demo", "X-Customer-Id: DEMO", "X-Customer-User-Email: demo@example.com"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("echo page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(string(page), "gatehouse_session") {
		t.Errorf("the session cookie reached the upstream:\n%s", page)
	}

	// Access log: one line per request, never the password or the session id.
	if !gh.stderr.eventually(regexp.MustCompile(`msg=request log=access .*method=GET path=/ status=200 .*login=demo route=echo`), 5*time.Second) {
		t.Errorf("no access line for the proxied request:\n%s", gh.stderr.String())
	}
	for _, cookie := range jar.Cookies(resp.Request.URL) {
		if strings.Contains(gh.stderr.String(), cookie.Value) {
			t.Error("the session id reached the log")
		}
	}
	if strings.Contains(gh.stderr.String(), pw) {
		t.Error("the password reached the log")
	}

	// SIGTERM: a graceful stop with exit status 0.
	_ = gh.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- gh.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, gh.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit within 20 s of SIGTERM")
	}
}
