package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/models"
)

// `kiln models` is pure Go (no libtorch): both subcommands work in the
// serving-only build.
func init() { addCommand(newModelsCmd()) }

func newModelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Create and inspect HuggingFace-layout checkpoints",
	}
	cmd.AddCommand(newModelsInitCmd(), newModelsInspectCmd())
	return cmd
}

func newModelsInitCmd() *cobra.Command {
	var (
		configPath, out, dtype string
		seed                   uint64
		numLabels              int
		labels                 []string
		force                  bool
	)
	cmd := &cobra.Command{
		Use:   "init --config config.json --out DIR",
		Short: "Write a randomly initialised checkpoint (config.json + model.safetensors) for training from scratch",
		Long: `init reads a HuggingFace config.json (bert, roberta, distilbert, electra or deberta-v2), draws
weights as HF's _init_weights does (normal(0, initializer_range), zero biases, LayerNorm 1/0,
zero padding rows) and writes config.json and model.safetensors into --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" || out == "" {
				return fmt.Errorf("models init: --config and --out are required")
			}
			cfg, err := models.LoadConfig(configPath)
			if err != nil {
				return err
			}
			if len(labels) > 0 {
				cfg.SetLabels(labels)
			} else if numLabels > 0 {
				cfg.SetNumLabels(numLabels)
			}
			// The checkpoint has a classification head whatever the source
			// config said (a base model's config names e.g. BertModel).
			cfg.Architectures = []string{models.ArchitectureName(cfg.ModelType)}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("%s: %w", configPath, err)
			}
			dt, err := parseDType(dtype)
			if err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err == nil && !force {
				return fmt.Errorf("models init: %s already holds model.safetensors (use --force to overwrite)", out)
			}
			sd, err := models.InitStateDict(cfg, seed, dt)
			if err != nil {
				return err
			}
			if err := models.WriteSafetensors(filepath.Join(out, "model.safetensors"), sd, map[string]string{"format": "pt"}); err != nil {
				return err
			}
			if err := cfg.Save(out); err != nil {
				return err
			}
			n, _ := models.CountParams(sd)
			slog.Info("models init", "dir", out, "model_type", cfg.ModelType, "params", n, "dtype", dt, "seed", seed)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "HF config.json (file or directory)")
	f.StringVar(&out, "out", "", "output directory")
	f.StringVar(&dtype, "dtype", "f32", "dtype on disk: f32, f16 or bf16")
	f.Uint64Var(&seed, "seed", 42, "random seed")
	f.IntVar(&numLabels, "num-labels", 0, "number of labels (overrides config id2label)")
	f.StringSliceVar(&labels, "labels", nil, "label names in id order (overrides --num-labels)")
	f.BoolVar(&force, "force", false, "overwrite an existing checkpoint")
	return cmd
}

func parseDType(s string) (string, error) {
	switch strings.ToLower(s) {
	case "f32", "float32", "fp32":
		return "F32", nil
	case "f16", "float16", "fp16", "half":
		return "F16", nil
	case "bf16", "bfloat16":
		return "BF16", nil
	}
	return "", fmt.Errorf("--dtype %q: want f32, f16 or bf16", s)
}

// inspectReport is what `kiln models inspect --json` prints.
type inspectReport struct {
	Dir           string           `json:"dir"`
	File          string           `json:"file"`
	ModelType     string           `json:"model_type"`
	Architectures []string         `json:"architectures,omitempty"`
	Layers        int              `json:"num_hidden_layers"`
	Hidden        int              `json:"hidden_size"`
	Heads         int              `json:"num_attention_heads"`
	Intermediate  int              `json:"intermediate_size"`
	Vocab         int              `json:"vocab_size"`
	Labels        map[int]string   `json:"id2label"`
	Pooling       string           `json:"pooling"`
	Params        int64            `json:"parameters"`
	DTypes        map[string]int64 `json:"dtypes"`
	Tensors       int              `json:"tensors"`
	Missing       []string         `json:"missing,omitempty"`
	Unexpected    []string         `json:"unexpected,omitempty"`
	Dropped       []string         `json:"dropped,omitempty"`
	ConfigError   string           `json:"config_error,omitempty"`
}

func newModelsInspectCmd() *cobra.Command {
	var asJSON, listTensors bool
	cmd := &cobra.Command{
		Use:   "inspect DIR",
		Short: "Print a checkpoint's architecture, parameter count and dtypes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			cfg, err := models.LoadConfig(dir)
			if err != nil {
				return err
			}
			sd, err := models.LoadStateDict(dir)
			if err != nil {
				return err
			}
			r := inspectReport{
				Dir: dir, ModelType: cfg.ModelType, Architectures: cfg.Architectures, Layers: cfg.NumHiddenLayers,
				Hidden: cfg.HiddenSize, Heads: cfg.NumAttentionHeads, Intermediate: cfg.IntermediateSize,
				Vocab: cfg.VocabSize, Labels: cfg.ID2Label, Pooling: cfg.Pooling, Tensors: len(sd),
			}
			r.File = "model.safetensors"
			if _, err := os.Stat(filepath.Join(dir, r.File)); err != nil {
				r.File = "pytorch_model.bin"
			}
			r.Params, r.DTypes = models.CountParams(sd)
			if err := cfg.Validate(); err != nil {
				r.ConfigError = err.Error()
			} else {
				_, rep := models.NormalizeStateDict(cfg, sd)
				r.Missing, r.Unexpected, r.Dropped = rep.Missing, rep.Unexpected, rep.Dropped
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			printInspect(w, r)
			if listTensors {
				for _, name := range sd.Names() {
					t := sd[name]
					fmt.Fprintf(w, "  %-70s %-5s %v\n", name, t.DType, t.Shape)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&listTensors, "tensors", false, "list every tensor")
	return cmd
}

func printInspect(w io.Writer, r inspectReport) {
	fmt.Fprintf(w, "checkpoint    %s (%s)\n", r.Dir, r.File)
	fmt.Fprintf(w, "architecture  %s %v, pooling %s\n", r.ModelType, r.Architectures, r.Pooling)
	fmt.Fprintf(w, "shape         %d layers, hidden %d, %d heads, intermediate %d, vocab %d\n", r.Layers, r.Hidden, r.Heads, r.Intermediate, r.Vocab)
	ids := make([]int, 0, len(r.Labels))
	for i := range r.Labels {
		ids = append(ids, i)
	}
	sort.Ints(ids)
	var ls []string
	for _, i := range ids {
		ls = append(ls, fmt.Sprintf("%d=%s", i, r.Labels[i]))
	}
	fmt.Fprintf(w, "labels        %s\n", strings.Join(ls, " "))
	var dts []string
	for dt, n := range r.DTypes {
		dts = append(dts, fmt.Sprintf("%s:%d", dt, n))
	}
	sort.Strings(dts)
	fmt.Fprintf(w, "parameters    %d (%.2fM) in %d tensors, dtypes %s\n", r.Params, float64(r.Params)/1e6, r.Tensors, strings.Join(dts, " "))
	if r.ConfigError != "" {
		fmt.Fprintf(w, "config        INVALID: %s\n", r.ConfigError)
	}
	if len(r.Missing) > 0 {
		fmt.Fprintf(w, "missing       %d keys (e.g. %s) — a fresh head is initialised when fine-tuning\n", len(r.Missing), r.Missing[0])
	}
	if len(r.Unexpected) > 0 {
		fmt.Fprintf(w, "unexpected    %s\n", strings.Join(r.Unexpected, " "))
	}
	if len(r.Dropped) > 0 {
		fmt.Fprintf(w, "dropped       %d pre-training head / buffer keys\n", len(r.Dropped))
	}
}
