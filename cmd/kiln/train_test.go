//go:build !notorch

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/train"
)

// The CLI end to end on a tiny model: flags reach train.Run, --json prints
// the summary, and a second invocation with --resume auto on the finished
// run only re-writes the outputs (no extra steps).
func TestTrainCLIJSONAndResume(t *testing.T) {
	root := testenv.RepoRoot()
	dir := t.TempDir()
	data := sst2Rows(t, dir, 48)
	out := filepath.Join(dir, "run")
	resetFlags(t, "train")
	args := []string{"train", "--train", data, "--valid-split", "0.25", "--model", filepath.Join(root, "train/testdata/tiny-bert.json"),
		"--tokenizer", filepath.Join(root, "testdata/tokenizers/bert-base-uncased/tokenizer.json"),
		"--out", out, "--max-steps", "3", "--batch-size", "8", "--max-length", "32", "--lr", "1e-3", "--json"}
	run := func(extra ...string) map[string]any {
		var stdout bytes.Buffer
		rootCmd.SetOut(&stdout)
		defer rootCmd.SetOut(nil)
		rootCmd.SetArgs(append(args, extra...))
		if err := rootCmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("kiln %v: %v", extra, err)
		}
		var m map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
			t.Fatalf("--json output %q: %v", stdout.String(), err)
		}
		return m
	}
	first := run()
	if first["global_step"] != float64(3) {
		t.Errorf("global_step = %v, want 3", first["global_step"])
	}
	ev, ok := first["eval"].(map[string]any)
	if !ok || ev["accuracy"] == nil {
		t.Errorf("eval metrics missing from --json: %v", first)
	}
	again := run("--resume", "auto")
	if again["global_step"] != float64(3) || again["train_samples"] != float64(0) {
		t.Errorf("resume of a finished run trained again: %v", again)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "metrics.json", "trainer_state.json", "training_curve.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// A model with 64 positions: training with the default --max-length (128)
// truncates to the model's maximum, and kiln predict without --max-length
// scores a row longer than 64 tokens (it used to default to 128 and fail
// in the forward pass); a --max-length beyond the model is a clear error.
func TestMaxLengthDefaultsToModel(t *testing.T) {
	root := testenv.RepoRoot()
	dir := t.TempDir()
	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(root, "train/testdata/tiny-bert.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &cfg)
	cfg["max_position_embeddings"] = 64
	b, _ = json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "tiny64.json")
	os.WriteFile(cfgPath, b, 0o644)
	long := strings.Repeat("a remarkably long review that keeps going ", 12)
	data := filepath.Join(dir, "train.csv")
	os.WriteFile(data, []byte("text,label\n\""+long+"\",positive\nshort and bad,negative\nfine film,positive\nawful,negative\n"), 0o644)
	model := filepath.Join(dir, "model")
	if _, err := train.Run(context.Background(), train.Config{TrainFile: data, Model: cfgPath,
		Tokenizer: filepath.Join(root, "testdata/tokenizers/bert-base-uncased/tokenizer.json"),
		OutputDir: model, BatchSize: 4, MaxSteps: 1, Dropout: -1}); err != nil {
		t.Fatalf("train with the default --max-length on a 64-position model: %v", err)
	}
	resetFlags(t, "predict")
	t.Cleanup(func() { rootCmd.SetOut(nil) })
	var stdout bytes.Buffer
	rootCmd.SetOut(&stdout)
	rootCmd.SetArgs([]string{"predict", "--model", model, "--input", data, "--json"})
	if err := rootCmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("predict with the default --max-length: %v", err)
	}
	if n := strings.Count(stdout.String(), "\n"); n != 4 {
		t.Errorf("predict wrote %d lines, want 4:\n%s", n, stdout.String())
	}
	rootCmd.SetArgs([]string{"predict", "--model", model, "--input", data, "--json", "--max-length", "100"})
	if err := rootCmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "exceeds the model's 64 positions") {
		t.Errorf("--max-length 100 on a 64-position model: err = %v", err)
	}
}

// sst2Rows writes the header and the first n rows of the SST-2 training
// slice to dir/train.csv and returns its path.
func sst2Rows(t *testing.T, dir string, n int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "testdata/data/sst2/train.csv"))
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "train.csv")
	if err := os.WriteFile(data, []byte(strings.Join(strings.SplitAfter(string(b), "\n")[:n+1], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// Flag combinations kiln train refuses before reading any data.
func TestTrainCLIRefusesBadParallelism(t *testing.T) {
	resetFlags(t, "train")
	base := []string{"train", "--train", "missing.csv", "--model", "missing", "--out", t.TempDir()}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no workers", []string{"--nproc-per-node", "0"}, "--nproc-per-node 0: want 1 or more"},
		{"negative workers", []string{"--nproc-per-node", "-2"}, "--nproc-per-node -2: want 1 or more"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rootCmd.SetArgs(append(append([]string{}, base...), c.args...))
			if err := rootCmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
