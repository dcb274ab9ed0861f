package train

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/models"
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

// Parameter groups: the head (models.IsHeadParam: BERT's pooler, DeBERTa's
// ContextPooler pooler.dense, every classifier) gets --head-lr; with layer
// decay, layer i of L gets lr·d^(L-i) and every other encoder parameter
// (embeddings, ELECTRA's embeddings_project, DeBERTa's rel_embeddings and
// encoder.LayerNorm) lr·d^(L+1); biases and LayerNorms get no weight decay.
func TestParamGroups(t *testing.T) {
	deberta, err := models.LoadConfig("testdata/tiny-deberta-v3.json") // 2 layers
	if err != nil {
		t.Fatal(err)
	}
	o := GroupOptions{LR: 1, HeadLR: 10, WeightDecay: 0.1, LayerDecay: 0.5, NumLayers: 2}
	type want struct {
		lr, wd float64
		group  string
	}
	for _, tc := range []struct {
		modelType string
		names     []string // every parameter when nil: ParamSpecs of the DeBERTa config
		noDecay   map[string]bool
		want      map[string]want
	}{{
		modelType: models.TypeBERT,
		names: []string{"bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight",
			"bert.encoder.layer.1.attention.self.query.bias", "bert.pooler.dense.weight", "classifier.weight"},
		noDecay: map[string]bool{"bert.encoder.layer.1.attention.self.query.bias": true},
		want: map[string]want{
			"bert.embeddings.word_embeddings.weight":           {0.125, 0.1, "embeddings"},
			"bert.encoder.layer.0.attention.self.query.weight": {0.25, 0.1, "layer0"},
			"bert.encoder.layer.1.attention.self.query.bias":   {0.5, 0, "layer1/no_decay"},
			"bert.pooler.dense.weight":                         {10, 0.1, "head"},
			"classifier.weight":                                {10, 0.1, "head"},
		},
	}, {
		modelType: models.TypeELECTRA,
		names:     []string{"electra.embeddings_project.weight", "electra.encoder.layer.1.output.dense.weight", "classifier.dense.weight"},
		want: map[string]want{
			"electra.embeddings_project.weight":           {0.125, 0.1, "embeddings"},
			"electra.encoder.layer.1.output.dense.weight": {0.5, 0.1, "layer1"},
			"classifier.dense.weight":                     {10, 0.1, "head"},
		},
	}, {
		modelType: models.TypeDeBERTaV2,
		want: map[string]want{
			"deberta.embeddings.word_embeddings.weight":             {0.125, 0.1, "embeddings"},
			"deberta.encoder.rel_embeddings.weight":                 {0.125, 0.1, "embeddings"},
			"deberta.encoder.LayerNorm.weight":                      {0.125, 0, "embeddings/no_decay"},
			"deberta.encoder.LayerNorm.bias":                        {0.125, 0, "embeddings/no_decay"},
			"deberta.encoder.layer.0.attention.output.dense.weight": {0.25, 0.1, "layer0"},
			"deberta.encoder.layer.1.output.LayerNorm.bias":         {0.5, 0, "layer1/no_decay"},
			"pooler.dense.weight":                                   {10, 0.1, "head"},
			"pooler.dense.bias":                                     {10, 0, "head/no_decay"},
			"classifier.weight":                                     {10, 0.1, "head"},
		},
	}} {
		t.Run(tc.modelType, func(t *testing.T) {
			var params []mtorch.NamedParameter
			if tc.names == nil {
				for _, s := range models.ParamSpecs(deberta) {
					params = append(params, mtorch.NamedParameter{Name: s.Name, NoDecay: strings.HasSuffix(s.Name, ".bias") || strings.Contains(s.Name, "LayerNorm")})
				}
			}
			for _, n := range tc.names {
				params = append(params, mtorch.NamedParameter{Name: n, NoDecay: tc.noDecay[n]})
			}
			o := o
			o.ModelType = tc.modelType
			opt, err := NewAdamW(params, o, 0.9, 0.999, 1e-8)
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for i, np := range params {
				w, ok := tc.want[np.Name]
				if !ok {
					continue
				}
				found++
				g := opt.Groups[opt.params[i].group]
				if math.Abs(g.LR-w.lr) > 1e-12 || g.WeightDecay != w.wd || g.Name != w.group {
					t.Errorf("%s: group %s lr %v wd %v, want %s lr %v wd %v", np.Name, g.Name, g.LR, g.WeightDecay, w.group, w.lr, w.wd)
				}
			}
			if found != len(tc.want) {
				t.Errorf("%d of the %d expected parameters exist", found, len(tc.want))
			}
		})
	}
	if _, err := NewAdamW(nil, GroupOptions{LR: 1, LayerDecay: 1.5}, 0.9, 0.999, 1e-8); err == nil {
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

// The multi-tensor and fused AdamW kernels must update weights and moments
// as the per-parameter loop does, over steps that exercise bias correction,
// a zero LR (warmup), three groups (decay, no decay, a head LR) and a
// parameter that never gets a gradient (left alone, no state). Tolerance:
// |Δ| ≤ 2e-6·max(1, |w|) on weights and moments (float32; the kernels order
// the same arithmetic differently). A kernel this bridge lacks skips with
// the reason (the fused one before PyTorch 2.4 on the CPU; both on a
// bridge built before kiln_optim.cpp).
func TestAdamWKernelsMatchLoop(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	shapes := map[string][]int64{
		"bert.encoder.layer.0.attention.self.query.weight": {16, 8},
		"bert.encoder.layer.0.attention.self.query.bias":   {16},
		"bert.embeddings.LayerNorm.weight":                 {8},
		"classifier.weight":                                {3, 8},
		"bert.encoder.layer.1.output.dense.weight":         {4, 4}, // never gets a gradient
	}
	names := []string{"bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.0.attention.self.query.bias",
		"bert.embeddings.LayerNorm.weight", "classifier.weight", "bert.encoder.layer.1.output.dense.weight"}
	frozen := names[4]
	rng := rand.New(rand.NewPCG(1, 2))
	init := map[string][]float32{}
	for _, n := range names {
		init[n] = randVals(rng, numel(shapes[n]))
	}
	factors := []float64{0, 0.5, 1, 1, 0.25, 1}
	grads := make([]map[string][]float32, len(factors))
	for s := range grads {
		grads[s] = map[string][]float32{}
		for _, n := range names[:4] {
			grads[s][n] = randVals(rng, numel(shapes[n]))
		}
	}
	// run trains a fresh copy with one kernel and returns weights and moments by name.
	run := func(kernel string) map[string][]float32 {
		var params []mtorch.NamedParameter
		for _, n := range names {
			p := ts.MustOfSlice(init[n]).MustView(shapes[n], true)
			p.MustRequiresGrad_(true)
			params = append(params, mtorch.NamedParameter{Name: n, Tensor: p, NoDecay: !strings.HasSuffix(n, ".weight") || strings.Contains(n, "LayerNorm")})
		}
		defer func() {
			for _, p := range params {
				p.Tensor.MustDrop()
			}
		}()
		opt, err := NewAdamW(params, GroupOptions{LR: 0.05, HeadLR: 0.2, WeightDecay: 0.1, ModelType: models.TypeBERT}, 0.9, 0.999, 1e-8)
		if err != nil {
			t.Fatal(err)
		}
		defer opt.Free()
		opt.Kernel = kernel
		for s, f := range factors {
			for _, np := range params[:4] {
				np.Tensor.ZeroGrad()
				c := ts.MustOfSlice(grads[s][np.Name]).MustView(shapes[np.Name], true)
				l := np.Tensor.MustMul(c, false).MustSum(gotch.Float, true)
				l.MustBackward()
				l.MustDrop()
				c.MustDrop()
			}
			opt.Step(f)
		}
		out := map[string][]float32{}
		for i, np := range params {
			out[np.Name] = values(mtorch.Float32Values(np.Tensor))
			if ap := opt.params[i]; ap.m != nil {
				out[np.Name+".exp_avg"] = values(mtorch.Float32Values(ap.m))
				out[np.Name+".exp_avg_sq"] = values(mtorch.Float32Values(ap.v))
			}
		}
		return out
	}
	ref := run(KernelLoop)
	if _, ok := ref[frozen+".exp_avg"]; ok {
		t.Fatal("a parameter without gradient got optimiser state")
	}
	for _, kernel := range []string{mtorch.AdamWForeach, mtorch.AdamWFused} {
		t.Run(kernel, func(t *testing.T) {
			if _, err := mtorch.AdamWKernel(gotch.CPU); err != nil {
				t.Skipf("bridge has no multi-tensor AdamW: %v", err)
			}
			if kernel == mtorch.AdamWFused {
				if err := mtorch.FusedAdamWUnavailable(gotch.CPU); err != nil {
					t.Skipf("fused AdamW unavailable on the CPU with this libtorch: %v", err)
				}
			}
			got := run(kernel)
			if len(got) != len(ref) {
				t.Fatalf("%d tensors, loop has %d", len(got), len(ref))
			}
			var worst float64
			for name, want := range ref {
				for i := range want {
					d := math.Abs(float64(got[name][i] - want[i]))
					worst = math.Max(worst, d/math.Max(1, math.Abs(float64(want[i]))))
					if d > 2e-6*math.Max(1, math.Abs(float64(want[i]))) {
						t.Fatalf("%s[%d] = %v, loop %v", name, i, got[name][i], want[i])
					}
				}
			}
			if !slices.Equal(got[frozen], init[frozen]) {
				t.Error("a parameter without gradient changed")
			}
			t.Logf("%s vs loop: worst relative |Δ| %.2g over %d steps", kernel, worst, len(factors))
		})
	}
}

func randVals(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func numel(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

func values[T any](v T, _ []int64, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
