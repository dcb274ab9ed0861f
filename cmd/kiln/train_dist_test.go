//go:build !notorch

package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
)

// `kiln train --nproc-per-node 2` as a user runs it (the real binary,
// KILN_BIN): the launcher relaunches two ranks, rank 0 alone prints the
// summary and writes the run, and --resume from a checkpoint with the same
// two ranks ends with the uninterrupted run's weights.
func TestTrainCLINprocPerNodeAndResume(t *testing.T) {
	bin := os.Getenv("KILN_BIN")
	if bin == "" {
		if testenv.Require() {
			t.Fatal("KILN_BIN is not set (KILN_REQUIRE_REFS=1): build bin/kiln and set KILN_BIN=$PWD/bin/kiln, as make test does")
		}
		t.Skip("KILN_BIN is not set")
	}
	root := testenv.RepoRoot()
	dir := t.TempDir()
	data := sst2Rows(t, dir, 80)
	args := func(out string, extra ...string) []string {
		return append([]string{"train", "--train", data, "--valid-split", "0.2", "--model", filepath.Join(root, "train/testdata/tiny-bert.json"),
			"--tokenizer", filepath.Join(root, "testdata/tokenizers/bert-base-uncased/tokenizer.json"),
			"--out", out, "--max-steps", "4", "--save-steps", "2", "--eval-steps", "2", "--batch-size", "4", "--max-length", "32",
			"--lr", "1e-3", "--nproc-per-node", "2", "--dist-timeout", "1m", "--json"}, extra...)
	}
	run := func(a []string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, a...)
		cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kiln %v: %v\n%s%s", a, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	straight := filepath.Join(dir, "straight")
	out := run(args(straight))
	if !strings.Contains(out, `[rank 0]   "global_step": 4,`) || strings.Contains(out, "[rank 1] {") {
		t.Fatalf("want rank 0's --json summary (step 4) and none from rank 1; stdout:\n%s", out)
	}
	for _, f := range []string{"model.safetensors", "metrics.json", "log.jsonl", "checkpoint-2", "checkpoint-4"} {
		if _, err := os.Stat(filepath.Join(straight, f)); err != nil {
			t.Errorf("rank 0 did not write %s: %v", f, err)
		}
	}
	// The run directory as it stood after step 2 (a checkpoint's best
	// checkpoint lives beside it), resumed with the same two ranks.
	resumed := filepath.Join(dir, "resumed")
	if err := os.CopyFS(filepath.Join(resumed, "checkpoint-2"), os.DirFS(filepath.Join(straight, "checkpoint-2"))); err != nil {
		t.Fatal(err)
	}
	if out := run(args(resumed, "--resume", "auto")); !strings.Contains(out, `[rank 0]   "train_samples": 16,`) {
		t.Fatalf("the resumed run did not train steps 3-4 only (2 × 8 rows); stdout:\n%s", out)
	}
	want, err := models.LoadStateDict(filepath.Join(straight, "checkpoint-4"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := models.LoadStateDict(filepath.Join(resumed, "checkpoint-4"))
	if err != nil {
		t.Fatal(err)
	}
	var d float64
	for k, w := range want {
		wv, err := w.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		gv, err := got[k].Float32s()
		if err != nil || len(gv) != len(wv) {
			t.Fatalf("%s: resumed run's tensor: %v", k, err)
		}
		for i := range wv {
			d = math.Max(d, math.Abs(float64(wv[i]-gv[i])))
		}
	}
	// The same steps on the same rows in the same order: equal up to
	// float32 rounding (1e-6).
	if d > 1e-6 {
		t.Fatalf("resumed 2-rank run differs from the straight one by %g", d)
	}
}
