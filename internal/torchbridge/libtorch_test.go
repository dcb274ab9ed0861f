package torchbridge

import (
	"os"
	"path/filepath"
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
