//go:build notorch

package main

// libtorchCUDAMissing: the libtorch-free build has no libtorch backend.
var libtorchCUDAMissing func() string
