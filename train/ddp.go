package train

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/train/dist"
)

// evalScores scores the validation rows. With N ranks each scores every
// N-th of the batches one process would form, and the scores are gathered
// on every rank by summing zero-filled copies (x + 0 is exact), so the
// metrics, ROC-AUC included, equal one process's to the bit.
func (r *run) evalScores(batchSize int) ([][]float64, error) {
	sc, err := predictShard(r.model, r.validData, batchSize, r.enc.PadID(), r.st.Task, r.dev, r.rank, r.world)
	if err != nil || r.group == nil {
		return sc, err
	}
	width := r.model.Config.NumLabels()
	flat := make([]float64, len(sc)*width)
	for i, row := range sc {
		if row == nil {
			continue
		}
		if len(row) != width {
			return nil, fmt.Errorf("evaluation: row %d has %d scores, want %d", i, len(row), width)
		}
		copy(flat[i*width:], row)
	}
	t := ts.MustOfSlice(flat)
	defer t.MustDrop()
	if err := r.group.AllReduceSum([]*ts.Tensor{t}); err != nil {
		return nil, fmt.Errorf("gathering the evaluation scores at step %d: %w", r.st.GlobalStep, err)
	}
	all := t.Float64Values()
	for i := range sc {
		sc[i] = all[i*width : (i+1)*width]
	}
	return sc, nil
}

// evalMetrics is Evaluate over the ranks (see evalScores).
func (r *run) evalMetrics() (map[string]float64, error) {
	sc, err := r.evalScores(r.cfg.BatchSize * 2)
	if err != nil {
		return nil, err
	}
	return ScoreMetrics(sc, r.validData, r.st.Task, len(r.st.Labels)), nil
}

// Rebatch re-forms an epoch after a resume with another global batch
// (ranks × --batch-size rows): the epoch's order as batches of From rows
// formed it, less the Skip rows already trained on, cut into batches of the
// new size. The rows and their order stay those of the interrupted run.
type Rebatch struct {
	From int `json:"global_batch"`
	Skip int `json:"skip_samples"`
}

func (rb Rebatch) apply(batches [][]int, size int) [][]int {
	var rest []int
	for _, b := range batches {
		rest = append(rest, b...)
	}
	rest = rest[min(rb.Skip, len(rest)):]
	var out [][]int
	for s := 0; s < len(rest); s += size {
		out = append(out, rest[s:min(s+size, len(rest))])
	}
	return out
}

// resumeLayout fits a resumed state to this run's ranks and batch. The
// position is kept in rows of the epoch's order: with the same global
// batch (2 ranks × 8 resumed as 1 × 16) training continues exactly; with
// another, the rest of the interrupted epoch is re-formed (Rebatch) so that
// no row is skipped or repeated. Steps — --max-steps, --eval-steps,
// --save-steps and the learning-rate schedule restored from the checkpoint —
// count optimizer steps, which now take the new global batch's rows.
func (r *run) resumeLayout() {
	st, global := r.st, r.cfg.BatchSize*r.world
	defer func() { st.WorldSize, st.GlobalBatch = r.world, global }()
	if st.GlobalBatch == 0 || st.GlobalBatch == global || st.SampleInEpoch == 0 {
		return // a fresh run, the same layout, or a checkpoint from before layouts (or at an epoch's start)
	}
	from := st.GlobalBatch
	if st.Rebatch != nil {
		from = st.Rebatch.From
	}
	rb := &Rebatch{From: from, Skip: st.SampleInEpoch}
	rest := rb.apply(EpochBatches(r.trainData, from, r.cfg.Seed, st.Epoch, !r.cfg.NoShuffle, r.cfg.GroupByLength), global)
	if n := len(rest); r.world > 1 && n > 0 && len(rest[n-1]) < r.world {
		rest = rest[:n-1]
	}
	slog.Info("resuming with another global batch: the epoch continues in the same row order",
		"from_ranks", st.WorldSize, "from_global_batch", st.GlobalBatch, "ranks", r.world, "global_batch", global,
		"epoch", st.Epoch, "rows_done", st.SampleInEpoch, "batches_left", len(rest))
	if len(rest) == 0 { // the epoch was over: the next one starts afresh
		st.Epoch++
		st.BatchInEpoch, st.SampleInEpoch, st.Rebatch = 0, 0, nil
		return
	}
	st.BatchInEpoch, st.Rebatch = 0, rb
}

// startReducer sets up the overlapped gradient all-reduce (c10d's Reducer)
// once the first step, reduced after backward, has shown whether some
// parameters get no gradient (unused). --dist-no-overlap and gradient
// checkpointing (whose segmented backward the Reducer would take for an
// incomplete one) keep the all-reduce after backward.
func (r *run) startReducer(unused bool) error {
	if r.reducerTried || r.cfg.DistNoOverlap || r.model.GradientCheckpointing() {
		return nil
	}
	r.reducerTried = true
	ps := make([]*ts.Tensor, len(r.params))
	for i, np := range r.params {
		ps[i] = np.Tensor
	}
	red, err := r.group.NewReducer(ps, int64(r.cfg.DistBucketMB)<<20, unused)
	if errors.Is(err, dist.ErrNoReducer) {
		slog.Warn("gradients are all-reduced after backward", "why", err)
		return nil
	}
	if err != nil {
		return err
	}
	r.reducer = red
	return nil
}

// rebatchedEpoch is epoch() in an epoch a resume re-formed: its batches
// are only the rest of the epoch, so the fraction counts rows.
func (r *run) rebatchedEpoch() float64 {
	total := r.st.Rebatch.Skip
	for _, b := range r.batches {
		total += len(b)
	}
	return float64(r.st.Epoch) + float64(r.st.SampleInEpoch)/float64(max(total, 1))
}
