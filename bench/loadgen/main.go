// Command loadgen is the load benchmark's own load generator, for the two measurements wrk
// cannot make (scripts/bench.sh runs it):
//
//	loadgen rate  -url URL [-rate 1000] [-d 10s] [-warmup 2s] [-conns 8] [-H 'Name: value']...
//	loadgen login -url URL -user LOGIN -password-file FILE [-n 300] [-warmup 30]
//
// rate sends GET requests at a fixed rate (open loop) over a pool of keep-alive connections
// and measures each request's latency from the moment it was *meant* to be sent. wrk is a
// closed loop: a slow answer delays the next request on that connection, so the stall is
// never sampled ("coordinated omission"), and wrk cannot hold a fixed rate at all. Here a
// request that waits for a free connection, or is sent late because the generator itself was
// descheduled, counts that wait against the latency — a pessimistic reading, never an
// optimistic one. Two more views let a reader tell the causes apart: lag, how late the
// generator itself handed each request over (it is descheduled on a busy machine), and
// service time, from the moment a connection started sending the request to the full answer.
//
// login posts JSON logins ({"username", "password"} to /.gatehouse/api/login) one after the
// other over one keep-alive connection and measures each from send to the full answer.
//
// Both print one line of key=value pairs on stdout (milliseconds with three decimals) that
// scripts/bench.sh parses, and details of failures on stderr. Any answer other than -expect
// (default 200), or a transport error, counts as an error; the exit status is 1 when there
// were errors, so a run that measured the wrong thing does not look like a result.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "rate":
		err = runRate(os.Args[2:])
	case "login":
		err = runLogin(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "loadgen: unknown mode %q\n", os.Args[1])
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  loadgen rate  -url URL [-rate 1000] [-d 10s] [-warmup 2s] [-conns 8] [-H 'Name: value']...
  loadgen login -url URL -user LOGIN (-password P | -password-file FILE) [-n 300] [-warmup 30]
Run "loadgen MODE -h" for the flags of a mode.
`)
	os.Exit(2)
}

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }

func (h *headerFlags) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("want 'Name: value', got %q", v)
	}
	*h = append(*h, v)
	return nil
}

// apply sets the collected headers on req; Host is the request's host, not a header, in Go.
func (h headerFlags) apply(req *http.Request) {
	for _, kv := range h {
		name, value, _ := strings.Cut(kv, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if strings.EqualFold(name, "Host") {
			req.Host = value
			continue
		}
		req.Header.Add(name, value)
	}
}

// newClient is an HTTP/1.1 client whose pool holds up to conns keep-alive connections to one
// host and never more: with -conns 8 at most 8 requests are in flight, as with a proxy's
// upstream keep-alive pool.
func newClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxConnsPerHost:     conns,
			MaxIdleConnsPerHost: conns,
			MaxIdleConns:        conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true, // measure the bytes the server sends, not a decompressor
			ForceAttemptHTTP2:   false,
		},
		// A redirect is an answer to report (a 302 to the login page means no session), not one to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends req and reads the whole answer, so the connection goes back to the pool; it
// returns an error for a transport failure or a status other than expect.
func do(client *http.Client, req *http.Request, expect int) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != expect {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, expect)
	}
	return nil
}

// errorLog counts errors and keeps the first few messages for stderr.
type errorLog struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *errorLog) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 5 {
		e.first = append(e.first, err.Error())
	}
}

func (e *errorLog) report() {
	for _, m := range e.first {
		fmt.Fprintf(os.Stderr, "loadgen: error: %s\n", m)
	}
	if e.n > len(e.first) {
		fmt.Fprintf(os.Stderr, "loadgen: … %d errors in all\n", e.n)
	}
}

// stats are the order statistics of a set of durations, in milliseconds.
type stats struct {
	n                              int
	p50, p90, p99, p999, max, mean float64
}

func summarize(d []time.Duration) stats {
	if len(d) == 0 {
		return stats{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	// Nearest-rank percentile: the smallest value with at least q of the samples at or below it.
	q := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(d)))) - 1
		return ms(d[max(0, min(i, len(d)-1))])
	}
	return stats{
		n: len(d), p50: q(0.50), p90: q(0.90), p99: q(0.99), p999: q(0.999),
		max: ms(d[len(d)-1]), mean: ms(sum / time.Duration(len(d))),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// kv renders the statistics as key=value pairs with the given prefix ("", "svc_" or "lag_").
func (s stats) kv(prefix string) string {
	return fmt.Sprintf("%sp50_ms=%.3f %sp90_ms=%.3f %sp99_ms=%.3f %sp999_ms=%.3f %smax_ms=%.3f %smean_ms=%.3f",
		prefix, s.p50, prefix, s.p90, prefix, s.p99, prefix, s.p999, prefix, s.max, prefix, s.mean)
}

// job is one scheduled request: when it was meant to go out, and whether it is measured
// (requests of the warm-up are sent at the same rate but not counted).
type job struct {
	intended time.Time
	measured bool
}

func runRate(args []string) error {
	fs := flag.NewFlagSet("loadgen rate", flag.ExitOnError)
	target := fs.String("url", "", "URL to GET (required)")
	rate := fs.Float64("rate", 1000, "requests per second, held fixed (open loop)")
	dur := fs.Duration("d", 10*time.Second, "measured duration")
	warmup := fs.Duration("warmup", 2*time.Second, "duration at the same rate before measuring (fills the pool, warms the server)")
	conns := fs.Int("conns", 8, "keep-alive connections (the most requests in flight at once)")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout (an error)")
	expect := fs.Int("expect", http.StatusOK, "expected status; any other is an error")
	var hdrs headerFlags
	fs.Var(&hdrs, "H", "request header 'Name: value' (repeatable)")
	_ = fs.Parse(args)
	if *target == "" || fs.NArg() != 0 || *rate <= 0 || *dur <= 0 || *warmup < 0 || *conns < 1 {
		fs.Usage()
		os.Exit(2)
	}
	tmpl, err := http.NewRequest(http.MethodGet, *target, nil)
	if err != nil {
		return err
	}
	hdrs.apply(tmpl)
	client := newClient(*conns, *timeout)
	interval := time.Duration(float64(time.Second) / *rate)
	total := int((*warmup + *dur) / interval)
	warmN := int(*warmup / interval)

	// Every job is queued at its intended time; a worker that picks it up late (all
	// connections busy) still measures from the intended time. The queue holds the whole
	// run, so the scheduler never blocks on a slow server.
	jobs := make(chan job, min(total, 1<<20))
	var (
		errs    errorLog
		mu      sync.Mutex
		lats    = make([]time.Duration, 0, total-warmN)
		svcs    = make([]time.Duration, 0, total-warmN)
		wg      sync.WaitGroup
		maxBusy atomic.Int64
		busy    atomic.Int64
	)
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, (total-warmN) / *conns + 1)
			localSvc := make([]time.Duration, 0, (total-warmN) / *conns + 1)
			for j := range jobs {
				b := busy.Add(1)
				for m := maxBusy.Load(); b > m && !maxBusy.CompareAndSwap(m, b); m = maxBusy.Load() {
				}
				t0 := time.Now()
				err := do(client, tmpl.Clone(context.Background()), *expect)
				done := time.Now()
				lat := done.Sub(j.intended)
				busy.Add(-1)
				if !j.measured {
					continue
				}
				if err != nil {
					errs.add(err)
					continue
				}
				local = append(local, lat)
				localSvc = append(localSvc, done.Sub(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			svcs = append(svcs, localSvc...)
			mu.Unlock()
		}()
	}

	// The schedule is fixed in advance: request i is due at start + i·interval. Sleeping
	// until each due time (rather than spinning) leaves the CPU to the server being measured;
	// the price is some wake-up lateness, which is measured and reported as lag.
	lockSchedulerThread()
	lags := make([]time.Duration, 0, total-warmN)
	start := time.Now().Add(10 * time.Millisecond)
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			preciseSleep(d)
		}
		measured := i >= warmN
		if measured {
			lags = append(lags, time.Since(due))
		}
		jobs <- job{intended: due, measured: measured}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start.Add(time.Duration(warmN) * interval))

	errs.report()
	s := summarize(lats)
	fmt.Printf("mode=rate url=%s rate=%.0f duration_s=%.1f sent=%d ok=%d errors=%d achieved_rps=%.0f max_in_flight=%d conns=%d %s %s %s\n",
		*target, *rate, dur.Seconds(), total-warmN, s.n, errs.n, float64(total-warmN)/elapsed.Seconds(),
		maxBusy.Load(), *conns, s.kv(""), summarize(svcs).kv("svc_"), summarize(lags).kv("lag_"))
	if errs.n > 0 {
		return fmt.Errorf("%d of %d requests failed", errs.n, total-warmN)
	}
	return nil
}

func runLogin(args []string) error {
	fs := flag.NewFlagSet("loadgen login", flag.ExitOnError)
	target := fs.String("url", "", "login URL, e.g. http://127.0.0.1:8080/.gatehouse/api/login (required)")
	user := fs.String("user", "", "login name (required)")
	password := fs.String("password", "", "password (visible in ps; prefer -password-file)")
	pwFile := fs.String("password-file", "", "file holding the password (one trailing newline is trimmed)")
	n := fs.Int("n", 300, "measured logins")
	warmup := fs.Int("warmup", 30, "logins before measuring (connection set-up, the server's pools and caches)")
	timeout := fs.Duration("timeout", 10*time.Second, "per-login timeout (an error)")
	expect := fs.Int("expect", http.StatusOK, "expected status; any other is an error")
	_ = fs.Parse(args)
	if *target == "" || *user == "" || fs.NArg() != 0 || *n < 1 || *warmup < 0 {
		fs.Usage()
		os.Exit(2)
	}
	pw := *password
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return err
		}
		pw = strings.TrimSuffix(string(b), "\n")
	}
	if pw == "" {
		return errors.New("no password: give -password or -password-file")
	}
	body, err := json.Marshal(map[string]string{"username": *user, "password": pw})
	if err != nil {
		return err
	}
	client := newClient(1, *timeout)
	var errs errorLog
	lats := make([]time.Duration, 0, *n)
	for i := range *warmup + *n {
		req, err := http.NewRequest(http.MethodPost, *target, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		err = do(client, req, *expect)
		lat := time.Since(t0)
		if i < *warmup {
			if err != nil && i == 0 {
				// The very first login failing means a wrong setup, not a slow server.
				return fmt.Errorf("first warm-up login as %q: %w", *user, err)
			}
			continue
		}
		if err != nil {
			errs.add(err)
			continue
		}
		lats = append(lats, lat)
	}
	errs.report()
	s := summarize(lats)
	fmt.Printf("mode=login url=%s user=%s sent=%d ok=%d errors=%d %s\n", *target, *user, *n, s.n, errs.n, s.kv(""))
	if errs.n > 0 {
		return fmt.Errorf("%d of %d logins failed", errs.n, *n)
	}
	return nil
}
