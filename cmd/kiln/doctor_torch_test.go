//go:build !notorch

package main

import (
	"runtime"
	"testing"

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
