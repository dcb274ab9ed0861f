package torch

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/models"
)

func smallConfig(mt string) *models.Config {
	c := models.DefaultConfig(mt)
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 32, 3, 4, 48
	c.VocabSize, c.MaxPositionEmbeddings = 101, 64
	if mt == models.TypeRoBERTa {
		c.MaxPositionEmbeddings = 66
	}
	if mt == models.TypeELECTRA {
		c.EmbeddingSize = 16
	}
	c.HiddenDropoutProb, c.AttentionProbsDropoutProb = 0.1, 0.1
	c.SetNumLabels(3)
	return c
}

// batch makes padded int64 inputs: ids avoid the pad id except in padding.
func batch(cfg *models.Config, b, s int, seed int64) (ids, mask *ts.Tensor) {
	idv := make([]int64, b*s)
	mv := make([]int64, b*s)
	x := uint64(seed)*2654435761 + 1
	for i := 0; i < b; i++ {
		n := s - (i*s)/(2*b) // decreasing lengths: real padding
		for j := 0; j < s; j++ {
			x = x*6364136223846793005 + 1442695040888963407
			if j < n {
				idv[i*s+j] = int64(cfg.PadTokenID+1) + int64(x>>33)%int64(cfg.VocabSize-cfg.PadTokenID-1)
				mv[i*s+j] = 1
			} else {
				idv[i*s+j] = int64(cfg.PadTokenID)
			}
		}
	}
	return ts.MustOfSlice(idv).MustView([]int64{int64(b), int64(s)}, true), ts.MustOfSlice(mv).MustView([]int64{int64(b), int64(s)}, true)
}

func grads(t *testing.T, m *Model) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range m.NamedParameters() {
		g := p.Tensor.MustGrad(false)
		if !g.MustDefined() {
			t.Fatalf("%s: no gradient", p.Name)
		}
		v, _, err := Float32Values(g)
		if err != nil {
			t.Fatal(err)
		}
		g.MustDrop()
		out[p.Name] = v
	}
	return out
}

// trainStep runs one training forward/backward of loss = sum(logits * w).
func trainStep(t testing.TB, m *Model, ids, mask *ts.Tensor) {
	out, err := m.Forward(ids, mask, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	sq := out.Logits.MustMul(out.Logits, false)
	loss := sq.MustSum(gotch.Float, true)
	if err := m.Backward(loss); err != nil {
		t.Fatal(err)
	}
	loss.MustDrop()
	out.Drop()
}

// TestGradientCheckpointingMatches: with dropout active, gradients with and
// without per-layer checkpointing agree to 1e-5 (same dropout masks through
// the per-layer seeding), for every architecture and pooling.
func TestGradientCheckpointingMatches(t *testing.T) {
	cases := []struct{ mt, pooling string }{
		{models.TypeBERT, models.PoolCLS}, {models.TypeRoBERTa, models.PoolMean},
		{models.TypeDistilBERT, models.PoolMax}, {models.TypeELECTRA, models.PoolCLS},
	}
	for _, tc := range cases {
		t.Run(tc.mt+"/"+tc.pooling, func(t *testing.T) {
			cfg := smallConfig(tc.mt)
			cfg.Pooling = tc.pooling
			m, err := NewSeeded(cfg, gotch.CPU, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			ids, mask := batch(cfg, 4, 24, 1)
			run := func(ckpt bool) map[string][]float32 {
				m.ZeroGrad()
				m.SetGradientCheckpointing(ckpt)
				if err := ManualSeed(1234); err != nil {
					t.Fatal(err)
				}
				trainStep(t, m, ids, mask)
				return grads(t, m)
			}
			plain, ck := run(false), run(true)
			again := run(false)
			worst := 0.0
			differs := false
			for name, g := range plain {
				for i := range g {
					worst = math.Max(worst, math.Abs(float64(g[i]-ck[name][i])))
					differs = differs || g[i] != again[name][i]
				}
			}
			if worst > 1e-5 {
				t.Errorf("checkpointed gradients differ by %.3g > 1e-5", worst)
			}
			if differs {
				t.Errorf("same seed, same gradients expected (dropout seeding is not deterministic)")
			}
			// Dropout is really on: another seed gives other gradients.
			m.ZeroGrad()
			m.SetGradientCheckpointing(false)
			ManualSeed(99)
			trainStep(t, m, ids, mask)
			other := grads(t, m)
			same := true
			for name, g := range plain {
				for i := range g {
					same = same && g[i] == other[name][i]
				}
			}
			if same {
				t.Errorf("gradients do not depend on the dropout seed: is dropout applied?")
			}
			t.Logf("max |grad(ckpt) - grad(plain)| = %.2g", worst)
		})
	}
}

func rssBytes(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(sc.Text())[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("VmRSS not found")
	return 0
}

// rssGrowthBound is the stated bound: after warm-up, 200 training steps of
// the small model may not grow RSS (measured after GC, finalizers and
// malloc_trim, so that glibc's cached free blocks do not count) by more than
// this. One step's activations are about 8 MiB here, so leaking one step's
// worth every few steps exceeds it. gotch leaks one malloc(0) per op (about
// 32 bytes, in its generated wrappers), ≈2 MiB over 200 steps: within it.
const rssGrowthBound = 24 << 20

func settledRSS(t testing.TB) int64 {
	runtime.GC()
	time.Sleep(50 * time.Millisecond) // let the tensor and scalar finalizers run
	debug.FreeOSMemory()              // GC and return the Go heap's free pages
	ReleaseFreeMemory()
	return rssBytes(t)
}

func liveTensors() int {
	// gotch registers every live tensor handle here (read under no lock:
	// the GC is off while it is compared, so no finalizer runs).
	return len(ts.ExistingTensors)
}

// TestNoLeakOver200Steps: forward/backward 200 times (with and without
// checkpointing): with the GC off no tensor handle may be left behind
// (everything is dropped explicitly, not by finalizers), and RSS growth
// stays below rssGrowthBound.
func TestNoLeakOver200Steps(t *testing.T) {
	for _, ckpt := range []bool{false, true} {
		t.Run("ckpt="+strconv.FormatBool(ckpt), func(t *testing.T) {
			cfg := smallConfig(models.TypeBERT)
			cfg.HiddenSize, cfg.IntermediateSize = 64, 128
			m, err := NewSeeded(cfg, gotch.CPU, 5)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			m.SetGradientCheckpointing(ckpt)
			ids, mask := batch(cfg, 8, 48, 2)
			for i := 0; i < 20; i++ { // warm-up: allocator pools, gradient buffers
				trainStep(t, m, ids, mask)
				m.ZeroGrad()
			}
			before := settledRSS(t)
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			tensors := liveTensors()
			for i := 0; i < 200; i++ {
				trainStep(t, m, ids, mask)
				m.ZeroGrad()
			}
			if n := liveTensors(); n != tensors {
				t.Errorf("%d tensor handles live after 200 steps, %d before: tensors are not dropped", n, tensors)
			}
			debug.SetGCPercent(100)
			after := settledRSS(t)
			t.Logf("RSS %d MiB -> %d MiB over 200 steps (bound +%d MiB)", before>>20, after>>20, rssGrowthBound>>20)
			if after-before > rssGrowthBound {
				t.Errorf("RSS grew by %d MiB over 200 steps (bound %d MiB): memory leaks", (after-before)>>20, rssGrowthBound>>20)
			}
		})
	}
}

func TestForwardRejectsBadInput(t *testing.T) {
	cfg := smallConfig(models.TypeBERT)
	m, err := NewSeeded(cfg, gotch.CPU, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	mk := func(v []int64, shape ...int64) *ts.Tensor { return ts.MustOfSlice(v).MustView(shape, true) }
	long := make([]int64, 65)
	cases := []struct {
		name             string
		ids, mask, type_ *ts.Tensor
		want             string
	}{
		{"1-d ids", mk([]int64{1, 2}, 2), nil, nil, "must be [batch, seq]"},
		{"id past vocab", mk([]int64{1, 101}, 1, 2), nil, nil, "input_ids values must be in [0, 101)"},
		{"negative id", mk([]int64{-1, 3}, 1, 2), nil, nil, "input_ids values"},
		{"too long", mk(long, 1, 65), nil, nil, "exceeds the model's 64 positions"},
		{"mask shape", mk([]int64{1, 2}, 1, 2), mk([]int64{1, 1, 1}, 1, 3), nil, "attention_mask has shape"},
		{"mask values", mk([]int64{1, 2}, 1, 2), mk([]int64{1, 2}, 1, 2), nil, "attention_mask values"},
		{"token type", mk([]int64{1, 2}, 1, 2), nil, mk([]int64{0, 2}, 1, 2), "token_type_ids values"},
		{"float ids", ts.MustOfSlice([]float32{1, 2}).MustView([]int64{1, 2}, true), nil, nil, "must be int64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Forward(tc.ids, tc.mask, tc.type_, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestLoadErrors: missing encoder weights, unexpected tensors, a corrupt
// file and an unsupported config are errors that name the problem; a base
// checkpoint gets an announced fresh head.
func TestLoadErrors(t *testing.T) {
	cfg := smallConfig(models.TypeBERT)
	sd, err := models.InitStateDict(cfg, 1, "F32")
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, sd models.StateDict, cfg *models.Config) string {
		dir := t.TempDir()
		if err := models.WriteSafetensors(filepath.Join(dir, "model.safetensors"), sd, nil); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Save(dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	without := func(prefix string) models.StateDict {
		out := models.StateDict{}
		for k, v := range sd {
			if !strings.HasPrefix(k, prefix) {
				out[k] = v
			}
		}
		return out
	}
	with := func(k string, v models.Tensor) models.StateDict {
		out := without("\x00")
		out[k] = v
		return out
	}
	gelu := *cfg
	gelu.HiddenAct = "silu"
	cases := []struct {
		name string
		dir  func(t *testing.T) string
		opts LoadOptions
		want string // "" = loads
		head bool
	}{
		{"complete", func(t *testing.T) string { return write(t, sd, cfg) }, LoadOptions{}, "", false},
		{"base checkpoint", func(t *testing.T) string { return write(t, without("classifier"), cfg) }, LoadOptions{}, "", true},
		{"missing layer", func(t *testing.T) string { return write(t, without("bert.encoder.layer.1."), cfg) }, LoadOptions{}, "encoder parameters missing", false},
		{"missing allowed", func(t *testing.T) string { return write(t, without("bert.encoder.layer.1."), cfg) }, LoadOptions{AllowMissing: true}, "", false},
		{"unexpected", func(t *testing.T) string { return write(t, with("bert.extra.weight", sd["classifier.bias"]), cfg) }, LoadOptions{}, "unexpected tensors", false},
		{"unexpected allowed", func(t *testing.T) string { return write(t, with("bert.extra.weight", sd["classifier.bias"]), cfg) }, LoadOptions{AllowUnexpected: true}, "", false},
		{"new labels", func(t *testing.T) string { return write(t, sd, cfg) }, LoadOptions{Labels: []string{"a", "b"}}, "", true},
		{"wrong shape", func(t *testing.T) string {
			return write(t, with("bert.embeddings.LayerNorm.bias", sd["classifier.bias"]), cfg)
		}, LoadOptions{}, "has shape [3]", false},
		{"bad activation", func(t *testing.T) string { return write(t, sd, &gelu) }, LoadOptions{}, `hidden_act "silu" is not supported`, false},
		{"truncated", func(t *testing.T) string {
			d := write(t, sd, cfg)
			p := filepath.Join(d, "model.safetensors")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
			return d
		}, LoadOptions{}, "truncated", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, rep, err := Load(tc.dir(t), tc.opts)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			if rep.FreshHead != tc.head {
				t.Errorf("FreshHead %v, want %v (%+v)", rep.FreshHead, tc.head, rep)
			}
		})
	}
}

// TestGradMode: Forward records autograd unless inside NoGrad, whatever
// grad mode a stray ts.NoGrad left on the OS thread; a loss without a graph
// is a clear error from Backward.
func TestGradMode(t *testing.T) {
	cfg := smallConfig(models.TypeDistilBERT)
	m, err := NewSeeded(cfg, gotch.CPU, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	ids, mask := batch(cfg, 2, 8, 3)
	logitsGrad := func() bool {
		out, err := m.Forward(ids, mask, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Drop()
		return out.Logits.MustRequiresGrad()
	}
	cases := []struct {
		name string
		run  func() bool
		want bool
	}{
		{"default", logitsGrad, true},
		{"after a stray grad-off", func() bool {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			gradSetEnabled(false) // what an unpinned ts.NoGrad can leave behind
			return logitsGrad()
		}, true},
		{"inside NoGrad", func() (g bool) { NoGrad(func() { g = logitsGrad() }); return g }, false},
		{"nested NoGrad", func() (g bool) { NoGrad(func() { NoGrad(func() {}); g = logitsGrad() }); return g }, false},
		{"after NoGrad", logitsGrad, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run(); got != tc.want {
				t.Errorf("logits require grad: %v, want %v", got, tc.want)
			}
		})
	}
	var out *Output
	NoGrad(func() { out, err = m.Forward(ids, mask, nil, true) })
	if err != nil {
		t.Fatal(err)
	}
	defer out.Drop()
	loss := out.Logits.MustSum(gotch.Float, false)
	defer loss.MustDrop()
	if err := m.Backward(loss); err == nil || !strings.Contains(err.Error(), "no autograd graph") {
		t.Errorf("Backward of a no-grad loss: %v", err)
	}
}
