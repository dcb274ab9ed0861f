package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/internal/atomicfile"
	"github.com/kiln-ml/kiln/internal/torchinfo"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
	"github.com/kiln-ml/kiln/train/dist"
)

// Config is one training run; the CLI flags map onto it one to one.
type Config struct {
	TrainFile, ValidFile string
	ValidSplit           float64 // held out of TrainFile when ValidFile is empty
	Read                 dataset.ReadOptions
	Model                string // a checkpoint dir, or a config.json to train from scratch
	Tokenizer            string // tokenizer.json; default <model dir>/tokenizer.json
	OutputDir            string

	Epochs, MaxSteps, BatchSize, GradAccum, MaxLength int
	LR, HeadLR, WeightDecay, LayerDecay               float64
	Schedule                                          string
	WarmupSteps                                       int
	WarmupRatio, MaxGradNorm                          float64
	Seed                                              uint64
	Precision                                         string // fp32 | fp16 | bf16
	Device                                            string // cpu | cuda | cuda:N
	EvalSteps, SaveSteps, SaveTotalLimit, Patience    int
	MetricForBest                                     string
	GroupByLength, GradientCheckpointing              bool
	// NoShuffle keeps the file's row order (benchmarks against a peer
	// that reads the rows in order).
	NoShuffle bool
	Resume    string // "" | "auto" | checkpoint dir
	LogSteps  int
	Progress  bool
	// ReportTo names where the log lines also go, as HF Trainer's
	// --report_to: "tensorboard" writes event files under OutputDir/runs
	// (`tensorboard --logdir OUT/runs`); empty or "none": log.jsonl only.
	ReportTo []string
	Pooling  string
	// ReinitHead trains a fresh classification head even when the
	// checkpoint has a trained one (by default the data's labels are
	// matched to the head's id2label by name, and a label the head lacks
	// is an error).
	ReinitHead bool
	// Dropout, when >= 0, overrides the model's dropout probabilities
	// (tests use 0 to compare runs); < 0 keeps the config's.
	Dropout float64
	// PeakTFLOPS is the device's peak (dense) throughput; with it
	// metrics.json reports model FLOPs utilisation.
	PeakTFLOPS float64
	// Folds > 1 trains K models by stratified k-fold (RunKFold).
	Folds int
	// DistBackend and DistTimeout configure the process group when this
	// process is one rank of a data-parallel job (torchrun's, a
	// PyTorchJob's or Slurm's variables are set; see train/dist): "" is
	// NCCL on CUDA and gloo on CPU, 0 is dist.DefaultTimeout.
	DistBackend string
	DistTimeout time.Duration
	// DistNoOverlap all-reduces the gradients after backward, in one
	// bucketed collective, instead of overlapping the reduction with
	// backward through c10d's Reducer (DDP's engine); gradient
	// checkpointing always does (its backward runs in segments). Kept
	// selectable to measure what overlap is worth. DistBucketMB is the
	// Reducer's bucket size (DDP's bucket_cap_mb; 0 is 25).
	DistNoOverlap bool
	DistBucketMB  int
	// oof asks runOn for the final model's scores on the validation rows.
	oof bool
	// group is the data-parallel process group; nil trains alone.
	group *dist.ProcessGroup
}

// DefaultConfig is the configuration `kiln train` starts from (its flags
// bind to these values), so a library caller gets the CLI's behaviour:
// dropout as the model's config says, weight decay 0.01, seed 42, length
// grouping, two checkpoints kept. Set TrainFile, Model and OutputDir.
func DefaultConfig() Config {
	return Config{
		Epochs: 3, BatchSize: 32, GradAccum: 1, MaxLength: 128,
		LR: 5e-5, WeightDecay: 0.01, LayerDecay: 1, Schedule: "linear", MaxGradNorm: 1,
		Seed: 42, Precision: "fp32", Device: "cpu",
		SaveTotalLimit: 2, LogSteps: 10, GroupByLength: true, Dropout: -1,
	}
}

// Defaults fills zero fields with DefaultConfig's values where zero is not
// a meaningful setting (a zero Config still means no dropout, no weight
// decay, seed 0: start from DefaultConfig for the CLI's behaviour).
func (c *Config) Defaults() {
	if c.Epochs == 0 && c.MaxSteps == 0 {
		c.Epochs = 3
	}
	if c.BatchSize == 0 {
		c.BatchSize = 32
	}
	if c.GradAccum == 0 {
		c.GradAccum = 1
	}
	if c.MaxLength == 0 {
		c.MaxLength = 128
	}
	if c.LR == 0 {
		c.LR = 5e-5
	}
	if c.Schedule == "" {
		c.Schedule = "linear"
	}
	if c.Precision == "" {
		c.Precision = "fp32"
	}
	if c.Device == "" {
		c.Device = "cpu"
	}
	if c.LogSteps == 0 {
		c.LogSteps = 10
	}
	if c.MaxGradNorm == 0 {
		c.MaxGradNorm = 1
	}
}

// ErrNonFinite reports a NaN/inf loss (or gradients without loss scaling).
var ErrNonFinite = errors.New("non-finite loss")

// ErrLibtorch reports a libtorch failure inside a training step or an
// evaluation (out of memory, a device error): gotch's Must* wrappers panic
// with it and the loop recovers, saving a checkpoint when the weights were
// not mid-update.
var ErrLibtorch = errors.New("libtorch failed")

// Result summarises a finished run.
type Result struct {
	State      *State
	Metrics    map[string]float64 // final evaluation
	OutputDir  string
	Checkpoint string        // last checkpoint written
	Elapsed    time.Duration // the training loop (steps, evaluations, checkpoints)
	Total      time.Duration // including data loading, tokenisation and model loading
	Samples    int
	Tokens     int         // non-padding tokens trained on
	OOF        [][]float64 // scores of the validation rows by the final model (k-fold)
	// AllReduce is the time this rank spent in the gradient all-reduce
	// (data-parallel runs; 0 alone). Overlapped reports that the
	// gradients were reduced inside backward (c10d's Reducer): AllReduce
	// then counts only the loss's all-reduce.
	AllReduce  time.Duration
	Overlapped bool
}

func parseDevice(s string) (gotch.Device, error) {
	switch {
	case s == "cpu":
		return gotch.CPU, nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		if why := torchinfo.CUDAUnavailableReason(); why != "" {
			return gotch.CPU, fmt.Errorf("device %q: %s", s, why)
		}
		idx := 0
		if strings.HasPrefix(s, "cuda:") {
			if _, err := fmt.Sscanf(s, "cuda:%d", &idx); err != nil {
				return gotch.CPU, fmt.Errorf("device %q: %w", s, err)
			}
		}
		return gotch.CudaBuilder(uint(idx)), nil
	}
	return gotch.CPU, fmt.Errorf("device %q: want cpu, cuda or cuda:N", s)
}

// ResolveDevice is the trainer's device parsing plus "auto", for the
// commands that only run a model (kiln predict, export verification): auto
// is CUDA device 0 when libtorch can use it and the CPU otherwise, with
// fallback saying why CUDA was not used.
func ResolveDevice(s string) (dev gotch.Device, fallback string, err error) {
	if s == "auto" {
		dev, err := parseDevice("cuda")
		if err != nil {
			return gotch.CPU, err.Error(), nil
		}
		return dev, "", nil
	}
	if dev, err = parseDevice(s); err != nil && s != "cuda" && !strings.HasPrefix(s, "cuda:") {
		err = fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N", s)
	}
	return dev, "", err
}

// checkPrecision refuses mixed precision where it cannot run. Both modes
// keep float32 master weights (the parameters never leave float32) and run
// the forward pass under libtorch's autocast. fp16 needs CUDA and dynamic
// loss scaling; libtorch's CPU autocast only lowers to bfloat16, so fp16 on
// CPU is refused rather than silently training in fp32. bf16 runs on CUDA
// and on CPU (on CPUs without native bfloat16 instructions it saves memory
// but is slower than fp32).
func checkPrecision(prec string, dev gotch.Device) error {
	switch prec {
	case "fp32":
		return nil
	case "fp16":
		if !dev.IsCuda() {
			return fmt.Errorf("--precision fp16 needs a CUDA device (libtorch's CPU autocast supports only bfloat16); use --precision bf16 or fp32 on CPU")
		}
		return mtorch.AutocastAvailable()
	case "bf16":
		return mtorch.AutocastAvailable()
	}
	return fmt.Errorf("--precision %q: want fp32, fp16 or bf16", prec)
}

// Run trains a model end to end: data, model, optimiser, loop, evaluation,
// checkpoints and the final artefacts in cfg.OutputDir.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Defaults()
	start := time.Now()
	leave, err := joinJob(&cfg)
	if err != nil {
		return nil, err
	}
	defer leave()
	trainDS, validDS, err := readData(cfg)
	if err != nil {
		return nil, err
	}
	return runOn(ctx, cfg, trainDS, validDS, start)
}

// joinJob joins the data-parallel job this process is a rank of, as
// cfg.group (left nil when it runs alone); leave closes the group. On CUDA
// each rank of a machine takes the GPU of its local rank, as torchrun's
// workers do.
func joinJob(cfg *Config) (leave func(), err error) {
	leave = func() {}
	env, err := dist.FromEnv(os.Getenv)
	if err != nil || !env.Distributed() {
		return leave, err
	}
	if cfg.Device == "cuda" {
		cfg.Device = fmt.Sprintf("cuda:%d", env.LocalRank)
	}
	cuda := strings.HasPrefix(cfg.Device, "cuda")
	backend := cfg.DistBackend
	if backend == "" {
		backend = dist.DefaultBackend(cuda)
	}
	if backend == dist.NCCL && !cuda {
		return leave, fmt.Errorf("--dist-backend nccl with --device %s: NCCL reduces GPU tensors only; train with --device cuda (one GPU per rank), or use --dist-backend gloo on the CPU", cfg.Device)
	}
	g, err := dist.NewProcessGroup(env, backend, cfg.DistTimeout)
	if err != nil {
		return leave, err
	}
	slog.Info("joined the data-parallel job", "rank", env.Rank, "world_size", env.WorldSize, "backend", backend, "launcher", env.Source)
	cfg.group = g
	return func() { g.Close() }, nil
}

// readData reads the training file and the validation file, or holds out a
// stratified fraction of the training rows.
func readData(cfg Config) (trainDS, validDS *dataset.Dataset, err error) {
	trainDS, err = dataset.ReadDataset(cfg.TrainFile, cfg.Read)
	if err != nil {
		return nil, nil, fmt.Errorf("training data: %w", err)
	}
	switch {
	case cfg.ValidFile != "":
		ro := cfg.Read
		ro.Task, ro.Labels = trainDS.Task, trainDS.Labels
		if validDS, err = dataset.ReadDataset(cfg.ValidFile, ro); err != nil {
			return nil, nil, fmt.Errorf("validation data: %w", err)
		}
	case cfg.ValidSplit > 0:
		if trainDS, validDS, err = trainDS.StratifiedSplit(cfg.ValidSplit, cfg.Seed); err != nil {
			return nil, nil, err
		}
	}
	return trainDS, validDS, nil
}

func keys(m map[string]float64) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

func lowerIsBetter(metric string) bool { return metric == "loss" || metric == "mse" }

func defaultMetric(task string) string {
	if task == dataset.Regression {
		return "mse"
	}
	return "accuracy"
}

// buildModel loads a checkpoint or creates a model from a bare
// config.json. rows[i] is the head row of ds.Labels[i]: a checkpoint with
// a trained head keeps its class order (see mtorch.LoadOptions.MatchLabels).
func buildModel(cfg Config, ds *dataset.Dataset, dev gotch.Device) (m *mtorch.Model, dir string, rows []int, err error) {
	fi, err := os.Stat(cfg.Model)
	if err != nil {
		return nil, "", nil, fmt.Errorf("--model: %w", err)
	}
	setDropout := func(c *models.Config) {
		if cfg.Dropout >= 0 {
			d := cfg.Dropout
			c.HiddenDropoutProb, c.AttentionProbsDropoutProb, c.ClassifierDropout = d, d, &d
		}
	}
	if !fi.IsDir() { // a config.json: train from scratch
		c, err := models.LoadConfig(cfg.Model)
		if err != nil {
			return nil, "", nil, err
		}
		setLabels(c, ds)
		if cfg.Pooling != "" {
			c.Pooling = cfg.Pooling
		}
		setDropout(c)
		m, err := mtorch.NewSeeded(c, dev, cfg.Seed+1)
		rows := make([]int, len(ds.Labels))
		for i := range rows {
			rows[i] = i
		}
		return m, filepath.Dir(cfg.Model), rows, err
	}
	labels := ds.Labels
	if ds.Task == dataset.Regression {
		labels = []string{"LABEL_0"}
	}
	m, rep, err := mtorch.Load(cfg.Model, mtorch.LoadOptions{Device: dev, Labels: labels, Pooling: cfg.Pooling,
		ProblemType: ds.Task, Seed: cfg.Seed + 1, MatchLabels: ds.Task != dataset.Regression, ReinitHead: cfg.ReinitHead})
	if errors.Is(err, mtorch.ErrHeadLabels) {
		return nil, "", nil, fmt.Errorf("%w\nrename the data's labels to the head's, or pass --reinit-head to train a new head for the data's labels", err)
	}
	if err != nil {
		return nil, "", nil, err
	}
	if cfg.Dropout >= 0 {
		setDropout(m.Config)
	}
	slog.Info("model loaded", "dir", cfg.Model, "fresh_head", rep.FreshHead, "missing", len(rep.Missing), "dropped", len(rep.Dropped))
	if !rep.FreshHead && ds.Task != dataset.Regression {
		slog.Info("data labels matched to the checkpoint's head", "id2label", headLabels(m.Config))
	}
	return m, cfg.Model, rep.LabelRows, nil
}

// headLabels lists the model's id2label in id order.
func headLabels(c *models.Config) []string {
	out := make([]string, c.NumLabels())
	for id, name := range c.ID2Label {
		if id >= 0 && id < len(out) {
			out[id] = name
		}
	}
	return out
}

// relabel numbers ds's labels as the model's head does: rows[i] is the head
// row of ds.Labels[i]. The examples are copied (k-fold shares them).
func relabel(ds *dataset.Dataset, c *models.Config, rows []int) *dataset.Dataset {
	if ds == nil {
		return nil
	}
	names := headLabels(c)
	out := *ds
	out.Labels = names
	out.Examples = make([]dataset.Example, len(ds.Examples))
	for i, ex := range ds.Examples {
		switch ds.Task {
		case dataset.SingleLabel:
			ex.Label = rows[ex.Label]
		case dataset.MultiLabel:
			t := make([]float32, len(names))
			for j, v := range ex.Targets {
				t[rows[j]] = v
			}
			ex.Targets = t
		}
		out.Examples[i] = ex
	}
	return &out
}

func setLabels(c *models.Config, ds *dataset.Dataset) {
	if ds.Task == dataset.Regression {
		c.SetNumLabels(1)
	} else {
		c.SetLabels(ds.Labels)
	}
	c.ProblemType = ds.Task
}

// restoreWeights copies a checkpoint's weights into the live model, so the
// optimiser keeps pointing at the same tensors.
func restoreWeights(m *mtorch.Model, dir string) error {
	sd, err := models.LoadStateDict(dir)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	var ferr error
	ts.NoGrad(func() {
		for _, np := range m.NamedParameters() {
			t, ok := sd[np.Name]
			if !ok {
				ferr = fmt.Errorf("resume %s: checkpoint has no %s", dir, np.Name)
				return
			}
			src, err := tensorOf(t, m.Device())
			if err != nil {
				ferr = fmt.Errorf("resume %s: %s: %w", dir, np.Name, err)
				return
			}
			w := np.Tensor.MustDetach(false)
			w.Copy_(src)
			w.MustDrop()
			src.MustDrop()
		}
	})
	return ferr
}

func saveCheckpoint(outDir string, model *mtorch.Model, opt *AdamW, sched Schedule, scaler *LossScaler, st *State) (string, error) {
	st.Groups, st.Schedule, st.Scaler = opt.Groups, sched, *scaler
	return saveCheckpointDir(outDir, st.GlobalStep, func(tmp string) error {
		if err := model.Save(tmp); err != nil {
			return fmt.Errorf("checkpoint model: %w", err)
		}
		if err := opt.SaveState(filepath.Join(tmp, "optimizer.safetensors"), map[string]string{"format": "kiln-adamw"}); err != nil {
			return fmt.Errorf("checkpoint optimiser: %w", err)
		}
		return atomicfile.WriteJSON(filepath.Join(tmp, "trainer_state.json"), st)
	})
}

// oomHint adds what would help to an allocation failure: libtorch reports
// "out of memory" on CUDA and "can't allocate memory" on CPU.
func oomHint(err error, cfg Config) error {
	msg := err.Error()
	if !strings.Contains(msg, "out of memory") && !strings.Contains(msg, "can't allocate") {
		return err
	}
	half := max(1, cfg.BatchSize/2)
	return fmt.Errorf("%w\nout of memory at --batch-size %d --max-length %d: try --batch-size %d --grad-accum %d (the same effective batch), --gradient-checkpointing, or a smaller --max-length",
		err, cfg.BatchSize, cfg.MaxLength, half, cfg.GradAccum*cfg.BatchSize/half)
}

// forwardLoss runs the forward pass and the loss, under autocast when ac
// is set (bf16/fp16); backward runs outside it, as PyTorch advises. The
// loss is taken on float32 logits: CPU autocast does not promote every loss
// to float32.
func forwardLoss(model *mtorch.Model, b *Batch, task string, ac *mtorch.Autocast) (*ts.Tensor, *mtorch.Output, error) {
	if ac == nil {
		out, err := model.ForwardInputs(b.Inputs, true)
		if err != nil {
			return nil, nil, err
		}
		return lossFor(out.Logits, b.Labels, task), out, nil
	}
	out, err := underAutocast(ac, func() (*mtorch.Output, error) { return model.ForwardInputs(b.Inputs, true) })
	if err != nil {
		if out != nil {
			out.Drop()
		}
		return nil, nil, err
	}
	logits := out.Logits.MustTotype(gotch.Float, false)
	loss := lossFor(logits, b.Labels, task)
	logits.MustDrop()
	return loss, out, nil
}

// underAutocast runs f inside ac, leaving it even when f panics (a
// recovered libtorch failure must not leave the thread in autocast).
func underAutocast(ac *mtorch.Autocast, f func() (*mtorch.Output, error)) (out *mtorch.Output, err error) {
	if err := ac.Enter(); err != nil {
		return nil, err
	}
	defer func() {
		if xerr := ac.Exit(); err == nil && xerr != nil {
			if out != nil {
				out.Drop()
			}
			out, err = nil, xerr
		}
	}()
	return f()
}

// lossFor is HF's loss per problem_type: cross-entropy, BCE-with-logits or MSE.
func lossFor(logits, labels *ts.Tensor, task string) *ts.Tensor {
	switch task {
	case dataset.MultiLabel:
		w, pw := ts.NewTensor(), ts.NewTensor() // undefined: no weights
		defer w.MustDrop()
		defer pw.MustDrop()
		return logits.MustBinaryCrossEntropyWithLogits(labels, w, pw, 1, false)
	case dataset.Regression:
		l, y := logits.MustSqueeze(false), labels.MustSqueeze(false)
		defer y.MustDrop()
		return l.MustMseLoss(y, 1, true)
	default:
		w := ts.NewTensor()
		defer w.MustDrop()
		return logits.MustCrossEntropyLoss(labels, w, 1, -100, 0, false)
	}
}

func writeLog(path string, hist []LogEntry) error {
	var sb strings.Builder
	for _, e := range hist {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return atomicfile.WriteFile(path, []byte(sb.String()))
}

// finish writes the final model (best checkpoint's weights when there was
// evaluation), tokenizer, trainer_state.json, metrics.json and the curve.
func finish(cfg Config, model *mtorch.Model, enc dataset.TextEncoder, tokPath string, st *State, res *Result, stepsAtStart int) error {
	if st.BestCheckpoint != "" {
		if err := restoreWeights(model, st.BestCheckpointDir(cfg.OutputDir)); err != nil {
			return err
		}
	}
	if err := model.Save(cfg.OutputDir); err != nil {
		return fmt.Errorf("final model: %w", err)
	}
	if model.Config.NeedsRemoteCode() {
		slog.Info("transformers reproduces this model's pooling with kiln's head: AutoModelForSequenceClassification.from_pretrained(dir, trust_remote_code=True)",
			"pooling", model.Config.Pooling, "file", filepath.Join(cfg.OutputDir, models.RemoteCodeFile))
	}
	if err := writeTokenizerFiles(cfg.OutputDir, tokPath, enc, model.Config.MaxPositionEmbeddings); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(cfg.OutputDir, "trainer_state.json"), st); err != nil {
		return err
	}
	metrics := map[string]any{
		"global_step": st.GlobalStep, "train_samples": res.Samples,
		"train_runtime_s":       res.Elapsed.Seconds(),
		"total_runtime_s":       res.Total.Seconds(),
		"train_samples_per_sec": float64(res.Samples) / res.Elapsed.Seconds(),
		"train_tokens_per_sec":  float64(res.Tokens) / res.Elapsed.Seconds(),
		"best_metric":           st.BestMetric, "best_checkpoint": st.BestCheckpointDir(cfg.OutputDir),
	}
	// Achieved model FLOPs (PaLM's estimate: 6 per non-embedding
	// parameter per token, plus attention's 12·layers·hidden·seq), and
	// model FLOPs utilisation when the device's peak is given.
	if res.Tokens > 0 && res.Samples > 0 {
		c := model.Config
		seq := float64(res.Tokens) / float64(res.Samples)
		perToken := 6*float64(denseParams(model)) + 12*float64(c.NumHiddenLayers*c.HiddenSize)*seq
		fps := perToken * float64(res.Tokens) / res.Elapsed.Seconds()
		metrics["model_flops_per_token"] = perToken
		metrics["model_tflops_per_sec"] = fps / 1e12
		if cfg.PeakTFLOPS > 0 {
			metrics["mfu"] = fps / 1e12 / cfg.PeakTFLOPS
		}
	}
	if res.Overlapped {
		metrics["allreduce_overlapped"] = 1
	}
	if res.AllReduce > 0 { // rank 0's wait includes the slower ranks' compute
		steps := max(1, st.GlobalStep-stepsAtStart)
		metrics["allreduce_s"] = res.AllReduce.Seconds()
		metrics["allreduce_ms_per_step"] = float64(res.AllReduce.Milliseconds()) / float64(steps)
	}
	for k, v := range res.Metrics {
		metrics["eval_"+k] = v
	}
	if err := atomicfile.WriteJSON(filepath.Join(cfg.OutputDir, "metrics.json"), metrics); err != nil {
		return err
	}
	return writeCurve(filepath.Join(cfg.OutputDir, "training_curve.html"), st.LogHistory)
}

// denseParams counts the parameters that take part in matrix products:
// all but the embedding tables, which are lookups.
func denseParams(m *mtorch.Model) int64 {
	var n int64
	for _, np := range m.NamedParameters() {
		if strings.Contains(np.Name, "embeddings.") && !strings.Contains(np.Name, "LayerNorm") && !strings.Contains(np.Name, "project") {
			continue
		}
		size := int64(1)
		for _, d := range np.Tensor.MustSize() {
			size *= d
		}
		n += size
	}
	return n
}
