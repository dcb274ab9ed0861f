//go:build !notorch

package dist

// #cgo LDFLAGS: -L${SRCDIR}/../../build/lib -Wl,-rpath,${SRCDIR}/../../build/lib -lkilntorch
// #cgo CFLAGS: -I${SRCDIR}/../../internal/torchbridge/csrc
// #include <stdlib.h>
// #include "kiln_dist.h"
// // Weak: a bridge built before the Reducer wrappers still links (and
// // trains without overlap) until it is rebuilt.
// #pragma weak kiln_dist_reducer_new
// #pragma weak kiln_dist_reducer_prepare
// #pragma weak kiln_dist_reducer_free
// static int kiln_dist_has_reducer(void) { return kiln_dist_reducer_new != 0; }
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// Available reports whether this kiln bridge has c10d (and, for backend
// "nccl", the NCCL process group); nil when it does.
func Available(backend string) error {
	if why := C.GoString(C.kiln_dist_unavailable()); why != "" {
		return errors.New(why)
	}
	if backend == NCCL {
		if why := C.GoString(C.kiln_dist_nccl_unavailable()); why != "" {
			return errors.New(why)
		}
	}
	return nil
}

// ProcessGroup is this process's membership in a job's c10d process group.
// Every rank must call the same collectives in the same order, with tensors
// of the same shapes and dtypes (DDP's contract). Not safe for concurrent use.
type ProcessGroup struct {
	env     Env
	backend string
	timeout time.Duration
	store   C.kiln_dist_store
	pg      C.kiln_dist_pg
	stopHB  chan struct{} // closes the liveness heartbeat
	hbDone  chan struct{}
}

// Liveness: every rank bumps a counter in rank 0's store every heartbeat; a
// rank whose counter stands still over heartbeatWindow after a failed
// collective is gone. c10d itself reports only the peer's socket address.
const (
	heartbeat       = 500 * time.Millisecond
	heartbeatWindow = 2 * time.Second
)

func aliveKey(rank int) string { return fmt.Sprintf("kiln/alive/%d", rank) }

// failedKey marks a rank that saw a collective fail, so that once it exits
// the others do not take it for the rank that caused the failure.
func failedKey(rank int) string { return fmt.Sprintf("kiln/failed/%d", rank) }

// NewProcessGroup joins the job env describes: rank 0 starts the rendezvous
// store at MasterAddr:MasterPort, every rank connects and builds the backend's
// process group. It returns when all WorldSize ranks have joined, or an error
// after timeout (a rank that never started, a wrong MASTER_ADDR).
func NewProcessGroup(env Env, backend string, timeout time.Duration) (*ProcessGroup, error) {
	if err := env.validate(); err != nil {
		return nil, err
	}
	if backend != Gloo && backend != NCCL {
		return nil, fmt.Errorf("dist: backend %q: want %s or %s", backend, Gloo, NCCL)
	}
	if err := Available(backend); err != nil {
		return nil, fmt.Errorf("dist: %w", err)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ms := C.int(timeout.Milliseconds())
	// c10d's errors are thread-local: stay on one OS thread from call to
	// kiln_dist_last_error.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	addr := C.CString(env.MasterAddr)
	defer C.free(unsafe.Pointer(addr))
	isMaster := C.int(0)
	if env.Rank == 0 {
		isMaster = 1
	}
	store := C.kiln_dist_store_new(addr, C.int(env.MasterPort), C.int(env.WorldSize), isMaster, ms)
	if store == nil {
		return nil, fmt.Errorf("dist: rank %d of %d: rendezvous at %s:%d failed within %s (%s); check that every rank started and that MASTER_ADDR/MASTER_PORT reach rank 0",
			env.Rank, env.WorldSize, env.MasterAddr, env.MasterPort, timeout, lastError())
	}
	cb := C.CString(backend)
	defer C.free(unsafe.Pointer(cb))
	pg := C.kiln_dist_pg_new(store, cb, C.int(env.Rank), C.int(env.WorldSize), ms)
	if pg == nil {
		err := fmt.Errorf("dist: rank %d of %d: creating the %s process group (rendezvous at %s:%d, timeout %s): %s; check that every rank started and that MASTER_ADDR/MASTER_PORT reach rank 0",
			env.Rank, env.WorldSize, backend, env.MasterAddr, env.MasterPort, timeout, lastError())
		C.kiln_dist_store_free(store)
		return nil, err
	}
	g := &ProcessGroup{env: env, backend: backend, timeout: timeout, store: store, pg: pg,
		stopHB: make(chan struct{}), hbDone: make(chan struct{})}
	go g.beat()
	return g, nil
}

func (g *ProcessGroup) beat() {
	defer close(g.hbDone)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	key := C.CString(aliveKey(g.env.Rank))
	defer C.free(unsafe.Pointer(key))
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		var v C.longlong
		// A failure means rank 0's store is gone; the collectives report it.
		_ = C.kiln_dist_store_add(g.store, key, 1, &v)
		select {
		case <-g.stopHB:
			return
		case <-t.C:
		}
	}
}

// gone lists the other ranks whose heartbeat stopped without their having
// reported a failed collective themselves (those are in followed); storeLost
// reports that rank 0's store does not answer (rank 0 itself is gone).
func (g *ProcessGroup) gone() (ranks, followed []int, storeLost bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	add := func(key string, delta int64) (int64, bool) {
		k := C.CString(key)
		defer C.free(unsafe.Pointer(k))
		var v C.longlong
		if C.kiln_dist_store_add(g.store, k, C.longlong(delta), &v) != 0 {
			return 0, false
		}
		return int64(v), true
	}
	read := func(key func(int) string) ([]int64, bool) {
		out := make([]int64, g.env.WorldSize)
		for r := range out {
			v, ok := add(key(r), 0)
			if !ok {
				return nil, false
			}
			out[r] = v
		}
		return out, true
	}
	if _, ok := add(failedKey(g.env.Rank), 1); !ok {
		return nil, nil, true
	}
	before, ok := read(aliveKey)
	if !ok {
		return nil, nil, true
	}
	time.Sleep(heartbeatWindow)
	after, ok := read(aliveKey)
	if !ok {
		return nil, nil, true
	}
	failed, ok := read(failedKey)
	if !ok {
		return nil, nil, true
	}
	for r := range after {
		switch {
		case r == g.env.Rank || after[r] != before[r]:
		case failed[r] > 0:
			followed = append(followed, r)
		default:
			ranks = append(ranks, r)
		}
	}
	return ranks, followed, false
}

// Rank and Size place this process in the group.
func (g *ProcessGroup) Rank() int { return g.env.Rank }
func (g *ProcessGroup) Size() int { return g.env.WorldSize }

// AllReduceMean replaces each tensor, in place, by its mean over the ranks:
// DDP's gradient averaging. The tensors travel as one bucket per dtype.
func (g *ProcessGroup) AllReduceMean(tensors []*ts.Tensor) error {
	return g.collective("all-reduce", tensors, func(p *unsafe.Pointer, n C.int) C.int {
		return C.kiln_dist_all_reduce(g.pg, p, n, 1)
	})
}

// AllReduceSum replaces each tensor, in place, by its sum over the ranks
// (counts and metric numerators).
func (g *ProcessGroup) AllReduceSum(tensors []*ts.Tensor) error {
	return g.collective("all-reduce", tensors, func(p *unsafe.Pointer, n C.int) C.int {
		return C.kiln_dist_all_reduce(g.pg, p, n, 0)
	})
}

// Broadcast overwrites each tensor, in place, with root's copy: DDP's initial
// weight sync from rank 0.
func (g *ProcessGroup) Broadcast(tensors []*ts.Tensor, root int) error {
	if root < 0 || root >= g.env.WorldSize {
		return fmt.Errorf("dist: broadcast root %d is outside 0..%d", root, g.env.WorldSize-1)
	}
	return g.collective("broadcast", tensors, func(p *unsafe.Pointer, n C.int) C.int {
		return C.kiln_dist_broadcast(g.pg, p, n, C.int(root))
	})
}

// Barrier returns once every rank has called it.
func (g *ProcessGroup) Barrier() error {
	if g.pg == nil {
		return errors.New("dist: barrier on a closed process group")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if C.kiln_dist_barrier(g.pg) != 0 {
		return g.failed("barrier", lastError())
	}
	return nil
}

// Close leaves the group and, on rank 0, stops the rendezvous store. It is
// safe to call twice.
func (g *ProcessGroup) Close() error {
	if g.stopHB != nil {
		close(g.stopHB)
		<-g.hbDone
		g.stopHB = nil
	}
	if g.pg != nil {
		C.kiln_dist_pg_free(g.pg)
		g.pg = nil
	}
	if g.store != nil {
		C.kiln_dist_store_free(g.store)
		g.store = nil
	}
	return nil
}

func (g *ProcessGroup) collective(name string, tensors []*ts.Tensor, call func(*unsafe.Pointer, C.int) C.int) error {
	if g.pg == nil {
		return fmt.Errorf("dist: %s on a closed process group", name)
	}
	if len(tensors) == 0 {
		return nil
	}
	// A Go slice holding C pointers may be passed to C.
	ptrs := make([]unsafe.Pointer, len(tensors))
	for i, t := range tensors {
		if t == nil || t.Ctensor() == nil {
			return fmt.Errorf("dist: %s: tensor %d is nil or freed", name, i)
		}
		ptrs[i] = t.Ctensor()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if call(&ptrs[0], C.int(len(ptrs))) != 0 {
		return g.failed(name, lastError())
	}
	runtime.KeepAlive(tensors)
	return nil
}

// failed names who to blame: c10d reports only the peer's socket address, so
// the heartbeats tell a rank that died from one that is alive but elsewhere.
func (g *ProcessGroup) failed(op, msg string) error {
	var who string
	dead, followed, storeLost := g.gone()
	switch {
	case storeLost:
		who = "rank 0 is gone (its rendezvous store does not answer)"
	case len(dead) == 1:
		who = fmt.Sprintf("rank %d is gone (no heartbeat for %s)", dead[0], heartbeatWindow)
	case len(dead) > 1:
		who = fmt.Sprintf("ranks %v are gone (no heartbeat for %s)", dead, heartbeatWindow)
	case g.env.WorldSize == 2:
		who = fmt.Sprintf("rank %d is alive but did not reach the same %s within the %s timeout (stuck, or the ranks called different collectives)", 1-g.env.Rank, op, g.timeout)
	default:
		who = fmt.Sprintf("every rank is alive but one did not reach the same %s within the %s timeout (stuck, or the ranks called different collectives)", op, g.timeout)
	}
	if len(followed) > 0 {
		who += fmt.Sprintf("; ranks %v stopped after their own %s failed", followed, op)
	}
	return fmt.Errorf("dist: %s on rank %d of %d failed: %s; see that rank's log: %s", op, g.env.Rank, g.env.WorldSize, who, msg)
}

func lastError() string { return C.GoString(C.kiln_dist_last_error()) }

// ErrNoReducer: the bridge predates the Reducer wrappers.
var ErrNoReducer = errors.New("dist: this kiln bridge has no gradient reducer (built before it was added): rebuild it with scripts/setup/bridge.sh to overlap the all-reduce with backward")

// DefaultBucketBytes is DDP's default bucket size (bucket_cap_mb=25).
const DefaultBucketBytes = 25 << 20

// Reducer averages the gradients of a fixed list of parameters over the
// ranks while backward runs: c10d's Reducer, the engine of PyTorch's
// DistributedDataParallel. It hooks each parameter's gradient accumulator
// and all-reduces a bucket (a flat buffer allocated once) as soon as all of
// its gradients are ready, so the communication of the last layers overlaps
// the backward of the first. Only a backward armed with Prepare is
// reduced; the others accumulate locally (DDP's no_sync).
type Reducer struct {
	g *ProcessGroup
	r C.kiln_dist_reducer
}

// NewReducer builds the reducer over params (leaf tensors requiring grad,
// the same list in the same order on every rank) in buckets of about
// bucketBytes (<= 0: DefaultBucketBytes). findUnused says that some
// parameters may get no gradient (DDP's find_unused_parameters): each
// reduced backward then walks the graph to find them.
func (g *ProcessGroup) NewReducer(params []*ts.Tensor, bucketBytes int64, findUnused bool) (*Reducer, error) {
	if g.pg == nil {
		return nil, errors.New("dist: reducer on a closed process group")
	}
	if len(params) == 0 {
		return nil, errors.New("dist: reducer over no parameters")
	}
	if bucketBytes <= 0 {
		bucketBytes = DefaultBucketBytes
	}
	if C.kiln_dist_has_reducer() == 0 {
		return nil, ErrNoReducer
	}
	ptrs := make([]unsafe.Pointer, len(params))
	for i, t := range params {
		if t == nil || t.Ctensor() == nil {
			return nil, fmt.Errorf("dist: reducer: parameter %d is nil or freed", i)
		}
		ptrs[i] = t.Ctensor()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fu := C.int(0)
	if findUnused {
		fu = 1
	}
	r := C.kiln_dist_reducer_new(g.pg, &ptrs[0], C.int(len(ptrs)), C.longlong(bucketBytes), fu)
	runtime.KeepAlive(params)
	if r == nil {
		return nil, fmt.Errorf("dist: rank %d: building the gradient reducer: %s", g.env.Rank, lastError())
	}
	return &Reducer{g: g, r: r}, nil
}

// Prepare arms the reducer for the next backward, whose root is loss: that
// backward returns with every parameter's gradient averaged over the ranks.
// A collective that fails inside it makes the backward itself fail; Failed
// turns that error into one naming the rank to blame.
func (r *Reducer) Prepare(loss *ts.Tensor) error {
	if r.r == nil {
		return errors.New("dist: prepare on a freed reducer")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if C.kiln_dist_reducer_prepare(r.r, loss.Ctensor()) != 0 {
		return fmt.Errorf("dist: rank %d: preparing the gradient reduction: %s", r.g.env.Rank, lastError())
	}
	runtime.KeepAlive(loss)
	return nil
}

// Failed is the error for a reduced backward that failed with err.
func (r *Reducer) Failed(err error) error { return r.g.failed("gradient all-reduce", err.Error()) }

// Free removes the hooks and frees the buckets. Safe to call twice.
func (r *Reducer) Free() {
	if r.r != nil {
		C.kiln_dist_reducer_free(r.r)
		r.r = nil
	}
}
