//go:build !linux

package main

import "time"

// lockSchedulerThread does nothing off Linux: the benchmark (scripts/bench.sh) is Linux-only,
// this keeps the tool building elsewhere.
func lockSchedulerThread() {}

// preciseSleep falls back to time.Sleep, whose resolution may be about a millisecond; the
// reported lag shows how late the schedule ran.
func preciseSleep(d time.Duration) { time.Sleep(d) }
