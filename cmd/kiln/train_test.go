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

	"github.com/spf13/pflag"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// The CLI end to end on a tiny model: flags reach train.Run, --json prints
// the summary, and a second invocation with --resume auto on the finished
// run only re-writes the outputs (no extra steps).
func TestTrainCLIJSONAndResume(t *testing.T) {
	root := testenv.RepoRoot()
	b, err := os.ReadFile(filepath.Join(root, "testdata/data/sst2/train.csv"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "train.csv")
	lines := strings.SplitAfter(string(b), "\n")
	if err := os.WriteFile(data, []byte(strings.Join(lines[:49], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run")
	// rootCmd is shared by the package's tests: put the flags back.
	t.Cleanup(func() {
		cmd, _, _ := rootCmd.Find([]string{"train"})
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			f.Value.Set(f.DefValue)
			f.Changed = false
		})
	})
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
