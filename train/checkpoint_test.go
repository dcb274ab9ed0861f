package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/internal/atomicfile"
	"github.com/kiln-ml/kiln/models"
)

// A checkpoint write that dies half-way (here: fill fails after writing a
// file; a kill leaves the same hidden temp dir) must never appear as a
// checkpoint: ListCheckpoints, and so --resume auto, only see whole ones.
func TestCheckpointWritesAreAtomic(t *testing.T) {
	out := t.TempDir()
	ok := func(tmp string) error {
		return atomicfile.WriteJSON(filepath.Join(tmp, "trainer_state.json"), &State{GlobalStep: 1})
	}
	if _, err := saveCheckpointDir(out, 1, ok); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("killed")
	_, err := saveCheckpointDir(out, 2, func(tmp string) error {
		if err := os.WriteFile(filepath.Join(tmp, "model.safetensors"), []byte("partial"), 0o644); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	// What a SIGKILL mid-write leaves behind.
	if err := os.MkdirAll(filepath.Join(out, ".checkpoint-tmp-123"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A directory named like a checkpoint but without trainer_state.json
	// (e.g. copied by hand, interrupted) is not complete either.
	os.MkdirAll(filepath.Join(out, "checkpoint-3"), 0o755)
	cks, err := ListCheckpoints(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(cks) != 1 || filepath.Base(cks[0]) != "checkpoint-1" {
		t.Fatalf("checkpoints = %v, want only checkpoint-1", cks)
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoint-2")); !os.IsNotExist(err) {
		t.Errorf("failed checkpoint-2 is visible: %v", err)
	}
}

func TestPruneKeepsBest(t *testing.T) {
	out := t.TempDir()
	for _, s := range []int{1, 2, 3, 4} {
		if _, err := saveCheckpointDir(out, s, func(tmp string) error {
			return atomicfile.WriteJSON(filepath.Join(tmp, "trainer_state.json"), &State{GlobalStep: s})
		}); err != nil {
			t.Fatal(err)
		}
	}
	// What killed runs leave: a half-written checkpoint, a half-deleted
	// one. A hidden directory of the user's own stays.
	for _, d := range []string{".checkpoint-tmp-123/sub", ".removing-checkpoint-0-456", ".mine"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	best := filepath.Join(out, "checkpoint-1")
	if err := pruneCheckpoints(out, 2, best); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out)
	var hidden []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			hidden = append(hidden, e.Name())
		}
	}
	if len(hidden) != 1 || hidden[0] != ".mine" {
		t.Errorf("hidden entries after pruning: %v, want [.mine]", hidden)
	}
	cks, _ := ListCheckpoints(out)
	var names []string
	for _, c := range cks {
		names = append(names, filepath.Base(c))
	}
	want := []string{"checkpoint-1", "checkpoint-3", "checkpoint-4"}
	if len(names) != len(want) {
		t.Fatalf("kept %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("kept %v, want %v", names, want)
		}
	}
}

// A checkpoint whose optimiser moments are missing (copied by hand, or left
// by a tool that deletes file by file) is refused: resuming from it would
// silently restart AdamW.
func TestResumeRefusesCheckpointWithoutOptimiser(t *testing.T) {
	tests := []struct {
		name    string
		steps   int
		wantErr bool
	}{
		{"after optimiser steps", 3, true},
		{"before any step", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := atomicfile.WriteJSON(filepath.Join(dir, "trainer_state.json"), &State{GlobalStep: tc.steps, OptimizerSteps: tc.steps}); err != nil {
				t.Fatal(err)
			}
			_, _, err := readCheckpointState(dir)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "optimizer.safetensors") {
				t.Errorf("error does not name the missing file: %v", err)
			}
		})
	}
}

// A real SIGKILL at an arbitrary moment of a run that checkpoints every
// step (so the kill most likely lands inside a checkpoint write): every
// checkpoint left listed must load, and --resume auto must finish the run.
// The test binary re-runs itself as the training process.
func TestKillMidRunLeavesLoadableCheckpoint(t *testing.T) {
	const steps = 12
	if out := os.Getenv("KILN_TRAIN_KILL_HELPER"); out != "" {
		cfg := tinyConfig(t, os.Getenv("KILN_TRAIN_KILL_DATA"), out)
		cfg.MaxSteps, cfg.SaveSteps, cfg.SaveTotalLimit = steps, 1, 2
		Run(context.Background(), cfg) // killed long before it returns
		return
	}
	data := smallSST2(t, 64)
	out := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillMidRunLeavesLoadableCheckpoint$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KILN_TRAIN_KILL_HELPER="+out, "KILN_TRAIN_KILL_DATA="+data)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		cks, _ := ListCheckpoints(out)
		if len(cks) > 0 && checkpointStep(cks[len(cks)-1]) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no third checkpoint within 3 minutes: %v", cks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Land somewhere inside the next write or step.
	time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	cks, err := ListCheckpoints(out)
	if err != nil || len(cks) == 0 {
		t.Fatalf("after the kill: %v, %v", cks, err)
	}
	for _, c := range cks {
		st, osd, err := readCheckpointState(c)
		if err != nil {
			t.Fatalf("checkpoint %s does not load: %v", c, err)
		}
		if len(osd) == 0 || st.GlobalStep != checkpointStep(c) {
			t.Errorf("checkpoint %s: step %d, %d optimiser tensors", c, st.GlobalStep, len(osd))
		}
		if _, err := models.LoadStateDict(c); err != nil {
			t.Errorf("checkpoint %s weights: %v", c, err)
		}
	}
	cfg := tinyConfig(t, data, out)
	cfg.MaxSteps, cfg.SaveSteps, cfg.SaveTotalLimit, cfg.Resume = steps, 1, 2, "auto"
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("resume after kill: %v", err)
	}
	if res.State.GlobalStep != steps {
		t.Errorf("resumed run ended at step %d, want %d", res.State.GlobalStep, steps)
	}
	// The killed-and-resumed run ends with the weights of an uninterrupted
	// one (dropout on: the RNG position is part of the checkpoint).
	straight := tinyConfig(t, data, t.TempDir())
	straight.MaxSteps, straight.SaveSteps, straight.SaveTotalLimit = steps, 1, 2
	if _, err := Run(context.Background(), straight); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, finalParams(t, straight.OutputDir), finalParams(t, out)); d > 1e-6 {
		t.Errorf("killed and resumed vs uninterrupted: max |Δw| = %g > 1e-6", d)
	}
}

func checkpointStep(dir string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "checkpoint-"))
	return n
}

// A skipped fp16 step and non-finite values: log.jsonl lines and the
// trainer state must stay valid JSON, with the unknown gradient norm as
// null and the step marked skipped. encoding/json refuses NaN/Inf, which
// used to abort a run at its next checkpoint.
func TestLogEntryNonFinite(t *testing.T) {
	inf, nan, one := math.Inf(1), math.NaN(), 1.0
	for _, tc := range []struct {
		name string
		e    LogEntry
		want map[string]any // keys that must have these values (nil: JSON null)
		gone []string       // keys that must be absent
	}{
		{"skipped step", LogEntry{Step: 3, Loss: &one, LR: &one, Norm: &inf, Skipped: true},
			map[string]any{"grad_norm": nil, "skipped": true, "loss": 1.0}, nil},
		{"non-finite loss", LogEntry{Step: 4, Loss: &nan, LR: &one, Norm: &one},
			map[string]any{"grad_norm": 1.0}, []string{"loss"}},
		{"finite step", LogEntry{Step: 5, Loss: &one, LR: &one, Norm: &one},
			map[string]any{"grad_norm": 1.0}, []string{"skipped"}},
		{"non-finite metric", LogEntry{Step: 6, Eval: map[string]float64{"pearson": nan, "mse": 0.5}},
			map[string]any{"eval": map[string]any{"mse": 0.5}, "eval_not_finite": []any{"pearson"}}, []string{"grad_norm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.e)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			for k, v := range tc.want {
				got, ok := m[k]
				if !ok || fmt.Sprint(got) != fmt.Sprint(v) {
					t.Errorf("%s: %s = %v (present %v), want %v", b, k, got, ok, v)
				}
			}
			for _, k := range tc.gone {
				if _, ok := m[k]; ok {
					t.Errorf("%s: %s present", b, k)
				}
			}
			var back LogEntry
			if err := json.Unmarshal(b, &back); err != nil || back.Step != tc.e.Step {
				t.Errorf("read back: %+v, %v", back, err)
			}
		})
	}
	st := &State{LogHistory: []LogEntry{{Step: 1, Loss: &inf, LR: &one, Norm: &nan, Skipped: true}}}
	if err := atomicfile.WriteJSON(filepath.Join(t.TempDir(), "trainer_state.json"), st); err != nil {
		t.Errorf("trainer_state.json with a skipped step: %v", err)
	}
}
