package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/models"
)

// `kiln export` is a thin front over package export. The graph writer is
// pure Go; only the libtorch reference for --verify differs between the full
// build (export_torch.go) and the serving-only build (export_notorch.go).
func init() { addCommand(newExportCmd()) }

func newExportCmd() *cobra.Command {
	var (
		src, out, dtype, outputs string
		verifyDevice             string
		opset, threads           int
		optimize, force, extData bool
		verify, noVerify, asJSON bool
		seed                     uint64
	)
	cmd := &cobra.Command{
		Use:   "export --model DIR --out DIR",
		Short: "Write a verified ONNX model + tokenizer.json + config.json from a checkpoint",
		Long: `export turns a kiln-trained model or a HuggingFace checkpoint directory (bert, roberta,
distilbert, electra, deberta-v2; model.safetensors or pytorch_model.bin) into a deployable directory:
model.onnx, config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json.

The ONNX graph is written by kiln itself (no Python, no torch.onnx), with Optimum's input and
output names: input_ids, attention_mask[, token_type_ids] (int64, dynamic batch_size and
sequence_length) → logits (float32). --outputs adds last_hidden_state and pooled (the
sentence embedding of the configured pooling: cls, mean or max).

--optimize writes ONNX Runtime's fused operators (Attention, SkipLayerNormalization,
BiasGelu/FastGelu): faster on ONNX Runtime, but only ONNX Runtime can run that graph
(not available for deberta-v2).
--dtype fp16 stores weights and computes in half precision (inputs and logits unchanged).

Verification (on by default) runs the export on ONNX Runtime and the checkpoint on libtorch
over padded inputs of several shapes: fp32 must agree to 1e-4 (max abs diff), fp16 must pick
the same class on ≥99.5% of rows. A failed verification writes nothing and exits with status
2. The output directory appears atomically; an existing one needs --force.

--verify-device cpu (the default), cuda or cuda:N runs both sides there: the trainer's
libtorch forward on that device and ONNX Runtime's CUDA execution provider (TF32 off, so
float32 is compared as float32; it needs onnxruntime-gpu's libraries). A device that cannot
be used is an error naming what is missing. --verify-device auto uses CUDA on each side
that can, prints one line per side that stays on the CPU, and the report names both.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if src == "" || out == "" {
				return fmt.Errorf("export: --model and --out are required")
			}
			if noVerify {
				verify = false
			}
			opts := export.Options{
				Opset: opset, DType: dtype, Optimize: optimize, Force: force, ExternalData: extData,
				Verify: export.VerifyOptions{Seed: seed, Threads: threads, Device: verifyDevice},
				Logger: slog.Default(),
			}
			for _, o := range strings.Split(outputs, ",") {
				if o = strings.TrimSpace(o); o != "" {
					opts.Outputs = append(opts.Outputs, o)
				}
			}
			// A wrong --model path is the user's mistake to fix, not a libtorch
			// verification failure; say so before loading the reference.
			if _, err := models.LoadConfig(src); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if verify {
				ref, closeRef, fallback, err := exportReference(src, verifyDevice)
				if err != nil {
					return fmt.Errorf("export: --verify-device: %w", err)
				}
				defer closeRef()
				if fallback != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "export: --verify-device auto: libtorch runs on the CPU, CUDA is unavailable: %s\n", fallback)
				}
				opts.Reference = ref
			}
			rep, err := export.Export(cmd.Context(), src, out, opts)
			if rep != nil && rep.Verification != nil && rep.Verification.ProviderFallback != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "export: --verify-device auto: ONNX Runtime runs on the CPU, its CUDA provider is unavailable: %s\n", rep.Verification.ProviderFallback)
			}
			if rep != nil {
				if perr := printExportReport(cmd.OutOrStdout(), rep, asJSON); perr != nil && err == nil {
					err = perr
				}
			}
			if err != nil {
				var ve *export.VerificationError
				if errors.As(err, &ve) {
					return fmt.Errorf("export: %w (nothing written to %s)", err, out)
				}
				return fmt.Errorf("export: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&src, "model", "", "checkpoint directory (config.json + model.safetensors or pytorch_model.bin, tokenizer.json or vocab.txt)")
	f.StringVar(&out, "out", "", "output directory (created atomically)")
	f.IntVar(&opset, "opset", export.DefaultOpset, fmt.Sprintf("ONNX opset (%d..%d)", export.MinOpset, export.MaxOpset))
	f.StringVar(&dtype, "dtype", "fp32", "weights and compute precision: fp32 or fp16 (inputs and outputs stay int64/float32)")
	f.BoolVar(&optimize, "optimize", false, "emit ONNX Runtime's fused contrib operators (ONNX Runtime only)")
	f.StringVar(&outputs, "outputs", "", "comma-separated graph outputs: logits, last_hidden_state, pooled (default logits)")
	f.BoolVar(&force, "force", false, "replace an existing output directory")
	f.BoolVar(&extData, "external-data", false, "store weights in model.onnx_data (automatic above 1.5 GiB)")
	f.BoolVar(&verify, "verify", true, "compare ONNX Runtime with the libtorch forward before writing")
	f.BoolVar(&noVerify, "no-verify", false, "skip verification")
	f.BoolVar(&asJSON, "json", false, "print the report (and verification numbers) as JSON")
	f.Uint64Var(&seed, "seed", 0, "seed of the verification inputs")
	f.IntVar(&threads, "threads", 0, "ONNX Runtime intra-op threads during verification (0: its default)")
	f.StringVar(&verifyDevice, "verify-device", "cpu", "where verification runs both sides: cpu, cuda, cuda:N (libtorch's GPU and ONNX Runtime's CUDA provider) or auto (CUDA on each side that can use it)")
	return cmd
}

func printExportReport(w io.Writer, rep *export.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(w, "model       %s (%s, pooling %s) → %s\n", rep.Source, rep.ModelType, rep.Pooling, rep.OutDir)
	fmt.Fprintf(w, "graph       opset %d, %s, optimized=%v, %d nodes, %d initialisers, %d parameters\n",
		rep.Opset, rep.DType, rep.Optimized, rep.Nodes, rep.Initializers, rep.Parameters)
	fmt.Fprintf(w, "inputs      %s\noutputs     %s\n", strings.Join(rep.Inputs, ", "), strings.Join(rep.Outputs, ", "))
	if rep.LastLayerFirstToken {
		fmt.Fprintf(w, "pruned      the last layer computes token 0 only (CLS pooling; request last_hidden_state to keep it whole)\n")
	}
	fmt.Fprintf(w, "files       %s\ntokenizer   %s\n", strings.Join(rep.Files, ", "), rep.Tokenizer)
	if v := rep.Verification; v != nil {
		status := "PASSED"
		if !v.Passed {
			status = "FAILED"
		}
		logits := slices.Contains(v.Compared, export.OutputLogits)
		agree := "n/a (no logits compared)"
		if logits {
			agree = fmt.Sprintf("%.4f", v.ArgmaxAgreement)
		}
		fmt.Fprintf(w, "verify      %s against %s on %s (%s, outputs %s): max abs diff %.3g, argmax agreement %s over %d rows\n",
			status, v.Reference, v.Provider, v.DType, strings.Join(v.Compared, ", "), v.MaxAbsDiff, agree, v.Rows)
		for _, c := range v.Cases {
			fmt.Fprintf(w, "  batch %3d seq %4d  max abs diff %.3g (%s)", c.Batch, c.Seq, c.MaxAbsDiff, c.Output)
			if logits {
				fmt.Fprintf(w, "  argmax agreement %.4f", c.ArgmaxAgreement)
			}
			fmt.Fprintln(w)
		}
	} else {
		fmt.Fprintln(w, "verify      skipped")
	}
	return nil
}
