//go:build !notorch

// Command export-bench measures ONNX Runtime (CPU) latency and throughput
// of several ONNX exports of one checkpoint, and the libtorch forward of the
// checkpoint itself, on the same inputs, in one process and one run, and
// prints ratios. bench/export/run.sh prepares the exports and runs it.
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
	"golang.org/x/sys/unix"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

type result struct {
	name        string
	batch       int
	meanMs, p50 float64
	cpuP50      float64 // process CPU milliseconds per call (median)
	samplesPerS float64
	cpuPerS     float64 // samples per CPU-second
	iters       int
}

// cpuMs is the process's CPU time (all threads, user+system) in ms. On a
// machine shared with other jobs wall time mostly measures the scheduler;
// the CPU time a call consumes measures the work it does, which is what the
// runtimes are compared on (with 1 intra-op thread there are no spinning
// pool threads to inflate it).
func cpuMs() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		log.Fatal(err)
	}
	return float64(ts.Sec)*1000 + float64(ts.Nsec)/1e6
}

func main() {
	var (
		ckpt     = flag.String("checkpoint", "", "checkpoint directory (libtorch forward)")
		onnxDirs = flag.String("onnx", "", "comma-separated name=dir of ONNX exports (dir/model.onnx)")
		batches  = flag.String("batches", "1,8,32", "batch sizes")
		seq      = flag.Int("seq", 128, "sequence length")
		threads  = flag.Int("threads", 2, "intra-op threads for ONNX Runtime and libtorch")
		budget   = flag.Duration("budget", 3*time.Second, "measuring time per (runtime, batch), shared round-robin")
		minIter  = flag.Int("min-iters", 5, "minimum measured iterations")
		baseline = flag.String("baseline", "libtorch", "name the ratios are taken against")
		pairs    = flag.String("pairs", "", "comma-separated a/b: also print a's throughput ÷ b's per batch")
	)
	flag.Parse()
	cfg, err := models.LoadConfig(*ckpt)
	if err != nil {
		log.Fatal(err)
	}
	var bs []int
	for _, s := range strings.Split(*batches, ",") {
		var b int
		if _, err := fmt.Sscan(s, &b); err != nil {
			log.Fatalf("--batches %q: %v", *batches, err)
		}
		bs = append(bs, b)
	}
	if err := ort.Init(""); err != nil {
		log.Fatal(err)
	}
	os.Setenv("OMP_NUM_THREADS", fmt.Sprint(*threads))
	mtorch.InitThreads()
	if err := mtorch.SetNumThreads(*threads); err != nil {
		log.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	inputs := map[int]export.Batch{}
	for _, b := range bs {
		// Every row full length: a latency benchmark at a fixed shape.
		x := export.SampleBatch(rng, cfg, b, *seq, cfg.ModelType == models.TypeBERT)
		for i := range x.AttentionMask {
			if x.AttentionMask[i] == 0 {
				x.AttentionMask[i] = 1
				x.InputIDs[i] = int64(1000 + i%1000)
			}
		}
		inputs[b] = x
	}
	// Every runtime gets a runner per batch; the measurement interleaves
	// them round-robin (one call each per round) so that the load of a
	// shared machine falls on all of them alike and the ratios stay fair.
	type runner struct {
		name string
		run  map[int]func() error
	}
	var runners []runner
	var names, loads []string
	for _, kv := range strings.Split(*onnxDirs, ",") {
		name, dir, ok := strings.Cut(kv, "=")
		if !ok {
			log.Fatalf("--onnx entry %q is not name=dir", kv)
		}
		names = append(names, name)
		// "dir:noopt" turns ONNX Runtime's load-time graph rewrites off, to
		// see what a graph is worth to an engine that does not fuse.
		dir, noOpt := strings.CutSuffix(dir, ":noopt")
		t0, c0 := time.Now(), cpuMs()
		s, err := ort.NewSession(filepath.Join(dir, export.ModelFile), ort.Options{Device: "cpu", IntraOpThreads: *threads, InterOpThreads: 1, DisableGraphOptimization: noOpt})
		if err != nil {
			log.Fatal(err)
		}
		loads = append(loads, fmt.Sprintf("%s %.0f ms wall, %.0f ms CPU", name, float64(time.Since(t0).Microseconds())/1000, cpuMs()-c0))
		defer s.Close()
		hasTT := slices.Contains(s.InputNames(), export.TokenTypeIDs)
		r := runner{name: name, run: map[int]func() error{}}
		for _, b := range bs {
			x := inputs[b]
			shape := []int64{int64(b), int64(*seq)}
			feeds := map[string]ort.Int64Tensor{
				export.InputIDs:      {Shape: shape, Data: x.InputIDs},
				export.AttentionMask: {Shape: shape, Data: x.AttentionMask},
			}
			if hasTT {
				tt := x.TokenTypeIDs
				if tt == nil {
					tt = make([]int64, len(x.InputIDs))
				}
				feeds[export.TokenTypeIDs] = ort.Int64Tensor{Shape: shape, Data: tt}
			}
			r.run[b] = func() error { _, err := s.Run(feeds); return err }
		}
		runners = append(runners, r)
	}

	names = append(names, "libtorch")
	m, _, err := mtorch.Load(*ckpt, mtorch.LoadOptions{Device: gotch.CPU})
	if err != nil {
		log.Fatal(err)
	}
	tr := runner{name: "libtorch", run: map[int]func() error{}}
	for _, b := range bs {
		x := inputs[b]
		shape := []int64{int64(b), int64(*seq)}
		mk := func(v []int64) *ts.Tensor {
			t, err := ts.OfSlice(v)
			if err != nil {
				log.Fatal(err)
			}
			return t.MustView(shape, true)
		}
		ids, mask := mk(x.InputIDs), mk(x.AttentionMask)
		var tt *ts.Tensor
		if x.TokenTypeIDs != nil {
			tt = mk(x.TokenTypeIDs)
		}
		tr.run[b] = func() error {
			var ferr error
			mtorch.NoGrad(func() {
				o, err := m.Forward(ids, mask, tt, false)
				if err != nil {
					ferr = err
					return
				}
				// Copying the logits out is part of every runtime's cost.
				_, _, ferr = mtorch.Float32Values(o.Logits)
				o.Drop()
			})
			return ferr
		}
	}
	runners = append(runners, tr)

	var results []result
	for _, b := range bs {
		lat := make([][]float64, len(runners))
		cpu := make([][]float64, len(runners))
		for i, r := range runners { // warm-up
			for k := 0; k < 2; k++ {
				if err := r.run[b](); err != nil {
					log.Fatalf("%s batch %d: %v", runners[i].name, b, err)
				}
			}
		}
		start := time.Now()
		for round := 0; round < *minIter || time.Since(start) < *budget*time.Duration(len(runners)); round++ {
			for i, r := range runners {
				t0, c0 := time.Now(), cpuMs()
				if err := r.run[b](); err != nil {
					log.Fatalf("%s batch %d: %v", r.name, b, err)
				}
				cpu[i] = append(cpu[i], cpuMs()-c0)
				lat[i] = append(lat[i], float64(time.Since(t0).Microseconds())/1000)
			}
		}
		for i, r := range runners {
			l := lat[i]
			total := 0.0
			for _, v := range l {
				total += v
			}
			slices.Sort(l)
			c := cpu[i]
			slices.Sort(c)
			res := result{name: r.name, batch: b, meanMs: total / float64(len(l)), p50: l[len(l)/2], cpuP50: c[len(c)/2], iters: len(l)}
			res.cpuPerS = float64(b) * 1000 / res.cpuP50
			res.samplesPerS = float64(b) * 1000 / res.p50 // the median resists the spikes of a shared machine
			results = append(results, res)
			fmt.Fprintf(os.Stderr, "%-16s batch %2d  mean %8.2f ms  p50 %8.2f ms  cpu p50 %8.2f ms  (%d iters)\n",
				r.name, b, res.meanMs, res.p50, res.cpuP50, res.iters)
		}
	}

	fmt.Printf("model %s (%s, %d layers, hidden %d), seq %d, %d intra-op threads; runtimes interleaved round-robin\n",
		*ckpt, cfg.ModelType, cfg.NumHiddenLayers, cfg.HiddenSize, *seq, *threads)
	fmt.Printf("session load: %s\n", strings.Join(loads, "; "))
	fmt.Printf("wall: p50 latency and batch ÷ p50 (samples/s); cpu: process CPU ms per call (p50) and samples per CPU-second;\n")
	fmt.Printf("ratio = samples per CPU-second ÷ %s's at the same batch (wall ratio in brackets)\n", *baseline)
	fmt.Printf("%-12s %5s %10s %10s %10s %12s %16s\n", "runtime", "batch", "wall p50", "samples/s", "cpu ms", "samples/cpu-s", "ratio")
	base := map[int]result{}
	for _, r := range results {
		if r.name == *baseline {
			base[r.batch] = r
		}
	}
	for _, n := range names {
		for _, r := range results {
			if r.name != n {
				continue
			}
			ratio := "-"
			if b, ok := base[r.batch]; ok {
				ratio = fmt.Sprintf("%.2fx (%.2fx)", r.cpuPerS/b.cpuPerS, r.samplesPerS/b.samplesPerS)
			}
			fmt.Printf("%-12s %5d %10.1f %10.1f %10.1f %12.1f %16s\n", r.name, r.batch, r.p50, r.samplesPerS, r.cpuP50, r.cpuPerS, ratio)
		}
	}
	if *pairs == "" {
		return
	}
	fmt.Println()
	tput := map[string]float64{}
	for _, r := range results {
		tput[fmt.Sprint(r.name, "@", r.batch)] = r.cpuPerS
	}
	fmt.Println("CPU-time throughput ratios:")
	for _, p := range strings.Split(*pairs, ",") {
		a, b, ok := strings.Cut(p, "/")
		if !ok {
			log.Fatalf("--pairs entry %q is not a/b", p)
		}
		fmt.Printf("%-34s", a+" ÷ "+b)
		for _, bt := range bs {
			x, y := tput[fmt.Sprint(a, "@", bt)], tput[fmt.Sprint(b, "@", bt)]
			if x > 0 && y > 0 {
				fmt.Printf("  batch %2d: %5.2fx", bt, x/y)
			}
		}
		fmt.Println()
	}
}
