package train

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>

// The libtorch bridge exports gotch's at_autocast_* C functions but gotch
// v0.9.1 has no Go wrappers; look them up in the running process.
static void *kiln_train_sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }
static bool kiln_call_bool_bool(void *f, bool b) { return ((bool (*)(bool))f)(b); }
static int kiln_call_int(void *f) { return ((int (*)(void))f)(); }
static void kiln_call_void(void *f) { ((void (*)(void))f)(); }
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

var (
	autocastOnce                       sync.Once
	fnAutocastSet, fnAutocastInc       unsafe.Pointer
	fnAutocastDec, fnAutocastClearCach unsafe.Pointer
)

func autocastSyms() error {
	autocastOnce.Do(func() {
		for _, s := range []struct {
			name string
			fn   *unsafe.Pointer
		}{
			{"at_autocast_set_enabled", &fnAutocastSet}, {"at_autocast_increment_nesting", &fnAutocastInc},
			{"at_autocast_decrement_nesting", &fnAutocastDec}, {"at_autocast_clear_cache", &fnAutocastClearCach},
		} {
			cs := C.CString(s.name)
			*s.fn = C.kiln_train_sym(cs)
			C.free(unsafe.Pointer(cs))
		}
	})
	if fnAutocastSet == nil || fnAutocastInc == nil || fnAutocastDec == nil || fnAutocastClearCach == nil {
		return fmt.Errorf("the libtorch bridge does not export at_autocast_set_enabled and friends")
	}
	return nil
}

// cudaAutocast is torch.autocast("cuda") (float16, libtorch 1.13's only
// CUDA autocast dtype reachable from the C API) around a forward pass:
// enter enables it on the calling thread (the run is locked to one OS
// thread; autocast state is thread-local), exit restores the previous state
// and, at the outermost level, drops the cast-weight cache as PyTorch's
// context manager does.
type cudaAutocast struct{ prev bool }

func (a *cudaAutocast) enter() {
	a.prev = bool(C.kiln_call_bool_bool(fnAutocastSet, C.bool(true)))
	C.kiln_call_int(fnAutocastInc)
}

func (a *cudaAutocast) exit() {
	if C.kiln_call_int(fnAutocastDec) == 0 {
		C.kiln_call_void(fnAutocastClearCach)
	}
	C.kiln_call_bool_bool(fnAutocastSet, C.bool(a.prev))
}
