//go:build !notorch

package main

import (
	"runtime"

	"github.com/kiln-ml/kiln/internal/torchbridge"
	"github.com/kiln-ml/kiln/internal/torchinfo"
	mtorch "github.com/kiln-ml/kiln/models/torch"
	"github.com/kiln-ml/kiln/train/dist"
)

// doctorTorchBuild: this binary links libtorch through libkilntorch.so.
const doctorTorchBuild = true

func doctorTorch(verbose bool) (doctorLibtorch, []string) {
	var problems []string
	r := doctorLibtorch{
		Linked:     true,
		Version:    torchinfo.Version(),
		LibDir:     torchinfo.LibDir(),
		StubCount:  torchinfo.StubCount(),
		Threads:    intraOpThreads(),
		OMPThreads: ompThreads(),
		CPUs:       runtime.NumCPU(),
		BLAS:       []string{},
	}
	if p, err := torchinfo.BridgePath(); err == nil {
		r.Bridge = p
		// Bridges built before build.json recorded these just lack them.
		if bi, err := torchbridge.ReadBuildInfo(p); err == nil {
			r.CXXStd, r.CPUOnly = bi.Std, bi.CPUOnly
		}
	} else {
		problems = append(problems, err.Error())
	}
	if verbose {
		r.Stubs = torchinfo.Stubs()
		r.BuildConfig = torchinfo.Config()
	}
	r.Dist = map[string]string{}
	for _, b := range []string{dist.Gloo, dist.NCCL} {
		r.Dist[b] = ""
		if err := dist.Available(b); err != nil {
			r.Dist[b] = err.Error()
		}
	}
	r.CUDA.Devices = torchinfo.CUDADeviceCount()
	r.CUDA.Reason = torchinfo.CUDAUnavailableReason()
	r.CUDA.Available = r.CUDA.Reason == ""
	blas, err := torchinfo.BLAS()
	if err != nil {
		problems = append(problems, err.Error())
	} else if len(blas) > 0 {
		r.BLAS = blas
	}
	return r, problems
}

// intraOpThreads is the intra-op thread count kiln's forwards and training
// steps run with. OpenMP keeps the count per OS thread and models/torch
// gives each thread the process's count before it computes (InitThreads),
// so the raw count of whichever thread runs doctor (libtorch's startup 1 on
// Debian) would misreport it.
func intraOpThreads() int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mtorch.InitThreads()
	return mtorch.NumThreads()
}
