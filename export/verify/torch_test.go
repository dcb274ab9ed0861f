//go:build !notorch

package verify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
)

// tinyCheckpoint writes a small random checkpoint of arch with pooling in
// pure Go (models.InitStateDict), as kiln's trainer would save it. Weights
// use a wide initializer_range and biases/LayerNorm are perturbed, so the
// logits are well separated (fp16 argmax agreement is meaningless on ties)
// and a swapped gamma/beta or a dropped bias would show.
func tinyCheckpoint(t *testing.T, arch, pooling, act string) string {
	t.Helper()
	tok := testenv.Testdata("tokenizers/bert-base-uncased/tokenizer.json")
	vocab := 30522
	if arch == models.TypeRoBERTa {
		tok, vocab = testenv.Testdata("tokenizers/roberta-base/tokenizer.json"), 50265
	}
	cfg := models.DefaultConfig(arch)
	cfg.VocabSize = vocab
	cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 32, 2, 4, 48
	if arch == models.TypeELECTRA {
		cfg.EmbeddingSize = 16
	}
	cfg.HiddenAct = act
	cfg.Pooling = pooling
	return writeTinyCheckpoint(t, cfg, tok, arch+"-"+pooling)
}

// writeTinyCheckpoint draws cfg's weights (initializer_range 0.2, perturbed
// biases and LayerNorms) and writes them with tok into a temporary dir.
func writeTinyCheckpoint(t *testing.T, cfg *models.Config, tok, name string) string {
	t.Helper()
	cfg.InitializerRange = 0.2
	cfg.SetLabels([]string{"neg", "neutral", "pos"})
	sd, err := models.InitStateDict(cfg, 7, "F32")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for name, tensor := range sd {
		if !strings.HasSuffix(name, ".bias") && !strings.Contains(name, "LayerNorm") && !strings.Contains(name, "layer_norm") {
			continue
		}
		v, err := tensor.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		for i := range v {
			v[i] += float32(rng.NormFloat64() * 0.1)
		}
		if sd[name], err = models.FromFloat32s("F32", tensor.Shape, v); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Save(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	if err := models.WriteSafetensors(filepath.Join(dir, "model.safetensors"), sd, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cached memoises a reference's forwards: the four variants of one
// checkpoint are verified on the same seeded inputs.
type cached struct {
	inner export.Reference
	memo  map[string]*export.RefOutput
}

func (c *cached) Name() string { return c.inner.Name() }

func (c *cached) Forward(ctx context.Context, b export.Batch) (*export.RefOutput, error) {
	key := fmt.Sprint(b.Batch, b.Seq, b.InputIDs, b.AttentionMask, b.TokenTypeIDs)
	if o, ok := c.memo[key]; ok {
		return o, nil
	}
	o, err := c.inner.Forward(ctx, b)
	if err == nil {
		c.memo[key] = o
	}
	return o, err
}

// dynamicShapes: batch 1, 7, 32 and lengths 5, 64, 512 on one export.
var dynamicShapes = [][2]int{{1, 5}, {7, 64}, {32, 512}, {1, 512}, {32, 5}}

// TestExportVerifiesAgainstLibtorch exports kiln checkpoints of every
// architecture and pooling head and verifies them against the libtorch
// forward: fp32 max abs diff ≤ 1e-4 (logits, last_hidden_state at kept
// positions, pooled where libtorch reports it), plain and fused graphs;
// fp16 argmax agreement ≥ 99.5%.
func TestExportVerifiesAgainstLibtorch(t *testing.T) {
	lib := testenv.ORTLibrary(t)
	if err := ort.Init(lib); err != nil {
		t.Fatal(err)
	}
	// Every architecture and pooling head; the full dtype × graph matrix of
	// each is also checked against HF transformers in package export, so
	// the fp16 fused graph is left to that test here.
	cases := []struct{ arch, pooling, act string }{
		{"bert", "cls", "gelu"}, {"bert", "mean", "gelu_new"}, {"bert", "max", "relu"},
		{"roberta", "max", "gelu"}, {"distilbert", "mean", "gelu"}, {"electra", "cls", "gelu"},
	}
	variants := []struct {
		dtype    string
		optimize bool
	}{{"fp32", false}, {"fp32", true}, {"fp16", false}}
	for _, c := range cases {
		t.Run(c.arch+"-"+c.pooling+"-"+c.act, func(t *testing.T) {
			src := tinyCheckpoint(t, c.arch, c.pooling, c.act)
			tr, err := Load(src)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			ref := &cached{inner: tr, memo: map[string]*export.RefOutput{}}
			for _, v := range variants {
				name := v.dtype
				if v.optimize {
					name += "-optimized"
				}
				t.Run(name, func(t *testing.T) {
					out := filepath.Join(t.TempDir(), "onnx")
					rep, err := export.Export(context.Background(), src, out, export.Options{
						DType: v.dtype, Optimize: v.optimize,
						Outputs:   []string{export.OutputLogits, export.OutputLastHiddenState, export.OutputPooled},
						Reference: ref,
						Verify:    export.VerifyOptions{Shapes: dynamicShapes, ORTLibrary: lib},
					})
					if err != nil {
						t.Fatalf("export: %v", err)
					}
					vr := rep.Verification
					t.Logf("%s: max abs diff %.3g, argmax agreement %.4f over %d rows, compared %v",
						name, vr.MaxAbsDiff, vr.ArgmaxAgreement, vr.Rows, vr.Compared)
					wantCompared := 3
					if c.arch == "bert" {
						wantCompared = 2 // libtorch's Pooled is BERT's pooler output, not the feature
					}
					if !vr.Passed || len(vr.Compared) != wantCompared {
						t.Fatalf("verification %+v", vr)
					}
					if v.dtype == "fp32" && vr.MaxAbsDiff > 1e-4 {
						t.Fatalf("fp32 max abs diff %.3g > 1e-4", vr.MaxAbsDiff)
					}
					if v.dtype == "fp16" && vr.ArgmaxAgreement < 0.995 {
						t.Fatalf("fp16 argmax agreement %.4f < 0.995", vr.ArgmaxAgreement)
					}
				})
			}
		})
	}
}

// TestVerifyDetectsWrongModel verifies the export of one checkpoint against
// the libtorch forward of another of the same shape: the check must fail
// with a VerificationError carrying the numbers, and commit nothing.
func TestVerifyDetectsWrongModel(t *testing.T) {
	lib := testenv.ORTLibrary(t)
	a := tinyCheckpoint(t, "bert", "cls", "gelu")
	b := tinyCheckpoint(t, "bert", "mean", "gelu") // same sizes, other pooling
	ref, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	out := filepath.Join(t.TempDir(), "onnx")
	_, err = export.Export(context.Background(), a, out, export.Options{
		Reference: ref, Verify: export.VerifyOptions{Shapes: [][2]int{{4, 16}}, ORTLibrary: lib},
	})
	var ve *export.VerificationError
	if !errors.As(err, &ve) || ve.Report.MaxAbsDiff <= 1e-4 || ve.ExitCode() == 0 {
		t.Fatalf("error %v, want a VerificationError with max abs diff > 1e-4", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a failed verification committed the output directory")
	}
}
