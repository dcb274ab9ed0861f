package torch

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/models"
)

// Stated tolerances of SDPA against the eager attention (float32, dropout
// off, a padded batch): the kernels sum in another order.
const (
	sdpaLogitTol = 1e-5 // max |Δ| of logits and of the last hidden state (values of order 1)
	// per parameter: max |Δ| / max |g|, the denominator at least 1e-3 of the
	// largest gradient of the model (the key biases' gradients are zero in
	// exact arithmetic: softmax ignores a shift shared by a row of scores)
	sdpaGradTol = 1e-5
)

// TestSDPAMatchesEager: every BERT-family architecture gives the same
// logits, hidden states and parameter gradients with
// scaled_dot_product_attention as with the eager attention. On a libtorch
// without it (Debian's 1.13) it skips, saying why, and the implicit choice
// ("") must then be the eager path.
func TestSDPAMatchesEager(t *testing.T) {
	if err := SDPAUnavailable(); err != nil {
		t.Run("fallback", testSDPAFallback)
		t.Skipf("scaled_dot_product_attention is not available in this libtorch (%v): the eager attention is used", err)
	}
	for _, mt := range []string{models.TypeBERT, models.TypeRoBERTa, models.TypeDistilBERT, models.TypeELECTRA} {
		t.Run(mt, func(t *testing.T) {
			cfg := smallConfig(mt)
			off := 0.0 // DistilBERT's seq_classif_dropout too
			cfg.HiddenDropoutProb, cfg.AttentionProbsDropoutProb, cfg.ClassifierDropout = 0, 0, &off
			m, ids, mask := modelAndBatch(t, cfg, 7, 4, 19) // rows of 19, 17, 15 and 13 tokens
			type result struct {
				logits, hidden []float32
				grads          map[string][]float32
			}
			run := func(attn string) result {
				m.Attention = attn
				if got, err := m.AttentionInUse(); err != nil || got != attn {
					t.Fatalf("attention %q runs %q (%v)", attn, got, err)
				}
				m.ZeroGrad()
				out, err := m.Forward(ids, mask, nil, true)
				if err != nil {
					t.Fatal(err)
				}
				defer out.Drop()
				var r result
				r.logits, _, _ = Float32Values(out.Logits)
				r.hidden, _, _ = Float32Values(out.LastHiddenState)
				sq := out.Logits.MustMul(out.Logits, false)
				loss := sq.MustSum(gotch.Float, true)
				if err := m.Backward(loss); err != nil {
					t.Fatal(err)
				}
				loss.MustDrop()
				r.grads = grads(t, m)
				return r
			}
			eager, sdpa := run(AttentionEager), run(AttentionSDPA)
			maxAbs := func(a, b []float32) float64 {
				w := 0.0
				for i := range a {
					w = math.Max(w, math.Abs(float64(a[i]-b[i])))
				}
				return w
			}
			dl, dh := maxAbs(eager.logits, sdpa.logits), maxAbs(eager.hidden, sdpa.hidden)
			if dl > sdpaLogitTol || dh > sdpaLogitTol {
				t.Errorf("logits differ by %.3g, hidden states by %.3g (> %g)", dl, dh, sdpaLogitTol)
			}
			scale, global := map[string]float64{}, 0.0
			for name, g := range eager.grads {
				for _, x := range g {
					scale[name] = math.Max(scale[name], math.Abs(float64(x)))
				}
				global = math.Max(global, scale[name])
			}
			worst, where := 0.0, ""
			for name, g := range eager.grads {
				if d := maxAbs(g, sdpa.grads[name]) / math.Max(scale[name], 1e-3*global); d > worst {
					worst, where = d, name
				}
			}
			if worst > sdpaGradTol {
				t.Errorf("gradient of %s differs by %.3g (> %g)", where, worst, sdpaGradTol)
			}
			t.Logf("sdpa vs eager: logits %.2g, hidden %.2g, gradients %.2g (%s)", dl, dh, worst, where)
		})
	}
	// Dropout inside the kernel in training: on, and reproducible from the seed.
	t.Run("dropout", func(t *testing.T) {
		cfg := smallConfig(models.TypeBERT)
		cfg.HiddenDropoutProb, cfg.AttentionProbsDropoutProb = 0, 0.5
		m, ids, mask := modelAndBatch(t, cfg, 7, 2, 11)
		m.Attention = AttentionSDPA
		logits := func(train bool, seed int64) []float32 {
			if err := ManualSeed(seed); err != nil {
				t.Fatal(err)
			}
			out, err := m.Forward(ids, mask, nil, train)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Drop()
			v, _, _ := Float32Values(out.Logits)
			return v
		}
		a, b, c, off := logits(true, 5), logits(true, 5), logits(true, 6), logits(false, 5)
		if !slices.Equal(a, b) {
			t.Error("same seed, different logits: SDPA's dropout does not follow the generator")
		}
		if slices.Equal(a, c) || slices.Equal(a, off) {
			t.Error("attention dropout had no effect in training")
		}
	})
}

// testSDPAFallback: without the kernel, asking for it is an error that
// says why, and the default is the eager attention.
func testSDPAFallback(t *testing.T) {
	m, ids, mask := modelAndBatch(t, smallConfig(models.TypeBERT), 7, 2, 5)
	m.Attention = AttentionSDPA
	if _, err := m.Forward(ids, mask, nil, false); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Errorf("attention sdpa without the kernel: error %v", err)
	}
	m.Attention = ""
	out, err := m.Forward(ids, mask, nil, false)
	if err != nil {
		t.Fatalf("default attention: %v", err)
	}
	out.Drop()
}

// DeBERTa keeps its disentangled attention eager: asking it for SDPA is an
// error, the default runs.
func TestDebertaAttentionIsEager(t *testing.T) {
	cfg := models.DefaultConfig(models.TypeDeBERTaV2)
	cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize, cfg.VocabSize = 32, 1, 2, 48, 101
	cfg.SetNumLabels(2)
	m, ids, mask := modelAndBatch(t, cfg, 1, 2, 5)
	for _, tc := range []struct{ attn, wantErr string }{{"", ""}, {AttentionEager, ""}, {AttentionSDPA, "eager only"}, {"flash", "want"}} {
		m.Attention = tc.attn
		out, err := m.Forward(ids, mask, nil, false)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("attention %q: %v", tc.attn, err)
				continue
			}
			out.Drop()
		} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("attention %q: error %v, want %q", tc.attn, err, tc.wantErr)
		}
	}
}

// modelAndBatch builds a seeded model and a padded [b, s] batch (batch),
// freed when the test ends.
func modelAndBatch(t *testing.T, cfg *models.Config, seed uint64, b, s int) (m *Model, ids, mask *ts.Tensor) {
	t.Helper()
	m, err := NewSeeded(cfg, gotch.CPU, seed)
	if err != nil {
		t.Fatal(err)
	}
	ids, mask = batch(cfg, b, s, int64(seed))
	t.Cleanup(func() {
		ids.MustDrop()
		mask.MustDrop()
		m.Free()
	})
	return m, ids, mask
}
