package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/loadtest"
	"github.com/kiln-ml/kiln/serve"
	"github.com/kiln-ml/kiln/serve/backend"
	"github.com/kiln-ml/kiln/serve/batcher"
)

// probe measures what the batching defaults are derived from, with ONNX
// Runtime in this process and no server: the cost per sequence of a batch
// of k similar-length texts against the same texts run one by one, and the
// throughput of sessions × intra-op threads splits of the machine's cores.
// The machine may be shared, so every comparison is made on short
// alternating slices of the same work (a few milliseconds to a few hundred),
// and the report gives the median of the per-slice ratios.
func (d *direct) probe(dir string, rounds int, dur time.Duration) error {
	byLen := d.order()
	ks := []int{2, 4, 8, 16, 32}
	if len(byLen) <= 2*ks[len(ks)-1] {
		return fmt.Errorf("-probe needs more than %d texts, got %d", 2*ks[len(ks)-1], len(byLen))
	}
	fmt.Printf("\n(probe) ORT in-process, 1 session, intra-op threads as -threads: a batch of k texts of similar length vs the same texts one by one\n")
	fmt.Printf("%4s %14s %14s %18s %8s\n", "k", "µs/seq batch", "µs/seq single", "batch/single", "slices")
	for _, k := range ks {
		var ratios, batchUS, singleUS []float64
		for start := time.Now(); time.Since(start) < time.Duration(rounds)*dur || len(ratios) < 9; {
			off := d.rng.IntN(len(byLen) - k)
			idx := byLen[off : off+k]
			// Alternate which goes first, so a load change favours neither.
			var tb, ts time.Duration
			for pass := range 2 {
				if (pass+len(ratios))%2 == 0 {
					t := time.Now()
					if _, err := d.run(idx); err != nil {
						return err
					}
					tb = time.Since(t)
				} else {
					t := time.Now()
					for _, i := range idx {
						if _, err := d.run([]int{i}); err != nil {
							return err
						}
					}
					ts = time.Since(t)
				}
			}
			ratios = append(ratios, float64(tb)/float64(ts))
			batchUS = append(batchUS, float64(tb.Microseconds())/float64(k))
			singleUS = append(singleUS, float64(ts.Microseconds())/float64(k))
		}
		fmt.Printf("%4d %14.1f %14.1f %18.2f %8d\n", k, median(batchUS), median(singleUS), median(ratios), len(ratios))
	}

	// Sessions × intra-op threads over the cores: each session is fed by its
	// own goroutine, single texts or batches of 8 similar-length texts; the
	// splits take turns in slices of 250 ms.
	cores := numCPU()
	type split struct{ sessions, threads int }
	splits := []split{{1, 1}, {1, cores}, {cores, 1}}
	if cores > 2 {
		splits = append(splits, split{cores / 2, 2})
	}
	pools := make([][]*ort.Session, len(splits))
	for i, sp := range splits {
		for range sp.sessions {
			s, err := ort.NewSession(filepath.Join(dir, "model.onnx"), ort.Options{IntraOpThreads: sp.threads})
			if err != nil {
				return err
			}
			defer s.Close()
			pools[i] = append(pools[i], s)
		}
	}
	fmt.Printf("\n(probe) sessions × intra-op threads on %d cores, sequences/s (median over alternating 250 ms slices, %v in all)\n", cores, time.Duration(rounds)*dur)
	fmt.Printf("%-18s %12s %12s %14s %14s\n", "sessions×threads", "k=1", "k=8", "k=1 vs 1×1", "k=8 vs 1×1")
	type key struct{ split, k int }
	rate := map[key][]float64{}
	rel := map[key][]float64{}
	for start := time.Now(); time.Since(start) < time.Duration(rounds)*dur; {
		for _, k := range []int{1, 8} {
			var base float64
			for i := range splits {
				v, err := d.parallel(pools[i], byLen, k, 250*time.Millisecond)
				if err != nil {
					return err
				}
				if i == 0 {
					base = v
				}
				rate[key{i, k}] = append(rate[key{i, k}], v)
				rel[key{i, k}] = append(rel[key{i, k}], v/base)
			}
		}
	}
	for i, sp := range splits {
		fmt.Printf("%-18s %12.1f %12.1f %14.2f %14.2f\n", fmt.Sprintf("%d×%d", sp.sessions, sp.threads),
			median(rate[key{i, 1}]), median(rate[key{i, 8}]), median(rel[key{i, 1}]), median(rel[key{i, 8}]))
	}
	return d.policies(dir, rounds, dur)
}

// policy is one batching configuration tried in-process.
type policy struct {
	name     string
	sessions int
	cfg      batcher.Config
}

// policies runs the batcher in-process over ONNX Runtime with closed-loop
// submitters under several batching policies, each round trying every
// policy once per concurrency, and prints each one's medians and its ratio
// to batching off (the first policy) in the same round.
func (d *direct) policies(dir string, rounds int, dur time.Duration) error {
	base := batcher.Config{MaxBatchTokens: 16384, QueueSize: 8192}
	with := func(size int, pad float64, window int) batcher.Config {
		c := base
		c.MaxBatchSize, c.MaxPadding, c.Window = size, pad, window
		return c
	}
	def := serve.Defaults()
	ps := []policy{
		{"off", 1, with(1, 0, 0)},
		{"defaults", 1, with(def.MaxBatchSize, def.MaxBatchPadding, def.BatchWindow)},
		{"old: pad .3, no window", 1, with(32, 0.3, 0)},
		{"pad .1, no window", 1, with(32, 0.1, 0)},
		{"pad .2, window 32", 1, with(32, 0.2, 32)},
		{"defaults, 2 sessions", 2, with(def.MaxBatchSize, def.MaxBatchPadding, def.BatchWindow)},
		{"off, 2 sessions", 2, with(1, 0, 0)},
	}
	bes := map[int]*backend.ORT{}
	for _, p := range ps {
		if bes[p.sessions] != nil {
			continue
		}
		be, err := backend.Open(backend.Options{ModelPath: filepath.Join(dir, "model.onnx"), IntraOpThreads: 1, Sessions: p.sessions, Device: "cpu"})
		if err != nil {
			return err
		}
		defer be.Close()
		bes[p.sessions] = be
	}
	fmt.Printf("\n(probe) batching policies in-process (batcher + ORT, 1 intra-op thread), closed loop, %d rounds of %v, medians; ratios to \"off\" in the same round\n", rounds, dur)
	fmt.Printf("%-24s %7s %9s %8s %8s %6s %8s %9s %9s\n", "policy", "clients", "seq/s", "p50 ms", "p99 ms", "batch", "tok/seq", "rate/off", "p99/off")
	for _, c := range []int{1, 4, 16, 64} {
		res := make([][]groupedResult, len(ps))
		rr := make([][]float64, len(ps))
		pr := make([][]float64, len(ps))
		for r := range rounds {
			// Each round starts at another policy, so that a load that
			// rises or falls through a round favours none of them.
			got := make([]groupedResult, len(ps))
			for j := range ps {
				i := (j + r) % len(ps)
				cfg := ps[i].cfg
				cfg.Workers = ps[i].sessions
				g, err := d.grouped(bes[ps[i].sessions], cfg, c, dur)
				if err != nil {
					return err
				}
				got[i] = g
			}
			for i, g := range got {
				res[i] = append(res[i], g)
				rr[i] = append(rr[i], g.rate/got[0].rate)
				pr[i] = append(pr[i], g.p99ms/got[0].p99ms)
			}
		}
		for i, p := range ps {
			pick := func(f func(groupedResult) float64) float64 {
				v := make([]float64, len(res[i]))
				for j, g := range res[i] {
					v[j] = f(g)
				}
				return median(v)
			}
			fmt.Printf("%-24s %7d %9.1f %8.2f %8.2f %6.1f %8.1f %9.2f %9.2f\n", p.name, c,
				pick(func(g groupedResult) float64 { return g.rate }), pick(func(g groupedResult) float64 { return g.p50ms }),
				pick(func(g groupedResult) float64 { return g.p99ms }), pick(func(g groupedResult) float64 { return g.meanBatch }),
				pick(func(g groupedResult) float64 { return g.tokensPerSeq }), median(rr[i]), median(pr[i]))
		}
	}
	return nil
}

// order is the texts' indices sorted by token count.
func (d *direct) order() []int {
	idx := make([]int, len(d.encs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return len(d.encs[a].IDs) - len(d.encs[b].IDs) })
	return idx
}

// parallel feeds each session from its own goroutine with batches of k
// similar-length texts for dur and returns sequences/s.
func (d *direct) parallel(ss []*ort.Session, byLen []int, k int, dur time.Duration) (float64, error) {
	var wg sync.WaitGroup
	counts := make([]int, len(ss))
	errs := make([]error, len(ss))
	start := time.Now()
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &direct{s: s, encs: d.encs, hasTypes: d.hasTypes}
			for off := (i*977 + d.rng.IntN(len(byLen))) % (len(byLen) - k); time.Since(start) < dur; off = (off + k) % (len(byLen) - k) {
				if _, err := w.run(byLen[off : off+k]); err != nil {
					errs[i] = err
					return
				}
				counts[i] += k
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	total := 0
	for i, n := range counts {
		if errs[i] != nil {
			return 0, errs[i]
		}
		total += n
	}
	return float64(total) / el.Seconds(), nil
}

func runProbe(base, modelDir, work, data string, duration time.Duration, threads, maxLen, rounds int) error {
	if modelDir == "" {
		if err := os.MkdirAll(work, 0o755); err != nil {
			return err
		}
		var err error
		if modelDir, err = classifierFrom(base, filepath.Join(work, "model-"+filepath.Base(base))); err != nil {
			return err
		}
	}
	texts, err := loadtest.LoadTexts(data, "text")
	if err != nil {
		return err
	}
	d, err := newDirect(modelDir, texts, threads, maxLen)
	if err != nil {
		return err
	}
	defer d.close()
	return d.probe(modelDir, rounds, duration)
}
