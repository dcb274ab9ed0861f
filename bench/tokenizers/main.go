// Command tokenizers-bench measures kiln's pure-Go tokenizers the way
// hf_peer.py measures HuggingFace tokenizers: encode throughput (MB/s of
// UTF-8 input, tokens/s) on one corpus with one tokenizer.json, single
// thread (one goroutine, GOMAXPROCS=1) and batch (EncodeBatch on all
// cores). It prints one JSON object per mode; run.sh prints the ratios.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/kiln-ml/kiln/tokenizers"
)

// encodeFunc encodes one text and returns its token count.
type encodeFunc func(s string) int

// peers are other in-process encoders (see hfrust.go, -tags hfrust).
var peers = map[string]func(path string) (encodeFunc, func(), error){}

type result struct {
	Impl      string  `json:"impl"`
	Tokenizer string  `json:"tokenizer"`
	Mode      string  `json:"mode"`
	Threads   int     `json:"threads"`
	Lines     int     `json:"lines"`
	Bytes     int     `json:"bytes"`
	Tokens    int     `json:"tokens"`
	Seconds   float64 `json:"seconds"`
	MBps      float64 `json:"mb_per_s"`
	TokPerS   float64 `json:"tokens_per_s"`
}

func main() {
	tokPath := flag.String("tokenizer", "", "tokenizer.json")
	name := flag.String("name", "", "tokenizer name for the report")
	corpus := flag.String("corpus", "", "text file, one sequence per line")
	mode := flag.String("mode", "single", "single or batch")
	batch := flag.Int("batch", 1024, "lines per EncodeBatch call in batch mode")
	impl := flag.String("impl", "kiln", "kiln, or hf-rust when built with -tags hfrust (single mode)")
	flag.Parse()
	var err error
	if *impl == "kiln" {
		err = run(*tokPath, *name, *corpus, *mode, *batch)
	} else {
		err = runPeer(*impl, *tokPath, *name, *corpus)
	}
	if err != nil {
		slog.Error("tokenizers-bench", "err", err)
		os.Exit(1)
	}
}

func readLines(corpus string) ([]string, int, error) {
	f, err := os.Open(corpus)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var lines []string
	nbytes := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		nbytes += len(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", corpus, err)
	}
	return lines, nbytes, nil
}

// runPeer measures an in-process peer single-threaded (one caller; the
// peer's own thread pool is not used by single-text calls).
func runPeer(impl, tokPath, name, corpus string) error {
	mk, ok := peers[impl]
	if !ok {
		return fmt.Errorf("--impl %q: not built in (hf-rust needs -tags hfrust)", impl)
	}
	enc, closeFn, err := mk(tokPath)
	if err != nil {
		return err
	}
	defer closeFn()
	lines, nbytes, err := readLines(corpus)
	if err != nil {
		return err
	}
	for _, s := range lines[:min(len(lines), 500)] {
		enc(s)
	}
	res := result{Impl: impl, Tokenizer: name, Mode: "single", Threads: 1, Lines: len(lines), Bytes: nbytes}
	start := time.Now()
	for _, s := range lines {
		res.Tokens += enc(s)
	}
	res.Seconds = time.Since(start).Seconds()
	res.MBps = float64(nbytes) / 1e6 / res.Seconds
	res.TokPerS = float64(res.Tokens) / res.Seconds
	return json.NewEncoder(os.Stdout).Encode(res)
}

func run(tokPath, name, corpus, mode string, batch int) error {
	tk, err := tokenizers.FromFile(tokPath)
	if err != nil {
		return err
	}
	lines, nbytes, err := readLines(corpus)
	if err != nil {
		return err
	}
	res := result{Impl: "kiln", Tokenizer: name, Mode: mode, Lines: len(lines), Bytes: nbytes}
	// Warm up (BPE/Unigram caches, page faults) on a slice, as the peer does.
	for _, s := range lines[:min(len(lines), 500)] {
		if _, err := tk.Encode(s, true); err != nil {
			return err
		}
	}
	switch mode {
	case "single":
		runtime.GOMAXPROCS(1)
		res.Threads = 1
		start := time.Now()
		for _, s := range lines {
			e, err := tk.Encode(s, true)
			if err != nil {
				return err
			}
			res.Tokens += e.Len()
		}
		res.Seconds = time.Since(start).Seconds()
	case "batch":
		res.Threads = runtime.GOMAXPROCS(0)
		in := make([]tokenizers.Input, 0, batch)
		start := time.Now()
		for i := 0; i < len(lines); i += batch {
			in = in[:0]
			for _, s := range lines[i:min(i+batch, len(lines))] {
				in = append(in, tokenizers.Input{Text: s})
			}
			encs, err := tk.EncodeBatch(in, true)
			if err != nil {
				return err
			}
			for _, e := range encs {
				res.Tokens += e.Len()
			}
		}
		res.Seconds = time.Since(start).Seconds()
	default:
		return fmt.Errorf("--mode %q: want single or batch", mode)
	}
	res.MBps = float64(nbytes) / 1e6 / res.Seconds
	res.TokPerS = float64(res.Tokens) / res.Seconds
	return json.NewEncoder(os.Stdout).Encode(res)
}
