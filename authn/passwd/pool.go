package passwd

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
)

// ErrOverloaded is returned by Pool.Check when the wait queue is full.
var ErrOverloaded = errors.New("password check pool saturated")

// Pool bounds the CPU spent on password checks: at most `workers` checks run
// at once and at most `queue` callers wait for a turn, so a login flood
// (bcrypt at cost 12 is about a quarter of a CPU second per try) cannot
// starve the proxied traffic. Callers beyond that get ErrOverloaded at once.
type Pool struct {
	slots   chan struct{} // one token per running check
	queue   int64
	waiting atomic.Int64
	check   func(stored, password, login string, plain bool) bool // Check; tests replace it
}

// NewPool returns a pool running at most workers checks at once
// (workers <= 0 means runtime.NumCPU()) with at most queue waiting callers
// (queue < 0 means 0).
func NewPool(workers, queue int) *Pool {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	return &Pool{slots: make(chan struct{}, workers), queue: int64(max(queue, 0)), check: Check}
}

// Check runs Check(stored, password, login, plain) on a worker slot. It
// returns ErrOverloaded at once when `queue` callers already wait, and the
// context's error when ctx ends first. A check that has started runs to the
// end and keeps its slot, so the bound holds even for abandoned callers.
func (p *Pool) Check(ctx context.Context, stored, password, login string, plain bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	select {
	case p.slots <- struct{}{}:
	default:
		if p.waiting.Add(1) > p.queue {
			p.waiting.Add(-1)
			return false, ErrOverloaded
		}
		select {
		case p.slots <- struct{}{}:
			p.waiting.Add(-1)
		case <-ctx.Done():
			p.waiting.Add(-1)
			return false, ctx.Err()
		}
	}
	done := make(chan bool, 1)
	go func() {
		ok := p.check(stored, password, login, plain)
		<-p.slots // freed before the answer, so a caller that returns sees it free
		done <- ok
	}()
	select {
	case ok := <-done:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Running returns the number of checks running now.
func (p *Pool) Running() int { return len(p.slots) }

// Waiting returns the number of callers waiting for a slot.
func (p *Pool) Waiting() int { return int(p.waiting.Load()) }

// Workers returns the maximum number of checks that run at once.
func (p *Pool) Workers() int { return cap(p.slots) }
