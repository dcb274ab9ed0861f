// Package export turns a kiln or HuggingFace checkpoint directory into a
// deployable ONNX directory (model.onnx, config.json, tokenizer.json,
// tokenizer_config.json, special_tokens_map.json) with no Python: the graph
// is written node by node from the model definition and the checkpoint's
// weights, using Go types generated from the official onnx.proto.
//
// The package needs no libtorch. Verification against the libtorch forward
// is plugged in through the Reference interface (export/verify provides the
// libtorch one); the ONNX side of it runs on ONNX Runtime (internal/ort).
package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/kiln-ml/kiln/export/onnxpb"
	"github.com/kiln-ml/kiln/internal/atomicfile"
	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/models"
)

// Opset bounds: 14 is what HF Optimum uses at least; 18 is the newest the
// onnx.proto we generate from (IR version 8) describes.
const (
	DefaultOpset = 17
	MinOpset     = 14
	MaxOpset     = 18
)

// externalThreshold: protobuf messages cannot exceed 2 GiB, so initialiser
// data past this total goes to an external file.
const externalThreshold = 1 << 30 * 3 / 2

// File names in the output directory, and the graph's output, input and
// dynamic axis names as HF Optimum writes them: modelio's export-directory
// contract, which serve reads.
const (
	ModelFile         = modelio.ModelFile
	ExternalDataFile  = modelio.ExternalDataFile
	ConfigFile        = modelio.ConfigFile
	TokenizerFile     = modelio.TokenizerFile
	TokenizerConfig   = modelio.TokenizerConfigFile
	SpecialTokensFile = modelio.SpecialTokensFile

	OutputLogits          = modelio.OutputLogits
	OutputLastHiddenState = modelio.OutputLastHiddenState
	OutputPooled          = modelio.OutputPooled // the sentence embedding, before any head layer

	InputIDs      = modelio.InputIDs
	AttentionMask = modelio.AttentionMask
	TokenTypeIDs  = modelio.TokenTypeIDs
	AxisBatch     = modelio.AxisBatch
	AxisSequence  = modelio.AxisSequence
)

// Options configures Export. The zero value exports fp32 logits at opset 17
// with the plain graph and no verification.
type Options struct {
	Opset    int    // 0 = DefaultOpset
	DType    string // "fp32" (default) or "fp16"
	Optimize bool   // emit ONNX Runtime's fused contrib operators
	// Outputs lists the graph outputs, from OutputLogits, OutputLastHiddenState,
	// OutputPooled. Empty = logits, or last_hidden_state + pooled for a
	// checkpoint without a classification head.
	Outputs []string
	Force   bool // replace an existing output directory
	// ExternalData forces weights into model.onnx_data; it is automatic
	// above 1.5 GiB of weights (protobuf's 2 GiB limit).
	ExternalData bool
	// Reference, when set, verifies the export before the directory is
	// committed: a failed verification leaves outDir untouched.
	Reference Reference
	Verify    VerifyOptions
	Logger    *slog.Logger
}

// Report describes what Export wrote.
type Report struct {
	OutDir    string `json:"out_dir"`
	Source    string `json:"source"`
	ModelType string `json:"model_type"`
	Pooling   string `json:"pooling"`
	Opset     int    `json:"opset"`
	DType     string `json:"dtype"`
	Optimized bool   `json:"optimized"`
	// LastLayerFirstToken: the outputs read only token 0 of the last
	// layer (CLS pooling, no last_hidden_state), so the graph computes
	// that layer's attention output and feed-forward for token 0 alone.
	LastLayerFirstToken bool           `json:"last_layer_first_token"`
	Inputs              []string       `json:"inputs"`
	Outputs             []string       `json:"outputs"`
	Nodes               int            `json:"nodes"`
	OpCounts            map[string]int `json:"op_counts"`
	Initializers        int            `json:"initializers"`
	Parameters          int64          `json:"parameters"`
	ExternalData        bool           `json:"external_data"`
	Files               []string       `json:"files"`
	Tokenizer           string         `json:"tokenizer"`         // how tokenizer.json was obtained
	Unused              []string       `json:"unused,omitempty"`  // checkpoint tensors the graph does not read
	Dropped             []string       `json:"dropped,omitempty"` // pre-training heads and buffers
	Verification        *VerifyReport  `json:"verification,omitempty"`
}

// ErrExists is returned when outDir exists and Options.Force is not set.
var ErrExists = errors.New("output directory exists (use --force to replace it)")

// Export converts the checkpoint in srcDir into an ONNX directory at outDir.
func Export(ctx context.Context, srcDir, outDir string, opts Options) (*Report, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(outDir); err == nil && !opts.Force {
		return nil, fmt.Errorf("%s: %w", outDir, ErrExists)
	}
	cfg, err := models.LoadConfig(srcDir)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(srcDir, ConfigFile), err)
	}
	raw, err := models.LoadStateDict(srcDir)
	if err != nil {
		return nil, err
	}
	sd, keys := models.NormalizeStateDict(cfg, raw)
	outputs := opts.Outputs
	if len(outputs) == 0 {
		outputs = []string{OutputLogits}
		if !hasHead(cfg, sd) {
			outputs = []string{OutputLastHiddenState, OutputPooled}
			log.Warn("checkpoint has no classification head: exporting the encoder outputs only", "outputs", outputs)
		}
	}
	if slices.Contains(outputs, OutputLogits) && !hasHead(cfg, sd) {
		return nil, fmt.Errorf("%s: the checkpoint has no classification head, so there are no logits to export (use --outputs last_hidden_state,pooled)", srcDir)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	b, _, err := buildGraph(graphSpec{
		cfg: cfg, sd: sd, opset: opts.Opset, fp16: opts.DType == "fp16",
		optimized: opts.Optimize, outputs: outputs,
	})
	if err != nil {
		return nil, fmt.Errorf("build ONNX graph from %s: %w", srcDir, err)
	}
	model := newModel(b, cfg, opts)

	rep := &Report{
		OutDir: outDir, Source: srcDir, ModelType: cfg.ModelType, Pooling: cfg.Pooling,
		Opset: opts.Opset, DType: opts.DType, Optimized: opts.Optimize, Outputs: outputs,
		LastLayerFirstToken: firstTokenOnly(cfg.Pooling, outputs) && cfg.ModelType != models.TypeDeBERTaV2, Nodes: len(b.g.Node), Initializers: len(b.g.Initializer), OpCounts: map[string]int{},
		Unused: unusedWeights(sd, b.used), Dropped: keys.Dropped,
	}
	for _, in := range b.g.Input {
		rep.Inputs = append(rep.Inputs, in.GetName())
	}
	for _, n := range b.g.Node {
		rep.OpCounts[n.GetOpType()]++
	}
	for n := range b.used {
		rep.Parameters += sd[n].NumElements()
	}
	if len(rep.Unused) > 0 {
		log.Warn("checkpoint tensors not used by the exported graph", "count", len(rep.Unused), "first", rep.Unused[0])
	}

	parent := filepath.Dir(filepath.Clean(outDir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(outDir)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("create temporary output directory: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()

	ext := opts.ExternalData || initBytes(b.g) > externalThreshold
	files, err := writeModel(model, tmp, ext)
	if err != nil {
		return nil, err
	}
	rep.ExternalData = ext
	if err := atomicfile.Copy(filepath.Join(srcDir, ConfigFile), filepath.Join(tmp, ConfigFile)); err != nil {
		return nil, err
	}
	files = append(files, ConfigFile)
	// config.json's auto_map names kiln's transformers head for mean/max pooling.
	if _, err := os.Stat(filepath.Join(srcDir, models.RemoteCodeFile)); err == nil {
		if err := atomicfile.Copy(filepath.Join(srcDir, models.RemoteCodeFile), filepath.Join(tmp, models.RemoteCodeFile)); err != nil {
			return nil, err
		}
		files = append(files, models.RemoteCodeFile)
	}
	tokFiles, how, err := writeTokenizer(srcDir, tmp, cfg)
	if err != nil {
		return nil, err
	}
	rep.Tokenizer = how
	rep.Files = append(files, tokFiles...)
	log.Info("wrote ONNX model", "dir", outDir, "nodes", rep.Nodes, "opset", rep.Opset, "dtype", rep.DType, "optimized", rep.Optimized)

	if opts.Reference != nil {
		vr, err := Verify(ctx, tmp, cfg, opts.Reference, opts.DType, opts.Verify)
		rep.Verification = vr
		if err != nil {
			return rep, err
		}
	}
	if err := atomicfile.SyncDir(tmp); err != nil {
		return rep, err
	}
	if err := commitDir(tmp, outDir, opts.Force); err != nil {
		return rep, err
	}
	committed = true
	return rep, nil
}

func (o *Options) normalize() error {
	if o.Opset == 0 {
		o.Opset = DefaultOpset
	}
	if o.Opset < MinOpset || o.Opset > MaxOpset {
		return fmt.Errorf("opset %d is not supported (supported: %d..%d)", o.Opset, MinOpset, MaxOpset)
	}
	switch o.DType {
	case "", "fp32", "float32":
		o.DType = "fp32"
	case "fp16", "float16":
		o.DType = "fp16"
	default:
		return fmt.Errorf("dtype %q is not supported (fp32, fp16)", o.DType)
	}
	seen := map[string]bool{}
	for _, out := range o.Outputs {
		switch out {
		case OutputLogits, OutputLastHiddenState, OutputPooled:
		default:
			return fmt.Errorf("output %q is not supported (logits, last_hidden_state, pooled)", out)
		}
		if seen[out] {
			return fmt.Errorf("output %q listed twice", out)
		}
		seen[out] = true
	}
	return nil
}

// newModel wraps the graph with the opset imports and metadata.
func newModel(b *builder, cfg *models.Config, opts Options) *onnxpb.ModelProto {
	ir := int64(8)
	if opts.Opset < 16 {
		ir = 7
	}
	imports := []*onnxpb.OperatorSetIdProto{{Domain: strPtr(""), Version: ptr(int64(opts.Opset))}}
	if b.usesMS {
		imports = append(imports, &onnxpb.OperatorSetIdProto{Domain: strPtr(msDomain), Version: ptr(int64(1))})
	}
	meta := func(k, v string) *onnxpb.StringStringEntryProto {
		return &onnxpb.StringStringEntryProto{Key: strPtr(k), Value: strPtr(v)}
	}
	return &onnxpb.ModelProto{
		IrVersion: &ir, OpsetImport: imports,
		ProducerName: strPtr("kiln"), ProducerVersion: strPtr("1"),
		Graph: b.g,
		MetadataProps: []*onnxpb.StringStringEntryProto{
			meta("kiln.model_type", cfg.ModelType), meta("kiln.pooling", cfg.Pooling),
			meta("kiln.dtype", opts.DType), meta("kiln.optimized", fmt.Sprint(opts.Optimize)),
		},
	}
}

func ptr[T any](v T) *T { return &v }
