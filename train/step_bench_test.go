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
	cfg.SetLabels([]string{"a", "b"})
	mtorch.InitThreads()
	m, err := mtorch.NewSeeded(cfg, gotch.CPU, 1)
	if err != nil {
		b.Fatal(err)
	}
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
