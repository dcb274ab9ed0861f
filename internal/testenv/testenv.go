// Package testenv locates the things tests need outside the Go module: the
// repository root, the reference Python environment, ONNX Runtime's shared
// library, the Node.js tokenizers oracle and the shared data sets.
//
// A missing reference is a skip during casual `go test`, but `make test`
// sets KILN_REQUIRE_REFS=1 so that in CI a missing install step fails loudly
// instead of silently skipping the parity tests.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Require reports whether missing references must fail the test.
func Require() bool { return os.Getenv("KILN_REQUIRE_REFS") == "1" }

// missing skips or fails the test depending on Require.
func missing(t testing.TB, what string) {
	t.Helper()
	if Require() {
		t.Fatalf("%s is missing (KILN_REQUIRE_REFS=1): run `make setup`", what)
	}
	t.Skipf("%s is missing: run `make setup` (skipping)", what)
}

// Python returns the reference interpreter (HF transformers, tokenizers,
// onnxruntime, optimum): $KILN_PYTHON or build/venv/bin/python.
func Python(t testing.TB) string {
	t.Helper()
	p := os.Getenv("KILN_PYTHON")
	if p == "" {
		p = filepath.Join(RepoRoot(), "build", "venv", "bin", "python")
	}
	if _, err := os.Stat(p); err != nil {
		missing(t, "reference Python environment ("+p+")")
	}
	return p
}

// ORTLibrary returns the ONNX Runtime shared library: $ONNXRUNTIME_LIB or
// build/onnxruntime/lib/libonnxruntime.so.1.
func ORTLibrary(t testing.TB) string {
	t.Helper()
	p := os.Getenv("ONNXRUNTIME_LIB")
	if p == "" {
		p = filepath.Join(RepoRoot(), "build", "onnxruntime", "lib", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(p); err != nil {
		missing(t, "ONNX Runtime library ("+p+")")
	}
	return p
}

// Node returns the node binary and the directory whose node_modules holds
// the npm `tokenizers` oracle (build/node).
func Node(t testing.TB) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node")
	}
	dir = filepath.Join(RepoRoot(), "build", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tokenizers")); err != nil {
		missing(t, "npm tokenizers oracle ("+dir+")")
	}
	return node, dir
}

// SharedData returns a path under the workspace's shared data directory
// (../shared/data next to the checkout, or $KILN_SHARED_DATA). Tests that
// must not depend on it use the slices copied into testdata/ instead.
func SharedData(t testing.TB, rel string) string {
	t.Helper()
	base := os.Getenv("KILN_SHARED_DATA")
	if base == "" {
		base = filepath.Join(RepoRoot(), "..", "shared", "data")
	}
	p := filepath.Join(base, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data %s not present", p)
	}
	return p
}

// Testdata returns a path under the repository's testdata directory.
func Testdata(rel string) string { return filepath.Join(RepoRoot(), "testdata", rel) }
