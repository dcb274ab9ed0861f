package train

import (
	"context"
	"math"
	"testing"
)

// A DeBERTa-v3-shaped model (relative attention with log buckets, shared
// position keys, no absolute positions) trains through the same loop as
// BERT: fp32 with gradient checkpointing and mean pooling, and bf16 under
// autocast. Both runs must finish their steps with finite losses, and
// bf16's per-step losses must track fp32's (mean |Δ| ≤ 0.02) without being
// identical (autocast took effect). Checkpointing is deterministic on CPU,
// so the fp32 run also matches one without it (≤ 1e-5 per step).
func TestDebertaTrainsFP32AndBF16(t *testing.T) {
	train := smallSST2(t, 200)
	run := func(prec string, ckpt bool) []float64 {
		cfg := tinyConfig(t, train, t.TempDir())
		cfg.Model = "testdata/tiny-deberta-v3.json"
		cfg.Precision, cfg.GradientCheckpointing, cfg.Pooling = prec, ckpt, "mean"
		cfg.BatchSize, cfg.MaxSteps, cfg.LR = 16, 12, 3e-3
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s ckpt=%v: %v", prec, ckpt, err)
		}
		if res.State.GlobalStep != 12 {
			t.Fatalf("%s: %d steps, want 12", prec, res.State.GlobalStep)
		}
		var ls []float64
		for _, e := range res.State.LogHistory {
			if e.Loss != nil {
				if math.IsNaN(*e.Loss) || math.IsInf(*e.Loss, 0) {
					t.Fatalf("%s: non-finite loss %v", prec, *e.Loss)
				}
				ls = append(ls, *e.Loss)
			}
		}
		return ls
	}
	f32, f32ckpt, bf16 := run("fp32", false), run("fp32", true), run("bf16", true)
	if len(f32) == 0 || len(f32) != len(bf16) || len(f32) != len(f32ckpt) {
		t.Fatalf("logged %d, %d and %d losses", len(f32), len(f32ckpt), len(bf16))
	}
	var sum, maxCkpt float64
	same := true
	for i := range f32 {
		sum += math.Abs(f32[i] - bf16[i])
		maxCkpt = math.Max(maxCkpt, math.Abs(f32[i]-f32ckpt[i]))
		same = same && f32[i] == bf16[i]
	}
	mean := sum / float64(len(f32))
	t.Logf("deberta losses fp32 %.4f→%.4f; bf16 mean |Δ| %.2e; checkpointing max |Δ| %.2e", f32[0], f32[len(f32)-1], mean, maxCkpt)
	if mean > 0.02 {
		t.Errorf("bf16 losses drift from fp32's: mean |Δ| %.3g > 0.02", mean)
	}
	if same {
		t.Error("bf16 losses identical to fp32's: autocast did not take effect")
	}
	if maxCkpt > 1e-5 {
		t.Errorf("gradient checkpointing changed the losses by %.3g > 1e-5", maxCkpt)
	}
}
