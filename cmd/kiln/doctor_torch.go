//go:build !notorch

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/kiln-ml/kiln/internal/torchbridge"
	"github.com/kiln-ml/kiln/internal/torchinfo"
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
		Threads:    torchinfo.NumThreads(),
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
	r.CUDA.Devices = torchinfo.CUDADeviceCount()
	r.CUDA.Available = torchinfo.CUDAAvailable() && r.CUDA.Devices > 0
	if !r.CUDA.Available {
		if r.CPUOnly {
			r.CUDA.Reason = fmt.Sprintf("the bridge was linked CPU-only (kiln-bridge -cpu-only) against %s; rebuild it without -cpu-only (scripts/setup/bridge.sh) to use a GPU", r.LibDir)
		} else if _, err := os.Stat(filepath.Join(r.LibDir, "libtorch_cuda.so")); err != nil {
			r.CUDA.Reason = fmt.Sprintf("the bridge's libtorch (%s) is a CPU-only build; build the bridge against a CUDA libtorch (LIBTORCH=… scripts/setup/bridge.sh) to use a GPU", r.LibDir)
		} else {
			r.CUDA.Reason = "libtorch has CUDA support but sees no device (driver missing, or CUDA_VISIBLE_DEVICES hides them)"
		}
	}
	blas, err := torchinfo.BLAS()
	if err != nil {
		problems = append(problems, err.Error())
	} else if len(blas) > 0 {
		r.BLAS = blas
	}
	return r, problems
}
