package torch

/*
#include <stdlib.h>

// kiln_adamw_* live in the libtorch bridge (internal/torchbridge/csrc/
// kiln_optim.cpp); looked up in the running process like the other kiln_*
// calls, so an older bridge means "not available" rather than a load failure.
static int kiln_call_adamw_foreach(void *f, void **p, void **m, void **v, void **s, int n,
		double lr, double b1, double b2, double eps, double wd, long long step) {
	return ((int (*)(void **, void **, void **, void **, int, double, double, double, double, double, long long))f)(
		p, m, v, s, n, lr, b1, b2, eps, wd, step);
}
static int kiln_call_adamw_fused(void *f, void **p, void **m, void **v, int n,
		double lr, double b1, double b2, double eps, double wd, long long step) {
	return ((int (*)(void **, void **, void **, int, double, double, double, double, double, long long))f)(
		p, m, v, n, lr, b1, b2, eps, wd, step);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// AdamWHyper are one parameter group's AdamW settings for one step
// (torch.optim.AdamW, amsgrad off). Step is the step count after this
// update, for bias correction.
type AdamWHyper struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Step                               int
}

// The AdamW kernels the bridge may have (see AdamWKernel).
const (
	AdamWFused   = "fused"   // libtorch's _fused_adamw_: one kernel for the whole group
	AdamWForeach = "foreach" // libtorch's multi-tensor _foreach_* ops
)

var (
	optimOnce                    sync.Once
	fnAdamWForeach, fnAdamWFused unsafe.Pointer
	fusedProbe                   sync.Map // device name -> error (nil: works)
)

func loadOptimSyms() {
	optimOnce.Do(func() {
		fnAdamWForeach = sym("kiln_adamw_foreach")
		fnAdamWFused = sym("kiln_adamw_fused")
	})
}

// errNoOptim is the answer of a bridge built before kiln_optim.cpp existed.
var errNoOptim = errors.New("the libtorch bridge has no kiln_adamw_foreach: it predates the multi-tensor optimiser; rebuild it with `make setup`")

// AdamWKernel is the fastest AdamW kernel this bridge runs on dev: "fused"
// where libtorch has _fused_adamw_ for the device (CUDA since PyTorch 2.0,
// the CPU since 2.4), else "foreach"; an error when the bridge predates
// both (the caller then updates parameter by parameter). The fused kernel is
// probed once per device with a one-element step, not per call.
func AdamWKernel(dev gotch.Device) (string, error) {
	loadOptimSyms()
	if fnAdamWForeach == nil {
		return "", errNoOptim
	}
	dev = normDevice(dev)
	v, ok := fusedProbe.Load(dev.Name)
	if !ok {
		v, _ = fusedProbe.LoadOrStore(dev.Name, probeFused(dev))
	}
	if err, _ := v.(error); err != nil {
		return AdamWForeach, nil
	}
	return AdamWFused, nil
}

// FusedAdamWUnavailable says why AdamWKernel chose "foreach" on dev (nil
// when it chose "fused").
func FusedAdamWUnavailable(dev gotch.Device) error {
	if _, err := AdamWKernel(dev); err != nil {
		return err
	}
	v, _ := fusedProbe.Load(normDevice(dev).Name)
	err, _ := v.(error)
	return err
}

// probeFused runs the fused kernel once on a one-element parameter.
func probeFused(dev gotch.Device) (err error) {
	if fnAdamWFused == nil {
		return errors.New("the libtorch bridge has no kiln_adamw_fused")
	}
	var p, m, v *ts.Tensor
	defer func() {
		for _, t := range []*ts.Tensor{p, m, v} {
			if t != nil {
				t.MustDrop()
			}
		}
		if r := recover(); r != nil {
			err = fmt.Errorf("probing the fused AdamW kernel: %v", r)
		}
	}()
	// The probe's gradient comes from a backward pass: grad mode on, on a
	// pinned thread, whatever the caller's mode is.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer setGrad(setGrad(true))
	if p, err = ts.Ones([]int64{1}, gotch.Float, dev); err != nil {
		return err
	}
	if err = setRequiresGrad(p, true); err != nil {
		return err
	}
	l := p.MustSum(gotch.Float, false)
	l.MustBackward()
	l.MustDrop()
	m = ts.MustZeros([]int64{1}, gotch.Float, dev)
	v = ts.MustZeros([]int64{1}, gotch.Float, dev)
	return AdamWStep(AdamWFused, []*ts.Tensor{p}, []*ts.Tensor{m}, []*ts.Tensor{v}, nil,
		AdamWHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1})
}

// AdamWStep updates params in place from their gradients (every one must
// have a gradient) and their moments expAvgs, expAvgSqs with one call of
// the named kernel. scratch, one tensor of each parameter's shape, is the
// foreach kernel's workspace on the CPU, where it keeps a step free of
// allocations; nil elsewhere (CUDA) and for "fused".
func AdamWStep(kernel string, params, expAvgs, expAvgSqs, scratch []*ts.Tensor, h AdamWHyper) error {
	n := len(params)
	if len(expAvgs) != n || len(expAvgSqs) != n || (scratch != nil && len(scratch) != n) {
		return fmt.Errorf("adamw %s: %d parameters, %d/%d/%d state tensors", kernel, n, len(expAvgs), len(expAvgSqs), len(scratch))
	}
	if n == 0 {
		return nil
	}
	loadOptimSyms()
	// One C array holding every list: Go memory must not hold C pointers
	// passed to C that C keeps, and this is one allocation per step.
	lists := [][]*ts.Tensor{params, expAvgs, expAvgSqs, scratch}
	arr := (*[1 << 28]unsafe.Pointer)(C.calloc(C.size_t(4*n), C.size_t(unsafe.Sizeof(uintptr(0)))))[: 4*n : 4*n]
	defer C.free(unsafe.Pointer(&arr[0]))
	for li, l := range lists {
		for i, t := range l {
			arr[li*n+i] = unsafe.Pointer(t.Ctensor())
		}
	}
	at := func(li int) *unsafe.Pointer {
		if lists[li] == nil {
			return nil
		}
		return &arr[li*n]
	}
	var rc C.int
	switch kernel {
	case AdamWForeach:
		if fnAdamWForeach == nil {
			return errNoOptim
		}
		rc = C.kiln_call_adamw_foreach(fnAdamWForeach, at(0), at(1), at(2), at(3), C.int(n),
			C.double(h.LR), C.double(h.Beta1), C.double(h.Beta2), C.double(h.Eps), C.double(h.WeightDecay), C.longlong(h.Step))
	case AdamWFused:
		if fnAdamWFused == nil {
			return errors.New("the libtorch bridge has no kiln_adamw_fused")
		}
		rc = C.kiln_call_adamw_fused(fnAdamWFused, at(0), at(1), at(2), C.int(n),
			C.double(h.LR), C.double(h.Beta1), C.double(h.Beta2), C.double(h.Eps), C.double(h.WeightDecay), C.longlong(h.Step))
	default:
		return fmt.Errorf("adamw: unknown kernel %q", kernel)
	}
	if err := ts.TorchErr(); err != nil || rc != 0 {
		if err == nil {
			return fmt.Errorf("adamw %s: failed without a message", kernel)
		}
		return fmt.Errorf("adamw %s: %s", kernel, libtorchMessage(err))
	}
	return nil
}
