package torch

import (
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/models"
)

// Autocast must really lower matmuls to bfloat16 on CPU inside the region
// and restore float32 after it, including when regions nest: otherwise a
// "bf16" run silently trains in fp32.
func TestAutocastBF16OnCPU(t *testing.T) {
	runtime.LockOSThread() // autocast state is per OS thread
	defer runtime.UnlockOSThread()
	if err := AutocastAvailable(); err != nil {
		t.Fatal(err)
	}
	a := ts.MustOnes([]int64{4, 8}, gotch.Float, gotch.CPU)
	defer a.MustDrop()
	b := ts.MustOnes([]int64{8, 2}, gotch.Float, gotch.CPU)
	defer b.MustDrop()
	kind := func() gotch.DType {
		y := a.MustMm(b, false)
		defer y.MustDrop()
		return y.DType()
	}

	outer, inner := NewAutocast("bf16", gotch.CPU), NewAutocast("bf16", gotch.CPU)
	steps := []struct {
		name string
		do   func() error
		want gotch.DType
	}{
		{"before", func() error { return nil }, gotch.Float},
		{"enter", outer.Enter, gotch.BFloat16},
		{"nested enter", inner.Enter, gotch.BFloat16},
		{"nested exit", inner.Exit, gotch.BFloat16},
		{"exit", outer.Exit, gotch.Float},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := kind(); got != s.want {
			t.Errorf("%s: mm gives %v, want %v", s.name, got, s.want)
		}
	}
}

// TestGradientCheckpointingUnderBF16Autocast: a forward under bf16
// autocast with per-layer checkpointing must recompute each layer in bf16
// too, so the gradients equal the ones without checkpointing (to 1e-6 of
// the largest gradient: the same ops on the CPU, measured 0; recomputing
// in fp32 differed by 2.2e-5).
func TestGradientCheckpointingUnderBF16Autocast(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := AutocastAvailable(); err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig(models.TypeBERT)
	m, err := NewSeeded(cfg, gotch.CPU, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	ids, mask := batch(cfg, 4, 24, 1)
	defer ids.MustDrop()
	defer mask.MustDrop()
	run := func(ckpt bool) map[string][]float32 {
		m.ZeroGrad()
		m.SetGradientCheckpointing(ckpt)
		if err := ManualSeed(1234); err != nil {
			t.Fatal(err)
		}
		ac := NewAutocast("bf16", gotch.CPU)
		if err := ac.Enter(); err != nil {
			t.Fatal(err)
		}
		out, err := m.Forward(ids, mask, nil, true)
		if xerr := ac.Exit(); err == nil {
			err = xerr
		}
		if err != nil {
			t.Fatal(err)
		}
		if out.LastHiddenState.DType() != gotch.BFloat16 && out.Logits.DType() != gotch.BFloat16 {
			t.Fatalf("the forward did not run in bf16 (logits %v)", out.Logits.DType())
		}
		logits := out.Logits.MustTotype(gotch.Float, false)
		loss := logits.MustMul(logits, true).MustSum(gotch.Float, true)
		if err := m.Backward(loss); err != nil {
			t.Fatal(err)
		}
		loss.MustDrop()
		out.Drop()
		return grads(t, m)
	}
	plain, ck := run(false), run(true)
	worst, scale := 0.0, 0.0
	for name, g := range plain {
		for i := range g {
			worst = math.Max(worst, math.Abs(float64(g[i]-ck[name][i])))
			scale = math.Max(scale, math.Abs(float64(g[i])))
		}
	}
	rel := worst / scale
	t.Logf("bf16: max |grad(ckpt) - grad(plain)| = %.2g, %.2g of the largest gradient", worst, rel)
	if rel > 1e-6 {
		t.Errorf("checkpointed gradients under bf16 differ by %.3g of the largest gradient (> 1e-6)", rel)
	}
}
