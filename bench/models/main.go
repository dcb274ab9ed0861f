//go:build !notorch

// Command models-bench measures kiln's encoder (models/torch) the way
// bench/models/torch_peer.py measures HF transformers on PyTorch eager:
// forward+backward throughput of a BERT sequence classifier in train mode
// (dropout on, cross-entropy loss), and peak RSS with and without gradient
// checkpointing. It prints one JSON object; bench/models/run.sh runs both
// sides with the same shapes and thread count and prints the ratios.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

type result struct {
	Impl          string  `json:"impl"`
	Arch          string  `json:"arch"`
	Threads       int     `json:"threads"`
	Layers        int     `json:"layers"`
	Hidden        int     `json:"hidden"`
	Heads         int     `json:"heads"`
	Seq           int     `json:"seq"`
	Batch         int     `json:"batch"`
	Steps         int     `json:"steps"`
	Checkpointing bool    `json:"checkpointing"`
	Attention     string  `json:"attention"` // sdpa | eager (what the run used)
	SeqPerSec     float64 `json:"seq_per_sec"`
	// CPU seconds (user+sys, all threads) per sequence over the timed steps:
	// less sensitive than wall time to other jobs sharing the cores.
	CPUPerSeq   float64 `json:"cpu_ms_per_seq"`
	BaselineMiB float64 `json:"baseline_rss_mib"` // after building the model and inputs
	PeakMiB     float64 `json:"peak_rss_mib"`     // VmHWM at the end
}

func main() {
	// One OS thread issues every libtorch call, as in Python: glibc gives
	// each thread that allocates its own malloc arena, and a goroutine that
	// hops threads spreads (and multiplies) the freed-but-cached blocks.
	runtime.LockOSThread()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "models-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		layers  = flag.Int("layers", 4, "encoder layers")
		hidden  = flag.Int("hidden", 256, "hidden size")
		heads   = flag.Int("heads", 4, "attention heads")
		inter   = flag.Int("intermediate", 0, "FFN size (0: 4×hidden)")
		vocab   = flag.Int("vocab", 30522, "vocabulary size")
		seq     = flag.Int("seq", 128, "sequence length")
		batch   = flag.Int("batch", 32, "batch size")
		steps   = flag.Int("steps", 10, "timed steps")
		warmup  = flag.Int("warmup", 2, "untimed steps first")
		ckpt    = flag.Bool("checkpointing", false, "per-layer gradient checkpointing")
		labels  = flag.Int("labels", 2, "classes")
		seed    = flag.Uint64("seed", 1, "seed")
		verbose = flag.Bool("v", false, "log progress")
		arch    = flag.String("arch", "bert", "bert, or deberta-v3 (DeBERTa-v3's options: 256 log buckets, c2p+p2c, shared keys)")
		attn    = flag.String("attention", "", "self-attention: sdpa, eager, or empty (sdpa where the libtorch has it)")
	)
	flag.Parse()
	if !*verbose {
		slog.SetLogLoggerLevel(slog.LevelWarn)
	}
	if *inter == 0 {
		*inter = 4 * *hidden
	}
	cfg := models.DefaultConfig(models.TypeBERT)
	switch *arch {
	case "bert":
	case "deberta-v3":
		cfg = models.DefaultConfig(models.TypeDeBERTaV2)
		cfg.Deberta = models.DebertaOptions{RelativeAttention: true, PosAttType: []string{"p2c", "c2p"},
			PositionBuckets: 256, MaxRelativePositions: -1, ShareAttKey: true, NormRelEbd: "layer_norm",
			PoolerHiddenAct: "gelu"}
	default:
		return fmt.Errorf("--arch %q: want bert or deberta-v3", *arch)
	}
	cfg.NumHiddenLayers, cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize = *layers, *hidden, *heads, *inter
	cfg.VocabSize = *vocab
	if *seq > cfg.MaxPositionEmbeddings {
		cfg.MaxPositionEmbeddings = *seq
	}
	cfg.SetNumLabels(*labels)
	m, err := mtorch.NewSeeded(cfg, gotch.CPU, *seed)
	if err != nil {
		return err
	}
	defer m.Free()
	m.SetGradientCheckpointing(*ckpt)
	m.Attention = *attn
	used, err := m.AttentionInUse()
	if err != nil {
		return err
	}
	if err := mtorch.ManualSeed(int64(*seed)); err != nil {
		return err
	}

	// Random full-length inputs and labels, fixed for the run.
	r := rand.New(rand.NewPCG(*seed, 2))
	ids := make([]int64, *batch**seq)
	for i := range ids {
		ids[i] = 1 + r.Int64N(int64(*vocab-1))
	}
	lab := make([]int64, *batch)
	for i := range lab {
		lab[i] = r.Int64N(int64(*labels))
	}
	idT := ts.MustOfSlice(ids).MustView([]int64{int64(*batch), int64(*seq)}, true)
	defer idT.MustDrop()
	maskT := ts.MustOnes([]int64{int64(*batch), int64(*seq)}, gotch.Int64, gotch.CPU)
	defer maskT.MustDrop()
	labT := ts.MustOfSlice(lab)
	defer labT.MustDrop()

	step := func() error {
		out, err := m.Forward(idT, maskT, nil, true)
		if err != nil {
			return err
		}
		loss := out.Logits.CrossEntropyForLogits(labT)
		err = m.Backward(loss)
		loss.MustDrop()
		out.Drop()
		m.ZeroGrad()
		return err
	}
	res := result{Impl: "kiln", Arch: *arch, Threads: mtorch.NumThreads(), Layers: *layers, Hidden: *hidden, Heads: *heads,
		Seq: *seq, Batch: *batch, Steps: *steps, Checkpointing: *ckpt, Attention: used}
	res.BaselineMiB = procStatusMiB("VmRSS")
	for i := 0; i < *warmup; i++ {
		if err := step(); err != nil {
			return err
		}
	}
	start, cpu0 := time.Now(), cpuSeconds()
	for i := 0; i < *steps; i++ {
		if err := step(); err != nil {
			return err
		}
	}
	el := time.Since(start).Seconds()
	if *steps > 0 {
		res.SeqPerSec = float64(*steps**batch) / el
		res.CPUPerSeq = 1000 * (cpuSeconds() - cpu0) / float64(*steps**batch)
	}
	res.PeakMiB = procStatusMiB("VmHWM")
	return json.NewEncoder(os.Stdout).Encode(res)
}

// cpuSeconds is the process's user+sys CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// procStatusMiB reads a kB field of /proc/self/status in MiB (0 if absent).
func procStatusMiB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb / 1024
		}
	}
	return 0
}
