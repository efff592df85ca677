package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

func runCmd(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// A bad config is refused at start-up with the same messages check-config prints, every
// error with its key path and line.
func TestBadConfigSameMessages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := "server:\n  listen: nonsense\ncustomer_auth:\n  - module: db\n    crypt_type: sha3\n    colour: blue\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code1, _, check := runCmd("", "check-config", "--config", path)
	code2, _, serve := runCmd("", "serve", "--config", path)
	if code1 != 1 || code2 != 1 {
		t.Fatalf("exit codes %d %d, want 1", code1, code2)
	}
	if check != serve {
		t.Fatalf("check-config and serve differ:\n%s\n---\n%s", check, serve)
	}
	for _, want := range []string{"bad.yaml:2: server.listen", "bad.yaml:5: customer_auth[0].crypt_type", "bad.yaml:6: customer_auth[0].colour"} {
		if !strings.Contains(check, want) {
			t.Errorf("missing %q in:\n%s", want, check)
		}
	}
}

// The embedded default passes check-config (configs' own tests load every example).
func TestCheckConfigDefault(t *testing.T) {
	code, out, errs := runCmd("", "check-config", "--config", "../../configs/examples/default.yaml")
	if code != 0 || !strings.Contains(out, "configuration OK") {
		t.Fatalf("default.yaml: %d %s %s", code, out, errs)
	}
}

func TestHashPassword(t *testing.T) {
	for _, typ := range passwd.Types {
		t.Run(typ, func(t *testing.T) {
			code, out, errs := runCmd("Secret123!\n", "hash-password", "--crypt-type", typ, "--login", "john.doe@example.com", "--cost", "9")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			stored := strings.TrimSpace(out)
			if !passwd.Check(stored, "Secret123!", "john.doe@example.com", typ == passwd.TypePlain) {
				t.Fatalf("%s: %q does not check", typ, stored)
			}
		})
	}
	if code, _, _ := runCmd("", "hash-password", "--crypt-type", "sha2"); code == 0 {
		t.Error("empty password accepted")
	}
	if code, _, _ := runCmd("x\n", "hash-password", "--crypt-type", "md5"); code == 0 {
		t.Error("md5 without --login accepted")
	}
	if code, _, _ := runCmd("x\n", "hash-password", "--crypt-type", "sha3"); code == 0 {
		t.Error("unknown crypt type accepted")
	}
}

func TestMigrateCommand(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	path := filepath.Join(t.TempDir(), "gh.yaml")
	cfg := "customer_auth: [{module: db}]\ncustomer_user: [{module: db, params: {dsn: \"" + dsn + "\"}}]\nroutes: [{upstream: echo}]\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd("", "migrate", "--config", path)
	if code != 0 || !strings.Contains(out, "created valid, customer_user") {
		t.Fatalf("first migrate: %d %s %s", code, out, errs)
	}
	code, out, _ = runCmd("", "migrate", "--config", path)
	if code != 0 || !strings.Contains(out, "nothing changed") {
		t.Fatalf("second migrate: %d %s", code, out)
	}
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCmd("", "version"); code != 0 || !strings.HasPrefix(out, "gatehouse ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, errs := runCmd("", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
}

func TestListenOverride(t *testing.T) {
	if code, _, errs := runCmd("", "serve", "--listen", "0.0.0.0:18080"); code != 2 || !strings.Contains(errs, "public_url") {
		t.Fatalf("non-loopback --listen without public_url: %d %q", code, errs)
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, "10.1.2.3:1": false, "x": false} {
		if got := loopbackListen(addr); got != want {
			t.Errorf("loopbackListen(%q) = %v", addr, got)
		}
	}
}
