package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
	"github.com/kiln-ml/kiln/tokenizers"
)

// runPredict runs `kiln predict` (a fresh command, so flags do not leak
// between runs) and returns its stdout.
func runPredict(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := runPredictStderr(t, args...)
	return out, err
}

// runPredictStderr is runPredict that also returns stderr.
func runPredictStderr(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newPredictCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// exportedModel exports exportCheckpoint's tiny two-label classifier
// without verification (no libtorch needed).
func exportedModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "onnx")
	if out, err := runExport(t, "--model", exportCheckpoint(t), "--out", dir, "--no-verify"); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	return dir
}

// directLogits is the oracle: the tokenizers package and an ONNX Runtime
// session called directly, one row at a time (no padding, no serve code).
func directLogits(t *testing.T, dir string, rows []dataset.Example) [][]float32 {
	t.Helper()
	tok, err := tokenizers.FromFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	tok = tok.WithPadding(nil).WithTruncation(&tokenizers.Truncation{MaxLength: 128, Strategy: "longest_first", Direction: "right"})
	s, err := ort.NewSession(filepath.Join(dir, "model.onnx"), ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make([][]float32, len(rows))
	for i, r := range rows {
		var e *tokenizers.Encoding
		if r.HasPair {
			e, err = tok.EncodePair(r.Text, r.Pair, true)
		} else {
			e, err = tok.Encode(r.Text, true)
		}
		if err != nil {
			t.Fatal(err)
		}
		n := len(e.IDs)
		ids, mask, types := make([]int64, n), make([]int64, n), make([]int64, n)
		for j := range n {
			ids[j], mask[j], types[j] = int64(e.IDs[j]), 1, int64(e.TypeIDs[j])
		}
		shape := []int64{1, int64(n)}
		res, err := s.Run(map[string]ort.Int64Tensor{"input_ids": {Shape: shape, Data: ids},
			"attention_mask": {Shape: shape, Data: mask}, "token_type_ids": {Shape: shape, Data: types}})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = res["logits"].Data
	}
	return out
}

// TestPredictONNXScoresCSV is issue 14's done-criterion in every build
// (bin/kiln-serve included): `predict --backend onnx` scores a CSV through
// serve's inference core, in batches of mixed lengths, and each row's logits
// equal an unbatched ONNX Runtime run within 1e-5 (padding only changes
// float summation order); bad rows are skipped and counted, not a panic.
func TestPredictONNXScoresCSV(t *testing.T) {
	if err := ort.Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	model := exportedModel(t)
	in := filepath.Join(t.TempDir(), "in.csv")
	csv := "text,text_pair\n" +
		"a gripping film,the plot is thin\n" +
		"\"a stray \"quote,here\n" + // bad row: a quote inside a field
		"dull,\n" + // bad row: empty pair
		"one of the best films of the year and the cast is wonderful,yes\n" +
		"bad,awful\n" +
		"\"multi\nline\",text\n" +
		"it is what it is,ok\n"
	if err := os.WriteFile(in, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runPredict(t, "--model", model, "--backend", "onnx", "--input", in, "--json"); err == nil || !strings.Contains(err.Error(), "in.csv:3") {
		t.Fatalf("bad row without --skip-bad-rows: err = %v, want one naming in.csv:3", err)
	}
	stdout, err := runPredict(t, "--model", model, "--backend", "onnx", "--input", in, "--json", "--logits", "--batch-size", "2", "--skip-bad-rows")
	if err != nil {
		t.Fatal(err)
	}
	var preds []prediction
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var p prediction
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		preds = append(preds, p)
	}
	rows := []dataset.Example{
		{Text: "a gripping film", Pair: "the plot is thin", HasPair: true, Line: 2},
		{Text: "one of the best films of the year and the cast is wonderful", Pair: "yes", HasPair: true, Line: 5},
		{Text: "bad", Pair: "awful", HasPair: true, Line: 6},
		{Text: "multi\nline", Pair: "text", HasPair: true, Line: 7},
		{Text: "it is what it is", Pair: "ok", HasPair: true, Line: 9},
	}
	if len(preds) != len(rows) {
		t.Fatalf("got %d predictions, want %d:\n%s", len(preds), len(rows), stdout)
	}
	want := directLogits(t, model, rows)
	for i, p := range preds {
		if p.Line != rows[i].Line {
			t.Errorf("prediction %d: line %d, want %d", i, p.Line, rows[i].Line)
		}
		if len(p.Logits) != 2 {
			t.Fatalf("prediction %d: logits %v", i, p.Logits)
		}
		for j := range want[i] {
			if d := math.Abs(float64(p.Logits[j] - want[i][j])); d > 1e-5 {
				t.Errorf("line %d logit %d: predict %v, direct %v", p.Line, j, p.Logits[j], want[i][j])
			}
		}
		e0, e1 := math.Exp(float64(want[i][0])), math.Exp(float64(want[i][1]))
		if d := math.Abs(p.Scores["neg"] - e0/(e0+e1)); d > 1e-5 {
			t.Errorf("line %d: score neg %v, softmax of the logits %v", p.Line, p.Scores["neg"], e0/(e0+e1))
		}
		if top := map[bool]string{true: "pos", false: "neg"}[want[i][1] > want[i][0]]; p.Label != top {
			t.Errorf("line %d: label %s, want %s", p.Line, p.Label, top)
		}
	}
}

// TestPredictONNXChecksLabels (issue 16.5): config.json naming more or fewer
// labels than the graph has logits is refused with an error, not scored
// under the wrong names or a panic.
func TestPredictONNXChecksLabels(t *testing.T) {
	if err := ort.Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	model := exportedModel(t)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(in, []byte(`{"text": "fine"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, labels := range [][]string{{"a", "b", "c"}, {"only"}} {
		cfg, err := models.LoadConfig(filepath.Join(model, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.SetLabels(labels)
		if err := cfg.Save(filepath.Join(model, "config.json")); err != nil {
			t.Fatal(err)
		}
		_, err = runPredict(t, "--model", model, "--backend", "onnx", "--input", in)
		if err == nil || !strings.Contains(err.Error(), "2 logits") {
			t.Errorf("%d labels on a 2-logit model: err = %v, want the logit/label mismatch", len(labels), err)
		}
	}
}
