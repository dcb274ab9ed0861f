// Package torchbridge builds libkilntorch.so, the shared library that carries
// gotch v0.9.1's C++ layer (third_party/gotch/libtch/csrc) compiled against
// whichever libtorch is present. gotch's generated wrappers target libtorch
// 2.1; against an older libtorch some of them do not compile. Instead of
// hand-editing them, the builder asks the compiler which generated functions
// fail and replaces exactly those bodies with one that throws inside gotch's
// PROTECT macro, so Go callers get an ordinary error naming the op.
//
// The result is cached per libtorch under $KILN_CACHE/bridge and linked as
// build/lib/libkilntorch.so; Go code links only that library, so switching
// libtorch (CPU ↔ CUDA) means rebuilding the bridge, not the Go program.
// This package is pure Go: it runs g++ but needs no cgo itself.
package torchbridge

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Libtorch describes one libtorch installation.
type Libtorch struct {
	Root        string   // what the user named (LIBTORCH) or "debian"
	LibDir      string   // holds libtorch.so, libtorch_cpu.so, libc10.so
	IncludeDirs []string // include/, include/torch/csrc/api/include; CUDA's and NCCL's on a CUDA libtorch
	Version     string   // e.g. "1.13.1"
	CXX11ABI    int      // value for _GLIBCXX_USE_CXX11_ABI
	CUDA        bool     // libtorch_cuda.so is present
	Std         string   // C++ standard its headers need (see CXXStd)
}

// DebianLibDir and DebianIncludeDir are where Debian's libtorch-dev installs.
const (
	DebianLibDir     = "/usr/lib/x86_64-linux-gnu"
	DebianIncludeDir = "/usr/include"
)

// Locate finds libtorch. root == "" means Debian's libtorch-dev. Otherwise
// root is either the official libtorch zip layout or a PyTorch install's
// torch/ directory: both have lib/ and include/.
func Locate(root string) (*Libtorch, error) {
	lt := &Libtorch{Root: root}
	if root == "" {
		lt.Root = "debian"
		lt.LibDir = DebianLibDir
		lt.IncludeDirs = []string{DebianIncludeDir, filepath.Join(DebianIncludeDir, "torch/csrc/api/include")}
	} else {
		abs, err := filepath.Abs(root)
		if err != nil {
			return nil, fmt.Errorf("LIBTORCH=%s: %w", root, err)
		}
		lt.Root = abs
		lt.LibDir = filepath.Join(abs, "lib")
		inc := filepath.Join(abs, "include")
		lt.IncludeDirs = []string{inc, filepath.Join(inc, "torch/csrc/api/include")}
	}
	for _, lib := range []string{"libtorch.so", "libtorch_cpu.so", "libc10.so"} {
		if _, err := os.Stat(filepath.Join(lt.LibDir, lib)); err != nil {
			hint := "install Debian's libtorch-dev or set LIBTORCH=/path/to/libtorch"
			return nil, fmt.Errorf("libtorch at %s: %s missing (%s): %w", lt.Root, lib, hint, err)
		}
	}
	v, err := includeVersion(lt.IncludeDirs)
	if err != nil {
		return nil, err
	}
	lt.Version = v
	lt.Std = requiredStd(lt.IncludeDirs)
	if root == "" {
		// Debian's headers say 1.13.0 for the 1.13.1 package; the package
		// version is what users look up, so prefer it when dpkg knows it.
		if pv := debianPackageVersion("libtorch-dev"); pv != "" {
			lt.Version = pv
		}
	}
	abi, err := cxx11ABI(filepath.Join(lt.LibDir, "libc10.so"))
	if err != nil {
		return nil, err
	}
	lt.CXX11ABI = abi
	if _, err := os.Stat(filepath.Join(lt.LibDir, "libtorch_cuda.so")); err == nil {
		lt.CUDA = true
		lt.IncludeDirs = append(lt.IncludeDirs, cudaIncludeDirs(lt.Root, os.Getenv)...)
	}
	return lt, nil
}

// cudaIncludeDirs are the CUDA and NCCL headers a CUDA libtorch's c10d
// headers include (ProcessGroupNCCL.hpp: cuda.h, cuda_runtime_api.h,
// nccl.h); libtorch's own include/ has neither. A PyPI torch keeps them in
// the nvidia-* wheels beside it (site-packages/nvidia/<pkg>/include: cu13,
// nccl, … since CUDA 13; cuda_runtime, nccl, … before), the ones it was
// built against, so those come first; then a CUDA toolkit ($CUDA_HOME,
// $CUDA_PATH, /usr/local/cuda) for the official libtorch zip.
func cudaIncludeDirs(root string, getenv func(string) string) []string {
	var dirs []string
	if root != "debian" {
		wheels, _ := filepath.Glob(filepath.Join(filepath.Dir(root), "nvidia", "*", "include"))
		dirs = append(dirs, wheels...) // Glob sorts
	}
	for _, home := range []string{getenv("CUDA_HOME"), getenv("CUDA_PATH"), "/usr/local/cuda"} {
		if home == "" {
			continue
		}
		inc := filepath.Join(home, "include")
		if _, err := os.Stat(filepath.Join(inc, "cuda.h")); err == nil {
			dirs = append(dirs, inc)
			break
		}
	}
	return dirs
}

var versionDefine = regexp.MustCompile(`^#define TORCH_VERSION_(MAJOR|MINOR|PATCH) (\d+)`)

// includeVersion finds the libtorch version in its headers. Since PyTorch
// 2.10 the defines live in torch/headeronly/version.h and the old
// torch/csrc/api/include/torch/version.h only #includes it, so both places
// are read, the new one first.
func includeVersion(includeDirs []string) (string, error) {
	var candidates []string
	for _, d := range includeDirs {
		candidates = append(candidates, filepath.Join(d, "torch/headeronly/version.h"))
	}
	for _, d := range includeDirs {
		candidates = append(candidates, filepath.Join(d, "torch/version.h"))
	}
	var errs []error
	for _, c := range candidates {
		if _, err := os.Stat(c); err != nil {
			continue
		}
		v, err := headerVersion(c)
		if err == nil {
			return v, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return "", fmt.Errorf("libtorch version header: none of %s exists", strings.Join(candidates, ", "))
	}
	return "", errors.Join(errs...)
}

// CXXStd is the C++ standard the bridge is compiled with: the minimum the
// libtorch headers themselves demand. They say so in an #error guard
// (c10/util/C++17.h: "__cplusplus < 201703L … You need C++17"); a header that
// tests for 202002L means C++20. Every libtorch up to 2.11 asks for C++17
// (1.13 has no guard and compiles as C++17 too), so that is the default.
func (lt *Libtorch) CXXStd() string {
	if lt.Std != "" {
		return lt.Std
	}
	return "c++17"
}

// stdGuardFiles are the headers that carry libtorch's language-standard guard.
var stdGuardFiles = []string{"c10/util/C++17.h", "c10/macros/Macros.h", "torch/headeronly/macros/Macros.h"}

var cxx20Guard = regexp.MustCompile(`__cplusplus\s*<\s*202002L`)

// requiredStd reads the standard guard from the headers under includeDirs.
func requiredStd(includeDirs []string) string {
	for _, d := range includeDirs {
		for _, f := range stdGuardFiles {
			b, err := os.ReadFile(filepath.Join(d, f))
			if err == nil && cxx20Guard.Match(b) {
				return "c++20"
			}
		}
	}
	return "c++17"
}

// headerVersion reads TORCH_VERSION_{MAJOR,MINOR,PATCH} from torch/version.h.
func headerVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("libtorch version header: %w", err)
	}
	defer f.Close()
	parts := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := versionDefine.FindStringSubmatch(sc.Text()); m != nil {
			parts[m[1]] = m[2]
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if parts["MAJOR"] == "" || parts["MINOR"] == "" || parts["PATCH"] == "" {
		return "", fmt.Errorf("%s: no TORCH_VERSION_MAJOR/MINOR/PATCH defines", path)
	}
	return parts["MAJOR"] + "." + parts["MINOR"] + "." + parts["PATCH"], nil
}

// debianPackageVersion returns the upstream part of an installed Debian
// package's version ("1.13.1+dfsg-4" → "1.13.1"), or "".
func debianPackageVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(string(out))
	if i := strings.IndexByte(v, ':'); i >= 0 { // epoch
		v = v[i+1:]
	}
	if i := strings.IndexAny(v, "+-~"); i >= 0 {
		v = v[:i]
	}
	return v
}

// cxx11ABI tells which std::string ABI libc10 was built with, from how its
// own functions (namespace c10) that take strings are mangled: std::__cxx11
// under the new ABI, "Ss" under the old one. Only c10's symbols count:
// PyPI's wheels link parts of libstdc++ statically and so also export
// std::__cxx11 symbols while c10 itself uses the old ABI. Compiling the
// bridge with the wrong ABI links but fails at load time with undefined
// symbols, so this must be right.
func cxx11ABI(libc10 string) (int, error) {
	f, err := elf.Open(libc10)
	if err != nil {
		return 0, fmt.Errorf("reading %s to detect the C++ ABI: %w", libc10, err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		return 0, fmt.Errorf("%s: dynamic symbols: %w", libc10, err)
	}
	var names []string
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF {
			names = append(names, s.Name)
		}
	}
	abi, ok := abiFromSymbols(names)
	if !ok {
		return 0, errors.New(libc10 + ": cannot tell the C++ ABI (no c10 function takes a std::string)")
	}
	return abi, nil
}

func abiFromSymbols(names []string) (abi int, ok bool) {
	newABI, oldABI := 0, 0
	for _, n := range names {
		if !strings.HasPrefix(n, "_ZN3c10") && !strings.HasPrefix(n, "_ZNK3c10") {
			continue
		}
		if strings.Contains(n, "St7__cxx11") {
			newABI++
		} else if strings.Contains(n, "Ss") {
			oldABI++
		}
	}
	switch {
	case newABI > 0 && newABI >= oldABI:
		return 1, true
	case oldABI > 0:
		return 0, true
	}
	return 0, false
}
