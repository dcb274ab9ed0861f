//go:build !notorch

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/train"
	"github.com/kiln-ml/kiln/train/dist"
)

func init() { addCommand(newTrainCmd()) }

func newTrainCmd() *cobra.Command {
	cfg := train.DefaultConfig()
	d := train.DefaultConfig() // the flags' defaults
	var noProgress, asJSON bool
	var nproc int
	cmd := &cobra.Command{
		Use:   "train --train FILE --model DIR|config.json --out DIR",
		Short: "Fine-tune (or train from scratch) a text classifier on CSV/TSV/JSONL",
		Long: `train fine-tunes a BERT-family encoder (BERT, RoBERTa, DistilBERT, ELECTRA, DeBERTa-v2/v3) with a
classification or regression head on libtorch, and leaves an HF-layout model directory.

Data: --train is CSV, TSV or JSONL with columns text, optional text_pair, and label (names
via --text-column/--pair-column/--label-column). Labels that are names or integers give
single-label classification (id2label saved in config.json), floats give regression, lists
(JSON arrays, or "a|b" in CSV) give multi-label. A bad row stops the run with file:line;
--skip-bad-rows skips and counts them. Validation: --valid FILE, or --valid-split F
(stratified), or --folds K (stratified k-fold: K models, out-of-fold predictions).

Model: --model is a checkpoint directory (config.json + model.safetensors or
pytorch_model.bin; a base model gets a fresh head for the labels found), or a bare
config.json to train from scratch. A checkpoint with a trained head keeps its classes: the
data's labels are matched to its id2label by name (integer labels are class ids), and a
label the head lacks is an error unless --reinit-head trains a new head. The tokenizer is <model dir>/tokenizer.json unless
--tokenizer is given.

Optimisation: AdamW with decoupled weight decay (none on biases and LayerNorm), optional
--head-lr and --layer-decay, constant/linear/cosine schedule with warmup, global-norm
clipping. Each optimiser step averages --grad-accum micro-batches of --batch-size rows,
weighted by row count, so accumulation gives the update of one large batch.

Output (--out): config.json, model.safetensors (best checkpoint by --metric-for-best when
evaluating), tokenizer.json, trainer_state.json, metrics.json, log.jsonl (every
--log-steps), training_curve.html, and checkpoint-<step>/ dirs (model, optimiser moments,
schedule, loss scaler, RNG and data position; written atomically, newest
--save-total-limit kept plus the best). --resume auto continues from the newest
checkpoint and ends with the same weights as an uninterrupted run. Ctrl-C saves a
checkpoint before exiting; a NaN/inf loss stops the run naming the last good checkpoint.

Precision: the weights stay float32 (master weights) and the forward pass runs under
libtorch's autocast. fp16 needs CUDA and uses dynamic loss scaling (steps with inf/NaN
gradients are skipped and the scale backs off); bf16 runs on CUDA and CPU without scaling
(a CPU without AVX512-BF16/AMX runs it about 3× slower than fp32). Threads: libtorch uses
OMP_NUM_THREADS (default: all CPUs).

Examples:
  # fine-tune MiniLM on SST-2 (about 25 min on 2 cores for one epoch of 8000 rows)
  kiln train --train testdata/data/sst2/train.csv --valid testdata/data/sst2/dev.csv \
    --model build/pretrained/all-MiniLM-L6-v2 --out runs/sst2 --epochs 1 --lr 1e-4 \
    --max-length 64 --warmup-ratio 0.1

  # 5-fold cross-validation with out-of-fold predictions
  kiln train --train data.csv --model DIR --out runs/cv --folds 5

  # continue an interrupted run
  kiln train ... --out runs/sst2 --resume auto

Data parallelism (PyTorch DDP's semantics): --nproc-per-node N starts N worker processes
on this machine (each with OMP_NUM_THREADS=1 unless set); under torchrun, a Kubeflow
PyTorchJob or Slurm (RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT, or SLURM_PROCID/SLURM_NTASKS)
this process is one rank of the job. Rank 0's initial weights are broadcast; every rank
takes every N-th row of the same global batches of N × --batch-size rows (so N ranks ×
batch B train like one process with batch N·B); gradients are summed over the ranks
(gloo on CPU, NCCL on CUDA) by c10d's Reducer in buckets overlapped with the last
micro-batch's backward (--dist-no-overlap: after it); every rank evaluates a shard of the
validation set (the metrics equal one process's); rank 0 alone writes logs, checkpoints
and the final model (--out must be shared between machines). --resume works with another
N (the epoch continues at the same row). With --folds, the ranks train each fold in turn
together. A rank that dies or hangs ends the job within --dist-timeout with an error
naming it.

  kiln train --train data.csv --model DIR --out runs/ddp --nproc-per-node 2
  torchrun --nnodes 2 --nproc-per-node 4 ... kiln train ... --device cuda`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.TrainFile == "" || cfg.Model == "" || cfg.OutputDir == "" {
				return fmt.Errorf("train: --train, --model and --out are required")
			}
			if nproc < 1 {
				return fmt.Errorf("--nproc-per-node %d: want 1 or more worker processes", nproc)
			}
			cfg.Progress = !noProgress && !asJSON
			env, err := dist.FromEnv(os.Getenv)
			if err != nil {
				return err
			}
			if nproc > 1 && env.Source == "" { // not yet a worker: become the launcher
				return (&dist.Launcher{NProc: nproc, Args: os.Args[1:]}).Run(cmd.Context())
			}
			if cfg.Folds > 1 {
				kr, err := train.RunKFold(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				if !env.IsMain() { // rank 0 reports the run
					return nil
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), kr)
				}
				slog.Info("k-fold done", "folds", cfg.Folds, "mean", kr.Mean, "oof", kr.OOF,
					"oof_predictions", filepath.Join(cfg.OutputDir, "oof.jsonl"))
				return nil
			}
			res, err := train.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if !env.IsMain() { // rank 0 reports the run
				return nil
			}
			sps := float64(res.Samples) / res.Elapsed.Seconds()
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"output_dir":            res.OutputDir,
					"global_step":           res.State.GlobalStep,
					"train_samples":         res.Samples,
					"train_runtime_s":       res.Elapsed.Seconds(),
					"train_samples_per_sec": sps,
					"train_tokens_per_sec":  float64(res.Tokens) / res.Elapsed.Seconds(),
					"eval":                  res.Metrics,
					"best_metric":           res.State.BestMetric,
					"best_checkpoint":       res.State.BestCheckpointDir(res.OutputDir),
					"last_checkpoint":       res.Checkpoint,
				})
			}
			slog.Info("training done", "steps", res.State.GlobalStep, "samples", res.Samples,
				"elapsed", res.Elapsed.Round(1e6), "samples_per_s", sps, "metrics", res.Metrics, "out", res.OutputDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.TrainFile, "train", "", "training data (.csv, .tsv, .jsonl)")
	f.StringVar(&cfg.ValidFile, "valid", "", "validation data (same format); default: --valid-split of --train")
	f.Float64Var(&cfg.ValidSplit, "valid-split", 0, "fraction of --train held out (stratified) when --valid is not given")
	f.StringVar(&cfg.Read.TextColumn, "text-column", "text", "text column / JSON field")
	f.StringVar(&cfg.Read.PairColumn, "pair-column", "text_pair", "second text column for pair tasks (used when present)")
	f.StringVar(&cfg.Read.LabelColumn, "label-column", "label", "label column / JSON field")
	f.StringVar(&cfg.Read.Format, "format", "", "csv, tsv or jsonl (default: by extension)")
	f.StringVar(&cfg.Read.Task, "task", "", "single_label_classification, multi_label_classification or regression (default: inferred)")
	f.BoolVar(&cfg.Read.SkipBadRows, "skip-bad-rows", false, "skip malformed rows (counted) instead of failing with file:line")
	f.StringVar(&cfg.Model, "model", "", "checkpoint directory, or config.json to train from scratch")
	f.StringVar(&cfg.Tokenizer, "tokenizer", "", "tokenizer.json (default: <model dir>/tokenizer.json)")
	f.StringVar(&cfg.OutputDir, "out", "", "output directory")
	f.BoolVar(&cfg.ReinitHead, "reinit-head", false, "train a fresh classification head for the data's labels even when the checkpoint has a trained one")
	f.StringVar(&cfg.Pooling, "pooling", "", "cls, mean or max (default: the config's); mean/max directories get kiln_modeling.py so transformers loads them with trust_remote_code=True")
	f.IntVar(&cfg.Epochs, "epochs", d.Epochs, "training epochs (ignored when --max-steps is set)")
	f.IntVar(&cfg.MaxSteps, "max-steps", 0, "optimiser steps (overrides --epochs)")
	f.IntVar(&cfg.BatchSize, "batch-size", d.BatchSize, "rows per micro-batch")
	f.IntVar(&cfg.GradAccum, "grad-accum", d.GradAccum, "micro-batches per optimiser step")
	f.IntVar(&cfg.MaxLength, "max-length", d.MaxLength, "truncate tokenised rows to this many tokens (batches pad dynamically)")
	f.BoolVar(&cfg.NoShuffle, "no-shuffle", false, "keep the file's row order (benchmarks)")
	f.BoolVar(&cfg.GroupByLength, "group-by-length", d.GroupByLength, "batch rows of similar length together (less padding)")
	f.Float64Var(&cfg.LR, "lr", d.LR, "peak learning rate of the encoder")
	f.Float64Var(&cfg.HeadLR, "head-lr", 0, "learning rate of the classification head (default: --lr)")
	f.Float64Var(&cfg.LayerDecay, "layer-decay", d.LayerDecay, "layer-wise LR decay factor (<1: lower layers learn slower)")
	f.Float64Var(&cfg.WeightDecay, "weight-decay", d.WeightDecay, "AdamW decoupled weight decay (not on biases/LayerNorm)")
	f.StringVar(&cfg.Schedule, "schedule", d.Schedule, "LR schedule: constant, linear or cosine")
	f.IntVar(&cfg.WarmupSteps, "warmup-steps", 0, "warmup steps")
	f.Float64Var(&cfg.WarmupRatio, "warmup-ratio", 0, "warmup as a fraction of all steps (wins over --warmup-steps)")
	f.Float64Var(&cfg.MaxGradNorm, "max-grad-norm", d.MaxGradNorm, "clip the global gradient norm (<0: off)")
	f.Uint64Var(&cfg.Seed, "seed", d.Seed, "seed for data order, head init and dropout")
	f.StringVar(&cfg.Precision, "precision", d.Precision, "fp32; fp16 (CUDA autocast + dynamic loss scaling); bf16 (autocast on CUDA or CPU)")
	f.StringVar(&cfg.Device, "device", d.Device, "cpu, cuda or cuda:N")
	f.BoolVar(&cfg.GradientCheckpointing, "gradient-checkpointing", false, "recompute layers in backward to save memory")
	f.IntVar(&cfg.EvalSteps, "eval-steps", 0, "evaluate every N steps (0: every epoch)")
	f.IntVar(&cfg.SaveSteps, "save-steps", 0, "checkpoint every N steps (0: at each evaluation that improves, and at the end)")
	f.IntVar(&cfg.SaveTotalLimit, "save-total-limit", d.SaveTotalLimit, "keep the newest N checkpoints (plus the best); 0 keeps all")
	f.IntVar(&cfg.Patience, "early-stopping-patience", 0, "stop after N evaluations without improvement (0: off)")
	f.StringVar(&cfg.MetricForBest, "metric-for-best", "", "accuracy, macro_f1, roc_auc, loss, mse, pearson (default: accuracy; mse for regression)")
	f.StringVar(&cfg.Resume, "resume", "", `"auto" (newest checkpoint in --out) or a checkpoint directory`)
	f.IntVar(&cfg.LogSteps, "log-steps", d.LogSteps, "write a log.jsonl line every N steps")
	f.Float64Var(&cfg.Dropout, "dropout", d.Dropout, "override every dropout probability (<0: keep the config's)")
	f.Float64Var(&cfg.PeakTFLOPS, "peak-tflops", 0, "the device's peak TFLOP/s for the precision used (e.g. 989 for H100 SXM bf16/fp16 dense): metrics.json then reports MFU")
	f.IntVar(&cfg.Folds, "folds", 0, "stratified k-fold: train K models (out/fold-k), write out-of-fold predictions to out/oof.jsonl and out/cv_metrics.json")
	f.IntVar(&nproc, "nproc-per-node", 1, "data-parallel worker processes to start on this machine (ignored under torchrun/Slurm, which start them)")
	f.StringVar(&cfg.DistBackend, "dist-backend", "", "process-group backend of a data-parallel run: gloo or nccl (default: nccl on CUDA, gloo on CPU)")
	f.DurationVar(&cfg.DistTimeout, "dist-timeout", dist.DefaultTimeout, "a data-parallel collective (or the wait while rank 0 evaluates or checkpoints) that takes longer fails, naming the rank that is gone")
	f.BoolVar(&cfg.DistNoOverlap, "dist-no-overlap", false, "all-reduce a data-parallel run's gradients after backward instead of overlapping it with backward in buckets (c10d's Reducer, as DDP); gradient checkpointing implies it")
	f.IntVar(&cfg.DistBucketMB, "dist-bucket-mb", dist.DefaultBucketBytes>>20, "size of the overlapped all-reduce's gradient buckets in MiB (DDP's bucket_cap_mb)")
	f.BoolVar(&noProgress, "no-progress", false, "hide the progress bar")
	f.StringSliceVar(&cfg.ReportTo, "report-to", nil, "also log to `where`: tensorboard (event files under OUT/runs, as HF Trainer's --report_to; view them with tensorboard --logdir OUT/runs), or none")
	f.BoolVar(&asJSON, "json", false, "print the run summary as JSON on stdout (implies --no-progress)")
	return cmd
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
