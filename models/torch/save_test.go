package torch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
)

// TestSaveStreamsTheStateDict: Save streams the parameters from libtorch;
// the file must hold exactly the bytes WriteSafetensors writes for
// StateDict (the copying path it replaced), read back the same with
// LoadStateDict, and with the Python safetensors library.
func TestSaveStreamsTheStateDict(t *testing.T) {
	m, err := NewSeeded(smallConfig(models.TypeBERT), gotch.CPU, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	py := testenv.Python(t)
	for _, dtype := range []string{"F32", "F16", "BF16"} {
		t.Run(dtype, func(t *testing.T) {
			dir := t.TempDir()
			if err := m.SaveAs(dir, dtype); err != nil {
				t.Fatal(err)
			}
			sd, err := m.StateDict(dtype)
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(t.TempDir(), "want.safetensors")
			if err := models.WriteSafetensors(want, sd, map[string]string{"format": "pt"}); err != nil {
				t.Fatal(err)
			}
			gotBytes, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			wantBytes, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotBytes, wantBytes) {
				t.Fatalf("model.safetensors (%d bytes) differs from WriteSafetensors(StateDict) (%d bytes)", len(gotBytes), len(wantBytes))
			}
			back, err := models.LoadStateDict(dir)
			if err != nil {
				t.Fatal(err)
			}
			wantSums := map[string]string{}
			for name, x := range sd {
				y, ok := back[name]
				if !ok || y.DType != x.DType || !slices.Equal(y.Shape, x.Shape) || !bytes.Equal(y.Data, x.Data) {
					t.Errorf("LoadStateDict: %s differs", name)
				}
				h := sha256.Sum256(x.Data)
				wantSums[name] = hex.EncodeToString(h[:])
			}
			if len(back) != len(sd) {
				t.Errorf("LoadStateDict: %d tensors, want %d", len(back), len(sd))
			}
			// The Python library reads each tensor's raw bytes; they must
			// hash the same as ours (bf16 goes through torch, numpy lacks it).
			out, err := exec.Command(py, "-c", `
import hashlib, json, sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="pt") as f:
    print(json.dumps({k: hashlib.sha256(f.get_tensor(k).contiguous().view(-1).view(__import__("torch").uint8).numpy().tobytes()).hexdigest() for k in f.keys()}))
`, filepath.Join(dir, "model.safetensors")).CombinedOutput()
			if err != nil {
				t.Fatalf("python safetensors: %v\n%s", err, out)
			}
			var gotSums map[string]string
			if err := json.Unmarshal(out, &gotSums); err != nil {
				t.Fatalf("python output %q: %v", out, err)
			}
			if len(gotSums) != len(wantSums) {
				t.Errorf("python read %d tensors, want %d", len(gotSums), len(wantSums))
			}
			for name, want := range wantSums {
				if gotSums[name] != want {
					t.Errorf("python: %s has other bytes", name)
				}
			}
		})
	}
}

// TestStreamedNonContiguous: a transposed (non-contiguous) tensor streams
// in row-major order, as Float32Values copies it.
func TestStreamedNonContiguous(t *testing.T) {
	x := ts.MustArange(ts.IntScalar(6), gotch.Float, gotch.CPU).MustView([]int64{2, 3}, true)
	defer x.MustDrop()
	xt := x.MustT(false)
	defer xt.MustDrop()
	vals, shape, err := Float32Values(xt)
	if err != nil {
		t.Fatal(err)
	}
	want, err := models.FromFloat32s("F32", shape, vals)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Streamed("x", xt, "F32")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := st.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Shape, []int64{3, 2}) || !bytes.Equal(buf.Bytes(), want.Data) {
		t.Errorf("streamed %v %v, want [3 2] %v", st.Shape, buf.Bytes(), want.Data)
	}
	if vals[1] != 3 { // row 0 of the transpose is 0, 3
		t.Errorf("Float32Values of the transpose %v", vals)
	}
}
