package gateway

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// A fault that hits every request (an upstream or the session store down, a flood of
// forward-auth requests from an untrusted peer) would otherwise write one log line per
// request: tens of thousands a second, formatted on the hot path, filling disks and burying
// the first line that mattered. Such lines go through a repeatLog: the first is written at
// once, then at most one per repeatLogInterval, carrying how many were left out since the
// last one (suppressed=N). The metrics still count every request.

// repeatLogInterval is the least time between two lines of one repeatLog.
var repeatLogInterval = time.Second

// repeatLog lets one repeating log line through at most once per repeatLogInterval.
type repeatLog struct {
	next    atomic.Int64 // unix nanoseconds from which the next line may be written
	dropped atomic.Int64 // lines left out since the last one written
}

// log writes the line through l unless one was written less than repeatLogInterval ago,
// in which case it only counts it. Safe for concurrent use; no allocation when it drops.
func (r *repeatLog) log(l *slog.Logger, level slog.Level, msg string, args ...any) {
	now := time.Now().UnixNano()
	next := r.next.Load()
	if now < next || !r.next.CompareAndSwap(next, now+int64(repeatLogInterval)) {
		r.dropped.Add(1)
		return
	}
	if n := r.dropped.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	l.Log(context.Background(), level, msg, args...)
}

// repeatLogs are the Gateway's rate-limited log lines (upstream failures are per route).
type repeatLogs struct {
	storeDown, loginStoreDown, backendDown, loginFault         repeatLog
	untrustedForwardAuth, ambiguousForwardAuth, untrustedLogin repeatLog
	requestModuleFault, requestModuleDie, upgradeFailed        repeatLog
}
