package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/internal/atomicfile"
	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/serve"
)

func init() { addCommand(newPredictCmd()) }

// prediction is one output row. Single-label: softmax scores and the top
// label; multi-label (or one logit): sigmoid scores and every label above
// 0.5; regression: the value. The score function is modelio.Head's, the one
// kiln serve applies, so predict reports the numbers the server returns for
// the same text.
type prediction struct {
	Line   int                `json:"line"`
	Label  string             `json:"label,omitempty"`
	Score  *float64           `json:"score,omitempty"`
	Labels []string           `json:"labels,omitempty"`
	Scores map[string]float64 `json:"scores,omitempty"`
	Value  *float64           `json:"value,omitempty"`
	Logits []float32          `json:"logits,omitempty"`
}

// predictRun is what a backend gets: the model, the rows, how to batch
// and truncate them (maxLen 0 = the model's maximum), and the device
// (auto, cpu, cuda or cuda:N).
type predictRun struct {
	modelDir      string
	rows          []dataset.Example
	batch, maxLen int
	device        string
}

// predictResult is a backend's answer: the model's head, one row of logits
// and of scores (label order) per input row and, when --device auto ended up
// on the CPU, why.
type predictResult struct {
	head     modelio.Head
	logits   [][]float32
	scores   [][]float64
	fallback string
}

// libtorchPredict runs the checkpoint on libtorch; nil in the libtorch-free
// build (bin/kiln-serve), where only --backend onnx exists.
var libtorchPredict func(ctx context.Context, r predictRun) (*predictResult, error) = predictLibtorch

func newPredictCmd() *cobra.Command {
	var (
		modelDir, input, output, backend string
		device                           string
		batch, maxLen                    int
		withLogits, asJSON               bool
		ro                               dataset.ReadOptions
	)
	defaultBackend := "libtorch"
	if libtorchPredict == nil {
		defaultBackend = "onnx"
	}
	cmd := &cobra.Command{
		Use:   "predict --model DIR --input FILE [--backend libtorch|onnx] [--device cpu|cuda|auto] [--logits] [--json]",
		Short: "Offline batch prediction with a trained model (libtorch or ONNX Runtime)",
		Long: `predict scores every row of --input (csv, tsv or jsonl with a text column and optional
text_pair; labels are not needed) with the same tokenisation and score functions as
kiln serve: softmax scores and the top label for single-label models, sigmoid scores and
the labels above 0.5 for multi-label (or one-logit) models, the value for regression.
--logits adds the raw logits. Rows longer than --max-length tokens (default: the
model's maximum) are truncated.

--backend libtorch (the default of bin/kiln) runs DIR (config.json, model.safetensors,
tokenizer.json, as kiln train writes it); --backend onnx (the only one, and the default,
of the libtorch-free bin/kiln-serve) runs DIR/model.onnx from kiln export through
kiln serve's own inference core on ONNX Runtime. A model whose logits do not match
config.json's labels is refused.

--device cpu (the default, as for kiln train), cuda or cuda:N runs the model and its
batches there: libtorch on that GPU, or ONNX Runtime's CUDA execution provider (which
needs onnxruntime-gpu's libraries and CUDA 13/cuDNN 9 on LD_LIBRARY_PATH; kiln doctor
checks). A device that cannot be used is an error naming what is missing. --device
auto uses CUDA when it can and otherwise the CPU, printing one line on stderr that
says why.

Output: CSV (line, label, score, score_<label>…, logit_<label>…) by default; JSON lines
with --json or when --output ends in .jsonl. Files are written atomically.

Example:
  kiln predict --model runs/sst2 --input testdata/data/sst2/dev.csv --json --output preds.jsonl
  kiln predict --model runs/sst2 --input dev.csv --device cuda --batch-size 256
  kiln-serve predict --model runs/sst2-onnx --backend onnx --input dev.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelDir == "" || input == "" {
				return fmt.Errorf("predict: --model and --input are required")
			}
			if batch < 1 {
				return fmt.Errorf("--batch-size %d: must be at least 1", batch)
			}
			if maxLen < 0 {
				return fmt.Errorf("--max-length %d: must not be negative (0 = the model's maximum)", maxLen)
			}
			ds, err := dataset.ReadTexts(input, ro)
			if err != nil {
				return err
			}
			if ds.Skipped > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "skipped %d bad rows\n", ds.Skipped)
			}
			rows := ds.Examples
			run := predictRun{modelDir: modelDir, rows: rows, batch: batch, maxLen: maxLen, device: device}
			var res *predictResult
			switch backend {
			case "libtorch", "torch":
				if libtorchPredict == nil {
					return fmt.Errorf("--backend %s: this build has no libtorch (bin/kiln-serve); use --backend onnx on an exported model, or bin/kiln", backend)
				}
				res, err = libtorchPredict(cmd.Context(), run)
			case "onnx":
				res, err = predictONNX(cmd.Context(), run)
			default:
				return fmt.Errorf("--backend %q: want libtorch or onnx", backend)
			}
			if err != nil {
				return err
			}
			if res.fallback != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "predict: --device auto: running on the CPU, CUDA is unavailable: %s\n", res.fallback)
			}
			preds := make([]prediction, len(res.logits))
			for i := range res.logits {
				preds[i] = toPrediction(rows[i].Line, res.logits[i], res.scores[i], res.head, withLogits)
			}
			jsonOut := asJSON || strings.HasSuffix(output, ".jsonl") || strings.HasSuffix(output, ".json")
			write := func(w io.Writer) error {
				if jsonOut {
					return writePredJSONL(w, preds)
				}
				return writePredCSV(w, preds, res.head, withLogits)
			}
			if output == "" || output == "-" {
				return write(cmd.OutOrStdout())
			}
			return writePredFile(output, write)
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "model directory: a checkpoint (libtorch) or an export (onnx)")
	f.StringVar(&input, "input", "", "rows to score (.csv, .tsv, .jsonl)")
	f.StringVar(&output, "output", "-", "output file (- for stdout); .jsonl/.json gives JSON lines")
	f.StringVar(&backend, "backend", defaultBackend, "libtorch (the checkpoint) or onnx (DIR/model.onnx on ONNX Runtime)")
	f.StringVar(&device, "device", "cpu", "cpu, cuda, cuda:N (libtorch's GPU, or ONNX Runtime's CUDA provider) or auto (CUDA when usable, else the CPU)")
	f.BoolVar(&withLogits, "logits", false, "also write the raw logits")
	f.BoolVar(&asJSON, "json", false, "write JSON lines instead of CSV")
	f.IntVar(&batch, "batch-size", 64, "rows per forward pass")
	f.IntVar(&maxLen, "max-length", 0, "truncate rows to this many tokens (0 = the model's maximum)")
	f.StringVar(&ro.TextColumn, "text-column", "text", "text column / JSON field")
	f.StringVar(&ro.PairColumn, "pair-column", "text_pair", "second text column (used when present)")
	f.StringVar(&ro.Format, "format", "", "csv, tsv or jsonl (default: by extension)")
	f.BoolVar(&ro.SkipBadRows, "skip-bad-rows", false, "skip malformed rows instead of failing")
	return cmd
}

// predictONNX runs an export directory through kiln serve's inference core
// (serve.Infer): the same tokeniser, truncation, batcher, ONNX Runtime
// runner, label check and score function as the server.
func predictONNX(ctx context.Context, r predictRun) (*predictResult, error) {
	// Offline: no per-request limits beyond the model's length, and chunks
	// of rows handed to the batcher at once.
	chunk := max(r.batch*8, 256)
	cfg := serve.Defaults()
	cfg.ModelDir, cfg.MaxInputLength, cfg.Warmup, cfg.Device = r.modelDir, r.maxLen, false, r.device
	cfg.MaxBatchSize, cfg.MaxBatchTokens, cfg.MaxBatchPadding = r.batch, r.batch<<16, 0
	cfg.MaxQueue, cfg.MaxInputsPerRequest = chunk, chunk
	cfg.MaxTextChars, cfg.MaxRequestChars, cfg.MaxRequestTokens = math.MaxInt, math.MaxInt, math.MaxInt
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	inf, err := serve.NewInfer(cfg, nil)
	if err != nil {
		return nil, err
	}
	defer inf.Close(context.Background())
	res := &predictResult{head: inf.Model().Head, fallback: inf.Runner().FallbackReason()}
	for start := 0; start < len(r.rows); start += chunk {
		rows := r.rows[start:min(start+chunk, len(r.rows))]
		in := make([]serve.TextInput, len(rows))
		for i, row := range rows {
			in[i] = serve.TextInput{Text: row.Text, Pair: row.Pair, IsPair: row.HasPair}
		}
		out, err := inf.Predict(ctx, in, serve.PredictOptions{Truncate: true})
		if err != nil {
			return nil, fmt.Errorf("%s: rows on lines %d–%d: %w", r.modelDir, rows[0].Line, rows[len(rows)-1].Line, err)
		}
		res.logits = append(res.logits, out.Logits...)
		res.scores = append(res.scores, out.Scores...)
	}
	return res, nil
}

func toPrediction(line int, logits []float32, row []float64, head modelio.Head, withLogits bool) prediction {
	p := prediction{Line: line}
	if withLogits {
		p.Logits = logits
	}
	if head.Function == modelio.FuncNone {
		v := row[0]
		p.Value = &v
		return p
	}
	p.Scores = map[string]float64{}
	best := 0
	for j, v := range row {
		p.Scores[head.Labels[j]] = v
		if v > row[best] {
			best = j
		}
		if head.Function == modelio.FuncSigmoid && v > 0.5 {
			p.Labels = append(p.Labels, head.Labels[j])
		}
	}
	if head.Function == modelio.FuncSoftmax {
		s := row[best]
		p.Label, p.Score = head.Labels[best], &s
	}
	return p
}

func writePredJSONL(w io.Writer, preds []prediction) error {
	bw := bufio.NewWriter(w)
	je := json.NewEncoder(bw)
	for _, p := range preds {
		if err := je.Encode(p); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writePredCSV(w io.Writer, preds []prediction, head modelio.Head, withLogits bool) error {
	cw := csv.NewWriter(w)
	h := []string{"line", "label", "score"}
	if head.Function != modelio.FuncNone {
		for _, l := range head.Labels {
			h = append(h, "score_"+l)
		}
	}
	if withLogits {
		for _, l := range head.Labels {
			h = append(h, "logit_"+l)
		}
	}
	if err := cw.Write(h); err != nil {
		return err
	}
	ff := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, p := range preds {
		rec := []string{strconv.Itoa(p.Line), p.Label, ""}
		switch {
		case p.Value != nil:
			rec[2] = ff(*p.Value)
		case p.Score != nil:
			rec[2] = ff(*p.Score)
		default:
			rec[1] = strings.Join(p.Labels, "|")
		}
		if head.Function != modelio.FuncNone {
			for _, l := range head.Labels {
				rec = append(rec, ff(p.Scores[l]))
			}
		}
		for _, v := range p.Logits {
			rec = append(rec, ff(float64(v)))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writePredFile writes the predictions atomically: readers see the old
// file or the whole new one.
func writePredFile(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	return nil
}
