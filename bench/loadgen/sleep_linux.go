//go:build linux

package main

import (
	"runtime"
	"syscall"
	"time"
)

// prSetTimerSlack is prctl's PR_SET_TIMERSLACK (linux/prctl.h).
const prSetTimerSlack = 29

// lockSchedulerThread pins the calling goroutine to its OS thread and sets that thread's
// timer slack to 1 ns, so preciseSleep wakes within a few microseconds of the due time
// instead of the default 50 µs slack. Only this thread is affected.
func lockSchedulerThread() {
	runtime.LockOSThread()
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
}

// preciseSleep sleeps for d in nanosleep(2) on the locked thread. time.Sleep cannot be used
// for the schedule: the Go runtime waits for timers in epoll_wait, whose timeout has
// millisecond resolution, so at 1 000 requests/s every request would be sent up to 1 ms late
// and the generator's own lateness would swamp the sub-millisecond latencies it measures.
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var rem syscall.Timespec
		if err := syscall.Nanosleep(&ts, &rem); err != syscall.EINTR {
			return
		}
		ts = rem // interrupted by a signal (the Go runtime preempts with signals): sleep the rest
	}
}
