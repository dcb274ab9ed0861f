package loadtest

import "time"

// sleepUntil waits until `at` after start with Go's timer. When the process
// is idle the runtime's poller sleeps in whole milliseconds, so a short
// wait can overshoot by up to ~1ms: that shows as send lag (reported on
// its own) and is why the default saturation threshold is 5ms. A kernel
// sleep (nanosleep) for the last stretch was tried and rejected: a
// goroutine in a syscall keeps its P, and the timers queued on that P (other
// workers' wake-ups) then wait for the runtime's monitor to take the P back
// — up to 10ms on an idle process — which made send lag worse, not better.
func sleepUntil(start time.Time, at time.Duration) {
	for {
		wait := at - time.Since(start)
		if wait <= 0 {
			return
		}
		time.Sleep(wait)
	}
}
