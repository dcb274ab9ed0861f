package models

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// refCheckpoints runs testdata/make_checkpoints.py with the reference Python.
func refCheckpoints(t *testing.T) string {
	t.Helper()
	py := testenv.Python(t)
	dir := t.TempDir()
	cmd := exec.Command(py, filepath.Join("testdata", "make_checkpoints.py"), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make_checkpoints.py: %v\n%s", err, out)
	}
	return dir
}

// TestPytorchBinMatchesSafetensors reads the same tensors written by
// torch.save (zip + pickle) and by safetensors and requires identical bytes.
func TestPytorchBinMatchesSafetensors(t *testing.T) {
	dir := refCheckpoints(t)
	cases := []struct{ bin, st string }{
		{filepath.Join(dir, "bert_bin", "pytorch_model.bin"), filepath.Join(dir, "bert_st", "model.safetensors")},
		{filepath.Join(dir, "mixed.bin"), filepath.Join(dir, "mixed.safetensors")},
	}
	for _, tc := range cases {
		t.Run(filepath.Base(tc.bin), func(t *testing.T) {
			bin, err := ReadPytorchBin(tc.bin)
			if err != nil {
				t.Fatal(err)
			}
			st, _, err := ReadSafetensors(tc.st)
			if err != nil {
				t.Fatal(err)
			}
			if len(bin) != len(st) {
				t.Errorf("%d tensors in .bin, %d in safetensors", len(bin), len(st))
			}
			for name, want := range st {
				got, ok := bin[name]
				if !ok {
					t.Errorf("%s missing from .bin", name)
					continue
				}
				if got.DType != want.DType || !equalShape(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
					t.Errorf("%s: .bin %s%v differs from safetensors %s%v", name, got.DType, got.Shape, want.DType, want.Shape)
				}
			}
		})
	}
	// LoadStateDict prefers safetensors and falls back to the .bin.
	for _, sub := range []string{"bert_bin", "bert_st"} {
		sd, err := LoadStateDict(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		_, rep := NormalizeStateDict(cfg, sd)
		if len(rep.Missing)+len(rep.Unexpected) != 0 {
			t.Errorf("%s: missing %v unexpected %v", sub, rep.Missing, rep.Unexpected)
		}
	}
}

func TestPytorchBinCorrupt(t *testing.T) {
	dir := refCheckpoints(t)
	good, err := os.ReadFile(filepath.Join(dir, "bert_bin", "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)*2/3], "not a torch zip checkpoint"},
		{"empty", nil, "not a torch zip checkpoint"},
		{"legacy pickle", []byte{0x80, 0x02, 0x8a, 0x0a}, "legacy"},
		{"corrupt member", corruptMember(good), "corrupt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "pytorch_model.bin")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadPytorchBin(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// corruptMember flips bytes inside the first stored storage so the zip CRC fails.
func corruptMember(b []byte) []byte {
	c := append([]byte{}, b...)
	i := bytes.Index(c, []byte("data/0"))
	for j := i + 200; j < i+260 && j < len(c); j++ {
		c[j] ^= 0xff
	}
	return c
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPickleRefusesCode makes sure a pickle calling anything but the
// state-dict rebuild functions is refused, never executed.
func TestPickleRefusesCode(t *testing.T) {
	// protocol 2: GLOBAL os.system, ('ls',), REDUCE, STOP
	code := []byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.")
	u := &unpickler{r: bytes.NewReader(code), memo: map[uint32]any{}}
	_, err := u.load()
	if err == nil || !strings.Contains(err.Error(), "os.system is not allowed") {
		t.Fatalf("error %v", err)
	}
}
