package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/internal/tbevents"
	mtorch "github.com/kiln-ml/kiln/models/torch"
	"github.com/kiln-ml/kiln/train/dist"
)

// runOn is one training run on already-read data (k-fold calls it per
// fold): set up, then one optimiser step per iteration with its logging,
// evaluation and checkpoints, then the final artefacts.
func runOn(ctx context.Context, cfg Config, trainDS, validDS *dataset.Dataset, start time.Time) (*Result, error) {
	// libtorch's grad mode and thread count are per OS thread; keep every
	// call of the run on one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := setup(cfg, trainDS, validDS)
	if err != nil {
		return nil, err
	}
	defer r.close()
	for r.st.GlobalStep < r.totalSteps {
		if err := ctx.Err(); err != nil {
			return nil, r.interrupted(err)
		}
		var s stepResult
		if err := r.guard("step", func() (err error) { s, err = r.step(); return err }); err != nil {
			return nil, err
		}
		r.logStep(s)
		var stop bool
		if err := r.guard("evaluation", func() (err error) { stop, err = r.evaluateAndSave(); return err }); err != nil {
			return nil, err
		}
		if stop {
			slog.Info("early stopping", "step", r.st.GlobalStep, "best", *r.st.BestMetric)
			break
		}
	}
	return r.finish(start)
}

// run is the state of one training run between its steps.
type run struct {
	cfg                   Config
	dev                   gotch.Device
	model                 *mtorch.Model
	enc                   dataset.TextEncoder
	tokPath               string
	trainData, validData  []dataset.Encoded
	labelRows             []int // head row of each of the caller's labels (k-fold scores)
	params                []mtorch.NamedParameter
	opt                   *AdamW
	sched                 Schedule
	scaler                *LossScaler
	ac                    *mtorch.Autocast // nil in fp32
	st                    *State
	batches               [][]int // this epoch's micro-batches
	stepsPerEpoch         int
	totalSteps            int
	stepsAtStart          int
	metricBest            string
	lastCkpt              string // the last checkpoint written (or resumed from)
	logf                  *os.File
	tb                    *tbevents.Writer // nil unless ReportTo has tensorboard
	bar                   *progressbar.ProgressBar
	res                   *Result
	loopStart             time.Time
	updating              bool      // the optimiser is writing the weights
	window                logWindow // steps since the last log line
	runningLoss, runningN float64   // since the start, for the progress bar
	// Data parallelism (DDP's semantics): group is nil when training
	// alone (rank 0 of 1). Every rank forms the same global batches of
	// world × --batch-size rows and takes every world-th row of each, so
	// a step of N ranks sees exactly the rows of one process with an N×
	// batch; gradients are summed, each rank's loss weighted by its share
	// of the global rows.
	group       *dist.ProcessGroup
	rank, world int
	// reducer, when not nil, averages the gradients inside the last
	// micro-batch's backward (DDP's overlap); nil reduces after it.
	// reducerTried: startReducer ran (it runs once, after the first step).
	reducer      *dist.Reducer
	reducerTried bool
}

// main reports whether this process writes the run's outputs (rank 0).
func (r *run) main() bool { return r.rank == 0 }

// stepResult is what one optimiser step reports.
type stepResult struct {
	loss    float64 // mean over the step's rows
	norm    float64 // global gradient norm before clipping (unscaled)
	skipped bool    // fp16 overflow: no update, the scale backed off
	samples int     // rows
	tokens  int     // non-padding tokens
}

// logWindow accumulates the steps between two log lines.
type logWindow struct {
	start           time.Time
	samples, tokens int
	lossSum         float64 // over the steps with a finite loss
	lossSteps       int
	lastNorm        float64
	lastSkipped     bool // the last step was skipped: its norm is not a real one
	skipped         bool // some step in the window was skipped
}

func (w *logWindow) add(s stepResult) {
	w.samples += s.samples
	w.tokens += s.tokens
	if !math.IsNaN(s.loss) && !math.IsInf(s.loss, 0) {
		w.lossSum += s.loss
		w.lossSteps++
	}
	w.lastNorm, w.lastSkipped = s.norm, s.skipped
	w.skipped = w.skipped || s.skipped
}

func (w *logWindow) reset() { *w = logWindow{start: time.Now()} }

// setup builds everything a run needs: device, model, tokenised data,
// optimiser, schedule, loss scaler, the resumed state, the log and the
// progress bar.
func setup(cfg Config, trainDS, validDS *dataset.Dataset) (_ *run, err error) {
	r := &run{cfg: cfg, group: cfg.group, world: 1}
	if r.group != nil {
		r.rank, r.world = r.group.Rank(), r.group.Size()
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.dev, err = parseDevice(cfg.Device); err != nil {
		return nil, err
	}
	if err := checkPrecision(cfg.Precision, r.dev); err != nil {
		return nil, err
	}
	if cfg.GradAccum < 1 || cfg.BatchSize < 1 {
		return nil, fmt.Errorf("batch size %d and accumulation %d must be positive", cfg.BatchSize, cfg.GradAccum)
	}
	if err := os.MkdirAll(cfg.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("output dir: %w", err)
	}
	// One spelling of every path in the run, however --out and --resume
	// were written: checkpoints are compared by path.
	if r.cfg.OutputDir, err = filepath.Abs(cfg.OutputDir); err != nil {
		return nil, fmt.Errorf("output dir: %w", err)
	}
	mtorch.InitThreads()
	slog.Info("data", "train", len(trainDS.Examples), "skipped", trainDS.Skipped, "task", trainDS.Task, "labels", trainDS.Labels)
	if err := r.loadModelAndData(trainDS, validDS); err != nil {
		return nil, err
	}
	if err := r.newOptimiser(); err != nil {
		return nil, err
	}
	if err := r.resume(); err != nil {
		return nil, err
	}
	r.resumeLayout()
	if err := r.syncWeights(); err != nil {
		return nil, err
	}
	if r.main() {
		if err := r.openLog(); err != nil {
			return nil, err
		}
	}
	r.metricBest = cfg.MetricForBest
	if r.metricBest == "" {
		r.metricBest = defaultMetric(r.st.Task)
	}
	r.batches = r.epochBatches(r.st.Epoch)
	if len(r.batches) == 0 {
		return nil, fmt.Errorf("%d training rows for %d ranks: every rank needs at least one row per step", len(r.trainData), r.world)
	}
	r.stepsAtStart = r.st.GlobalStep
	r.res = &Result{OutputDir: r.cfg.OutputDir}
	if r.main() {
		r.startBar()
	}
	r.loopStart = time.Now()
	r.window.reset()
	return r, nil
}

// loadModelAndData loads the model, matches the data's labels to its
// head, and tokenises the rows once.
func (r *run) loadModelAndData(trainDS, validDS *dataset.Dataset) error {
	cfg := &r.cfg
	model, modelDir, rows, err := buildModel(*cfg, trainDS, r.dev)
	if err != nil {
		return err
	}
	r.model, r.labelRows = model, rows
	if trainDS.Task != dataset.Regression {
		trainDS, validDS = relabel(trainDS, model.Config, rows), relabel(validDS, model.Config, rows)
	}
	model.SetGradientCheckpointing(cfg.GradientCheckpointing)
	if lim := model.Config.MaxSequenceLength(); cfg.MaxLength > lim {
		slog.Warn("--max-length exceeds the model's positions; truncating to the model's maximum", "max_length", cfg.MaxLength, "model_max", lim)
		cfg.MaxLength = lim
	}
	r.tokPath = cfg.Tokenizer
	if r.tokPath == "" {
		r.tokPath = filepath.Join(modelDir, "tokenizer.json")
	}
	enc, err := dataset.LoadTokenizer(r.tokPath)
	if err != nil {
		return err
	}
	r.enc = enc
	if r.trainData, err = dataset.EncodeDataset(trainDS, enc, cfg.MaxLength); err != nil {
		return err
	}
	if validDS != nil {
		if r.validData, err = dataset.EncodeDataset(validDS, enc, cfg.MaxLength); err != nil {
			return err
		}
	}
	r.st = &State{Seed: cfg.Seed, Task: trainDS.Task, Labels: trainDS.Labels}
	return nil
}

// newOptimiser sets up AdamW, the schedule and the loss scaler.
func (r *run) newOptimiser() error {
	cfg := r.cfg
	r.params = r.model.NamedParameters()
	opt, err := NewAdamW(r.params, GroupOptions{LR: cfg.LR, HeadLR: cfg.HeadLR, WeightDecay: cfg.WeightDecay, ModelType: r.model.Config.ModelType,
		LayerDecay: cfg.LayerDecay, NumLayers: r.model.Config.NumHiddenLayers}, 0.9, 0.999, 1e-8)
	if err != nil {
		return err
	}
	r.opt = opt
	attn, err := r.model.AttentionInUse()
	if err != nil {
		return err
	}
	slog.Info("kernels", "adamw", opt.Kernel, "attention", attn)
	// As epochBatches forms them: global batches of world × --batch-size
	// rows, a last one too short to give every rank a row dropped.
	global := cfg.BatchSize * r.world
	batchesPerEpoch := len(r.trainData) / global
	if len(r.trainData)%global >= r.world {
		batchesPerEpoch++
	}
	r.stepsPerEpoch = max(1, batchesPerEpoch/cfg.GradAccum)
	r.totalSteps = cfg.MaxSteps
	if r.totalSteps == 0 {
		r.totalSteps = r.stepsPerEpoch * cfg.Epochs
	}
	r.st.MaxSteps = r.totalSteps
	if r.sched, err = NewSchedule(cfg.Schedule, r.totalSteps, cfg.WarmupSteps, cfg.WarmupRatio); err != nil {
		return err
	}
	r.scaler = NewLossScaler(cfg.Precision == "fp16") // bf16 has fp32's range: no scaling
	if cfg.Precision != "fp32" {                      // checkPrecision let it through
		r.ac = mtorch.NewAutocast(cfg.Precision, r.dev)
	}
	return nil
}

// resume restores weights, optimiser, schedule, scaler and data position
// from --resume (a checkpoint, or "auto": the newest in the run directory).
func (r *run) resume() error {
	dir := r.cfg.Resume
	if dir == "auto" {
		cks, err := ListCheckpoints(r.cfg.OutputDir)
		if err != nil {
			return err
		}
		dir = ""
		if len(cks) > 0 {
			dir = cks[len(cks)-1]
		}
	}
	if dir == "" {
		return nil
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	st, osd, err := readCheckpointState(dir)
	if err != nil {
		return err
	}
	if err := restoreWeights(r.model, dir); err != nil {
		return err
	}
	if err := r.opt.LoadState(osd, r.dev); err != nil {
		return fmt.Errorf("resume %s: %w", dir, err)
	}
	r.opt.StepCount = st.OptimizerSteps
	if st.Scaler.GrowthFactor != 0 {
		*r.scaler = st.Scaler
	}
	r.sched = st.Schedule
	st.MaxSteps = r.totalSteps
	r.st, r.lastCkpt = st, dir
	slog.Info("resumed", "checkpoint", dir, "step", st.GlobalStep)
	return nil
}

// openLog rewrites log.jsonl from the state's history (a resumed run must
// not keep lines from steps after its checkpoint) and opens it to append.
func (r *run) openLog() error {
	path := filepath.Join(r.cfg.OutputDir, "log.jsonl")
	if err := writeLog(path, r.st.LogHistory); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	r.logf = f
	for _, to := range r.cfg.ReportTo {
		switch to {
		case "tensorboard":
			if r.tb, err = tbevents.NewWriter(filepath.Join(r.cfg.OutputDir, "runs")); err != nil {
				return fmt.Errorf("--report-to tensorboard: %w", err)
			}
		case "", "none":
		default:
			return fmt.Errorf("--report-to %q: want tensorboard or none", to)
		}
	}
	return nil
}

// startBar shows step/total, elapsed and remaining time; the description
// carries epoch, loss (last and running mean), LR and throughput.
func (r *run) startBar() {
	if !r.cfg.Progress {
		return
	}
	r.bar = progressbar.NewOptions(r.totalSteps, progressbar.OptionSetDescription("train"),
		progressbar.OptionShowCount(), progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowDescriptionAtLineEnd(), progressbar.OptionThrottle(200*time.Millisecond))
	r.bar.Set(r.st.GlobalStep)
}

func (r *run) close() {
	if r.logf != nil {
		r.logf.Close()
	}
	if r.tb != nil {
		if err := r.tb.Close(); err != nil {
			slog.Warn("tensorboard event file", "path", r.tb.Path(), "err", err)
		}
	}
	if r.reducer != nil {
		r.reducer.Free()
	}
	if r.opt != nil {
		r.opt.Free()
	}
	if r.model != nil {
		r.model.Free()
	}
}

// epochBatches is an epoch's global batches: the same on every rank (same
// seed), world × --batch-size rows each. With more than one rank, a last
// batch with fewer rows than ranks is dropped (every rank must take part in
// every step), as DistributedSampler's drop_last does.
func (r *run) epochBatches(epoch int) [][]int {
	global := r.cfg.BatchSize * r.world
	var b [][]int
	if rb := r.st.Rebatch; rb != nil { // the epoch a resume re-formed
		b = rb.apply(EpochBatches(r.trainData, rb.From, r.cfg.Seed, epoch, !r.cfg.NoShuffle, r.cfg.GroupByLength), global)
	} else {
		b = EpochBatches(r.trainData, global, r.cfg.Seed, epoch, !r.cfg.NoShuffle, r.cfg.GroupByLength)
	}
	if r.world > 1 && len(b) > 0 && len(b[len(b)-1]) < r.world {
		b = b[:len(b)-1]
	}
	return b
}

// shard is this rank's part of a global batch: every world-th row.
func (r *run) shard(global []int) []int {
	if r.world == 1 {
		return global
	}
	out := make([]int, 0, (len(global)+r.world-1)/r.world)
	for i := r.rank; i < len(global); i += r.world {
		out = append(out, global[i])
	}
	return out
}

// nextMicroBatches takes this rank's part of the step's GradAccum global
// batches, moving to the next epoch's order when one ends; rows and tokens
// count the whole step over all ranks.
func (r *run) nextMicroBatches() (micro [][]int, rows, tokens int) {
	for len(micro) < r.cfg.GradAccum {
		if r.st.BatchInEpoch >= len(r.batches) {
			r.st.Epoch++
			r.st.BatchInEpoch, r.st.SampleInEpoch, r.st.Rebatch = 0, 0, nil
			r.batches = r.epochBatches(r.st.Epoch)
		}
		b := r.batches[r.st.BatchInEpoch]
		r.st.SampleInEpoch += len(b)
		micro = append(micro, r.shard(b))
		rows += len(b)
		for _, i := range b {
			tokens += len(r.trainData[i].IDs)
		}
		r.st.BatchInEpoch++
	}
	return micro, rows, tokens
}

// syncWeights starts every rank from rank 0's weights (DDP's initial
// broadcast): a fresh head's initialisation or a resumed checkpoint read on
// rank 0 wins.
func (r *run) syncWeights() error {
	if r.group == nil {
		return nil
	}
	ws := make([]*ts.Tensor, len(r.params))
	for i, np := range r.params {
		ws[i] = np.Tensor.MustDetach(false) // shares the storage, outside autograd
	}
	defer func() {
		for _, w := range ws {
			w.MustDrop()
		}
	}()
	if err := r.group.Broadcast(ws, 0); err != nil {
		return fmt.Errorf("broadcasting rank 0's initial weights: %w", err)
	}
	return nil
}

// gradFactor multiplies every micro-batch's loss before backward: the
// Reducer averages the ranks' gradients where the shares (see microStep)
// want their sum.
func (r *run) gradFactor() float64 {
	if r.reducer != nil {
		return float64(r.world)
	}
	return 1
}

// reduceGrads sums the ranks' gradients (each already weighted by its share
// of the step's rows, so the sum is the gradient of the global batch) and
// the step's loss, in one collective after the last micro-batch. With the
// Reducer the gradients are already reduced: only the loss is.
func (r *run) reduceGrads(loss *ts.Tensor) error {
	if r.group == nil {
		return nil
	}
	if r.reducer != nil {
		t0 := time.Now()
		if err := r.group.AllReduceSum([]*ts.Tensor{loss}); err != nil {
			return fmt.Errorf("step %d: %w", r.st.GlobalStep+1, err)
		}
		r.res.AllReduce += time.Since(t0)
		r.res.Overlapped = true
		return nil
	}
	var grads []*ts.Tensor
	defer func() {
		for _, g := range grads {
			g.MustDrop()
		}
	}()
	for _, np := range r.params {
		g := np.Tensor.MustGrad(false)
		if !g.MustDefined() { // a parameter no rank used (the same on all)
			g.MustDrop()
			continue
		}
		grads = append(grads, g)
	}
	all := append(append([]*ts.Tensor{}, grads...), loss)
	t0 := time.Now()
	if err := r.group.AllReduceSum(all); err != nil {
		return fmt.Errorf("step %d: %w", r.st.GlobalStep+1, err)
	}
	r.res.AllReduce += time.Since(t0)
	return r.startReducer(len(grads) < len(r.params))
}

// step is one optimiser step: forward and backward over the micro-batches,
// each loss weighted by its share of the rows (so N accumulated
// micro-batches give exactly the gradient of one N× batch), then the
// gradient norm, clipping and the update (or, in fp16, a skipped step).
func (r *run) step() (stepResult, error) {
	micro, total, tokens := r.nextMicroBatches()
	r.model.ZeroGrad()
	s := stepResult{samples: total, tokens: tokens}
	var loss *ts.Tensor // the step's loss, summed on the device
	defer func() {
		if loss != nil {
			loss.MustDrop()
		}
	}()
	for i, rows := range micro {
		l, err := r.microStep(rows, total, i == len(micro)-1)
		if err != nil {
			return s, err
		}
		if loss == nil {
			loss = l
		} else {
			loss = loss.MustAdd(l, true)
			l.MustDrop()
		}
	}
	if err := r.reduceGrads(loss); err != nil {
		return s, err
	}
	// One device-to-host copy per step: the gradient norm and the loss.
	s.norm, s.loss = gradNorm(r.params, 1/r.scaler.Scale(), loss)
	if (math.IsNaN(s.loss) || math.IsInf(s.loss, 0)) && !r.scaler.Enabled {
		return s, fmt.Errorf("step %d: %w (%v); last good checkpoint: %q", r.st.GlobalStep+1, ErrNonFinite, s.loss, r.lastCkpt)
	}
	finite := !math.IsNaN(s.norm) && !math.IsInf(s.norm, 0)
	if !r.scaler.Update(!finite) {
		if !r.scaler.Enabled {
			return s, fmt.Errorf("step %d: %w gradients (norm %v); last good checkpoint: %q", r.st.GlobalStep+1, ErrNonFinite, s.norm, r.lastCkpt)
		}
		s.skipped = true
		slog.Warn("skipping step: gradients overflowed", "step", r.st.GlobalStep+1, "new_scale", r.scaler.Scale())
	} else {
		ClipGrads(r.params, s.norm, r.cfg.MaxGradNorm)
		r.updating = true // a failure from here on leaves the weights half-updated
		r.opt.Step(r.sched.Factor(r.st.OptimizerSteps))
		r.st.OptimizerSteps++
		r.updating = false
	}
	r.st.GlobalStep++
	r.res.Samples += total
	r.res.Tokens += tokens
	return s, nil
}

// microStep runs forward and backward on one micro-batch and returns its
// loss weighted by its share of the step's rows, detached, on the device
// (read back once per step, not per micro-batch). With the Reducer, the
// last micro-batch's backward (last) also reduces the gradients.
func (r *run) microStep(rows []int, stepRows int, last bool) (*ts.Tensor, error) {
	// The generator is reseeded from (seed, micro-batch count): that is the
	// RNG state a checkpoint needs to resume dropout exactly.
	// Each rank draws its own dropout masks; alone, rank 0 of 1 draws
	// the single-process stream.
	if err := mtorch.ManualSeed(int64(r.cfg.Seed*1_000_003) + r.st.MicroBatches*int64(r.world) + int64(r.rank)); err != nil {
		return nil, err
	}
	r.st.MicroBatches++
	b, err := MakeBatch(r.trainData, rows, r.enc.PadID(), r.st.Task, r.model.Config, r.dev)
	if err != nil {
		return nil, err
	}
	defer b.Drop()
	share := float64(b.N) / float64(stepRows)
	if testFailure != nil {
		testFailure(r.st.GlobalStep)
	}
	loss, out, err := forwardLoss(r.model, b, r.st.Task, r.ac)
	if err != nil {
		return nil, fmt.Errorf("%w: forward: %w", ErrLibtorch, err)
	}
	defer out.Drop()
	weighted := loss.MustDetach(false).MustMulScalar(ts.FloatScalar(share), true)
	scaled := loss.MustMulScalar(ts.FloatScalar(r.scaler.Scale()*share*r.gradFactor()), true)
	reduce := last && r.reducer != nil
	if reduce {
		if err := r.reducer.Prepare(scaled); err != nil {
			scaled.MustDrop()
			weighted.MustDrop()
			return nil, err
		}
	}
	err = r.model.Backward(scaled)
	scaled.MustDrop()
	if err != nil {
		weighted.MustDrop()
		if reduce {
			return nil, fmt.Errorf("step %d: %w", r.st.GlobalStep+1, r.reducer.Failed(err))
		}
		return nil, fmt.Errorf("%w: %w", ErrLibtorch, err)
	}

	return weighted, nil
}

// testFailure, when set by a test, runs at the start of every micro-step
// (to make libtorch fail for real at a chosen step).
var testFailure func(step int)

// guard runs one phase of an iteration (the step, or evaluation and
// saving) and turns a libtorch failure into an error: gotch's Must*
// wrappers panic, and so can a failed op deep in the model. Unless the
// weights were mid-update, the data position goes back to the start of the
// failed step and a checkpoint is saved, so --resume auto redoes the step;
// the error names it and, for an allocation failure, what would help.
func (r *run) guard(name string, phase func() error) (err error) {
	pos := position{r.st.Epoch, r.st.BatchInEpoch, r.st.SampleInEpoch, r.st.MicroBatches, r.st.Rebatch, r.batches}
	step := r.st.GlobalStep // the evaluation of this step, or the step after it
	if name == "step" {
		step++
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrLibtorch, p)
		}
		if err == nil || !errors.Is(err, ErrLibtorch) {
			return
		}
		err = fmt.Errorf("%s %d: %w", name, step, oomHint(err, r.cfg))
		if r.updating || r.group != nil { // the other ranks are not here to save with
			err = fmt.Errorf("%w\nno checkpoint was saved; last good checkpoint: %q", err, r.lastCkpt)
			return
		}
		r.st.Epoch, r.st.BatchInEpoch, r.st.SampleInEpoch, r.st.MicroBatches, r.st.Rebatch, r.batches = pos.epoch, pos.batch, pos.sample, pos.micro, pos.rebatch, pos.batches
		if serr := r.saveRecovered(); serr != nil {
			err = fmt.Errorf("%w\nsaving a checkpoint also failed (%v); last good checkpoint: %q", err, serr, r.lastCkpt)
			return
		}
		err = fmt.Errorf("%w\nsaved checkpoint %s (the state before the failed step); continue with --resume auto", err, r.lastCkpt)
	}()
	return phase()
}

// position is where a step starts in the data and the dropout RNG stream.
type position struct {
	epoch, batch, sample int
	micro                int64
	rebatch              *Rebatch
	batches              [][]int
}

// saveRecovered saves a checkpoint after a recovered failure, itself
// guarded: libtorch may fail again.
func (r *run) saveRecovered() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrLibtorch, p)
		}
	}()
	return r.save()
}

// logStep updates the progress bar and, every --log-steps steps, appends
// a log line.
func (r *run) logStep(s stepResult) {
	r.window.add(s)
	if !math.IsNaN(s.loss) && !math.IsInf(s.loss, 0) {
		r.runningLoss += s.loss
		r.runningN++
	}
	lr := r.cfg.LR * r.sched.Factor(max(0, r.st.OptimizerSteps-1))
	if r.bar != nil {
		r.bar.Describe(fmt.Sprintf("epoch %d  loss %.4f (mean %.4f)  lr %.2e  %.1f samples/s",
			r.st.Epoch+1, s.loss, r.runningLoss/max(1, r.runningN), lr,
			float64(r.res.Samples)/time.Since(r.loopStart).Seconds()))
		r.bar.Set(r.st.GlobalStep)
	}
	if r.st.GlobalStep%r.cfg.LogSteps != 0 && r.st.GlobalStep != r.totalSteps {
		return
	}
	w := &r.window
	dt := time.Since(w.start).Seconds()
	e := LogEntry{Step: r.st.GlobalStep, Epoch: r.epoch(), LR: &lr, Skipped: w.skipped,
		Samples: float64(w.samples) / dt, Tokens: float64(w.tokens) / dt}
	if w.lossSteps > 0 {
		l := w.lossSum / float64(w.lossSteps)
		e.Loss = &l
	}
	if n := w.lastNorm; !w.lastSkipped && !math.IsNaN(n) && !math.IsInf(n, 0) {
		e.Norm = &n
	}
	r.appendLog(e)
	w.reset()
}

func (r *run) epoch() float64 {
	if r.st.Rebatch != nil {
		return r.rebatchedEpoch()
	}
	return float64(r.st.Epoch) + float64(r.st.BatchInEpoch)/float64(len(r.batches))
}

func (r *run) appendLog(e LogEntry) {
	r.st.LogHistory = append(r.st.LogHistory, e)
	if r.logf == nil { // not rank 0
		return
	}
	b, err := json.Marshal(e)
	if err != nil { // LogEntry's marshaller writes non-finite values as null: cannot happen
		slog.Error("log line", "err", err)
		return
	}
	r.logf.Write(append(b, '\n'))
	if r.tb != nil {
		r.reportScalars(e)
	}
}

// reportScalars writes a log line to TensorBoard under HF Trainer's tags
// (train/loss, train/learning_rate, train/grad_norm, train/epoch,
// eval/<metric>), so dashboards built for HF runs read kiln's too.
// Unknown values (a skipped step's gradient norm) are left out.
func (r *run) reportScalars(e LogEntry) {
	step := int64(e.Step)
	put := func(tag string, v *float64) {
		if v == nil {
			return
		}
		if err := r.tb.Scalar(tag, step, *v); err != nil {
			slog.Warn("tensorboard event file: scalar dropped", "tag", tag, "err", err)
		}
	}
	if e.Eval != nil {
		for k, v := range e.Eval {
			put("eval/"+strings.TrimPrefix(k, "eval_"), &v)
		}
		return
	}
	put("train/loss", e.Loss)
	put("train/learning_rate", e.LR)
	put("train/grad_norm", e.Norm)
	put("train/epoch", &e.Epoch)
}

// evaluateAndSave evaluates when due (every --eval-steps, else every
// epoch, and at the end), keeps the best checkpoint, and checkpoints every
// --save-steps. It reports whether early stopping ends the run.
func (r *run) evaluateAndSave() (stop bool, err error) {
	cfg, st := r.cfg, r.st
	due := (cfg.EvalSteps > 0 && st.GlobalStep%cfg.EvalSteps == 0) ||
		(cfg.EvalSteps == 0 && st.GlobalStep%r.stepsPerEpoch == 0) || st.GlobalStep == r.totalSteps
	if due && r.validData != nil {
		// Every rank scores its shard and computes the same metrics;
		// rank 0's verdict still rules, so that all save and stop alike.
		better, err := r.evaluate()
		if err != nil {
			return false, err
		}
		if better, err = r.rank0Says(better); err != nil {
			return false, err
		}
		if !better {
			st.BadEvals++
			stop = cfg.Patience > 0 && st.BadEvals >= cfg.Patience
		}
		if better || cfg.SaveSteps == 0 {
			if err := r.saveSynced(); err != nil {
				return false, err
			}
		}
	}
	if cfg.SaveSteps > 0 && st.GlobalStep%cfg.SaveSteps == 0 && !r.savedThisStep() {
		if err := r.saveSynced(); err != nil {
			return false, err
		}
	}
	return stop, nil
}

// evaluate scores the validation rows, logs the metrics and reports
// whether they beat the best so far (which it then records).
func (r *run) evaluate() (better bool, err error) {
	st := r.st
	m, err := r.evalMetrics()
	if err != nil {
		return false, err
	}
	r.appendLog(LogEntry{Step: st.GlobalStep, Epoch: r.epoch(), Eval: m})
	r.res.Metrics = m
	v, ok := m[r.metricBest]
	if !ok {
		return false, fmt.Errorf("--metric-for-best %q: not among the evaluation metrics %v", r.metricBest, keys(m))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		slog.Warn("evaluation metric is not finite; not a best checkpoint", "metric", r.metricBest, "value", v)
		return false, nil
	}
	lower := lowerIsBetter(r.metricBest)
	if st.BestMetric != nil && !(lower && v < *st.BestMetric) && !(!lower && v > *st.BestMetric) {
		return false, nil
	}
	st.BestMetric, st.BadEvals = &v, 0
	st.BestCheckpoint = checkpointName(st.GlobalStep)
	return true, nil
}

func (r *run) savedThisStep() bool {
	return r.lastCkpt == filepath.Join(r.cfg.OutputDir, checkpointName(r.st.GlobalStep))
}

// rank0Says makes every rank follow rank 0's evaluation verdict (the ranks
// compute the same metrics from the gathered scores; this guards against
// any drift), so that all save and stop early at the same steps.
func (r *run) rank0Says(better bool) (bool, error) {
	if r.group == nil {
		return better, nil
	}
	v := float32(0)
	if better {
		v = 1
	}
	t := ts.MustOfSlice([]float32{v})
	defer t.MustDrop()
	if err := r.group.Broadcast([]*ts.Tensor{t}, 0); err != nil {
		return false, fmt.Errorf("evaluation at step %d: %w", r.st.GlobalStep, err)
	}
	return t.Float64Values()[0] == 1, nil
}

// saveSynced is save followed by a barrier: the other ranks wait while
// rank 0 writes, so a checkpoint is complete before any rank goes on.
func (r *run) saveSynced() error {
	if err := r.save(); err != nil {
		return err
	}
	if r.group != nil {
		if err := r.group.Barrier(); err != nil {
			return fmt.Errorf("waiting for rank 0 to write checkpoint-%d: %w", r.st.GlobalStep, err)
		}
	}
	return nil
}

// save writes checkpoint-<step> and prunes old ones (keeping the best);
// only rank 0 writes.
func (r *run) save() error {
	if !r.main() {
		r.lastCkpt = filepath.Join(r.cfg.OutputDir, checkpointName(r.st.GlobalStep))
		return nil
	}
	dir, err := saveCheckpoint(r.cfg.OutputDir, r.model, r.opt, r.sched, r.scaler, r.st)
	if err != nil {
		return err
	}
	r.lastCkpt = dir
	return pruneCheckpoints(r.cfg.OutputDir, r.cfg.SaveTotalLimit, r.st.BestCheckpoint)
}

// interrupted saves a checkpoint when the run is cancelled (Ctrl-C) and
// returns the error that names it.
func (r *run) interrupted(cause error) error {
	if !r.main() {
		return fmt.Errorf("interrupted at step %d (rank %d; rank 0 saves the checkpoint): %w", r.st.GlobalStep, r.rank, cause)
	}
	slog.Warn("interrupted; saving a checkpoint", "step", r.st.GlobalStep)
	if err := r.save(); err != nil {
		return fmt.Errorf("interrupted at step %d; the checkpoint could not be saved (last good: %q): %w", r.st.GlobalStep, r.lastCkpt, errors.Join(cause, err))
	}
	return fmt.Errorf("interrupted at step %d: saved checkpoint %s; continue with --resume auto: %w", r.st.GlobalStep, r.lastCkpt, cause)
}

// finish writes the last checkpoint and the final artefacts, and scores
// the validation rows for k-fold.
func (r *run) finish(start time.Time) (*Result, error) {
	if r.bar != nil {
		r.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	res, st := r.res, r.st
	// The loop time (throughput figures) covers steps, evaluations and the
	// checkpoints written during training, not the final save.
	res.Elapsed = time.Since(r.loopStart)
	if !r.savedThisStep() {
		if err := r.saveSynced(); err != nil {
			return nil, err
		}
	}
	res.Checkpoint, res.State, res.Total = r.lastCkpt, st, time.Since(start)
	if !r.main() { // rank 0 writes the final artefacts
		return res, nil
	}
	if err := finish(r.cfg, r.model, r.enc, r.tokPath, st, res, r.stepsAtStart); err != nil {
		return nil, err
	}
	if r.cfg.oof && r.validData != nil { // finish left the best weights in the model
		sc, err := Predict(r.model, r.validData, r.cfg.BatchSize*2, r.enc.PadID(), st.Task, r.dev)
		if err != nil {
			return nil, fmt.Errorf("out-of-fold predictions: %w", err)
		}
		res.OOF = sc
		if st.Task != dataset.Regression { // back to the caller's label order
			for i, row := range sc {
				res.OOF[i] = make([]float64, len(r.labelRows))
				for j, h := range r.labelRows {
					res.OOF[i][j] = row[h]
				}
			}
		}
	}
	return res, nil
}
