package export

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kiln-ml/kiln/export/onnxpb"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/models"
)

// TestFirstTokenLayer checks the last layer's first-token form, built when
// the pooling is cls and last_hidden_state is not an output. For every
// architecture, activation kind, dtype and graph it checks that the export
// (1) passes verification against HF transformers, (2) gives the outputs of
// the same export with last_hidden_state added (which is never pruned) on
// padded batches of several shapes, to 1e-5 in fp32, and (3) really feeds
// the last layer's feed-forward block one token: the input of its first
// MatMul has sequence length 1, against S for the unpruned graph and for
// the cases that must not be pruned.
func TestFirstTokenLayer(t *testing.T) {
	lib := initORT(t)
	cases := []struct {
		arch, pooling, act string
		outputs            []string
		pruned             bool
	}{
		{"bert", "cls", "gelu", []string{OutputLogits}, true},
		{"bert", "cls", "gelu_new", []string{OutputLogits, OutputPooled}, true},
		{"roberta", "cls", "gelu", []string{OutputLogits}, true},
		{"distilbert", "cls", "gelu", []string{OutputLogits}, true},
		{"distilbert", "cls", "relu", []string{OutputPooled}, true},
		{"electra", "cls", "gelu", []string{OutputLogits, OutputPooled}, true},
		{"bert", "cls", "gelu", []string{OutputLogits, OutputLastHiddenState}, false},
		{"bert", "mean", "gelu", []string{OutputLogits, OutputPooled}, false},
	}
	variants := []struct {
		dtype    string
		optimize bool
		tol      float64 // max abs diff to the unpruned export
	}{{"fp32", false, 1e-5}, {"fp32", true, 1e-5}, {"fp16", false, 1e-2}, {"fp16", true, 1e-2}}
	// Sequence length 1 (the slice is the whole input) up to a padded 16×128.
	shapes := [][2]int{{1, 1}, {1, 9}, {5, 17}, {16, 128}}

	for _, c := range cases {
		name := fmt.Sprintf("%s-%s-%s-%v", c.arch, c.pooling, c.act, c.outputs)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := makeTiny(t, c.arch, c.pooling, c.act)
			ref := startReference(t, src)
			cfg, err := models.LoadConfig(src)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := models.LoadStateDict(src)
			if err != nil {
				t.Fatal(err)
			}
			sd, _ := models.NormalizeStateDict(cfg, raw)
			a, err := archFor(cfg, sd)
			if err != nil {
				t.Fatal(err)
			}
			lastInter := a.prefix + fmt.Sprintf(a.layer, cfg.NumHiddenLayers-1) + a.inter + ".weight"
			withHidden := c.outputs
			if !slices.Contains(withHidden, OutputLastHiddenState) {
				withHidden = append(slices.Clone(c.outputs), OutputLastHiddenState)
			}

			for _, v := range variants {
				name := v.dtype
				if v.optimize {
					name += "-optimized"
				}
				t.Run(name, func(t *testing.T) {
					dir := filepath.Join(t.TempDir(), "onnx")
					rep, err := Export(context.Background(), src, dir, Options{
						DType: v.dtype, Optimize: v.optimize, Outputs: c.outputs, Reference: ref,
						Verify: VerifyOptions{Shapes: shapes, ORTLibrary: lib},
					})
					if err != nil {
						t.Fatalf("export: %v", err)
					}
					if vr := rep.Verification; !vr.Passed || (v.dtype == "fp32" && vr.MaxAbsDiff > 1e-4) {
						t.Fatalf("verification against transformers: %+v", vr)
					}
					// Without logits the head's weights are rightly unused.
					if slices.Contains(c.outputs, OutputLogits) && len(rep.Unused) > 0 {
						t.Fatalf("unused checkpoint tensors: %v", rep.Unused)
					}
					full := filepath.Join(t.TempDir(), "full")
					if _, err := Export(context.Background(), src, full, Options{DType: v.dtype, Optimize: v.optimize, Outputs: withHidden}); err != nil {
						t.Fatalf("export with %s: %v", OutputLastHiddenState, err)
					}

					rng := rand.New(rand.NewPCG(5, 6))
					worst := 0.0
					for _, shape := range shapes {
						b := SampleBatch(rng, cfg, shape[0], shape[1], slices.Contains(rep.Inputs, TokenTypeIDs))
						got := runORT(t, filepath.Join(dir, ModelFile), b, ort.Options{})
						want := runORT(t, filepath.Join(full, ModelFile), b, ort.Options{})
						for _, o := range c.outputs {
							d := maxAbsDiff(got[o].Data, want[o].Data)
							worst = max(worst, d)
							if d > v.tol {
								t.Errorf("%v: %s differs from the export with %s by %.3g > %.3g", shape, o, OutputLastHiddenState, d, v.tol)
							}
						}
					}

					t.Logf("max abs diff to the export with %s: %.3g; against transformers: %.3g", OutputLastHiddenState, worst, rep.Verification.MaxAbsDiff)

					b := SampleBatch(rng, cfg, 3, 12, slices.Contains(rep.Inputs, TokenTypeIDs))
					wantSeq := int64(b.Seq)
					if c.pruned {
						wantSeq = 1
					}
					if got := ffnInputShape(t, filepath.Join(dir, ModelFile), lastInter, b); len(got) != 3 || got[0] != 3 || got[1] != wantSeq {
						t.Errorf("last layer's feed-forward input has shape %v, want [3 %d %d]", got, wantSeq, cfg.HiddenSize)
					}
					if got := ffnInputShape(t, filepath.Join(full, ModelFile), lastInter, b); len(got) != 3 || got[1] != int64(b.Seq) {
						t.Errorf("with %s: last layer's feed-forward input has shape %v, want [3 %d %d]", OutputLastHiddenState, got, b.Seq, cfg.HiddenSize)
					}
				})
			}
		})
	}
}

// ffnInputShape runs the model at path with the input of the MatMul by
// weight (an HF Linear weight, stored as is behind a Transpose in the plain
// graph, transposed as weight+"_t" in the optimised one) added as an
// output, and returns that tensor's shape.
func ffnInputShape(t *testing.T, path, weight string, b Batch) []int64 {
	t.Helper()
	m := readModel(t, path)
	transposeOf := map[string]string{} // Transpose output → its input
	for _, n := range m.Graph.Node {
		if n.GetOpType() == "Transpose" {
			transposeOf[n.Output[0]] = n.Input[0]
		}
	}
	var in []string
	for _, n := range m.Graph.Node {
		if n.GetOpType() == "MatMul" && (n.Input[1] == weight+"_t" || transposeOf[n.Input[1]] == weight) {
			in = append(in, n.Input[0])
		}
	}
	if len(in) != 1 {
		t.Fatalf("%s: %d MatMul nodes read %s, want 1", path, len(in), weight)
	}
	// Cast: Run returns float32 outputs only, and fp16 graphs compute in float16.
	const probe = "ffn_input"
	m.Graph.Node = append(m.Graph.Node, &onnxpb.NodeProto{
		Name: strPtr("probe_cast"), OpType: strPtr("Cast"), Input: in, Output: []string{probe},
		Attribute: []*onnxpb.AttributeProto{attrInt("to", int64(onnxpb.TensorProto_FLOAT))},
	})
	m.Graph.Output = append(m.Graph.Output, valueInfo(probe, onnxpb.TensorProto_FLOAT, "b", "s", "h"))
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	probePath := filepath.Join(t.TempDir(), "probe.onnx")
	if err := os.WriteFile(probePath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return runORT(t, probePath, b, ort.Options{})[probe].Shape
}
