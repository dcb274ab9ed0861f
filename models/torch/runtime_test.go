package torch

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/kiln-ml/kiln/models"
)

// TestForwardUsesConfiguredThreadsOnEveryOSThread: OpenMP keeps the
// intra-op thread count per OS thread, and threads that existed before the
// first set stay at libtorch's 1. A forward on such a thread must still run
// with the process's count (it did not: kiln predict ran on one core).
func TestForwardUsesConfiguredThreadsOnEveryOSThread(t *testing.T) {
	prev := threadCount()
	want := max(2, prev)
	if err := SetNumThreads(want); err != nil {
		t.Fatal(err)
	}
	defer SetNumThreads(prev)
	cfg := smallConfig(models.TypeBERT)
	m, err := NewSeeded(cfg, gotch.CPU, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	ids, mask := batch(cfg, 2, 8, 1)
	defer ids.MustDrop()
	defer mask.MustDrop()
	got := make(chan [2]int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := setThreads(1); err != nil { // as a thread libtorch never configured
			t.Error(err)
		}
		before := NumThreads()
		var o *Output
		NoGrad(func() { o, err = m.Forward(ids, mask, nil, false) })
		if err == nil {
			o.Drop()
		}
		got <- [2]int{before, NumThreads()}
	}()
	r := <-got
	if err != nil {
		t.Fatal(err)
	}
	if r[0] != 1 || r[1] != want {
		t.Errorf("threads on a fresh OS thread: %d before the forward, %d after; want 1 then %d", r[0], r[1], want)
	}
}
