package train

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-ml/kiln/internal/atomicfile"
	"github.com/kiln-ml/kiln/models"
)

// LogEntry is one line of log.jsonl (and of trainer_state.json's history).
type LogEntry struct {
	Step    int                `json:"step"`
	Epoch   float64            `json:"epoch"`
	Loss    *float64           `json:"loss,omitempty"`
	LR      *float64           `json:"learning_rate,omitempty"`
	Norm    *float64           `json:"grad_norm,omitempty"`
	Skipped bool               `json:"skipped,omitempty"` // an fp16 step skipped for inf/NaN gradients
	Eval    map[string]float64 `json:"eval,omitempty"`
	Samples float64            `json:"samples_per_second,omitempty"`
	Tokens  float64            `json:"tokens_per_second,omitempty"`
}

// MarshalJSON writes a training line's gradient norm as null when it is
// unknown (a skipped step, a non-finite norm) and every non-finite number
// as null: encoding/json refuses NaN and ±Inf, and one such value used to
// abort the run at the next checkpoint.
func (e LogEntry) MarshalJSON() ([]byte, error) {
	type plain LogEntry // the fields without this method
	p := plain(e)
	p.Loss, p.LR, p.Norm = finiteOrNil(e.Loss), finiteOrNil(e.LR), nil
	p.Epoch, p.Samples, p.Tokens = finiteOr0(e.Epoch), finiteOr0(e.Samples), finiteOr0(e.Tokens)
	if e.Eval != nil {
		p.Eval = make(map[string]float64, len(e.Eval))
		var nonFinite []string
		for k, v := range e.Eval {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				nonFinite = append(nonFinite, k)
				continue
			}
			p.Eval[k] = v
		}
		if len(nonFinite) > 0 {
			sort.Strings(nonFinite)
			return marshalWith(p, "eval_not_finite", nonFinite)
		}
	}
	if e.Eval == nil && (e.Loss != nil || e.LR != nil) { // a training line
		return marshalWith(p, "grad_norm", finiteOrNil(e.Norm))
	}
	return json.Marshal(p)
}

// marshalWith marshals v plus one more key.
func marshalWith(v any, key string, val any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m[key], err = json.Marshal(val); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func finiteOrNil(v *float64) *float64 {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return nil
	}
	return v
}

func finiteOr0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// State is everything besides tensors needed to resume exactly; it is
// written as trainer_state.json in each checkpoint and in the output dir.
type State struct {
	GlobalStep     int          `json:"global_step"`
	MaxSteps       int          `json:"max_steps"`
	Epoch          int          `json:"epoch"`          // epoch of the next micro-batch
	BatchInEpoch   int          `json:"batch_in_epoch"` // index of the next micro-batch in that epoch
	MicroBatches   int64        `json:"micro_batches"`  // consumed so far; seeds dropout (the RNG state)
	Seed           uint64       `json:"seed"`
	OptimizerSteps int          `json:"optimizer_steps"`
	Groups         []ParamGroup `json:"param_groups"`
	Schedule       Schedule     `json:"lr_schedule"`
	Scaler         LossScaler   `json:"loss_scaler"`
	BestMetric     *float64     `json:"best_metric,omitempty"`
	// BestCheckpoint is the best checkpoint's name (checkpoint-<step>),
	// relative to the run directory so that a run directory written
	// differently (relative/absolute --out) or moved still resumes with
	// it; files from before held a path, which readCheckpointState and
	// Run reduce to its name.
	BestCheckpoint string     `json:"best_model_checkpoint,omitempty"`
	BadEvals       int        `json:"evals_without_improvement"`
	Task           string     `json:"problem_type"`
	Labels         []string   `json:"labels,omitempty"`
	LogHistory     []LogEntry `json:"log_history"`
	// The data-parallel layout of the run that wrote the state: its ranks
	// and global batch (ranks × --batch-size rows), the rows of the epoch's
	// order consumed so far, and, after a resume mid-epoch with another
	// global batch, how that epoch's rest was re-formed (see resumeLayout).
	WorldSize     int      `json:"world_size,omitempty"`
	GlobalBatch   int      `json:"global_batch,omitempty"`
	SampleInEpoch int      `json:"sample_in_epoch"`
	Rebatch       *Rebatch `json:"epoch_rebatch,omitempty"`
}

// checkpointTmpPrefix names the hidden directory a checkpoint is built in.
const checkpointTmpPrefix = ".checkpoint-tmp-"

// checkpointName is checkpoint-<step>, HF's layout.
func checkpointName(step int) string { return fmt.Sprintf("checkpoint-%d", step) }

// saveCheckpointDir builds a checkpoint in a hidden temp directory and
// renames it into place: a reader (or a resume after a kill) never sees a
// half-written checkpoint, only whole ones.
func saveCheckpointDir(outDir string, step int, fill func(tmp string) error) (string, error) {
	final := filepath.Join(outDir, checkpointName(step))
	tmp, err := os.MkdirTemp(outDir, checkpointTmpPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := fill(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	// A checkpoint of the same step from an abandoned run.
	if err := atomicfile.RemoveDir(final); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("checkpoint %s: %w", final, err)
	}
	if d, err := os.Open(outDir); err == nil {
		d.Sync() // persist the rename
		d.Close()
	}
	return final, nil
}

// ListCheckpoints returns complete checkpoints in step order.
func ListCheckpoints(outDir string) ([]string, error) {
	ents, err := os.ReadDir(outDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	type ck struct {
		step int
		path string
	}
	var cks []ck
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "checkpoint-") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(name, "checkpoint-"))
		if err != nil {
			continue
		}
		p := filepath.Join(outDir, name)
		if _, err := os.Stat(filepath.Join(p, "trainer_state.json")); err != nil {
			continue
		}
		cks = append(cks, ck{n, p})
	}
	sort.Slice(cks, func(i, j int) bool { return cks[i].step < cks[j].step })
	out := make([]string, len(cks))
	for i, c := range cks {
		out[i] = c.path
	}
	return out, nil
}

// BestCheckpointDir is the best checkpoint's directory in the run
// directory outDir ("" when there was no evaluation).
func (s *State) BestCheckpointDir(outDir string) string {
	if s.BestCheckpoint == "" {
		return ""
	}
	return filepath.Join(outDir, checkpointBase(s.BestCheckpoint))
}

// checkpointBase reduces a checkpoint reference to its name in the run
// directory: trainer_state.json files written before names were relative
// hold a path joined with --out as it was typed then.
func checkpointBase(ref string) string { return filepath.Base(filepath.Clean(ref)) }

// pruneCheckpoints keeps the newest keep checkpoints plus the best one
// (a name in outDir, see State.BestCheckpoint).
// Each goes in one step (atomicfile.RemoveDir): a kill mid-delete must not
// leave a checkpoint-N whose optimiser file is already gone. It also sweeps
// what killed runs left: half-written checkpoints and half-deleted ones,
// each as large as the model.
func pruneCheckpoints(outDir string, keep int, best string) error {
	if err := sweepLeftovers(outDir); err != nil {
		return err
	}
	if keep <= 0 {
		return nil
	}
	cks, err := ListCheckpoints(outDir)
	if err != nil {
		return err
	}
	for i := 0; i < len(cks)-keep; i++ {
		if best != "" && filepath.Base(cks[i]) == checkpointBase(best) {
			continue
		}
		if err := atomicfile.RemoveDir(cks[i]); err != nil {
			return fmt.Errorf("remove old checkpoint: %w", err)
		}
	}
	return nil
}

// sweepLeftovers deletes the hidden directories of checkpoint writes and
// deletions that a killed process did not finish. Only the process that
// writes checkpoints calls it, between writes, so none is in use.
func sweepLeftovers(outDir string) error {
	ents, err := os.ReadDir(outDir)
	if err != nil {
		return fmt.Errorf("checkpoint cleanup: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !(strings.HasPrefix(name, checkpointTmpPrefix) || strings.HasPrefix(name, atomicfile.RemovingPrefix)) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(outDir, name)); err != nil {
			return fmt.Errorf("remove an unfinished checkpoint left by a killed run: %w", err)
		}
		slog.Info("removed an unfinished checkpoint left by a killed run", "dir", filepath.Join(outDir, name))
	}
	return nil
}

// readCheckpointState reads a checkpoint's trainer_state.json and optimiser moments.
func readCheckpointState(dir string) (*State, models.StateDict, error) {
	p := filepath.Join(dir, "trainer_state.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, fmt.Errorf("resume: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, nil, fmt.Errorf("resume: %s: %w", p, err)
	}
	if st.BestCheckpoint != "" {
		st.BestCheckpoint = checkpointBase(st.BestCheckpoint)
	}
	if st.Scaler.GrowthFactor != 0 {
		if err := st.Scaler.Validate(); err != nil {
			return nil, nil, fmt.Errorf("resume: %s: %w", p, err)
		}
	}
	var sd models.StateDict
	op := filepath.Join(dir, "optimizer.safetensors")
	if _, err := os.Stat(op); err == nil {
		if sd, _, err = models.ReadSafetensors(op); err != nil {
			return nil, nil, fmt.Errorf("resume: %s: %w", op, err)
		}
	} else if st.OptimizerSteps > 0 {
		// Resuming without the moments would silently restart AdamW.
		return nil, nil, fmt.Errorf("resume: %s is incomplete: no optimizer.safetensors after %d optimiser steps; resume from another checkpoint (--resume DIR)", dir, st.OptimizerSteps)
	}
	return &st, sd, nil
}
