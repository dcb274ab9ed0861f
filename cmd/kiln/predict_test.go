//go:build !notorch

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/serve"
	"github.com/kiln-ml/kiln/train"
)

func readPredictions(t *testing.T, path string) []prediction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []prediction
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p prediction
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// kiln predict on libtorch and on the exported ONNX model (what kiln serve
// runs) must give the same labels and scores within 1e-4 (float32 graphs
// with different kernels).
func TestPredictMatchesONNXAndServer(t *testing.T) {
	lib := testenv.ORTLibrary(t)
	if err := ort.Init(lib); err != nil {
		t.Fatal(err)
	}
	root := testenv.RepoRoot()
	dir := t.TempDir()
	// 64 rows of SST-2 and a few steps: enough for non-trivial scores.
	b, err := os.ReadFile(filepath.Join(root, "testdata/data/sst2/train.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	data := filepath.Join(dir, "train.csv")
	os.WriteFile(data, []byte(strings.Join(lines[:65], "")), 0o644)
	model := filepath.Join(dir, "model")
	_, err = train.Run(context.Background(), train.Config{
		TrainFile: data, Model: filepath.Join(root, "train/testdata/tiny-bert.json"),
		Tokenizer: filepath.Join(root, "testdata/tokenizers/bert-base-uncased/tokenizer.json"),
		OutputDir: model, BatchSize: 16, MaxSteps: 4, MaxLength: 32, LR: 1e-3, Seed: 3, Dropout: -1, LogSteps: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	onnxDir := filepath.Join(dir, "onnx")
	if _, err := export.Export(context.Background(), model, onnxDir, export.Options{}); err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "in.csv")
	os.WriteFile(input, []byte("text,label\n"+strings.Join(lines[100:120], "")), 0o644)

	run := func(args ...string) []prediction {
		out := filepath.Join(dir, "pred-"+args[1]+".jsonl")
		rootCmd.SetArgs(append([]string{"predict", "--input", input, "--output", out, "--json", "--logits"}, args[2:]...))
		if err := rootCmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("predict %v: %v", args, err)
		}
		return readPredictions(t, out)
	}
	tp := run("x", "torch", "--model", model, "--backend", "libtorch")
	op := run("x", "onnx", "--model", onnxDir, "--backend", "onnx")
	if len(tp) != 20 || len(op) != 20 {
		t.Fatalf("got %d torch and %d onnx predictions, want 20", len(tp), len(op))
	}
	for i := range tp {
		if tp[i].Label != op[i].Label || tp[i].Line != op[i].Line {
			t.Errorf("row %d: torch %s vs onnx %s", i, tp[i].Label, op[i].Label)
		}
		for k, v := range tp[i].Scores {
			if d := math.Abs(v - op[i].Scores[k]); d > 1e-4 {
				t.Errorf("row %d %s: torch %.6f vs onnx %.6f", i, k, v, op[i].Scores[k])
			}
		}
		if len(tp[i].Logits) != 2 {
			t.Errorf("row %d: --logits gave %v", i, tp[i].Logits)
		}
		var sum float64
		for _, v := range tp[i].Scores {
			sum += v
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("row %d: softmax scores sum to %v", i, sum)
		}
	}

	// The server on the same export must return the same labels and
	// scores for the same texts: same ONNX graph, same score function;
	// tolerance 1e-6 covers only JSON float formatting.
	srv, err := serve.New(serve.Config{ModelDir: onnxDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	texts := make([][]string, 0, 20)
	for _, l := range lines[100:120] {
		r, err := csv.NewReader(strings.NewReader(l)).Read()
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, []string{r[0]})
	}
	body, _ := json.Marshal(map[string]any{"inputs": texts})
	req := httptest.NewRequest("POST", "/predict", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]struct {
		Label string  `json:"label"`
		Score float64 `json:"score"`
	}
	rb, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(rb, &got); err != nil || len(got) != 20 {
		t.Fatalf("server answered %d %s (%v)", resp.StatusCode, rb, err)
	}
	for i, preds := range got {
		if preds[0].Label != op[i].Label {
			t.Errorf("row %d: server top label %s, predict %s", i, preds[0].Label, op[i].Label)
		}
		for _, p := range preds {
			if d := math.Abs(p.Score - op[i].Scores[p.Label]); d > 1e-6 {
				t.Errorf("row %d %s: server %.8f vs predict %.8f", i, p.Label, p.Score, op[i].Scores[p.Label])
			}
		}
	}
}
