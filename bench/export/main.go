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

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

type result struct {
	name        string
	batch       int
	meanMs, p50 float64
	samplesPerS float64
	iters       int
}

func main() {
	var (
		ckpt     = flag.String("checkpoint", "", "checkpoint directory (libtorch forward)")
		onnxDirs = flag.String("onnx", "", "comma-separated name=dir of ONNX exports (dir/model.onnx)")
		batches  = flag.String("batches", "1,8,32", "batch sizes")
		seq      = flag.Int("seq", 128, "sequence length")
		threads  = flag.Int("threads", 2, "intra-op threads for ONNX Runtime and libtorch")
		budget   = flag.Duration("budget", 3*time.Second, "measuring time per (runtime, batch)")
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
	var results []result
	measure := func(name string, b int, run func() error) {
		for i := 0; i < 2; i++ { // warm-up
			if err := run(); err != nil {
				log.Fatalf("%s batch %d: %v", name, b, err)
			}
		}
		var lat []float64
		start := time.Now()
		for len(lat) < *minIter || time.Since(start) < *budget {
			t0 := time.Now()
			if err := run(); err != nil {
				log.Fatalf("%s batch %d: %v", name, b, err)
			}
			lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		}
		total := 0.0
		for _, l := range lat {
			total += l
		}
		slices.Sort(lat)
		r := result{name: name, batch: b, meanMs: total / float64(len(lat)), p50: lat[len(lat)/2], iters: len(lat)}
		r.samplesPerS = float64(b) * 1000 / r.meanMs
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "%-16s batch %2d  mean %8.2f ms  p50 %8.2f ms  %8.1f samples/s  (%d iters)\n", name, b, r.meanMs, r.p50, r.samplesPerS, r.iters)
	}

	var names []string
	for _, kv := range strings.Split(*onnxDirs, ",") {
		name, dir, ok := strings.Cut(kv, "=")
		if !ok {
			log.Fatalf("--onnx entry %q is not name=dir", kv)
		}
		names = append(names, name)
		s, err := ort.NewSession(filepath.Join(dir, export.ModelFile), ort.Options{Device: "cpu", IntraOpThreads: *threads, InterOpThreads: 1})
		if err != nil {
			log.Fatal(err)
		}
		hasTT := slices.Contains(s.InputNames(), export.TokenTypeIDs)
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
			measure(name, b, func() error { _, err := s.Run(feeds); return err })
		}
		s.Close()
	}

	names = append(names, "libtorch")
	m, _, err := mtorch.Load(*ckpt, mtorch.LoadOptions{Device: gotch.CPU})
	if err != nil {
		log.Fatal(err)
	}
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
		measure("libtorch", b, func() error {
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
		})
	}

	fmt.Printf("model %s (%s, %d layers, hidden %d), seq %d, %d intra-op threads; ratio = samples/s ÷ %s's at the same batch\n",
		*ckpt, cfg.ModelType, cfg.NumHiddenLayers, cfg.HiddenSize, *seq, *threads, *baseline)
	fmt.Printf("%-16s %5s %10s %10s %12s %8s\n", "runtime", "batch", "mean ms", "p50 ms", "samples/s", "ratio")
	base := map[int]float64{}
	for _, r := range results {
		if r.name == *baseline {
			base[r.batch] = r.samplesPerS
		}
	}
	for _, n := range names {
		for _, r := range results {
			if r.name != n {
				continue
			}
			ratio := "-"
			if base[r.batch] > 0 {
				ratio = fmt.Sprintf("%.2fx", r.samplesPerS/base[r.batch])
			}
			fmt.Printf("%-16s %5d %10.2f %10.2f %12.1f %8s\n", r.name, r.batch, r.meanMs, r.p50, r.samplesPerS, ratio)
		}
	}
	if *pairs == "" {
		return
	}
	fmt.Println()
	tput := map[string]float64{}
	for _, r := range results {
		tput[fmt.Sprint(r.name, "@", r.batch)] = r.samplesPerS
	}
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
