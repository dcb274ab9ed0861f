//go:build notorch

package main

import "context"

// The libtorch-free build (bin/kiln-serve) predicts with --backend onnx only.
var predictLibtorch func(ctx context.Context, r predictRun) (*predictResult, error)
