package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

// smallSST2 writes the first n rows of the SST-2 training slice.
func smallSST2(t *testing.T, n int) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/data/sst2/train.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	p := filepath.Join(t.TempDir(), "train.csv")
	if err := os.WriteFile(p, []byte(strings.Join(lines[:n+1], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func tinyConfig(t *testing.T, train, out string) Config {
	return Config{
		TrainFile: train, Model: "testdata/tiny-bert.json",
		Tokenizer: "../testdata/tokenizers/bert-base-uncased/tokenizer.json",
		OutputDir: out, BatchSize: 8, MaxLength: 32, LR: 1e-3, Seed: 7,
		Schedule: "linear", WarmupSteps: 2, LogSteps: 1, Dropout: -1, WeightDecay: 0.01,
	}
}

func finalParams(t *testing.T, dir string) models.StateDict {
	t.Helper()
	sd, err := models.LoadStateDict(dir)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

func maxAbsDiff(t *testing.T, a, b models.StateDict) float64 {
	t.Helper()
	var d float64
	for k, ta := range a {
		tb, ok := b[k]
		if !ok {
			t.Fatalf("missing %s", k)
		}
		va, _ := ta.Float32s()
		vb, _ := tb.Float32s()
		for i := range va {
			d = math.Max(d, math.Abs(float64(va[i]-vb[i])))
		}
	}
	return d
}

// TestMain runs libtorch on one intra-op thread: the models here are tiny,
// so a second thread only adds synchronisation, and on a machine shared
// with other jobs OpenMP's spin-waiting barriers made a 1-minute test take
// over 10.
func TestMain(m *testing.M) {
	if err := mtorch.SetNumThreads(1); err != nil { // every later InitThreads applies 1
		panic(err)
	}
	if os.Getenv(rankWorkerVar) != "" { // a rank started by a data-parallel test
		os.Exit(rankWorker())
	}
	os.Exit(m.Run())
}

func TestTrainLossFallsAndWritesArtefacts(t *testing.T) {
	train := smallSST2(t, 800)
	out := t.TempDir()
	cfg := tinyConfig(t, train, out)
	// The first 300 dev rows: enough for the metrics, a third of the cost.
	b, err := os.ReadFile("../testdata/data/sst2/dev.csv")
	if err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(t.TempDir(), "dev.csv")
	if err := os.WriteFile(dev, []byte(strings.Join(strings.SplitAfter(string(b), "\n")[:301], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.ValidFile = dev
	cfg.Epochs = 2
	cfg.BatchSize = 16
	cfg.LR = 3e-3
	cfg.GroupByLength = true
	cfg.SaveTotalLimit = 1
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var first, last float64
	var n int
	for _, e := range res.State.LogHistory {
		if e.Loss == nil {
			continue
		}
		if n < 5 {
			first += *e.Loss / 5
		}
		n++
	}
	var tail []float64
	for _, e := range res.State.LogHistory {
		if e.Loss != nil {
			tail = append(tail, *e.Loss)
		}
	}
	for _, v := range tail[len(tail)-5:] {
		last += v / 5
	}
	t.Logf("mean loss of the first 5 steps %.4f, of the last 5 %.4f", first, last)
	if !(last < first-0.02) {
		t.Errorf("loss did not fall: first 5 steps %.4f, last 5 %.4f", first, last)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "trainer_state.json", "metrics.json", "log.jsonl", "training_curve.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("artefact %s: %v", f, err)
		}
	}
	var m map[string]any
	b, _ = os.ReadFile(filepath.Join(out, "metrics.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"eval_accuracy", "eval_macro_f1", "eval_roc_auc", "eval_loss", "train_tokens_per_sec", "model_tflops_per_sec"} {
		if _, ok := m[k]; !ok {
			t.Errorf("metrics.json lacks %s: %v", k, m)
		}
	}
	cks, _ := ListCheckpoints(out)
	if len(cks) > 2 { // keep-last 1 plus the best
		t.Errorf("kept %d checkpoints with limit 1: %v", len(cks), cks)
	}
}

// Accumulating 4 micro-batches of 4 must equal one batch of 16 (dropout
// off). Tolerance 2e-5 absolute on weights after 3 steps: float32 sums in
// a different order.
func TestAccumulationEqualsLargeBatch(t *testing.T) {
	train := smallSST2(t, 48)
	run := func(bs, acc int) models.StateDict {
		cfg := tinyConfig(t, train, t.TempDir())
		cfg.BatchSize, cfg.GradAccum, cfg.MaxSteps, cfg.Dropout = bs, acc, 3, 0
		cfg.MaxGradNorm = -1 // clipping is non-linear in the norm, keep it out
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		return finalParams(t, cfg.OutputDir)
	}
	big, acc := run(16, 1), run(4, 4)
	if d := maxAbsDiff(t, big, acc); d > 2e-5 {
		t.Errorf("accumulated vs large batch: max |Δw| = %g > 2e-5", d)
	}
}

// N steps, then resume to 2N, must equal 2N straight, dropout on (the RNG
// is part of the checkpoint). Tolerance: exact up to 1e-6.
func TestResumeEqualsStraightRun(t *testing.T) {
	train := smallSST2(t, 80)
	straight := tinyConfig(t, train, t.TempDir())
	straight.MaxSteps = 6
	straight.SaveSteps = 3
	if _, err := Run(context.Background(), straight); err != nil {
		t.Fatal(err)
	}
	part := tinyConfig(t, train, t.TempDir())
	part.MaxSteps = 6
	part.SaveSteps = 3
	// Resume a fresh run directory from the straight run's step-3 checkpoint.
	part.Resume = filepath.Join(straight.OutputDir, "checkpoint-3")
	if _, err := Run(context.Background(), part); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, finalParams(t, straight.OutputDir), finalParams(t, part.OutputDir)); d > 1e-6 {
		t.Errorf("resumed vs straight: max |Δw| = %g > 1e-6", d)
	}
}

// fp16 has no CPU autocast in libtorch and must be refused by name.
func TestPrecisionRefused(t *testing.T) {
	for _, tc := range []struct{ prec, wantErr string }{
		{"fp16", "needs a CUDA device"},
		{"fp8", "want fp32, fp16 or bf16"},
	} {
		cfg := tinyConfig(t, smallSST2(t, 16), t.TempDir())
		cfg.Precision = tc.prec
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("precision %s on CPU: err = %v, want one containing %q", tc.prec, err, tc.wantErr)
		}
	}
}

// bf16 runs on CPU under autocast. Same seed and data as an fp32 run: its
// per-step losses must track fp32's (mean |Δ| ≤ 0.01 over 24 steps; bf16
// keeps 8 mantissa bits, so matmuls differ by ~1e-2 relative), must not be
// identical to them (autocast took effect), and the saved weights stay
// float32 (master weights).
func TestBF16OnCPUTracksFP32(t *testing.T) {
	train := smallSST2(t, 400)
	losses := map[string][]float64{}
	for _, prec := range []string{"fp32", "bf16"} {
		cfg := tinyConfig(t, train, t.TempDir())
		cfg.Precision = prec
		cfg.BatchSize, cfg.MaxSteps, cfg.LR = 16, 24, 3e-3
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", prec, err)
		}
		for _, e := range res.State.LogHistory {
			if e.Loss != nil {
				losses[prec] = append(losses[prec], *e.Loss)
			}
		}
		for name, w := range finalParams(t, cfg.OutputDir) {
			if w.DType != "F32" {
				t.Errorf("%s: %s saved as %s, want F32", prec, name, w.DType)
			}
		}
	}
	f, b := losses["fp32"], losses["bf16"]
	if len(f) != len(b) || len(f) == 0 {
		t.Fatalf("logged %d fp32 and %d bf16 losses", len(f), len(b))
	}
	var sum, maxd float64
	for i := range f {
		d := math.Abs(f[i] - b[i])
		sum += d
		maxd = math.Max(maxd, d)
	}
	mean := sum / float64(len(f))
	t.Logf("bf16 vs fp32 loss: mean |Δ| %.2e, max %.2e over %d steps", mean, maxd, len(f))
	if math.IsNaN(mean) || mean > 0.01 {
		t.Errorf("bf16 losses drift from fp32's: mean |Δ| %.3g > 0.01", mean)
	}
	if maxd == 0 {
		t.Error("bf16 losses are identical to fp32's: autocast did not take effect")
	}
}

// A regression target of 1e30 overflows the float32 MSE. Two good steps
// write checkpoints 1 and 2; resuming on the poisoned file must stop at
// step 3 with ErrNonFinite naming checkpoint-2, write no further
// checkpoint, and leave the earlier ones intact and finite.
func TestNaNLossStops(t *testing.T) {
	dir := t.TempDir()
	write := func(name, target string) string {
		var sb strings.Builder
		sb.WriteString("text,label\n")
		for i := 0; i < 32; i++ {
			sb.WriteString("a fine movie," + target + "\n")
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, bad := write("good.csv", "0.5"), write("bad.csv", "1e30")
	cfg := tinyConfig(t, good, filepath.Join(dir, "out"))
	cfg.BatchSize, cfg.MaxSteps, cfg.SaveSteps, cfg.SaveTotalLimit = 16, 2, 1, 0
	cfg.Read.Task = dataset.Regression
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.TrainFile, cfg.MaxSteps, cfg.Resume = bad, 4, "auto"
	_, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("err = %v, want ErrNonFinite", err)
	}
	if !strings.Contains(err.Error(), "checkpoint-2") {
		t.Errorf("error does not name the last good checkpoint: %v", err)
	}
	cks, _ := ListCheckpoints(cfg.OutputDir)
	if len(cks) != 2 || filepath.Base(cks[1]) != "checkpoint-2" {
		t.Fatalf("checkpoints after the NaN stop: %v, want checkpoint-1 and checkpoint-2", cks)
	}
	for _, c := range cks {
		sd := finalParams(t, c)
		for k, v := range sd {
			f, _ := v.Float32s()
			for _, x := range f {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("checkpoint %s has non-finite %s", c, k)
				}
			}
		}
	}
}

// K-fold: every row gets exactly one out-of-fold prediction from the fold
// that held it out, the folds are stratified, and the files are written.
func TestKFoldWritesOutOfFoldPredictions(t *testing.T) {
	train := smallSST2(t, 60)
	cfg := tinyConfig(t, train, t.TempDir())
	cfg.Folds, cfg.MaxSteps, cfg.BatchSize = 3, 2, 16
	res, err := RunKFold(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Folds) != 3 {
		t.Fatalf("%d fold results, want 3", len(res.Folds))
	}
	b, err := os.ReadFile(filepath.Join(cfg.OutputDir, "oof.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 60 {
		t.Fatalf("oof.jsonl has %d rows, want 60", len(lines))
	}
	perFold := map[int]int{}
	for i, l := range lines {
		var r OOFRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Line != i+2 { // header is line 1
			t.Errorf("row %d: line %d", i, r.Line)
		}
		if len(r.Scores) != 2 || math.Abs(r.Scores[0]+r.Scores[1]-1) > 1e-5 {
			t.Errorf("row %d: scores %v", i, r.Scores)
		}
		perFold[r.Fold]++
	}
	for f := 0; f < 3; f++ {
		if perFold[f] != 20 {
			t.Errorf("fold %d holds %d rows, want 20", f, perFold[f])
		}
		if _, err := os.Stat(filepath.Join(cfg.OutputDir, "fold-"+string(rune('0'+f)), "model.safetensors")); err != nil {
			t.Errorf("fold %d model: %v", f, err)
		}
	}
	if _, ok := res.OOF["accuracy"]; !ok {
		t.Errorf("pooled OOF metrics lack accuracy: %v", res.OOF)
	}
	if _, err := os.Stat(filepath.Join(cfg.OutputDir, "cv_metrics.json")); err != nil {
		t.Error(err)
	}
}

func TestOOMHint(t *testing.T) {
	cfg := Config{BatchSize: 32, GradAccum: 1, MaxLength: 256}
	for _, tc := range []struct {
		msg  string
		hint bool
	}{
		{"CUDA out of memory. Tried to allocate 2.00 GiB", true},
		{"[enforce fail at alloc_cpu.cpp:75] DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes", true},
		{"shape mismatch", false},
	} {
		err := oomHint(errors.New(tc.msg), cfg)
		got := strings.Contains(err.Error(), "--batch-size 16 --grad-accum 2")
		if got != tc.hint {
			t.Errorf("%q: hint = %v, want %v (%v)", tc.msg, got, tc.hint, err)
		}
	}
}

// Resuming a run whose directory is written differently (relative, then
// absolute --out) or was moved must keep the best checkpoint and end as
// the uninterrupted run. trainer_state.json used to hold the best
// checkpoint as a path joined with --out, and pruning compared path
// strings: it deleted the best checkpoint, then the final restore failed.
// The moved case also rewrites the state as older kiln wrote it (an
// absolute path to the old location), which must still be read.
func TestResumeKeepsBestWhenRunDirIsWrittenDifferently(t *testing.T) {
	train := smallSST2(t, 48)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		moved bool
	}{{"relative then absolute", false}, {"moved run directory", true}} {
		t.Run(tc.name, func(t *testing.T) {
			abs := filepath.Join(t.TempDir(), "run")
			rel, err := filepath.Rel(wd, abs)
			if err != nil {
				t.Fatal(err)
			}
			// At lr 1e-12 every evaluation ties with the first, so the best
			// checkpoint stays checkpoint-2 while newer ones are pruned.
			cfg := tinyConfig(t, train, rel)
			cfg.ValidFile, cfg.LR, cfg.MaxSteps, cfg.EvalSteps, cfg.SaveSteps, cfg.SaveTotalLimit = train, 1e-12, 6, 2, 2, 0
			straight, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if straight.State.BestCheckpoint != "checkpoint-2" {
				t.Fatalf("test setup: best checkpoint %q, want checkpoint-2", straight.State.BestCheckpoint)
			}
			want := finalParams(t, abs)
			// A run killed after step 4: its newest checkpoint is 4.
			if err := os.RemoveAll(filepath.Join(abs, "checkpoint-6")); err != nil {
				t.Fatal(err)
			}
			out := abs
			if tc.moved {
				statePath := filepath.Join(abs, "checkpoint-4", "trainer_state.json")
				b, err := os.ReadFile(statePath)
				if err != nil {
					t.Fatal(err)
				}
				var st map[string]any
				json.Unmarshal(b, &st)
				st["best_model_checkpoint"] = filepath.Join(abs, "checkpoint-2") // as older kiln wrote it
				b, _ = json.Marshal(st)
				if err := os.WriteFile(statePath, b, 0o644); err != nil {
					t.Fatal(err)
				}
				out = filepath.Join(t.TempDir(), "moved")
				if err := os.Rename(abs, out); err != nil {
					t.Fatal(err)
				}
			}
			cfg.OutputDir, cfg.Resume, cfg.SaveTotalLimit = out, "auto", 1
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if _, err := os.Stat(filepath.Join(out, "checkpoint-2", "model.safetensors")); err != nil {
				t.Errorf("best checkpoint deleted on resume: %v", err)
			}
			if res.State.BestCheckpoint != "checkpoint-2" {
				t.Errorf("best checkpoint after resume = %q, want checkpoint-2", res.State.BestCheckpoint)
			}
			if d := maxAbsDiff(t, want, finalParams(t, out)); d != 0 {
				t.Errorf("resumed final weights differ from the straight run's by %g", d)
			}
		})
	}
}

// Ctrl-C (a cancelled context): the run saves a checkpoint, and the error
// names it and says how to continue; --resume auto then finishes the run.
func TestInterruptNamesSavedCheckpoint(t *testing.T) {
	cfg := tinyConfig(t, smallSST2(t, 32), t.TempDir())
	cfg.MaxSteps = 2
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, cfg)
	ck := filepath.Join(cfg.OutputDir, "checkpoint-0")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), ck) || !strings.Contains(err.Error(), "--resume auto") {
		t.Fatalf("err = %v; want context.Canceled naming %s and --resume auto", err, ck)
	}
	if _, err := os.Stat(filepath.Join(ck, "trainer_state.json")); err != nil {
		t.Fatalf("interrupted run left no checkpoint: %v", err)
	}
	cfg.Resume = "auto"
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.State.GlobalStep != 2 {
		t.Errorf("resumed run ended at step %d, want 2", res.State.GlobalStep)
	}
}

// Early stopping: at lr 1e-12 every evaluation ties with the first, so
// with patience 2 the run stops after the third evaluation and keeps the
// first checkpoint as the best.
func TestEarlyStopping(t *testing.T) {
	train := smallSST2(t, 32)
	cfg := tinyConfig(t, train, t.TempDir())
	cfg.ValidFile, cfg.LR, cfg.MaxSteps, cfg.EvalSteps, cfg.Patience = train, 1e-12, 10, 1, 2
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.State.GlobalStep != 3 || res.State.BadEvals != 2 {
		t.Errorf("stopped at step %d after %d evaluations without improvement, want step 3 and 2", res.State.GlobalStep, res.State.BadEvals)
	}
	if res.State.BestCheckpoint != "checkpoint-1" {
		t.Errorf("best checkpoint %q, want checkpoint-1", res.State.BestCheckpoint)
	}
}

// DefaultConfig is what the CLI binds to: a library caller starting from
// it gets the CLI's defaults (dropout from the model, weight decay, seed,
// length grouping, checkpoint limit), unlike the zero Config.
func TestDefaultConfigIsTheCLIs(t *testing.T) {
	d := DefaultConfig()
	if d.Dropout >= 0 || d.WeightDecay != 0.01 || d.Seed != 42 || !d.GroupByLength || d.SaveTotalLimit != 2 || d.LayerDecay != 1 {
		t.Errorf("DefaultConfig = %+v", d)
	}
	z := d
	z.Defaults()
	if fmt.Sprint(z) != fmt.Sprint(d) {
		t.Errorf("Defaults changed a DefaultConfig:\n%+v\n%+v", d, z)
	}
}

// A libtorch failure inside a step (here a real one: an allocation
// libtorch refuses, raised through gotch's Must* wrapper, which used to
// log.Fatal the process) comes back from Run as an error: the run saves a
// checkpoint of the state before the failed step, names it, adds the
// out-of-memory advice, and --resume auto then ends with the weights of a
// run that never failed.
func TestLibtorchFailureSavesAndResumes(t *testing.T) {
	train := smallSST2(t, 48)
	straight := tinyConfig(t, train, t.TempDir())
	straight.MaxSteps = 4
	if _, err := Run(context.Background(), straight); err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig(t, train, t.TempDir())
	cfg.MaxSteps = 4
	testFailure = func(step int) {
		if step == 2 {
			huge := ts.MustZeros([]int64{1 << 48}, gotch.Float, gotch.CPU) // 1 PiB: refused by the allocator
			huge.MustDrop()
		}
	}
	_, err := Run(context.Background(), cfg)
	testFailure = nil
	ck := filepath.Join(cfg.OutputDir, "checkpoint-2")
	if !errors.Is(err, ErrLibtorch) || !strings.Contains(err.Error(), "step 3") || !strings.Contains(err.Error(), ck) ||
		!strings.Contains(err.Error(), "--batch-size 4 --grad-accum 2") {
		t.Fatalf("err = %v\nwant ErrLibtorch at step 3 naming %s and the batch-size advice", err, ck)
	}
	cfg.Resume = "auto"
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, finalParams(t, straight.OutputDir), finalParams(t, cfg.OutputDir)); d > 1e-6 {
		t.Errorf("failed, saved and resumed vs straight: max |Δw| = %g > 1e-6", d)
	}
}

// Three hundred optimiser steps through the trainer's own step (micro-
// batches, loss, backward, gradient norm, clipping, AdamW, logging) leave
// no tensor handle behind (the GC is off while counting, so nothing is
// freed by a finalizer) and, after a warm-up, do not grow RSS by more than
// 24 MiB: gotch's
// Float64Values never freed its converted copy and the loss placeholders
// were never dropped.
func TestTrainerStepsDoNotLeak(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ds, err := dataset.ReadDataset(smallSST2(t, 64), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig(t, "", t.TempDir())
	cfg.MaxSteps, cfg.BatchSize, cfg.GradAccum, cfg.LogSteps, cfg.MaxGradNorm = 600, 8, 2, 10, 0.01 // clipping active
	cfg.MaxLength = 16                                                                              // fewer padded shapes: libtorch caches kernels per shape
	cfg.Defaults()
	r, err := setup(cfg, ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	steps := func(n int) {
		for i := 0; i < n; i++ {
			s, err := r.step()
			if err != nil {
				t.Fatal(err)
			}
			r.logStep(s)
		}
	}
	// Warm-up: allocator pools, gradient buffers, AdamW moments, and
	// oneDNN's per-shape caches (RSS rose 56 MiB over the first 300 steps,
	// then about 5 MiB per 300: gotch's malloc(0) per op, see models/torch).
	steps(200)
	before := settledRSS(t)
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	live := len(ts.ExistingTensors)
	steps(300)
	if n := len(ts.ExistingTensors); n != live {
		t.Errorf("%d tensor handles live after 300 steps, %d before: the step leaks %.2f per step", n, live, float64(n-live)/300)
	}
	debug.SetGCPercent(100)
	after := settledRSS(t)
	t.Logf("live tensors %d; RSS %d MiB -> %d MiB over 300 steps", live, before>>20, after>>20)
	if after-before > 24<<20 {
		t.Errorf("RSS grew by %d MiB over 300 steps (bound 24 MiB)", (after-before)>>20)
	}
}

func settledRSS(t *testing.T) int64 {
	runtime.GC()
	time.Sleep(50 * time.Millisecond) // tensor finalizers
	debug.FreeOSMemory()
	mtorch.ReleaseFreeMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
