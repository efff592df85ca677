package gateway

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRepeatLog(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	l := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	lines := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Split(strings.TrimSpace(buf.String()), "\n")
	}
	var r repeatLog
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				r.log(l, slog.LevelWarn, "upstream request failed", "route", "app")
			}
		})
	}
	wg.Wait()
	if got := lines(); len(got) != 1 || strings.Contains(got[0], "suppressed") {
		t.Fatalf("800 repeats in a burst wrote %q, want the first line only", got)
	}
	r.next.Store(time.Now().UnixNano()) // the interval has passed
	r.log(l, slog.LevelWarn, "upstream request failed", "route", "app")
	got := lines()
	if len(got) != 2 || !strings.Contains(got[1], "route=app suppressed=799") {
		t.Fatalf("after the interval: %q, want a line carrying suppressed=799", got)
	}
	if n := testing.AllocsPerRun(100, func() { r.log(l, slog.LevelWarn, "upstream request failed", "route", "app") }); n != 0 {
		t.Fatalf("a dropped line allocates %v times", n)
	}
}

// TestRepeatLogUpstreamDown: an upstream that is down answers every request 502, and the
// log gets one line for the burst, not one per request.
func TestRepeatLogUpstreamDown(t *testing.T) {
	h := fastHarness(t, nil)
	_, ck := h.login("jdoe", "Secret123!", "")
	h.up.Close()
	start := time.Now()
	for range 20 {
		if resp, _ := h.do("GET", "/app/page", nil, nil, ck); resp.StatusCode != 502 {
			t.Fatalf("upstream down: %d, want 502", resp.StatusCode)
		}
	}
	// One line for the burst; a machine slow enough to stretch it past the interval may
	// write one more per interval, never one per request.
	most := 1 + int(time.Since(start)/repeatLogInterval)
	if n := strings.Count(h.logs.String(), "upstream request failed"); n < 1 || n > most {
		t.Fatalf("%d log lines for 20 failures in %v, want 1 (at most %d):\n%s", n, time.Since(start), most, h.logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
