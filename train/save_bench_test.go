package train

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

// BenchmarkCheckpointSave times one checkpoint save (model.safetensors,
// optimizer.safetensors, trainer_state.json, then --save-total-limit 1
// pruning) of a pretrained model with its AdamW moments after one step
// (KILN_BENCH_PRETRAINED, default build/pretrained/all-MiniLM-L6-v2; the
// checkpoints go to KILN_BENCH_DIR, default a temp dir). It also times the
// pieces a save is made of, each on its own over the same tensors: copying
// them to Go, encoding to little-endian bytes, writing the bytes to the page
// cache and fsyncing them. bench/train/save.sh compares it with
// transformers.
func BenchmarkCheckpointSave(b *testing.B) {
	dir := os.Getenv("KILN_BENCH_PRETRAINED")
	if dir == "" {
		dir = filepath.Join(testenv.RepoRoot(), "build/pretrained/all-MiniLM-L6-v2")
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
		b.Skipf("no pretrained model: %v", err)
	}
	out := os.Getenv("KILN_BENCH_DIR")
	if out == "" {
		out = b.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		b.Fatal(err)
	}
	mtorch.InitThreads()
	m, _, err := mtorch.Load(dir, mtorch.LoadOptions{Labels: []string{"neg", "pos"}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Free()
	params := m.NamedParameters()
	opt, err := NewAdamW(params, GroupOptions{LR: 5e-5, WeightDecay: 0.01}, 0.9, 0.999, 1e-8)
	if err != nil {
		b.Fatal(err)
	}
	defer opt.Free()
	oneStep(b, m, opt)

	var tensors []*ts.Tensor
	var numel int64
	for _, p := range params {
		tensors = append(tensors, p.Tensor)
	}
	for _, ap := range opt.params {
		tensors = append(tensors, ap.m, ap.v)
	}
	for _, t := range tensors {
		numel += int64(t.Numel())
	}
	st := &State{MaxSteps: 100, Task: dataset.SingleLabel}
	sched := Schedule{}
	scaler := LossScaler{}
	var tCopy, tEncode, tWrite, tSync, tSave, tPrune time.Duration
	b.SetBytes(4 * numel)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The pieces, on their own.
		t0 := time.Now()
		vals := make([][]float32, len(tensors))
		shapes := make([][]int64, len(tensors))
		for j, t := range tensors {
			if vals[j], shapes[j], err = mtorch.Float32Values(t); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		enc := make([][]byte, len(tensors))
		for j := range vals {
			x, err := models.FromFloat32s("F32", shapes[j], vals[j])
			if err != nil {
				b.Fatal(err)
			}
			enc[j] = x.Data
		}
		t2 := time.Now()
		f, err := os.Create(filepath.Join(out, "pieces.bin"))
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range enc {
			if _, err := f.Write(e); err != nil {
				b.Fatal(err)
			}
		}
		t3 := time.Now()
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		f.Close()
		os.Remove(f.Name())
		vals, enc = nil, nil

		// The whole save, as the training loop does it.
		st.GlobalStep = i + 1
		t5 := time.Now()
		if _, err := saveCheckpoint(out, m, opt, sched, &scaler, st); err != nil {
			b.Fatal(err)
		}
		t6 := time.Now()
		if err := pruneCheckpoints(out, 1, ""); err != nil {
			b.Fatal(err)
		}
		t7 := time.Now()
		tCopy += t1.Sub(t0)
		tEncode += t2.Sub(t1)
		tWrite += t3.Sub(t2)
		tSync += t4.Sub(t3)
		tSave += t6.Sub(t5)
		tPrune += t7.Sub(t6)
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(tCopy), "copy-ms")
	b.ReportMetric(ms(tEncode), "encode-ms")
	b.ReportMetric(ms(tWrite), "write-ms")
	b.ReportMetric(ms(tSync), "fsync-ms")
	b.ReportMetric(ms(tSave), "save-ms")
	b.ReportMetric(ms(tPrune), "prune-ms")
	os.RemoveAll(filepath.Join(out, checkpointName(b.N)))
}

// oneStep gives opt its moments: one forward, backward and update on a
// fixed batch.
func oneStep(b testing.TB, m *mtorch.Model, opt *AdamW) {
	data := make([]dataset.Encoded, 8)
	for i := range data {
		ids := make([]int, 32)
		for j := range ids {
			ids[j] = 1000 + (i*32+j)%5000
		}
		data[i] = dataset.Encoded{IDs: ids, TypeIDs: make([]int, 32), Label: i % 2}
	}
	rows := []int{0, 1, 2, 3, 4, 5, 6, 7}
	bt, err := MakeBatch(data, rows, 0, dataset.SingleLabel, m.Config, gotch.CPU)
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Drop()
	m.ZeroGrad()
	o, err := m.ForwardInputs(bt.Inputs, true)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Drop()
	loss := lossFor(o.Logits, bt.Labels, dataset.SingleLabel)
	defer loss.MustDrop()
	if err := m.Backward(loss); err != nil {
		b.Fatal(err)
	}
	opt.Step(1)
}
