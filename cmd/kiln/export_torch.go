//go:build !notorch

package main

import (
	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/export/verify"
)

// exportReference loads the checkpoint with libtorch onto device for
// --verify; fallback says why --verify-device auto stayed on the CPU.
func exportReference(src, device string) (ref export.Reference, closeRef func(), fallback string, err error) {
	t, fallback, err := verify.LoadOn(src, device)
	if err != nil {
		return nil, nil, "", err
	}
	return t, t.Close, fallback, nil
}
