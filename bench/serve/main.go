// Command bench/serve measures `kiln serve` against ONNX Runtime called
// directly in-process on the same model, the same texts and the same batch
// shapes, in one run:
//
//  1. overhead of HTTP + JSON + tokenisation + queueing: requests/s at
//     saturation vs direct batched runs, and single-request p50 vs a direct
//     batch-of-one run;
//  2. throughput vs concurrency with dynamic batching on and off.
//
// The load comes from the loadtest package (`kiln loadtest`'s library),
// closed-loop. The server runs as a separate process (bin/kiln-serve).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/loadtest"
	"github.com/kiln-ml/kiln/models"
	"github.com/kiln-ml/kiln/serve"
	"github.com/kiln-ml/kiln/serve/backend"
	"github.com/kiln-ml/kiln/serve/batcher"
	"github.com/kiln-ml/kiln/tokenizers"
)

func main() {
	var (
		kiln     = flag.String("kiln", "bin/kiln-serve", "kiln binary (serve)")
		base     = flag.String("base", "random", "encoder to put a random 2-label head on: a checkpoint directory (e.g. build/pretrained/all-MiniLM-L6-v2), or \"random\" for a random 4-layer, 256-wide BERT (ignored with -model)")
		modelDir = flag.String("model", "", "an existing export directory to serve instead")
		work     = flag.String("work", "build/bench/serve", "work directory")
		data     = flag.String("texts", "testdata/data/sst2/dev.csv", "CSV with a text column")
		duration = flag.Duration("duration", 8*time.Second, "measured window per load run")
		warm     = flag.Duration("warmup", 2*time.Second, "warm-up per load run")
		clients  = flag.String("clients", "1,4,16,64", "closed-loop concurrencies")
		threads  = flag.Int("threads", 1, "ONNX Runtime intra-op threads, both sides (1: on a busy shared machine a second spinning thread costs more than it gives)")
		maxBatch = flag.Int("max-batch-size", 32, "server batch size with batching on, and the direct batch size")
		maxLen   = flag.Int("max-length", 128, "tokens per text, both sides")
		rounds   = flag.Int("rounds", 3, "interleaved rounds per comparison")
		probe    = flag.Bool("probe", false, "only measure ONNX Runtime in-process: cost per sequence of a batch of k vs single runs, sessions × intra-op threads and batching policies (what the CPU batching defaults come from)")
		matrix   = flag.Bool("matrix", false, "only the on/off matrix (2), with `kiln serve`'s own defaults (batching off = --max-batch-size 1), printed as a markdown table; -threads and -max-batch-size are ignored")
		srvArgs  = flag.String("server-args", "", "extra `kiln serve` flags for both servers of -matrix (e.g. \"--max-batch-padding 0.3 --batch-window 0\" to try other defaults)")
	)
	flag.Parse()
	if *probe {
		if err := runProbe(*base, *modelDir, *work, *data, *duration, *threads, *maxLen, *rounds); err != nil {
			fmt.Fprintln(os.Stderr, "bench/serve:", err)
			os.Exit(1)
		}
		return
	}
	if *matrix {
		if err := runMatrix(*kiln, *base, *modelDir, *work, *data, *duration, *warm, *clients, strings.Fields(*srvArgs), *maxLen, *rounds); err != nil {
			fmt.Fprintln(os.Stderr, "bench/serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*kiln, *base, *modelDir, *work, *data, *duration, *warm, *clients, *threads, *maxBatch, *maxLen, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(1)
	}
}

type row struct {
	Mode        string  `json:"mode"`
	Clients     int     `json:"clients"`
	RPS         float64 `json:"requests_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	MeanBatch   float64 `json:"mean_batch_size"`
	TokensPerSq float64 `json:"padded_tokens_per_sequence"`
	Errors      int64   `json:"errors"`
	// CPUms is the server process's CPU time (user + system) per request:
	// unlike req/s it barely moves when other jobs share the machine, so
	// on a busy host it is the throughput figure to compare.
	CPUms float64 `json:"cpu_ms_per_request"`
	// For a "batching on" row: the medians of the per-round on/off ratios
	// (the machine may be shared: ratios within a round are what to read).
	RPSRatio float64 `json:"requests_per_s_on_off,omitempty"`
	P99Ratio float64 `json:"p99_on_off,omitempty"`
}

// The machine is shared and noisy, so every comparison is interleaved:
// round after round, the direct measurement and the server measurement
// alternate, and the report gives the median of the per-round figures.
// setup finds or makes the model, and reads the texts and the client list.
func setup(base, modelDir, work, data, clientList string) (string, []string, []int, error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", nil, nil, err
	}
	if modelDir == "" {
		var err error
		name := "model-" + filepath.Base(base)
		if modelDir, err = classifierFrom(base, filepath.Join(work, name)); err != nil {
			return "", nil, nil, err
		}
	}
	texts, err := loadtest.LoadTexts(data, "text")
	if err != nil {
		return "", nil, nil, err
	}
	var cs []int
	for _, s := range strings.Split(clientList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return "", nil, nil, fmt.Errorf("-clients %q: want positive integers", clientList)
		}
		cs = append(cs, n)
	}
	return modelDir, texts, cs, nil
}

// runMatrix is the on/off matrix alone, each server with `kiln serve`'s
// defaults plus extra (batching off adds --max-batch-size 1), as a markdown
// table, also written to work/matrix.md.
func runMatrix(kiln, base, modelDir, work, data string, duration, warm time.Duration, clientList string, extra []string, maxLen, rounds int) error {
	modelDir, texts, cs, err := setup(base, modelDir, work, data, clientList)
	if err != nil {
		return err
	}
	on, off, wl, err := startOnOff(kiln, modelDir, texts, append([]string{"--max-input-length", strconv.Itoa(maxLen)}, extra...), nil)
	if err != nil {
		return err
	}
	defer on.stop()
	defer off.stop()
	n := max(1, rounds)
	title := fmt.Sprintf("`kiln serve` defaults%s, batching on vs off (`--max-batch-size 1`); %s; %d texts of %s, max length %d; %d cores (load average %s at the start); closed loop, medians of %d interleaved rounds of %v (%v warm-up)",
		argsNote(extra), filepath.Base(modelDir), len(texts), data, maxLen, numCPU(), loadAverage(), n, duration, warm)
	rows, err := sweep(on, off, wl, cs, duration, warm, n)
	if err != nil {
		return err
	}
	md := matrixTable(title, rows)
	fmt.Print("\n" + md)
	if err := os.WriteFile(filepath.Join(work, "matrix.md"), []byte(md), 0o644); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(map[string]any{"model": modelDir, "server_args": extra, "max_length": maxLen, "rounds": n, "sweep": rows}, "", "  ")
	return os.WriteFile(filepath.Join(work, "matrix.json"), append(b, '\n'), 0o644)
}

func argsNote(extra []string) string {
	if len(extra) == 0 {
		return ""
	}
	return " + `" + strings.Join(extra, " ") + "`"
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// sweep runs batching on and off at each concurrency, rounds times,
// alternating which goes first so that a change of load favours neither,
// and returns the median rows (on, off per concurrency).
func sweep(on, off *server, wl *loadtest.Workload, cs []int, duration, warm time.Duration, rounds int) ([]row, error) {
	var rows []row
	for _, c := range cs {
		var onRuns, offRuns []row
		var rpsRatio, p99Ratio []float64
		for r := range rounds {
			first, second, fm, sm := on, off, "batching on", "batching off"
			if r%2 == 1 {
				first, second, fm, sm = off, on, sm, fm
			}
			a, err := first.load(wl, c, duration, warm, fm)
			if err != nil {
				return nil, err
			}
			b, err := second.load(wl, c, duration, warm, sm)
			if err != nil {
				return nil, err
			}
			if r%2 == 1 {
				a, b = b, a
			}
			onRuns, offRuns = append(onRuns, a), append(offRuns, b)
			rpsRatio, p99Ratio = append(rpsRatio, a.RPS/b.RPS), append(p99Ratio, a.P99ms/b.P99ms)
		}
		onRow := medianRow(onRuns)
		onRow.RPSRatio, onRow.P99Ratio = median(rpsRatio), median(p99Ratio)
		rows = append(rows, onRow, medianRow(offRuns))
	}
	return rows, nil
}

// matrixTable renders the sweep as markdown, with the medians of the
// per-round on/off ratios of throughput and p99 beside each "on" row.
func matrixTable(title string, rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", title)
	b.WriteString("| mode | clients | req/s | p50 ms | p99 ms | mean batch | padded tokens/seq | server CPU ms/req | errors | req/s on/off | p99 on/off |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		ratio := "| | |"
		if r.RPSRatio > 0 {
			ratio = fmt.Sprintf("| %.2f | %.2f |", r.RPSRatio, r.P99Ratio)
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.2f | %.2f | %.1f | %.1f | %.2f | %d %s\n", r.Mode, r.Clients, r.RPS, r.P50ms, r.P99ms, r.MeanBatch, r.TokensPerSq, r.CPUms, r.Errors, ratio)
	}
	return b.String()
}

func run(kiln, base, modelDir, work, data string, duration, warm time.Duration, clientList string, threads, maxBatch, maxLen, rounds int) error {
	modelDir, texts, cs, err := setup(base, modelDir, work, data, clientList)
	if err != nil {
		return err
	}
	sat := slices.Max(cs)
	dr, err := newDirect(modelDir, texts, threads, maxLen)
	if err != nil {
		return err
	}
	defer dr.close()
	common := []string{"--intra-op-threads", strconv.Itoa(threads), "--sessions", "1", "--max-input-length", strconv.Itoa(maxLen)}
	on, off, wl, err := startOnOff(kiln, modelDir, texts, common, []string{"--max-batch-size", strconv.Itoa(maxBatch)})
	if err != nil {
		return err
	}
	defer on.stop()
	defer off.stop()
	fmt.Printf("model %s, %d texts, max length %d, intra-op threads %d both sides, %d cores, %d interleaved rounds of %v\n",
		modelDir, len(texts), maxLen, threads, numCPU(), rounds, duration)
	fmt.Println("(the machine is shared with other jobs: absolute figures are noisy; compare the per-round ratios)")

	be, err := backend.Open(backend.Options{ModelPath: filepath.Join(modelDir, "model.onnx"), IntraOpThreads: threads, Device: "cpu"})
	if err != nil {
		return err
	}
	defer be.Close()
	// The server's batching policy (kiln serve's defaults).
	def := serve.Defaults()
	bcfg := batcher.Config{MaxBatchSize: maxBatch, MaxBatchTokens: def.MaxBatchTokens, MaxPadding: def.MaxBatchPadding, Window: def.BatchWindow, QueueSize: 8192, Workers: 1}

	// (1) Overhead against ONNX Runtime called directly.
	var satRatio, singleDiff, dSingle, sSingle, dBatch, sBatch, gBatch, gRatio []float64
	var gMean, gTok float64
	var lastSat row
	for r := range rounds {
		p50, err := dr.single(duration)
		if err != nil {
			return err
		}
		one, err := on.load(wl, 1, duration, warm, "batching on")
		if err != nil {
			return err
		}
		seqs, err := dr.batched(maxBatch, duration)
		if err != nil {
			return err
		}
		many, err := on.load(wl, sat, duration, warm, "batching on")
		if err != nil {
			return err
		}
		gr, err := dr.grouped(be, bcfg, sat, duration)
		if err != nil {
			return err
		}
		g, mb, tps := gr.rate, gr.meanBatch, gr.tokensPerSeq
		gBatch, gRatio, gMean, gTok = append(gBatch, g), append(gRatio, 1-many.RPS/g), mb, tps
		lastSat = many
		dSingle, sSingle = append(dSingle, p50), append(sSingle, one.P50ms)
		dBatch, sBatch = append(dBatch, seqs), append(sBatch, many.RPS)
		singleDiff = append(singleDiff, one.P50ms-p50)
		satRatio = append(satRatio, 1-many.RPS/seqs)
		fmt.Fprintf(os.Stderr, "  round %d: single p50 direct %.2f ms, served %.2f ms; saturation: direct random batches %.1f seq/s, direct server-shaped batches %.1f seq/s (mean %.1f, %.1f tokens/seq), served %.1f req/s (%d clients, mean batch %.1f, %.1f tokens/seq)\n",
			r+1, p50, one.P50ms, seqs, g, mb, tps, many.RPS, sat, many.MeanBatch, many.TokensPerSq)
	}
	fmt.Println()
	fmt.Println("(1) kiln serve vs ONNX Runtime in-process, same model, texts and batch size, medians over rounds")
	fmt.Printf("  single request p50: direct batch-of-1 %.2f ms, kiln serve %.2f ms → overhead %+.2f ms (target ≤ 2 ms)\n",
		median(dSingle), median(sSingle), median(singleDiff))
	fmt.Printf("  saturation, same batch shapes: ORT fed by serve's batcher in-process (%d submitters, mean batch %.1f, %.1f tokens/seq) %.1f seq/s,\n"+
		"    kiln serve %.1f req/s at %d clients (mean batch %.1f, %.1f tokens/seq) → overhead %.1f%% (target ≤ 15%%)\n",
		sat, gMean, gTok, median(gBatch), median(sBatch), sat, lastSat.MeanBatch, lastSat.TokensPerSq, 100*median(gRatio))
	fmt.Printf("  (naive reference: ORT over random batches of %d: %.1f seq/s; kiln serve vs that: %.1f%%)\n",
		maxBatch, median(dBatch), 100*median(satRatio))

	// (2) Throughput vs concurrency, batching on and off, interleaved.
	rows, err := sweep(on, off, wl, cs, duration, warm, max(1, rounds-1))
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(matrixTable(fmt.Sprintf("(2) throughput vs concurrency (closed loop, 1 session × %d intra-op threads, medians over %d interleaved rounds)", threads, max(1, rounds-1)), rows))
	out := map[string]any{
		"model": modelDir, "threads": threads, "max_length": maxLen, "max_batch_size": maxBatch, "rounds": rounds,
		"direct_single_p50_ms": dSingle, "served_single_p50_ms": sSingle,
		"direct_random_batches_seq_per_s": dBatch, "direct_server_shaped_seq_per_s": gBatch, "served_saturation_req_per_s": sBatch,
		"saturation_overhead_median": median(gRatio), "saturation_vs_random_batches_median": median(satRatio), "single_p50_overhead_ms_median": median(singleDiff), "sweep": rows,
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return os.WriteFile(filepath.Join(work, "results.json"), append(b, '\n'), 0o644)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianRow takes the median of each figure over repeated runs.
func medianRow(rs []row) row {
	pick := func(f func(row) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	out := rs[0]
	out.RPS = pick(func(r row) float64 { return r.RPS })
	out.P50ms = pick(func(r row) float64 { return r.P50ms })
	out.P99ms = pick(func(r row) float64 { return r.P99ms })
	out.MeanBatch = pick(func(r row) float64 { return r.MeanBatch })
	out.TokensPerSq = pick(func(r row) float64 { return r.TokensPerSq })
	out.CPUms = pick(func(r row) float64 { return r.CPUms })
	for _, r := range rs[1:] {
		out.Errors += r.Errors
	}
	return out
}

func numCPU() int {
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "processor\t:")
	}
	return n
}

// classifierFrom puts a random 2-label head on the encoder in base and
// exports it with kiln's export (what `kiln export` does), once.
func classifierFrom(base, out string) (string, error) {
	if _, err := os.Stat(filepath.Join(out, "model.onnx")); err == nil {
		return out, nil
	}
	var (
		cfg *models.Config
		sd  models.StateDict
		err error
	)
	if base == "random" {
		// BERT-small-like: big enough that inference dominates a request,
		// small enough that batches take well under a second on a busy
		// 2-core machine; the bert-base-uncased vocabulary.
		cfg = models.DefaultConfig(models.TypeBERT)
		cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 256, 4, 4, 1024
		if sd, err = models.InitStateDict(cfg, 1, "F32"); err != nil {
			return "", err
		}
		base = "testdata/tokenizers/bert-base-uncased"
	} else {
		if cfg, err = models.LoadConfig(base); err != nil {
			return "", err
		}
		if sd, err = models.LoadStateDict(base); err != nil {
			return "", err
		}
	}
	cfg.SetLabels([]string{"NEGATIVE", "POSITIVE"})
	cfg.ProblemType = models.ProblemSingleLabel
	cfg.Architectures = []string{"BertForSequenceClassification"}
	rng := rand.New(rand.NewPCG(1, 2))
	h := cfg.HiddenSize
	w := make([]float32, 2*h)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.02)
	}
	if sd["classifier.weight"], err = models.FromFloat32s("F32", []int64{2, int64(h)}, w); err != nil {
		return "", err
	}
	if sd["classifier.bias"], err = models.FromFloat32s("F32", []int64{2}, make([]float32, 2)); err != nil {
		return "", err
	}
	src := out + ".ckpt"
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := cfg.Save(filepath.Join(src, "config.json")); err != nil {
		return "", err
	}
	if err := models.WriteSafetensors(filepath.Join(src, "model.safetensors"), sd, nil); err != nil {
		return "", err
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"} {
		b, err := os.ReadFile(filepath.Join(base, f))
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(src, f), b, 0o644); err != nil {
			return "", err
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := export.Export(context.Background(), src, out, export.Options{Force: true, Logger: quiet}); err != nil {
		return "", err
	}
	return out, nil
}

// direct runs the model with ONNX Runtime in this process on texts
// tokenised beforehand, padding each batch to its longest sequence as the
// server does.
type direct struct {
	s        *ort.Session
	encs     []*tokenizers.Encoding
	hasTypes bool
	rng      *rand.Rand
}

func newDirect(dir string, texts []string, threads, maxLen int) (*direct, error) {
	if err := ort.Init(""); err != nil {
		return nil, err
	}
	tok, err := tokenizers.FromFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, err
	}
	tok = tok.WithPadding(nil).WithTruncation(&tokenizers.Truncation{MaxLength: maxLen})
	in := make([]tokenizers.Input, len(texts))
	for i, t := range texts {
		in[i] = tokenizers.Input{Text: t}
	}
	encs, err := tok.EncodeBatch(in, true)
	if err != nil {
		return nil, err
	}
	s, err := ort.NewSession(filepath.Join(dir, "model.onnx"), ort.Options{IntraOpThreads: threads})
	if err != nil {
		return nil, err
	}
	d := &direct{s: s, encs: encs, hasTypes: slices.Contains(s.InputNames(), "token_type_ids"), rng: rand.New(rand.NewPCG(3, 4))}
	for range 2 { // warm up
		if _, err := d.run(d.rng.Perm(len(encs))[:32]); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *direct) close() { d.s.Close() }

func (d *direct) run(idx []int) (int, error) {
	seq := 0
	for _, i := range idx {
		seq = max(seq, len(d.encs[i].IDs))
	}
	n := len(idx) * seq
	ids, mask := make([]int64, n), make([]int64, n)
	for r, i := range idx {
		for j, id := range d.encs[i].IDs {
			ids[r*seq+j], mask[r*seq+j] = int64(id), 1
		}
	}
	shape := []int64{int64(len(idx)), int64(seq)}
	feeds := map[string]ort.Int64Tensor{"input_ids": {Shape: shape, Data: ids}, "attention_mask": {Shape: shape, Data: mask}}
	if d.hasTypes {
		feeds["token_type_ids"] = ort.Int64Tensor{Shape: shape, Data: make([]int64, n)}
	}
	_, err := d.s.Run(feeds)
	return n, err
}

// single is the p50 latency (ms) of batch-of-one runs of random texts.
func (d *direct) single(dur time.Duration) (float64, error) {
	var lat []float64
	for start := time.Now(); time.Since(start) < dur || len(lat) < 20; {
		t := time.Now()
		if _, err := d.run([]int{d.rng.IntN(len(d.encs))}); err != nil {
			return 0, err
		}
		lat = append(lat, float64(time.Since(t))/1e6)
	}
	return median(lat), nil
}

// batched is sequences/s over shuffled batches of size b.
func (d *direct) batched(b int, dur time.Duration) (float64, error) {
	seqs := 0
	start := time.Now()
	for time.Since(start) < dur || seqs == 0 {
		perm := d.rng.Perm(len(d.encs))
		for off := 0; off+b <= len(perm) && (time.Since(start) < dur || seqs == 0); off += b {
			if _, err := d.run(perm[off : off+b]); err != nil {
				return 0, err
			}
			seqs += b
		}
	}
	return float64(seqs) / time.Since(start).Seconds(), nil
}

// batchCounter is a batcher.Observer that counts batches and sequences.
type batchCounter struct {
	mu            sync.Mutex
	batches, seqs int
	tokens        int
}

func (b *batchCounter) QueueDepth(int) {}
func (b *batchCounter) BatchStarted(size, tokens int, _ []time.Duration) {
	b.mu.Lock()
	b.batches, b.seqs, b.tokens = b.batches+1, b.seqs+size, b.tokens+tokens
	b.mu.Unlock()
}
func (b *batchCounter) BatchDone(int, time.Duration, error) {}
func (b *batchCounter) Dropped(int, string)                 {}

// groupedResult is one in-process run through the batcher.
type groupedResult struct {
	rate, meanBatch, tokensPerSeq float64
	p50ms, p99ms                  float64
}

// grouped feeds the pre-tokenised texts from c closed-loop submitters
// through the batcher straight into ONNX Runtime (serve/batcher +
// serve/backend, in this process): the server's batch shapes without HTTP,
// JSON or tokenisation. It returns sequences/s, the mean batch size, padded
// tokens per sequence and the latency of Submit.
func (d *direct) grouped(be *backend.ORT, cfg batcher.Config, c int, dur time.Duration) (groupedResult, error) {
	cnt := &batchCounter{}
	cfg.Observer = cnt
	bt, err := batcher.New(cfg, be)
	if err != nil {
		return groupedResult{}, err
	}
	defer bt.Close(context.Background())
	inputs := make([]backend.Input, len(d.encs))
	for i, e := range d.encs {
		ids := make([]int64, len(e.IDs))
		for j, id := range e.IDs {
			ids[j] = int64(id)
		}
		inputs[i] = backend.Input{IDs: ids, TypeIDs: make([]int64, len(ids))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []float64
	var firstErr error
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for ctx.Err() == nil {
				t := time.Now()
				_, err := bt.Submit(context.Background(), []backend.Input{inputs[rng.IntN(len(inputs))]}, nil)
				took := time.Since(t)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil && ctx.Err() == nil {
					lat = append(lat, float64(took)/1e6)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := min(time.Since(start), dur)
	if firstErr != nil {
		return groupedResult{}, firstErr
	}
	cnt.mu.Lock()
	defer cnt.mu.Unlock()
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return groupedResult{
		rate: float64(len(lat)) / el.Seconds(), meanBatch: float64(cnt.seqs) / float64(max(cnt.batches, 1)),
		tokensPerSeq: float64(cnt.tokens) / float64(max(cnt.seqs, 1)), p50ms: q(0.5), p99ms: q(0.99),
	}, nil
}

// server is a `kiln serve` process.
type server struct {
	cmd *exec.Cmd
	url string
}

// startOnOff starts the two servers of a comparison, batching on (common +
// onArgs) and off (common + --max-batch-size 1), and the texts' workload.
func startOnOff(kiln, dir string, texts, common, onArgs []string) (on, off *server, wl *loadtest.Workload, err error) {
	if wl, err = loadtest.NewTextWorkload(texts, loadtest.TextWorkloadOptions{Seed: 5}); err != nil {
		return nil, nil, nil, err
	}
	if on, err = startServer(kiln, dir, append(slices.Clone(common), onArgs...)); err != nil {
		return nil, nil, nil, err
	}
	if off, err = startServer(kiln, dir, append(slices.Clone(common), "--max-batch-size", "1")); err != nil {
		on.stop()
		return nil, nil, nil, err
	}
	return on, off, wl, nil
}

// startServer starts `kiln serve` on dir with its defaults plus args, and
// limits high enough that the load never gets 429.
func startServer(kiln, dir string, args []string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(kiln, append([]string{"serve", "--model", dir, "--addr", addr, "--auto-truncate",
		"--max-concurrent-requests", "4096", "--max-queue", "8192", "--log-level", "error"}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", kiln, err)
	}
	s := &server{cmd: cmd, url: "http://" + addr}
	if err := waitReady(s.url, 3*time.Minute); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
}

// load runs one closed-loop load of c clients against /predict and reads
// the batch metrics it caused.
func (s *server) load(wl *loadtest.Workload, c int, d, warm time.Duration, mode string) (row, error) {
	before, err := scrape(s.url)
	if err != nil {
		return row{}, err
	}
	cpu0 := cpuSeconds(s.cmd.Process.Pid)
	res, err := loadtest.Run(context.Background(), loadtest.Config{
		URL: s.url + "/predict", Workload: wl, Clients: c, Warmup: warm, Duration: d, Label: fmt.Sprintf("%s c=%d", mode, c),
	})
	if err != nil {
		return row{}, err
	}
	cpu1 := cpuSeconds(s.cmd.Process.Pid)
	after, err := scrape(s.url)
	if err != nil {
		return row{}, err
	}
	r := row{Mode: mode, Clients: c, RPS: res.Throughput, P50ms: res.Latency.P50, P99ms: res.Latency.P99, Errors: res.Errors}
	if nb := after["kiln_batch_size_count"] - before["kiln_batch_size_count"]; nb > 0 {
		ns := after["kiln_batch_size_sum"] - before["kiln_batch_size_sum"]
		r.MeanBatch = ns / nb
		r.TokensPerSq = (after["kiln_batch_tokens_sum"] - before["kiln_batch_tokens_sum"]) / ns
		// Sequences run = requests here (one text each), warm-up included
		// as in the CPU time.
		if cpu1 > cpu0 {
			r.CPUms = 1000 * (cpu1 - cpu0) / ns
		}
	}
	fmt.Fprintf(os.Stderr, "  %s clients=%d: %.1f req/s p50 %.2f ms mean batch %.1f\n", mode, c, r.RPS, r.P50ms, r.MeanBatch)
	return r, nil
}

// cpuSeconds is the user + system CPU time of process pid so far (0 where
// /proc is not there).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	const clockTicks = 100 // USER_HZ on Linux
	return (ut + st) / clockTicks
}

func waitReady(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v", url, limit)
}

// scrape reads the unlabelled samples of /metrics.
func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out, nil
}
