package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// envRunMain makes the test binary act as the gatehouse binary, so process-level tests (the
// newcomer's first run, RSS while streaming, SIGTERM) run the real main without a separate
// build step.
const envRunMain = "GATEHOUSE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// child is a gatehouse process.
type child struct {
	cmd    *exec.Cmd
	stdout *lineBuffer
	stderr *lineBuffer
	base   string
}

type lineBuffer struct {
	lines chan string
	mu    sync.Mutex
	all   strings.Builder
}

// String is everything read so far.
func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.all.String()
}

func newLineBuffer(r io.Reader) *lineBuffer {
	b := &lineBuffer{lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			b.mu.Lock()
			b.all.WriteString(sc.Text() + "\n")
			b.mu.Unlock()
			select {
			case b.lines <- sc.Text():
			default:
			}
		}
		close(b.lines)
	}()
	return b
}

// eventually reports whether re matches the output within d (lines arrive through a pipe).
func (b *lineBuffer) eventually(re *regexp.Regexp, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if re.MatchString(b.String()) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// waitFor returns the first line matching re within d.
func (b *lineBuffer) waitFor(t *testing.T, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case l, ok := <-b.lines:
			if !ok {
				t.Fatalf("output ended without %v", re)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("no %v within %v", re, d)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startChild runs `gatehouse args…` in dir and waits for /.gatehouse/healthz on addr.
func startChild(t *testing.T, dir, addr string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdout: newLineBuffer(out), stderr: newLineBuffer(errp), base: "http://" + addr}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(c.base + "/.gatehouse/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gatehouse did not come up on %s; stderr:\n%s", addr, c.stderr.String())
	return nil
}

// vmHWM reads the peak resident set size of pid in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")), "%d kB", &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
