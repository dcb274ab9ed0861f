package train

import (
	"os"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

// BenchmarkStepPhases times forward, backward, gradient norm and the AdamW
// update of one training step separately (set KILN_BENCH_MODEL to a
// config.json; default the tiny test model).
func BenchmarkStepPhases(b *testing.B) {
	path := os.Getenv("KILN_BENCH_MODEL")
	if path == "" {
		path = "testdata/tiny-bert.json"
	}
	cfg, err := models.LoadConfig(path)
	if err != nil {
		b.Fatal(err)
	}
	m := benchModel(b, cfg)
	defer m.Free()
	data := make([]dataset.Encoded, 32)
	for i := range data {
		ids := make([]int, 64)
		for j := range ids {
			ids[j] = 1000 + (i*64+j)%5000
		}
		data[i] = dataset.Encoded{IDs: ids, TypeIDs: make([]int, 64), Label: i % 2}
	}
	rows := make([]int, 32)
	for i := range rows {
		rows[i] = i
	}
	params := m.NamedParameters()
	opt, _ := NewAdamW(params, GroupOptions{LR: 1e-4, WeightDecay: 0.01}, 0.9, 0.999, 1e-8)
	var tf, tb, tn, to time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt, _ := MakeBatch(data, rows, 0, dataset.SingleLabel, m.Config, gotch.CPU)
		m.ZeroGrad()
		t0 := time.Now()
		out, err := m.ForwardInputs(bt.Inputs, true)
		if err != nil {
			b.Fatal(err)
		}
		loss := lossFor(out.Logits, bt.Labels, dataset.SingleLabel)
		_ = loss.Float64Values()
		t1 := time.Now()
		if err := m.Backward(loss); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		norm := GradStats(params, 1)
		t3 := time.Now()
		ClipGrads(params, norm, 1)
		opt.Step(1)
		t4 := time.Now()
		tf, tb, tn, to = tf+t1.Sub(t0), tb+t2.Sub(t1), tn+t3.Sub(t2), to+t4.Sub(t3)
		loss.MustDrop()
		out.Drop()
		bt.Drop()
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64((tf/n).Microseconds())/1000, "fwd-ms")
	b.ReportMetric(float64((tb/n).Microseconds())/1000, "bwd-ms")
	b.ReportMetric(float64((tn/n).Microseconds())/1000, "norm-ms")
	b.ReportMetric(float64((to/n).Microseconds())/1000, "adamw-ms")
	_ = ts.NewTensor
}

// BenchmarkAdamWStep times one optimiser step over a MiniLM-L6-sized
// parameter set (BERT 6×384, 12 heads, FFN 1536, vocabulary 30522: 22.7M
// parameters in 105 tensors, decay/no-decay/head groups) with each kernel
// the bridge has: the per-parameter loop, the _foreach_* ops and the fused
// _fused_adamw_.
//
//	OMP_NUM_THREADS=1 go test ./train -run '^$' -bench AdamWStep -benchtime 20x
func BenchmarkAdamWStep(b *testing.B) {
	cfg := models.DefaultConfig(models.TypeBERT)
	cfg.NumHiddenLayers, cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize = 6, 384, 12, 1536
	m := benchModel(b, cfg)
	defer m.Free()
	params := m.NamedParameters()
	// Gradients of ones for every parameter, kept for all steps.
	var sums []*ts.Tensor
	for _, p := range params {
		sums = append(sums, p.Tensor.MustSum(gotch.Float, false))
	}
	total := ts.MustStack(sums, 0).MustSum(gotch.Float, true)
	total.MustBackward()
	total.MustDrop()
	for _, s := range sums {
		s.MustDrop()
	}
	for _, kernel := range []string{KernelLoop, mtorch.AdamWForeach, mtorch.AdamWFused} {
		b.Run(kernel, func(b *testing.B) {
			if kernel != KernelLoop {
				if _, err := mtorch.AdamWKernel(gotch.CPU); err != nil {
					b.Skip(err)
				}
			}
			if kernel == mtorch.AdamWFused {
				if err := mtorch.FusedAdamWUnavailable(gotch.CPU); err != nil {
					b.Skip(err)
				}
			}
			opt, err := NewAdamW(params, GroupOptions{LR: 1e-4, HeadLR: 1e-3, WeightDecay: 0.01, ModelType: cfg.ModelType}, 0.9, 0.999, 1e-8)
			if err != nil {
				b.Fatal(err)
			}
			defer opt.Free()
			opt.Kernel = kernel
			opt.Step(1) // allocates the moments
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				opt.Step(1)
			}
		})
	}
}

// benchModel is cfg with a two-label head, seeded, on the CPU at the
// process's thread count.
func benchModel(b *testing.B, cfg *models.Config) *mtorch.Model {
	b.Helper()
	cfg.SetLabels([]string{"a", "b"})
	mtorch.InitThreads()
	m, err := mtorch.NewSeeded(cfg, gotch.CPU, 1)
	if err != nil {
		b.Fatal(err)
	}
	return m
}
