package train

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Autocast must really lower matmuls to bfloat16 on CPU inside the region
// and restore float32 after it, including when regions nest: otherwise a
// "bf16" run silently trains in fp32.
func TestAutocastBF16OnCPU(t *testing.T) {
	runtime.LockOSThread() // autocast state is per OS thread
	defer runtime.UnlockOSThread()
	if err := checkPrecision("bf16", gotch.CPU); err != nil {
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

	outer, inner := newAutocast("bf16", gotch.CPU), newAutocast("bf16", gotch.CPU)
	steps := []struct {
		name string
		do   func() error
		want gotch.DType
	}{
		{"before", func() error { return nil }, gotch.Float},
		{"enter", outer.enter, gotch.BFloat16},
		{"nested enter", inner.enter, gotch.BFloat16},
		{"nested exit", inner.exit, gotch.BFloat16},
		{"exit", outer.exit, gotch.Float},
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
