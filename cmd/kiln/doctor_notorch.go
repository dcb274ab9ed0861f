//go:build notorch

package main

import "runtime"

// doctorTorchBuild: the serving-only binary carries no libtorch.
const doctorTorchBuild = false

func doctorTorch(bool) (doctorLibtorch, []string) {
	return doctorLibtorch{
		Linked:     false,
		Reason:     "this is the serving-only build (-tags notorch): libtorch is not linked, so train and predict --backend torch are unavailable; use bin/kiln for those",
		OMPThreads: ompThreads(),
		CPUs:       runtime.NumCPU(),
		BLAS:       []string{},
	}, nil
}
