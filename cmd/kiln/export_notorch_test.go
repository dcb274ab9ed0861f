//go:build notorch

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExportCommandNeedsNoVerify: the serving-only build explains why it
// cannot verify instead of failing obscurely.
func TestExportCommandNeedsNoVerify(t *testing.T) {
	ckpt := exportCheckpoint(t)
	_, err := runExport(t, "--model", ckpt, "--out", filepath.Join(t.TempDir(), "onnx"))
	if err == nil || !strings.Contains(err.Error(), "--no-verify") {
		t.Fatalf("error %v, want the --no-verify explanation", err)
	}
}
