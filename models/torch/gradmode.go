package torch

import (
	"runtime"
	"sync"
	"syscall"
)

// libtorch's grad mode (torch.set_grad_enabled) is thread-local, but a
// goroutine may move to another OS thread between any two cgo calls. gotch's
// ts.NoGrad switches grad off on one thread and, after a migration, back on
// on another: the first thread is left with grad disabled and a later
// forward on it silently builds no graph ("element 0 of tensors does not
// require grad" at backward). So kiln never relies on a thread's leftover
// grad mode:
//
//   - NoGrad pins the goroutine to its thread for the closure and records
//     the thread as intentionally grad-free;
//   - Forward and Backward pin their thread and set grad mode explicitly:
//     off inside NoGrad (or for the no-grad layers of a checkpointed
//     forward), on otherwise, which also repairs threads a stray ts.NoGrad
//     left disabled.

var (
	noGradMu      sync.Mutex
	noGradThreads = map[int]int{} // OS thread id -> NoGrad nesting depth
)

// NoGrad runs fn with autograd off (torch.no_grad()). Unlike gotch's
// ts.NoGrad it is safe with goroutine migration. Nested calls are fine.
func NoGrad(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := syscall.Gettid()
	noGradMu.Lock()
	noGradThreads[tid]++
	noGradMu.Unlock()
	prev := gradSetEnabled(false)
	defer func() {
		gradSetEnabled(prev)
		noGradMu.Lock()
		if noGradThreads[tid]--; noGradThreads[tid] == 0 {
			delete(noGradThreads, tid)
			// Leave the thread in libtorch's default state, whatever a
			// stray ts.NoGrad had left on it before.
			gradSetEnabled(true)
		}
		noGradMu.Unlock()
	}()
	fn()
}

// inNoGrad reports whether the calling (pinned) thread is inside NoGrad.
func inNoGrad() bool {
	tid := syscall.Gettid()
	noGradMu.Lock()
	defer noGradMu.Unlock()
	return noGradThreads[tid] > 0
}

// pinGrad pins the goroutine to its OS thread and sets grad mode to what
// kiln means on it: off inside NoGrad, on otherwise. The thread is left in
// that mode (not the possibly stale previous one), so that the caller's own
// ops on the outputs, e.g. the loss, are recorded too. release unpins.
func pinGrad() (gradOn bool, release func()) {
	runtime.LockOSThread()
	gradOn = !inNoGrad()
	gradSetEnabled(gradOn)
	return gradOn, runtime.UnlockOSThread
}

// setGrad sets grad mode on the (already pinned) thread and returns the
// previous mode.
func setGrad(on bool) bool { return gradSetEnabled(on) }

// gradEnabled reports the calling thread's grad mode; only meaningful while
// the goroutine is pinned.
func gradEnabled() bool {
	prev := gradSetEnabled(true)
	gradSetEnabled(prev)
	return prev
}
