//go:build !notorch

package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/sugarme/gotch"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
	"github.com/kiln-ml/kiln/serve"
	"github.com/kiln-ml/kiln/train"
)

func init() { addCommand(newPredictCmd()) }

// prediction is one output row. Single-label: softmax scores and the top
// label; multi-label (or one logit): sigmoid scores and every label above
// 0.5; regression: the value. The score function is chosen, and applied to
// the float32 logits, by the same code as kiln serve's (serve.ModelInfo), so
// predict reports the numbers the server returns for the same text.
type prediction struct {
	Line   int                `json:"line"`
	Label  string             `json:"label,omitempty"`
	Score  *float64           `json:"score,omitempty"`
	Labels []string           `json:"labels,omitempty"`
	Scores map[string]float64 `json:"scores,omitempty"`
	Value  *float64           `json:"value,omitempty"`
	Logits []float32          `json:"logits,omitempty"`
}

func newPredictCmd() *cobra.Command {
	var (
		modelDir, input, output, backend string
		batch, maxLen                    int
		withLogits, asJSON               bool
		ro                               train.ReadOptions
	)
	cmd := &cobra.Command{
		Use:   "predict --model DIR --input FILE [--backend libtorch|onnx] [--logits] [--json]",
		Short: "Offline batch prediction with a trained model (libtorch or ONNX Runtime)",
		Long: `predict scores every row of --input (csv, tsv or jsonl with a text column and optional
text_pair; labels are not needed) with the same tokenisation and score functions as
kiln serve: softmax scores and the top label for single-label models, sigmoid scores and
the labels above 0.5 for multi-label (or one-logit) models, the value for regression.
--logits adds the raw logits.

--backend libtorch (default) runs DIR (config.json, model.safetensors, tokenizer.json, as
kiln train writes it); --backend onnx runs DIR/model.onnx (from kiln export) on ONNX Runtime.

Output: CSV (line, label, score, score_<label>…, logit_<label>…) by default; JSON lines
with --json or when --output ends in .jsonl. Files are written atomically.

Example:
  kiln predict --model runs/sst2 --input testdata/data/sst2/dev.csv --json --output preds.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelDir == "" || input == "" {
				return fmt.Errorf("predict: --model and --input are required")
			}
			cfg, err := models.LoadConfig(filepath.Join(modelDir, "config.json"))
			if err != nil {
				return err
			}
			info := scoreInfo(cfg)
			if maxLen == 0 {
				maxLen = cfg.MaxSequenceLength()
			} else if maxLen > cfg.MaxSequenceLength() {
				return fmt.Errorf("--max-length %d exceeds the model's %d positions", maxLen, cfg.MaxSequenceLength())
			}
			enc, err := train.LoadTokenizer(filepath.Join(modelDir, "tokenizer.json"))
			if err != nil {
				return err
			}
			ds, err := train.ReadTexts(input, ro)
			if err != nil {
				return err
			}
			if ds.Skipped > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "skipped %d bad rows\n", ds.Skipped)
			}
			data, err := train.EncodeDataset(ds, enc, maxLen)
			if err != nil {
				return err
			}
			var logits [][]float32
			switch backend {
			case "libtorch", "torch":
				m, _, err := mtorch.Load(modelDir, mtorch.LoadOptions{Device: gotch.CPU})
				if err != nil {
					return err
				}
				defer m.Free()
				if logits, err = train.PredictLogits(m, data, batch, enc.PadID(), gotch.CPU); err != nil {
					return err
				}
			case "onnx":
				if logits, err = predictONNX(filepath.Join(modelDir, "model.onnx"), data, batch, enc.PadID()); err != nil {
					return err
				}
			default:
				return fmt.Errorf("--backend %q: want libtorch or onnx", backend)
			}
			preds := make([]prediction, len(logits))
			for i, l := range logits {
				preds[i] = toPrediction(ds.Examples[i].Line, l, info, withLogits)
			}
			jsonOut := asJSON || strings.HasSuffix(output, ".jsonl") || strings.HasSuffix(output, ".json")
			write := func(w io.Writer) error {
				if jsonOut {
					return writePredJSONL(w, preds)
				}
				return writePredCSV(w, preds, info, withLogits)
			}
			if output == "" || output == "-" {
				return write(cmd.OutOrStdout())
			}
			return writePredFile(output, write)
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "trained model directory (config.json, model.safetensors, tokenizer.json)")
	f.StringVar(&input, "input", "", "rows to score (.csv, .tsv, .jsonl)")
	f.StringVar(&output, "output", "-", "output file (- for stdout); .jsonl/.json gives JSON lines")
	f.StringVar(&backend, "backend", "libtorch", "libtorch (the checkpoint) or onnx (DIR/model.onnx on ONNX Runtime)")
	f.BoolVar(&withLogits, "logits", false, "also write the raw logits")
	f.BoolVar(&asJSON, "json", false, "write JSON lines instead of CSV")
	f.IntVar(&batch, "batch-size", 64, "rows per forward pass")
	f.IntVar(&maxLen, "max-length", 0, "truncate rows to this many tokens (default: the model's maximum)")
	f.StringVar(&ro.TextColumn, "text-column", "text", "text column / JSON field")
	f.StringVar(&ro.PairColumn, "pair-column", "text_pair", "second text column (used when present)")
	f.StringVar(&ro.Format, "format", "", "csv, tsv or jsonl (default: by extension)")
	f.BoolVar(&ro.SkipBadRows, "skip-bad-rows", false, "skip malformed rows instead of failing")
	return cmd
}

// scoreInfo is the part of serve.ModelInfo that maps logits to scores,
// chosen from config.json by the same rule as serve.LoadModelInfo.
func scoreInfo(cfg *models.Config) *serve.ModelInfo {
	n := cfg.NumLabels()
	m := &serve.ModelInfo{ProblemType: cfg.ProblemType, Labels: make([]string, n)}
	for i := range m.Labels {
		if l, ok := cfg.ID2Label[i]; ok {
			m.Labels[i] = l
		} else {
			m.Labels[i] = fmt.Sprintf("LABEL_%d", i)
		}
	}
	switch {
	case cfg.ProblemType == models.ProblemRegression:
		m.Function = serve.FuncNone
	case cfg.ProblemType == models.ProblemMultiLabel || n == 1:
		m.Function = serve.FuncSigmoid
	default:
		m.Function = serve.FuncSoftmax
	}
	return m
}

func toPrediction(line int, logits []float32, info *serve.ModelInfo, withLogits bool) prediction {
	p := prediction{Line: line}
	if withLogits {
		p.Logits = logits
	}
	row := info.Values(logits, false)
	if info.Function == serve.FuncNone {
		v := row[0]
		p.Value = &v
		return p
	}
	p.Scores = map[string]float64{}
	best := 0
	for j, v := range row {
		p.Scores[info.Labels[j]] = v
		if v > row[best] {
			best = j
		}
		if info.Function == serve.FuncSigmoid && v > 0.5 {
			p.Labels = append(p.Labels, info.Labels[j])
		}
	}
	if info.Function == serve.FuncSoftmax {
		s := row[best]
		p.Label, p.Score = info.Labels[best], &s
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

func writePredCSV(w io.Writer, preds []prediction, info *serve.ModelInfo, withLogits bool) error {
	cw := csv.NewWriter(w)
	head := []string{"line", "label", "score"}
	if info.Function != serve.FuncNone {
		for _, l := range info.Labels {
			head = append(head, "score_"+l)
		}
	}
	if withLogits {
		for _, l := range info.Labels {
			head = append(head, "logit_"+l)
		}
	}
	if err := cw.Write(head); err != nil {
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
		if info.Function != serve.FuncNone {
			for _, l := range info.Labels {
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

// writePredFile writes through a temp file in the target's directory and
// renames it: readers see the old file or the whole new one.
func writePredFile(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer os.Remove(f.Name())
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// predictONNX runs an exported model on ONNX Runtime with the same
// tokenisation and padding as the libtorch path and returns the logits.
func predictONNX(path string, data []train.Encoded, batch, padID int) ([][]float32, error) {
	if err := ort.Init(""); err != nil {
		return nil, err
	}
	s, err := ort.NewSession(path, ort.Options{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	names := map[string]bool{}
	for _, n := range s.InputNames() {
		names[n] = true
	}
	var out [][]float32
	for start := 0; start < len(data); start += batch {
		rows := data[start:min(start+batch, len(data))]
		seq := 0
		for _, r := range rows {
			seq = max(seq, len(r.IDs))
		}
		shape := []int64{int64(len(rows)), int64(seq)}
		ids, mask, types := make([]int64, len(rows)*seq), make([]int64, len(rows)*seq), make([]int64, len(rows)*seq)
		for i, r := range rows {
			for j := 0; j < seq; j++ {
				k := i*seq + j
				if j < len(r.IDs) {
					ids[k], mask[k], types[k] = int64(r.IDs[j]), 1, int64(r.TypeIDs[j])
				} else {
					ids[k] = int64(padID)
				}
			}
		}
		in := map[string]ort.Int64Tensor{"input_ids": {Shape: shape, Data: ids}}
		if names["attention_mask"] {
			in["attention_mask"] = ort.Int64Tensor{Shape: shape, Data: mask}
		}
		if names["token_type_ids"] {
			in["token_type_ids"] = ort.Int64Tensor{Shape: shape, Data: types}
		}
		res, err := s.Run(in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		lg, ok := res["logits"]
		if !ok {
			return nil, fmt.Errorf("%s: model has no \"logits\" output (outputs: %v)", path, s.OutputNames())
		}
		w := int(lg.Shape[len(lg.Shape)-1])
		for i := range rows {
			out = append(out, lg.Data[i*w:(i+1)*w:(i+1)*w])
		}
	}
	return out, nil
}
