package torch

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

// The libtorch bridge exports these C functions, but gotch v0.9.1 has no Go
// wrappers for them. Looking them up in the running process (the bridge is
// already loaded by gotch's cgo layer) keeps this package independent of
// how the bridge is linked.
static void *kiln_sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }
static void kiln_call_seed(void *f, int64_t s) { ((void (*)(int64_t))f)(s); }
static void kiln_call_set_threads(void *f, int n) { ((void (*)(int))f)(n); }
static int kiln_call_get_threads(void *f) { return ((int (*)(void))f)(); }
static int kiln_call_grad_set(void *f, int b) { return ((int (*)(int))f)(b); }
*/
import "C"

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

func sym(name string) unsafe.Pointer {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.kiln_sym(cs)
}

var (
	symOnce                            sync.Once
	fnSeed, fnSetThreads, fnGetThreads unsafe.Pointer
	fnGradSet                          unsafe.Pointer
)

func loadSyms() {
	symOnce.Do(func() {
		fnSeed = sym("at_manual_seed")
		fnSetThreads = sym("at_set_num_threads")
		fnGetThreads = sym("at_get_num_threads")
		fnGradSet = sym("at_grad_set_enabled")
	})
}

// ManualSeed seeds libtorch's default CPU generator (torch.manual_seed).
func ManualSeed(seed int64) error {
	loadSyms()
	if fnSeed == nil {
		return fmt.Errorf("libtorch bridge does not export at_manual_seed")
	}
	C.kiln_call_seed(fnSeed, C.int64_t(seed))
	return nil
}

// gradSetEnabled sets libtorch's (thread-local) grad mode on the calling
// thread and returns the previous mode. gotch's ts.GradSetEnabled cannot be
// used for the previous mode: it reads the C int result through an 8-byte
// Go int, so the upper half is stack garbage and "previous" is often wrong.
func gradSetEnabled(on bool) bool {
	loadSyms()
	if fnGradSet == nil {
		// Every gotch bridge exports it; without it nothing here works.
		panic("libtorch bridge does not export at_grad_set_enabled")
	}
	b := C.int(0)
	if on {
		b = 1
	}
	return C.kiln_call_grad_set(fnGradSet, b) == 1
}

// SetNumThreads sets libtorch's intra-op thread count on the calling OS
// thread and makes n the count InitThreads applies from now on.
func SetNumThreads(n int) error {
	threadCount() // an explicit count wins over the environment's default
	wantThreads.Store(int32(n))
	return setThreads(n)
}

func setThreads(n int) error {
	loadSyms()
	if fnSetThreads == nil {
		return fmt.Errorf("libtorch bridge does not export at_set_num_threads")
	}
	C.kiln_call_set_threads(fnSetThreads, C.int(n))
	return nil
}

// NumThreads reports libtorch's intra-op thread count on the calling OS
// thread (0 if unknown).
func NumThreads() int {
	loadSyms()
	if fnGetThreads == nil {
		return 0
	}
	return int(C.kiln_call_get_threads(fnGetThreads))
}

var (
	threadsOnce sync.Once
	wantThreads atomic.Int32
)

// threadCount is the process's intra-op thread count: OMP_NUM_THREADS,
// default the number of CPUs (Debian's libtorch would start with one).
func threadCount() int {
	threadsOnce.Do(func() {
		n := runtime.NumCPU()
		if s := os.Getenv("OMP_NUM_THREADS"); s != "" {
			if v, err := strconv.Atoi(s); err == nil && v > 0 {
				n = v
			} else {
				slog.Warn("ignoring invalid OMP_NUM_THREADS", "value", s)
			}
		}
		wantThreads.Store(int32(n))
	})
	return int(wantThreads.Load())
}

// InitThreads gives the calling OS thread the process's intra-op thread
// count (threadCount, or the last SetNumThreads). OpenMP keeps the count
// per OS thread, and a thread that existed before the first set keeps
// libtorch's 1: setting it once per process left a Go caller whose
// goroutine ran on such a thread (kiln predict, the trainer after another
// run) on one core. Forward calls it, so do the trainer and evaluation
// after locking their thread; it costs one getter call when nothing changes.
func InitThreads() {
	n := threadCount()
	if NumThreads() == n {
		return
	}
	if err := setThreads(n); err != nil {
		slog.Warn("cannot set libtorch threads", "err", err)
	}
}

// gotch's generated in-place wrappers (RequiresGrad_, Zero_, …) replace the
// receiver's C handle with the fresh handle the op returns and never free
// the old one, which still references the TensorImpl: the tensor's storage
// can then never be released (a checkpointed forward leaked every layer
// input that way). InPlace runs such an op through its libtch function with
// an output handle it frees, e.g.
//
//	InPlace("mul_", w, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgMul_(out, self, lib.Ctensor(g.Ctensor())) })
func InPlace(name string, t *ts.Tensor, op func(out *lib.Ctensor, self lib.Ctensor)) error {
	out := (*lib.Ctensor)(C.calloc(1, C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(out))
	op(out, lib.Ctensor(t.Ctensor()))
	if err := ts.TorchErr(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if *out != nil {
		lib.AtFree(*out)
	}
	return nil
}

// setRequiresGrad is t.requires_grad_(on) without gotch's handle leak.
func setRequiresGrad(t *ts.Tensor, on bool) error {
	v := int32(0)
	if on {
		v = 1
	}
	return InPlace("requires_grad_", t, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgRequiresGrad_(out, self, v) })
}

// zero is t.zero_() without gotch's handle leak.
func zero(t *ts.Tensor) error {
	return InPlace("zero_", t, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgZero_(out, self) })
}

// ReleaseFreeMemory asks glibc to return freed heap memory to the OS
// (malloc_trim). libtorch frees through malloc; glibc keeps freed blocks in
// per-thread arenas, so RSS stays at its high-water mark after a peak, which
// reads like a leak. Useful before measuring RSS and after a large eval.
func ReleaseFreeMemory() { C.malloc_trim(0) }
