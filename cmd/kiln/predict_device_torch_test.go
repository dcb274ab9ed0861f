//go:build !notorch

package main

import "github.com/kiln-ml/kiln/internal/torchinfo"

// libtorchCUDAMissing is why libtorch cannot use a GPU here ("" if it can).
var libtorchCUDAMissing = torchinfo.CUDAUnavailableReason
