package train

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/models"
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

// Fine-tuning a pre-trained DeBERTa-v3 checkpoint as microsoft ships them:
// encoder weights under deberta.*, the MLM and replaced-token-detection
// heads (lm_predictions.*, mask_predictions.*), no classification head.
// The run drops the pre-training heads, initialises pooler and classifier
// fresh for the data's labels, trains, and saves a
// DebertaV2ForSequenceClassification checkpoint.
func TestDebertaFineTunesPretrainedCheckpoint(t *testing.T) {
	cfg, err := models.LoadConfig("testdata/tiny-deberta-v3.json")
	if err != nil {
		t.Fatal(err)
	}
	sd, err := models.InitStateDict(cfg, 3, "F32")
	if err != nil {
		t.Fatal(err)
	}
	for name := range sd {
		if models.IsHeadParam(cfg.ModelType, name) {
			delete(sd, name)
		}
	}
	H := int64(cfg.HiddenSize)
	for name, shape := range map[string][]int64{
		"lm_predictions.lm_head.dense.weight": {H, H}, "lm_predictions.lm_head.bias": {int64(cfg.VocabSize)},
		"mask_predictions.dense.weight": {H, H}, "mask_predictions.classifier.weight": {1, H},
	} {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		if sd[name], err = models.FromFloat32s("F32", shape, make([]float32, n)); err != nil {
			t.Fatal(err)
		}
	}
	base := t.TempDir()
	cfg.Architectures = []string{"DebertaV2ForMaskedLM"}
	if err := cfg.Save(base); err != nil {
		t.Fatal(err)
	}
	if err := models.WriteSafetensors(filepath.Join(base, "model.safetensors"), sd, nil); err != nil {
		t.Fatal(err)
	}
	tc := tinyConfig(t, smallSST2(t, 64), t.TempDir())
	tc.Model, tc.MaxSteps, tc.BatchSize = base, 3, 16
	res, err := Run(context.Background(), tc)
	if err != nil {
		t.Fatal(err)
	}
	if res.State.GlobalStep != 3 {
		t.Fatalf("%d steps, want 3", res.State.GlobalStep)
	}
	out, err := models.LoadConfig(tc.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	if out.ModelType != models.TypeDeBERTaV2 || out.NumLabels() != 2 || !out.Deberta.RelativeAttention ||
		len(out.Architectures) != 1 || out.Architectures[0] != "DebertaV2ForSequenceClassification" {
		t.Errorf("saved config: %+v", out)
	}
	saved := finalParams(t, tc.OutputDir)
	for _, name := range []string{"pooler.dense.weight", "classifier.weight", "deberta.encoder.rel_embeddings.weight"} {
		if _, ok := saved[name]; !ok {
			t.Errorf("saved checkpoint lacks %s", name)
		}
	}
	for name := range saved {
		if strings.HasPrefix(name, "lm_predictions.") || strings.HasPrefix(name, "mask_predictions.") {
			t.Errorf("pre-training head %s kept in the fine-tuned checkpoint", name)
		}
	}
}
