package torchinfo_test

import (
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/internal/torchinfo"
)

// A real tensor op through gotch → libkilntorch.so → libtorch.
func TestMatmulThroughBridge(t *testing.T) {
	a := ts.MustOfSlice([]float32{1, 2, 3, 4, 5, 6}).MustView([]int64{2, 3}, true)
	b := ts.MustOfSlice([]float32{1, 0, 0, 1, 1, 1}).MustView([]int64{3, 2}, true)
	c, err := a.Matmul(b, false)
	if err != nil {
		t.Fatalf("matmul: %v", err)
	}
	defer c.MustDrop()
	defer a.MustDrop()
	defer b.MustDrop()
	got := c.Float64Values()
	want := []float64{1 + 3, 2 + 3, 4 + 6, 5 + 6}
	if !slices.Equal(got, want) {
		t.Fatalf("matmul = %v, want %v", got, want)
	}
	sum := c.MustSum(gotch.Float, false)
	defer sum.MustDrop()
	if s := sum.Float64Values(); len(s) != 1 || s[0] != 30 {
		t.Fatalf("sum = %v, want [30]", s)
	}
}

// A wrapper the bridge stubbed must fail as an ordinary Go error that names
// the op, not crash the process.
func TestStubbedOpReturnsError(t *testing.T) {
	stubs := torchinfo.Stubs()
	if len(stubs) != torchinfo.StubCount() {
		t.Fatalf("Stubs() has %d names, StubCount() = %d", len(stubs), torchinfo.StubCount())
	}
	if !slices.Contains(stubs, "atg_scaled_dot_product_attention") {
		t.Skipf("libtorch %s has scaled_dot_product_attention (not stubbed); nothing to check", torchinfo.Version())
	}
	q := ts.MustOnes([]int64{1, 2, 4}, gotch.Float, gotch.CPU)
	defer q.MustDrop()
	mask := ts.MustOnes([]int64{2, 2}, gotch.Bool, gotch.CPU)
	defer mask.MustDrop()
	out, err := ts.ScaledDotProductAttention(q, q, q, mask, 0, false, nil)
	if err == nil {
		out.MustDrop()
		t.Fatal("stubbed scaled_dot_product_attention returned no error")
	}
	for _, want := range []string{"atg_scaled_dot_product_attention", "not available in libtorch " + torchinfo.Version(), "stubbed by the kiln bridge"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The bridge still works after the error.
	x := ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	if v := x.Float64Values(); len(v) != 3 {
		t.Fatalf("after the stub error: %v", v)
	}
}

// Without a usable GPU the reason names what is missing (a CPU-only bridge
// or libtorch, or no device); with one it is empty.
func TestCUDAUnavailableReason(t *testing.T) {
	r := torchinfo.CUDAUnavailableReason()
	if torchinfo.CUDAAvailable() && torchinfo.CUDADeviceCount() > 0 {
		if r != "" {
			t.Errorf("CUDA is usable, yet the reason is %q", r)
		}
		return
	}
	ok := false
	for _, want := range []string{"linked CPU-only", "is a CPU-only build (no libtorch_cuda.so)", "sees no CUDA device"} {
		ok = ok || strings.Contains(r, want)
	}
	if !ok {
		t.Errorf("no CUDA here, reason %q names nothing missing", r)
	}
	t.Logf("reason: %s", r)
}

func TestDescribe(t *testing.T) {
	if v := torchinfo.Version(); v == "" || !strings.Contains(v, ".") {
		t.Errorf("Version() = %q", v)
	}
	if torchinfo.LibDir() == "" {
		t.Error("LibDir() is empty")
	}
	p, err := torchinfo.BridgePath()
	if err != nil || !strings.HasSuffix(p, "libkilntorch.so") {
		t.Errorf("BridgePath() = %q, %v", p, err)
	}
	if n := torchinfo.CUDADeviceCount(); n < 0 || (n == 0 && torchinfo.CUDAAvailable()) {
		t.Errorf("CUDA: %d devices, available %v", n, torchinfo.CUDAAvailable())
	}
	if runtime.GOOS == "linux" {
		blas, err := torchinfo.BLAS()
		if err != nil {
			t.Fatal(err)
		}
		// Debian's libtorch links the system BLAS dynamically; wheels carry MKL
		// statically, so only the former must show one.
		if len(blas) == 0 && strings.HasPrefix(torchinfo.LibDir(), "/usr/") {
			t.Error("no BLAS library mapped, yet Debian's libtorch links libblas.so.3")
		}
	}
	if cfg := torchinfo.Config(); !strings.Contains(cfg, "PyTorch") && !strings.Contains(cfg, "BLAS") {
		t.Errorf("Config() = %q", cfg)
	}
}

// BenchmarkLinear is a BERT-base-sized dense layer (batch 32 × seq 128
// tokens, 768 → 768, forward + backward), to compare libtorch builds and BLAS
// libraries through the same Go binary: run the test binary once per bridge
// (LD_LIBRARY_PATH=<bridge dir>) with OMP_NUM_THREADS set.
func BenchmarkLinear(b *testing.B) {
	x := ts.MustRandn([]int64{32 * 128, 768}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	w := ts.MustRandn([]int64{768, 768}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
	defer w.MustDrop()
	b.ResetTimer()
	for range b.N {
		y := x.MustMatmul(w, false)
		loss := y.MustSum(gotch.Float, true)
		loss.MustBackward()
		loss.MustDrop()
		g := w.MustGrad(false)
		g.MustZero_()
		g.MustDrop()
	}
	// Two matmuls per step: x·w forward, xᵀ·dy for w's gradient (x needs none).
	b.ReportMetric(float64(b.N)*2*2*32*128*768*768/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// make test-bridges runs the libtorch tests a second time with a bridge built
// against a PyPI torch wheel (LD_LIBRARY_PATH ahead of the binary's RUNPATH);
// it sets KILN_EXPECT_TORCH_VERSION so a silently loaded default bridge fails
// instead of passing for the wrong libtorch.
func TestLoadedBridgeVersion(t *testing.T) {
	want := os.Getenv("KILN_EXPECT_TORCH_VERSION")
	if want == "" {
		t.Skip("KILN_EXPECT_TORCH_VERSION not set")
	}
	if got := torchinfo.Version(); got != want {
		t.Fatalf("loaded bridge is for libtorch %s (from %s), want %s: check LD_LIBRARY_PATH", got, torchinfo.LibDir(), want)
	}
}

// Reading a tensor's values back leaves no handle behind, whatever its
// dtype: upstream gotch's Float64Values leaked its converted copy on every
// call (train reads evaluation scores and rank 0's decisions through it).
func TestValuesLeaveNoHandle(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no finalizer frees anything while counting
	for _, tc := range []struct {
		name string
		t    *ts.Tensor
		read func(*ts.Tensor) int
	}{
		{"Float64Values of float32", ts.MustOfSlice([]float32{1, 2}), func(x *ts.Tensor) int { return len(x.Float64Values()) }},
		{"Float64Values of float64", ts.MustOfSlice([]float64{1, 2}), func(x *ts.Tensor) int { return len(x.Float64Values()) }},
		{"Int64Values of int64", ts.MustOfSlice([]int64{1, 2}), func(x *ts.Tensor) int { return len(x.Int64Values()) }},
	} {
		live := len(ts.ExistingTensors)
		if n := tc.read(tc.t); n != 2 {
			t.Errorf("%s: %d values, want 2", tc.name, n)
		}
		if n := len(ts.ExistingTensors); n != live {
			t.Errorf("%s: %d tensor handles live after the read, %d before", tc.name, n, live)
		}
		tc.t.MustDrop()
	}
}
