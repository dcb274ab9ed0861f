package train

import (
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	mtorch "github.com/kiln-ml/kiln/models/torch"
)

// param returns a leaf tensor with requires_grad whose gradient after
// setGrad is exactly g.
func param(t *testing.T, vals []float32) *ts.Tensor {
	t.Helper()
	p := ts.MustOfSlice(vals)
	p.MustRequiresGrad_(true)
	return p
}

func setGrad(p *ts.Tensor, g []float32) {
	p.ZeroGrad()
	c := ts.MustOfSlice(g)
	l := p.MustMul(c, false).MustSum(gotch.Float, true)
	l.MustBackward()
	l.MustDrop()
	c.MustDrop()
}

// AdamW over gotch must follow torch.optim.AdamW's formulas; the reference
// here is the same algorithm in float64. Tolerance 1e-6 (float32 storage).
func TestAdamWMatchesReference(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w0 := []float32{0.5, -1.25, 2}
	p := param(t, w0)
	opt, err := NewAdamW([]mtorch.NamedParameter{{Name: "encoder.layer.0.w", Tensor: p}}, GroupOptions{LR: 0.1, WeightDecay: 0.01}, 0.9, 0.999, 1e-8)
	if err != nil {
		t.Fatal(err)
	}
	grads := [][]float32{{0.1, -0.2, 0.3}, {1, 0.5, -0.5}, {-0.3, 0.0, 2}}
	ref := []float64{0.5, -1.25, 2}
	m, v := make([]float64, 3), make([]float64, 3)
	factors := []float64{1, 0.5, 0.25}
	for s, g := range grads {
		setGrad(p, g)
		opt.Step(factors[s])
		lr := 0.1 * factors[s]
		bc1, bc2 := 1-math.Pow(0.9, float64(s+1)), 1-math.Pow(0.999, float64(s+1))
		for i := range ref {
			ref[i] *= 1 - lr*0.01
			m[i] = 0.9*m[i] + 0.1*float64(g[i])
			v[i] = 0.999*v[i] + 0.001*float64(g[i])*float64(g[i])
			ref[i] -= lr / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + 1e-8)
		}
	}
	got, _, err := mtorch.Float32Values(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ref {
		if math.Abs(float64(got[i])-ref[i]) > 1e-6 {
			t.Errorf("w[%d] = %v, reference %v", i, got[i], ref[i])
		}
	}
}

func TestParamGroups(t *testing.T) {
	mk := func(name string, noDecay bool) mtorch.NamedParameter {
		return mtorch.NamedParameter{Name: name, Tensor: ts.MustOfSlice([]float32{1}), NoDecay: noDecay}
	}
	params := []mtorch.NamedParameter{
		mk("bert.embeddings.word_embeddings.weight", false),
		mk("bert.encoder.layer.0.attention.self.query.weight", false),
		mk("bert.encoder.layer.1.attention.self.query.bias", true),
		mk("bert.pooler.dense.weight", false),
		mk("classifier.weight", false),
	}
	opt, err := NewAdamW(params, GroupOptions{LR: 1, HeadLR: 10, WeightDecay: 0.1, LayerDecay: 0.5, NumLayers: 2}, 0.9, 0.999, 1e-8)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		lr, wd float64
	}{{0.125, 0.1}, {0.25, 0.1}, {0.5, 0}, {1, 0.1}, {10, 0.1}}
	for i, w := range want {
		g := opt.Groups[opt.params[i].group]
		if math.Abs(g.LR-w.lr) > 1e-12 || g.WeightDecay != w.wd {
			t.Errorf("%s: lr %v wd %v, want lr %v wd %v", params[i].Name, g.LR, g.WeightDecay, w.lr, w.wd)
		}
	}
	if _, err := NewAdamW(params, GroupOptions{LR: 1, LayerDecay: 1.5}, 0.9, 0.999, 1e-8); err == nil {
		t.Error("layer decay 1.5 accepted")
	}
}

// Forced overflow through the tensor path: an inf gradient makes the
// unscaled norm non-finite, the scaler skips the step and halves the
// scale, and the weights stay as they were.
func TestScalerSkipsOverflowedStep(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := param(t, []float32{1, 2})
	params := []mtorch.NamedParameter{{Name: "w", Tensor: p}}
	opt, _ := NewAdamW(params, GroupOptions{LR: 0.1}, 0.9, 0.999, 1e-8)
	sc := NewLossScaler(true)
	for i, tc := range []struct {
		grad     []float32
		wantStep bool
	}{{[]float32{float32(math.Inf(1)), 1}, false}, {[]float32{65536, 65536}, true}} {
		setGrad(p, tc.grad)
		before := sc.Scale()
		norm := GradStats(params, 1/sc.Scale())
		finite := !math.IsInf(norm, 0) && !math.IsNaN(norm)
		took := sc.Update(!finite)
		if took != tc.wantStep {
			t.Fatalf("case %d: step taken = %v, want %v (norm %v)", i, took, tc.wantStep, norm)
		}
		if took {
			if math.Abs(norm-math.Sqrt2*65536/before) > 1e-6 {
				t.Errorf("unscaled norm %v, want %v", norm, math.Sqrt2*65536/before)
			}
			opt.Step(1)
		} else {
			if sc.Scale() != before/2 {
				t.Errorf("scale %v after overflow, want %v", sc.Scale(), before/2)
			}
			w, _, _ := mtorch.Float32Values(p)
			if w[0] != 1 || w[1] != 2 {
				t.Errorf("weights changed on a skipped step: %v", w)
			}
		}
	}
	if opt.StepCount != 1 || sc.SkippedSteps != 1 {
		t.Errorf("steps %d skipped %d, want 1 and 1", opt.StepCount, sc.SkippedSteps)
	}
}

// GradStats returns the global L2 norm of the (unscaled) gradients and
// ClipGrads rescales them as torch.nn.utils.clip_grad_norm_ does:
// g·max/(norm+1e-6) when norm > max, untouched otherwise or when off.
func TestGradientClipping(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	g1, g2 := []float32{3, 0, -4}, []float32{12} // global norm 13
	for _, tc := range []struct {
		name          string
		mul, maxNorm  float64
		wantNorm      float64
		wantScaleGrad float64 // factor each gradient ends up multiplied by
	}{
		{"clipped", 1, 6.5, 13, 6.5 / (13 + 1e-6)},
		{"under the limit", 1, 20, 13, 1},
		{"off", 1, -1, 13, 1},
		{"unscaled first", 0.5, 1, 6.5, 0.5 * 1 / (6.5 + 1e-6)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p1, p2 := param(t, []float32{1, 1, 1}), param(t, []float32{1})
			defer p1.MustDrop()
			defer p2.MustDrop()
			setGrad(p1, g1)
			setGrad(p2, g2)
			params := []mtorch.NamedParameter{{Name: "a", Tensor: p1}, {Name: "b", Tensor: p2}}
			norm := GradStats(params, tc.mul)
			if math.Abs(norm-tc.wantNorm) > 1e-5 {
				t.Errorf("norm = %v, want %v", norm, tc.wantNorm)
			}
			ClipGrads(params, norm, tc.maxNorm)
			for i, p := range []*ts.Tensor{p1, p2} {
				g := p.MustGrad(false)
				got, _, err := mtorch.Float32Values(g)
				g.MustDrop()
				if err != nil {
					t.Fatal(err)
				}
				for j, v := range [][]float32{g1, g2}[i] {
					if want := float64(v) * tc.wantScaleGrad; math.Abs(float64(got[j])-want) > 1e-5 {
						t.Errorf("grad %d[%d] = %v, want %v", i, j, got[j], want)
					}
				}
			}
		})
	}
}
