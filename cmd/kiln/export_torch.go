//go:build !notorch

package main

import (
	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/export/verify"
)

// exportReference loads the checkpoint with libtorch for --verify.
func exportReference(src string) (export.Reference, func(), error) {
	ref, err := verify.Load(src)
	if err != nil {
		return nil, nil, err
	}
	return ref, ref.Close, nil
}
