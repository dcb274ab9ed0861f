//go:build !notorch

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
)

// TestExportCommandVerifies: the default (verified) export compares ONNX
// Runtime with libtorch and prints the numbers per shape.
func TestExportCommandVerifies(t *testing.T) {
	if err := ort.Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	ckpt := exportCheckpoint(t)
	out := filepath.Join(t.TempDir(), "onnx")
	stdout, err := runExport(t, "--model", ckpt, "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, "verify      PASSED against libtorch") || !strings.Contains(stdout, "batch  64 seq   24") {
		t.Fatalf("output:\n%s", stdout)
	}
}
