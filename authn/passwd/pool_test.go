package passwd

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockingPool returns a pool whose checks block until release is closed,
// and a channel that receives once per started check.
func blockingPool(workers, queue int) (p *Pool, started chan struct{}, release chan struct{}) {
	p = NewPool(workers, queue)
	started, release = make(chan struct{}, 100), make(chan struct{})
	p.check = func(stored, password, login string, plain bool) bool {
		started <- struct{}{}
		<-release
		return Check(stored, password, login, plain)
	}
	return p, started, release
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPoolCheck(t *testing.T) {
	p := NewPool(2, 2)
	ok, err := p.Check(context.Background(), vecSHA2, vecPassword, vecLogin, false)
	if !ok || err != nil {
		t.Fatalf("Check = %v, %v", ok, err)
	}
	ok, err = p.Check(context.Background(), vecSHA2, "wrong", vecLogin, false)
	if ok || err != nil {
		t.Fatalf("wrong password: Check = %v, %v", ok, err)
	}
	if p.Running() != 0 || p.Waiting() != 0 {
		t.Errorf("running %d, waiting %d after return", p.Running(), p.Waiting())
	}
}

func TestPoolDefaults(t *testing.T) {
	if got := NewPool(0, 0).Workers(); got != runtime.NumCPU() {
		t.Errorf("NewPool(0).Workers() = %d, want %d", got, runtime.NumCPU())
	}
	if got := NewPool(-3, -1).Workers(); got != runtime.NumCPU() {
		t.Errorf("NewPool(-3).Workers() = %d", got)
	}
	if got := NewPool(5, 0).Workers(); got != 5 {
		t.Errorf("NewPool(5).Workers() = %d", got)
	}
}

func TestPoolOverloaded(t *testing.T) {
	p, started, release := blockingPool(1, 1)
	ctx := context.Background()
	results := make(chan error, 2)
	go func() {
		_, err := p.Check(ctx, vecSHA2, vecPassword, vecLogin, false)
		results <- err
	}()
	<-started // the worker is busy
	go func() {
		_, err := p.Check(ctx, vecSHA2, vecPassword, vecLogin, false)
		results <- err
	}()
	waitFor(t, "a waiting caller", func() bool { return p.Waiting() == 1 })

	// Queue full: the third caller is refused at once.
	begin := time.Now()
	_, err := p.Check(ctx, vecSHA2, vecPassword, vecLogin, false)
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("third caller: %v, want ErrOverloaded", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("refusal took %v", d)
	}
	if p.Waiting() != 1 {
		t.Errorf("waiting = %d after refusal", p.Waiting())
	}

	close(release)
	for i := 0; i < 2; i++ {
		if err := <-results; err != nil {
			t.Errorf("queued caller: %v", err)
		}
	}
	waitFor(t, "an idle pool", func() bool { return p.Running() == 0 && p.Waiting() == 0 })
}

func TestPoolZeroQueue(t *testing.T) {
	p, started, release := blockingPool(1, 0)
	defer close(release)
	go p.Check(context.Background(), vecSHA2, vecPassword, vecLogin, false)
	<-started
	if _, err := p.Check(context.Background(), vecSHA2, vecPassword, vecLogin, false); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("err = %v, want ErrOverloaded", err)
	}
}

func TestPoolCancelWhileWaiting(t *testing.T) {
	p, started, release := blockingPool(1, 5)
	defer close(release)
	go p.Check(context.Background(), vecSHA2, vecPassword, vecLogin, false)
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Check(ctx, vecSHA2, vecPassword, vecLogin, false)
		errc <- err
	}()
	waitFor(t, "a waiting caller", func() bool { return p.Waiting() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if p.Waiting() != 0 {
		t.Errorf("waiting = %d after cancel", p.Waiting())
	}
}

func TestPoolCancelWhileRunning(t *testing.T) {
	p, started, release := blockingPool(1, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := p.Check(ctx, vecSHA2, vecPassword, vecLogin, false)
		errc <- err
	}()
	<-started
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	// The abandoned check still holds its slot until it ends.
	if p.Running() != 1 {
		t.Errorf("running = %d, want 1", p.Running())
	}
	close(release)
	waitFor(t, "the slot to free", func() bool { return p.Running() == 0 })
}

func TestPoolCancelledBefore(t *testing.T) {
	p := NewPool(1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Check(ctx, vecSHA2, vecPassword, vecLogin, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestPoolBoundsConcurrency(t *testing.T) {
	const workers, callers = 3, 40
	p := NewPool(workers, callers)
	var running, peak atomic.Int32
	p.check = func(stored, password, login string, plain bool) bool {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		return Check(stored, password, login, plain)
	}
	var wg sync.WaitGroup
	var matched atomic.Int32
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := p.Check(context.Background(), vecSHA2, vecPassword, vecLogin, false)
			if err != nil {
				t.Error(err)
			}
			if ok {
				matched.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := peak.Load(); got > workers || got == 0 {
		t.Errorf("peak concurrency %d, want 1..%d", got, workers)
	}
	if matched.Load() != callers {
		t.Errorf("%d of %d matched", matched.Load(), callers)
	}
}
