//go:build !notorch

package main

import (
	"runtime"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

// doctor reports the intra-op thread count kiln computes with, not the raw
// OpenMP count of the OS thread it happens to run on (OpenMP keeps that per
// thread; models/torch applies the process's count before each forward).
func TestDoctorReportsThreadsKilnRunsWith(t *testing.T) {
	prev := intraOpThreads()
	defer mtorch.SetNumThreads(prev)
	const want = 3
	stale := make(chan struct{})
	got := make(chan int)
	go func() {
		// This goroutine's OS thread keeps 1 after the process's count
		// changes elsewhere; it exits locked, so the thread ends with it.
		runtime.LockOSThread()
		if err := mtorch.SetNumThreads(1); err != nil {
			t.Error(err)
		}
		stale <- struct{}{}
		<-stale
		r, _ := doctorTorch(false)
		got <- r.Threads
	}()
	<-stale
	if err := mtorch.SetNumThreads(want); err != nil {
		t.Fatal(err)
	}
	stale <- struct{}{}
	if n := <-got; n != want {
		t.Errorf("doctor reports %d intra-op threads on a thread left at 1; kiln computes with %d", n, want)
	}
}

// doctor says which data-parallel backends this bridge has: gloo on every
// bridge make setup builds (KILN_REQUIRE_REFS), NCCL only on a CUDA one, and
// why not otherwise.
func TestDoctorReportsDistributedBackends(t *testing.T) {
	r, _ := doctorTorch(false)
	for _, b := range []string{"gloo", "nccl"} {
		why, ok := r.Dist[b]
		if !ok {
			t.Fatalf("doctor reports no %s line: %v", b, r.Dist)
		}
		if why != "" && testenv.Require() && b == "gloo" {
			t.Errorf("KILN_REQUIRE_REFS=1 and gloo is missing: %s", why)
		}
	}
	if r.CUDA.Available == false && r.Dist["nccl"] == "" && r.CPUOnly {
		t.Errorf("a CPU-only bridge reports NCCL available")
	}
}
