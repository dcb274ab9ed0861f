package train

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

// TestAdamWSaveStateSameBytes: SaveState streams the moments from libtorch;
// the file must hold exactly what WriteSafetensors writes for State (the
// copying path it replaced), and LoadState must restore the moments.
func TestAdamWSaveStateSameBytes(t *testing.T) {
	cfg, err := models.LoadConfig("testdata/tiny-bert.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetLabels([]string{"a", "b"})
	m, err := mtorch.NewSeeded(cfg, gotch.CPU, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	opt, err := NewAdamW(m.NamedParameters(), GroupOptions{LR: 1e-3, WeightDecay: 0.01}, 0.9, 0.999, 1e-8)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Free()
	oneStep(t, m, opt)
	sd, err := opt.State()
	if err != nil {
		t.Fatal(err)
	}
	if len(sd) == 0 {
		t.Fatal("no moments after a step")
	}
	dir := t.TempDir()
	meta := map[string]string{"format": "kiln-adamw"}
	got, want := filepath.Join(dir, "got.safetensors"), filepath.Join(dir, "want.safetensors")
	if err := opt.SaveState(got, meta); err != nil {
		t.Fatal(err)
	}
	if err := models.WriteSafetensors(want, sd, meta); err != nil {
		t.Fatal(err)
	}
	gb, _ := os.ReadFile(got)
	wb, _ := os.ReadFile(want)
	if len(gb) == 0 || !bytes.Equal(gb, wb) {
		t.Fatalf("SaveState wrote %d bytes, WriteSafetensors(State) %d: they differ", len(gb), len(wb))
	}
	back, _, err := models.ReadSafetensors(got)
	if err != nil {
		t.Fatal(err)
	}
	opt2, err := NewAdamW(m.NamedParameters(), GroupOptions{LR: 1e-3}, 0.9, 0.999, 1e-8)
	if err != nil {
		t.Fatal(err)
	}
	defer opt2.Free()
	if err := opt2.LoadState(back, gotch.CPU); err != nil {
		t.Fatal(err)
	}
	sd2, err := opt2.State()
	if err != nil {
		t.Fatal(err)
	}
	for name, x := range sd {
		if !bytes.Equal(sd2[name].Data, x.Data) {
			t.Errorf("%s not restored", name)
		}
	}
}
