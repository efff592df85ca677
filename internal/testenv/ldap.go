package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// Environment variables of the LDAP test server (written by scripts/test-services.sh).
const (
	EnvLDAPURL  = "GATEHOUSE_TEST_LDAP_URL"  // ldap://127.0.0.1:20389
	EnvLDAPSURL = "GATEHOUSE_TEST_LDAPS_URL" // ldaps://127.0.0.1:20390
	EnvLDAPCA   = "GATEHOUSE_TEST_LDAP_CA"   // the test CA that signed the server certificate
)

const (
	defaultLDAPURL  = "ldap://127.0.0.1:20389"
	defaultLDAPSURL = "ldaps://127.0.0.1:20390"
)

// LDAPEnv describes the directory scripts/start-ldap.sh builds: its URLs, the test CA and the
// fixed entries (see the script for the users, groups and the ISO-8859-1 branch).
type LDAPEnv struct {
	URL      string // ldap://127.0.0.1:PORT
	LDAPSURL string // ldaps://127.0.0.1:PORT+1
	CAFile   string // PEM of the test CA; "" when unknown

	BaseDN   string // dc=example,dc=com
	PeopleDN string // ou=people,dc=example,dc=com
	GroupsDN string // ou=groups,dc=example,dc=com
	Latin1DN string // ou=latin1,dc=example,dc=com: legacyDescription holds ISO-8859-1 bytes

	AdminDN, AdminPassword       string // the rootdn
	ReadOnlyDN, ReadOnlyPassword string // the search account

	DevelopersDN string // posixGroup, memberUid alice and jmuller
	AdminsDN     string // groupOfNames, member alice and bob
}

// UserDN is the DN of a user in ou=people.
func (e LDAPEnv) UserDN(uid string) string { return "uid=" + uid + "," + e.PeopleDN }

func newLDAPEnv(url, ldapsURL, ca string) LDAPEnv {
	base := "dc=example,dc=com"
	return LDAPEnv{
		URL: url, LDAPSURL: ldapsURL, CAFile: ca,
		BaseDN:   base,
		PeopleDN: "ou=people," + base, GroupsDN: "ou=groups," + base, Latin1DN: "ou=latin1," + base,
		AdminDN: "cn=admin," + base, AdminPassword: "adminpass",
		ReadOnlyDN: "cn=readonly," + base, ReadOnlyPassword: "readonlypass",
		DevelopersDN: "cn=developers,ou=groups," + base, AdminsDN: "cn=admins,ou=groups," + base,
	}
}

// LDAP returns the shared test directory (scripts/test-services.sh starts it). When it does
// not answer, the test fails under GATEHOUSE_TEST_REQUIRE=1 and is skipped otherwise.
func LDAP(t testing.TB) LDAPEnv {
	t.Helper()
	e := newLDAPEnv(env(EnvLDAPURL, defaultLDAPURL), os.Getenv(EnvLDAPSURL), os.Getenv(EnvLDAPCA))
	if e.LDAPSURL == "" {
		e.LDAPSURL = ldapsNextTo(e.URL)
	}
	if err := probeLDAP(e); err != nil {
		missing(t, "LDAP (slapd) at "+e.URL, err)
	}
	return e
}

// LDAPWithTLS is LDAP for tests that need LDAPS or StartTLS: it also needs the test CA.
func LDAPWithTLS(t testing.TB) LDAPEnv {
	t.Helper()
	e := LDAP(t)
	if e.CAFile == "" {
		missing(t, "LDAP test CA", fmt.Errorf("%s is not set", EnvLDAPCA))
	}
	if _, err := os.Stat(e.CAFile); err != nil {
		missing(t, "LDAP test CA", err)
	}
	return e
}

// ldapsNextTo is the LDAPS URL of start-ldap.sh's layout: the port after the LDAP port.
func ldapsNextTo(url string) string {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(url, "ldap://"))
	if err != nil {
		return defaultLDAPSURL
	}
	n, _ := strconv.Atoi(port)
	return "ldaps://" + net.JoinHostPort(host, strconv.Itoa(n+1))
}

// probeLDAP binds as the read-only account and finds alice: the server is up and holds the
// test data.
func probeLDAP(e LDAPEnv) error {
	c, err := goldap.DialURL(e.URL, goldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(3 * time.Second)
	if err := c.Bind(e.ReadOnlyDN, e.ReadOnlyPassword); err != nil {
		return fmt.Errorf("bind as %s: %w", e.ReadOnlyDN, err)
	}
	res, err := c.Search(goldap.NewSearchRequest(e.PeopleDN, goldap.ScopeSingleLevel, goldap.NeverDerefAliases,
		0, 3, false, "(uid=alice)", []string{"1.1"}, nil))
	if err != nil {
		return fmt.Errorf("search uid=alice: %w", err)
	}
	if len(res.Entries) != 1 {
		return fmt.Errorf("uid=alice not found under %s: not the test directory", e.PeopleDN)
	}
	return nil
}

// LDAPServer is a private slapd built by scripts/start-ldap.sh in a temp dir, for tests that
// stop and restart the server. It is stopped when the test ends.
type LDAPServer struct {
	LDAPEnv
	t      testing.TB
	dir    string
	port   int
	script string
}

// StartLDAPServer builds and starts a private slapd on a free port below the ephemeral range.
// Without slapd installed the test fails under GATEHOUSE_TEST_REQUIRE=1 and is skipped
// otherwise.
func StartLDAPServer(t testing.TB) *LDAPServer {
	t.Helper()
	for _, bin := range []string{"slapd", "slapadd", "ldapadd"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + bin); err2 != nil {
				missing(t, "slapd", fmt.Errorf("%s not found (apt-get install slapd ldap-utils): %w", bin, err))
			}
		}
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "start-ldap.sh")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("start-ldap.sh: %v", err)
	}
	s := &LDAPServer{t: t, dir: t.TempDir(), script: script, port: freePortPair(t)}
	s.LDAPEnv = newLDAPEnv(fmt.Sprintf("ldap://127.0.0.1:%d", s.port), fmt.Sprintf("ldaps://127.0.0.1:%d", s.port+1),
		filepath.Join(s.dir, "tls", "ca.crt"))
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// freePortPair finds PORT and PORT+1 both free, in 20000–32767: the ephemeral range above it
// can be exhausted by other tests' TIME-WAIT connections (see test-services.md §1).
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := 20000 + 2*rand.IntN(6000) // even, so PORT+1 stays below 32768
		if p == 20388 || p == 20390 {
			continue // next to the shared server's ports
		}
		l1, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		_ = l1.Close()
		if err != nil {
			continue
		}
		_ = l2.Close()
		return p
	}
	t.Fatal("no free port pair below 32768")
	return 0
}

// Dir is the server's directory (slapd.conf, data, tls).
func (s *LDAPServer) Dir() string { return s.dir }

// Start starts (or restarts, on the existing data) the server and waits until it answers.
func (s *LDAPServer) Start() {
	s.t.Helper()
	out, err := exec.Command("bash", s.script, s.dir, strconv.Itoa(s.port)).CombinedOutput()
	if err != nil {
		s.t.Fatalf("start-ldap.sh %s %d: %v\n%s", s.dir, s.port, err, out)
	}
}

// Stop stops the server by its PID file and waits until it has exited.
func (s *LDAPServer) Stop() {
	stop := filepath.Join(s.dir, "stop.sh")
	if _, err := os.Stat(stop); err != nil {
		return
	}
	if out, err := exec.Command("sh", stop).CombinedOutput(); err != nil {
		s.t.Errorf("%s: %v\n%s", stop, err, out)
	}
}
