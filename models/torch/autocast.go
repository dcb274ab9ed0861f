package torch

/*
#include <stdlib.h>

// kiln_autocast_* live in the libtorch bridge (internal/torchbridge/csrc),
// which gotch's cgo directives already load; look them up in the running
// process so that this package needs no link flags of its own and an older
// bridge gives an error instead of a load failure.
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

// AutocastAvailable reports whether the bridge has the autocast entry points.
func AutocastAvailable() error {
	autocastOnce.Do(func() {
		for _, s := range []struct {
			name string
			fn   *unsafe.Pointer
		}{
			{"kiln_autocast_enter", &fnEnter}, {"kiln_autocast_exit", &fnExit},
			{"kiln_last_error", &fnErr},
		} {
			*s.fn = sym(s.name)
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

// Autocast is torch.autocast(device, dtype) around a forward pass. The
// state is thread-local in libtorch; callers run locked to one OS thread,
// so Enter and Exit see the same state.
type Autocast struct {
	device, dtype     int // 0 CPU, 1 CUDA; a scalar type code
	prevOn, prevDtype C.int
}

// NewAutocast returns the autocast for a precision ("fp16" or "bf16") on
// dev; the caller has checked AutocastAvailable.
func NewAutocast(prec string, dev gotch.Device) *Autocast {
	a := &Autocast{dtype: scalarHalf}
	if prec == "bf16" {
		a.dtype = scalarBFloat16
	}
	if dev.IsCuda() {
		a.device = 1
	}
	return a
}

// Enter turns autocast on, remembering the state it replaces.
func (a *Autocast) Enter() error {
	if C.kiln_call_enter(fnEnter, C.int(a.device), C.int(a.dtype), &a.prevOn, &a.prevDtype) != 0 {
		return fmt.Errorf("entering autocast: %s", C.GoString(C.kiln_call_err(fnErr)))
	}
	return nil
}

// Exit restores the state Enter replaced.
func (a *Autocast) Exit() error {
	if C.kiln_call_exit(fnExit, C.int(a.device), a.prevOn, a.prevDtype) != 0 {
		return fmt.Errorf("leaving autocast: %s", C.GoString(C.kiln_call_err(fnErr)))
	}
	return nil
}

// autocastState is the calling thread's autocast state on device (0 CPU,
// 1 CUDA): whether it is on, and its dtype. The bridge has no getter, so
// it enters and leaves once (nesting goes up and back down: the cast cache
// stays when an outer region is open).
func autocastState(device int) (on bool, dtype int, err error) {
	if AutocastAvailable() != nil {
		return false, 0, nil // no autocast in this bridge: never on
	}
	var prevOn, prevDtype C.int
	if C.kiln_call_enter(fnEnter, C.int(device), C.int(scalarBFloat16), &prevOn, &prevDtype) != 0 {
		return false, 0, fmt.Errorf("reading autocast state: %s", C.GoString(C.kiln_call_err(fnErr)))
	}
	if C.kiln_call_exit(fnExit, C.int(device), prevOn, prevDtype) != 0 {
		return false, 0, fmt.Errorf("reading autocast state: %s", C.GoString(C.kiln_call_err(fnErr)))
	}
	return prevOn != 0, int(prevDtype), nil
}
