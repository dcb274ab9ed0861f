// Package torchinfo describes the libtorch this process runs on, through the
// small C API kiln adds to its libtorch bridge (libkilntorch.so, see
// internal/torchbridge): libtorch version and location, which gotch wrappers
// the bridge had to stub, CUDA devices (or why there are none) and the BLAS
// actually loaded. The intra-op thread count is models/torch's (NumThreads,
// InitThreads): OpenMP keeps it per OS thread, which only that package
// manages. It links -lkilntorch exactly like gotch's libtch, so
// whichever bridge the loader finds (build/lib, or LD_LIBRARY_PATH first) is
// the one described.
package torchinfo

// #cgo LDFLAGS: -L${SRCDIR}/../../build/lib -Wl,-rpath,${SRCDIR}/../../build/lib -lkilntorch
// #cgo CFLAGS: -I${SRCDIR}/../torchbridge/csrc
// #include <stdlib.h>
// #include "kiln_api.h"
import "C"

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"

	"github.com/kiln-ml/kiln/internal/torchbridge"
)

// Version is the libtorch version the loaded bridge was built against.
func Version() string { return C.GoString(C.kiln_torch_version()) }

// LibDir is the directory of the libtorch libraries the bridge links.
func LibDir() string { return C.GoString(C.kiln_torch_lib_dir()) }

// StubCount is how many generated gotch wrappers the bridge replaced with
// error-raising stubs because they do not compile against this libtorch.
func StubCount() int { return int(C.kiln_bridge_stub_count()) }

// Stubs lists those wrappers (C names, e.g. "atg__scaled_mm"), sorted.
func Stubs() []string {
	var out []string
	for _, s := range strings.Split(C.GoString(C.kiln_bridge_stubs()), "\n") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// CUDAAvailable reports whether libtorch sees a usable CUDA device.
func CUDAAvailable() bool { return C.kiln_cuda_is_available() != 0 }

// CUDADeviceCount is the number of CUDA devices libtorch sees.
func CUDADeviceCount() int { return int(C.kiln_cuda_device_count()) }

// CUDAUnavailableReason says why libtorch cannot use a GPU here, naming
// what is missing and how to get it, or "" when it can. kiln doctor reports
// it, and --device cuda fails with it.
func CUDAUnavailableReason() string {
	if CUDAAvailable() && CUDADeviceCount() > 0 {
		return ""
	}
	lib := LibDir()
	if p, err := BridgePath(); err == nil {
		// Bridges built before build.json recorded -cpu-only just lack it.
		if bi, err := torchbridge.ReadBuildInfo(p); err == nil && bi.CPUOnly {
			return fmt.Sprintf("the bridge %s was linked CPU-only (kiln-bridge -cpu-only) against %s; rebuild it without -cpu-only (scripts/setup/bridge.sh) to use a GPU", p, lib)
		}
	}
	if _, err := os.Stat(filepath.Join(lib, "libtorch_cuda.so")); err != nil {
		return fmt.Sprintf("the bridge's libtorch %s (%s) is a CPU-only build (no libtorch_cuda.so); build the bridge against a CUDA libtorch (KILN_CUDA=1 make setup, or LIBTORCH=/path/to/site-packages/torch scripts/setup/bridge.sh) to use a GPU", Version(), lib)
	}
	return "libtorch has CUDA support but sees no CUDA device (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides the GPUs)"
}

// Config is libtorch's build configuration (at::show_config()).
func Config() string {
	p := C.kiln_show_config()
	defer C.free(unsafe.Pointer(p))
	return C.GoString(p)
}

// Loaded lists the shared libraries mapped into this process whose file name
// contains one of the given substrings (e.g. "kilntorch", "blas"), with
// symlinks resolved. This is what the loader actually picked, which for
// Debian's libblas.so.3 alternative can differ from what was linked.
func Loaded(substrings ...string) ([]string, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("listing loaded libraries: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasPrefix(fields[5], "/") {
			continue
		}
		path := fields[5]
		base := filepath.Base(path)
		for _, s := range substrings {
			if strings.Contains(base, s) {
				seen[path] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /proc/self/maps: %w", err)
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// BridgePath is the libkilntorch.so this process loaded.
func BridgePath() (string, error) {
	libs, err := Loaded("libkilntorch")
	if err != nil {
		return "", err
	}
	if len(libs) == 0 {
		return "", fmt.Errorf("libkilntorch.so is not mapped into this process")
	}
	return libs[0], nil
}

// BLAS lists the CPU BLAS/LAPACK libraries loaded (OpenBLAS, reference BLAS,
// MKL). cuBLAS is left out: it is not what CPU ops use. Empty when libtorch
// carries its BLAS statically (PyPI wheels link MKL into libtorch_cpu.so).
func BLAS() ([]string, error) {
	libs, err := Loaded("blas", "lapack", "mkl")
	if err != nil {
		return nil, err
	}
	out := libs[:0]
	for _, l := range libs {
		if !strings.Contains(filepath.Base(l), "cublas") {
			out = append(out, l)
		}
	}
	return out, nil
}
