package train

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// kiln_autocast_* live in the libtorch bridge (internal/torchbridge/csrc),
// which gotch's cgo directives already load; look them up in the running
// process so that this package needs no link flags of its own and an older
// bridge gives an error instead of a load failure.
static void *kiln_train_sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }
static int kiln_call_enter(void *f, int dev, int dt, int *pe, int *pd) {
	return ((int (*)(int, int, int *, int *))f)(dev, dt, pe, pd);
}
static int kiln_call_exit(void *f, int dev, int pe, int pd) {
	return ((int (*)(int, int, int))f)(dev, pe, pd);
}
static int kiln_call_int_int(void *f, int a) { return ((int (*)(int))f)(a); }
static const char *kiln_call_err(void *f) { return ((const char *(*)(void))f)(); }
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/sugarme/gotch"
)

var (
	autocastOnce           sync.Once
	fnEnter, fnExit, fnErr unsafe.Pointer
)

func autocastSyms() error {
	autocastOnce.Do(func() {
		for _, s := range []struct {
			name string
			fn   *unsafe.Pointer
		}{
			{"kiln_autocast_enter", &fnEnter}, {"kiln_autocast_exit", &fnExit},
			{"kiln_last_error", &fnErr},
		} {
			cs := C.CString(s.name)
			*s.fn = C.kiln_train_sym(cs)
			C.free(unsafe.Pointer(cs))
		}
	})
	if fnEnter == nil || fnExit == nil || fnErr == nil {
		return fmt.Errorf("the libtorch bridge has no kiln_autocast_enter: it predates mixed-precision support; rebuild it with `make setup`")
	}
	return nil
}

// c10::ScalarType codes.
const (
	scalarHalf     = 5
	scalarBFloat16 = 15
)

// autocast is torch.autocast(device, dtype) around a forward pass. The
// state is thread-local in libtorch; the training loop runs locked to one
// OS thread, so enter and exit see the same state.
type autocast struct {
	device, dtype     int // 0 CPU, 1 CUDA; a scalar type code
	prevOn, prevDtype C.int
}

// newAutocast returns the autocast for a precision ("fp16" or "bf16") on
// dev. checkPrecision has already refused what cannot run.
func newAutocast(prec string, dev gotch.Device) *autocast {
	a := &autocast{dtype: scalarHalf}
	if prec == "bf16" {
		a.dtype = scalarBFloat16
	}
	if dev.IsCuda() {
		a.device = 1
	}
	return a
}

func (a *autocast) enter() error {
	if C.kiln_call_enter(fnEnter, C.int(a.device), C.int(a.dtype), &a.prevOn, &a.prevDtype) != 0 {
		return fmt.Errorf("entering autocast: %s", C.GoString(C.kiln_call_err(fnErr)))
	}
	return nil
}

func (a *autocast) exit() error {
	if C.kiln_call_exit(fnExit, C.int(a.device), a.prevOn, a.prevDtype) != 0 {
		return fmt.Errorf("leaving autocast: %s", C.GoString(C.kiln_call_err(fnErr)))
	}
	return nil
}
