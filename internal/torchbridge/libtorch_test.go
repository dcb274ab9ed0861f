package torchbridge

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestHeaderVersion(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, text, want string
		wantErr          bool
	}{
		{"full", "#define TORCH_VERSION_MAJOR 2\n#define TORCH_VERSION_MINOR 1\n#define TORCH_VERSION_PATCH 2\n", "2.1.2", false},
		{"missing patch", "#define TORCH_VERSION_MAJOR 2\n#define TORCH_VERSION_MINOR 1\n", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".h")
			if err := os.WriteFile(p, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := headerVersion(p)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("headerVersion = %q, %v; want %q (error %t)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestLocateRejectsEmptyDir(t *testing.T) {
	_, err := Locate(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "libtorch.so missing") {
		t.Fatalf("Locate(empty dir) error = %v", err)
	}
}

func TestLocateDebian(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DebianLibDir, "libtorch.so")); err != nil {
		t.Skip("Debian libtorch-dev not installed")
	}
	lt, err := Locate("")
	if err != nil {
		t.Fatal(err)
	}
	// Debian builds libtorch with the C++11 ABI; getting this wrong makes the
	// bridge fail to load with undefined symbols.
	if lt.CXX11ABI != 1 || !strings.HasPrefix(lt.Version, "1.") || lt.CUDA {
		t.Fatalf("Locate(debian) = %+v", lt)
	}
}

func TestABIFromSymbols(t *testing.T) {
	tests := []struct {
		name    string
		syms    []string
		abi     int
		decided bool
	}{
		{"debian new ABI", []string{"_ZN3c105ErrorC1ENS_14SourceLocationENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"}, 1, true},
		// PyPI wheel: old-ABI c10 plus statically linked libstdc++ symbols.
		{"wheel old ABI", []string{"_ZN3c105ErrorC1ENS_14SourceLocationESs", "_ZGTtNSt11logic_errorC1ERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"}, 0, true},
		{"no strings", []string{"_ZN3c106detail5fooEv"}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			abi, ok := abiFromSymbols(tc.syms)
			if abi != tc.abi || ok != tc.decided {
				t.Fatalf("abiFromSymbols = %d, %v; want %d, %v", abi, ok, tc.abi, tc.decided)
			}
		})
	}
}

// Since PyTorch 2.10 the version defines moved to torch/headeronly/version.h
// and torch/csrc/api/include/torch/version.h only #includes it.
func TestIncludeVersionLayouts(t *testing.T) {
	const defines = "#define TORCH_VERSION_MAJOR 2\n#define TORCH_VERSION_MINOR %d\n#define TORCH_VERSION_PATCH 0\n"
	tests := []struct {
		name    string
		files   map[string]string // relative to include/
		want    string
		wantErr string
	}{
		{"pre-2.10", map[string]string{"torch/csrc/api/include/torch/version.h": fmt.Sprintf(defines, 1)}, "2.1.0", ""},
		{"2.11 redirect", map[string]string{
			"torch/headeronly/version.h":             fmt.Sprintf(defines, 11),
			"torch/csrc/api/include/torch/version.h": "#include <torch/headeronly/version.h>\n",
		}, "2.11.0", ""},
		{"redirect without target", map[string]string{"torch/csrc/api/include/torch/version.h": "#include <torch/headeronly/version.h>\n"}, "", "no TORCH_VERSION"},
		{"no header", map[string]string{}, "", "none of"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inc := filepath.Join(t.TempDir(), "include")
			for rel, text := range tc.files {
				p := filepath.Join(inc, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := includeVersion([]string{inc, filepath.Join(inc, "torch/csrc/api/include")})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("includeVersion = %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("includeVersion = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestRequiredStd(t *testing.T) {
	tests := []struct {
		name, guard, want string
	}{
		{"C++17 guard (1.x-2.11)", "#if __cplusplus < 201703L\n#error You need C++17 to compile PyTorch\n#endif\n", "c++17"},
		{"C++20 guard", "#if !defined(_MSC_VER) && __cplusplus < 202002L\n#error You need C++20\n#endif\n", "c++20"},
		{"no guard (Debian 1.13)", "", "c++17"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inc := t.TempDir()
			if tc.guard != "" {
				p := filepath.Join(inc, "c10/util/C++17.h")
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(tc.guard), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			lt := &Libtorch{Std: requiredStd([]string{inc})}
			if got := lt.CXXStd(); got != tc.want {
				t.Fatalf("CXXStd = %s, want %s", got, tc.want)
			}
		})
	}
}

// build.json is found through the build/lib symlink, as doctor reads it.
func TestReadBuildInfoThroughLink(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "bridge", "2.11.0-abc-cpu")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(cache, LibraryName)
	os.WriteFile(lib, []byte("ELF"), 0o755)
	os.WriteFile(filepath.Join(cache, "build.json"), []byte(`{"key":"abc","std":"c++17","cpu_only":true,"stubs":3}`), 0o644)
	link := filepath.Join(dir, "lib", LibraryName)
	if err := linkAtomic(lib, link); err != nil {
		t.Fatal(err)
	}
	bi, err := ReadBuildInfo(link)
	if err != nil {
		t.Fatal(err)
	}
	if bi.Std != "c++17" || !bi.CPUOnly || bi.Stubs != 3 {
		t.Fatalf("ReadBuildInfo = %+v", bi)
	}
	if _, err := ReadBuildInfo(filepath.Join(dir, "missing.so")); err == nil {
		t.Fatal("ReadBuildInfo(missing) succeeded")
	}
}

// A CUDA libtorch's NCCL wrapper needs cuda.h and nccl.h, which PyPI keeps
// in the nvidia-* wheels beside torch/ and a libtorch zip leaves to the
// toolkit.
func TestCUDAIncludeDirs(t *testing.T) {
	mk := func(t *testing.T, paths ...string) string {
		root := t.TempDir()
		for _, p := range paths {
			if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, p), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	tests := []struct {
		name  string
		files []string
		torch string // the libtorch root, relative to the tree
		env   map[string]string
		want  []string // relative to the tree
	}{
		{"pypi cu13 wheels", []string{"site/torch/lib/libtorch_cuda.so", "site/nvidia/cu13/include/cuda.h", "site/nvidia/nccl/include/nccl.h", "site/nvidia/cudnn/lib/x.so"},
			"site/torch", nil, []string{"site/nvidia/cu13/include", "site/nvidia/nccl/include"}},
		{"libtorch zip and a toolkit", []string{"libtorch/lib/libtorch_cuda.so", "cuda-13/include/cuda.h"},
			"libtorch", map[string]string{"CUDA_HOME": "cuda-13"}, []string{"cuda-13/include"}},
		{"toolkit without cuda.h is skipped", []string{"libtorch/lib/libtorch_cuda.so", "cuda-13/include/other.h"},
			"libtorch", map[string]string{"CUDA_HOME": "cuda-13"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree := mk(t, tc.files...)
			getenv := func(k string) string {
				if v, ok := tc.env[k]; ok {
					return filepath.Join(tree, v)
				}
				return ""
			}
			got := cudaIncludeDirs(filepath.Join(tree, tc.torch), getenv)
			var want []string
			for _, w := range tc.want {
				want = append(want, filepath.Join(tree, w))
			}
			// /usr/local/cuda may exist on the machine running the test.
			if len(got) > len(want) && got[len(got)-1] == "/usr/local/cuda/include" {
				got = got[:len(got)-1]
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}
