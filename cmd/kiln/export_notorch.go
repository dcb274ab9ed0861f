//go:build notorch

package main

import (
	"errors"

	"github.com/kiln-ml/kiln/export"
)

// exportReference: the serving-only build has no libtorch to verify against.
func exportReference(_, _ string) (export.Reference, func(), string, error) {
	return nil, nil, "", errors.New("export: verification needs the libtorch forward, which this serving-only build (-tags notorch) does not link: " +
		"run bin/kiln export for a verified export, or pass --no-verify to write the ONNX model unverified")
}
