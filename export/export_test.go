package export

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kiln-ml/kiln/export/onnxpb"
	"github.com/kiln-ml/kiln/internal/ort"
)

// dynamicShapes runs one export at batch 1, 7, 32 and lengths 5, 64, 512
// (every pair of the extremes, and the middle).
var dynamicShapes = [][2]int{{1, 5}, {7, 64}, {32, 512}, {1, 512}, {32, 5}, {7, 5}}

// TestExportMatchesTransformers exports every architecture and pooling head
// in fp32 and fp16, plain and fused, and checks each against HF
// transformers' forward of the same checkpoint on padded inputs of every
// dynamic shape: max abs diff ≤ 1e-4 (fp32) on logits, last_hidden_state
// (kept positions) and pooled; fp16 argmax agreement ≥ 99.5%.
func TestExportMatchesTransformers(t *testing.T) {
	lib := initORT(t)
	type variant struct {
		dtype    string
		optimize bool
	}
	variants := []variant{{"fp32", false}, {"fp32", true}, {"fp16", false}, {"fp16", true}}
	// Every architecture × pooling head; the other activations ride along
	// on two of them rather than adding checkpoints (each costs a Python start).
	cases := []struct{ arch, pooling, act string }{
		{"bert", "cls", "gelu"}, {"bert", "mean", "gelu"}, {"bert", "max", "gelu_new"},
		{"roberta", "cls", "gelu"}, {"roberta", "mean", "gelu"}, {"roberta", "max", "gelu"},
		{"distilbert", "cls", "gelu"}, {"distilbert", "mean", "gelu"}, {"distilbert", "max", "relu"},
		{"electra", "cls", "gelu"},
	}
	for _, c := range cases {
		t.Run(c.arch+"-"+c.pooling+"-"+c.act, func(t *testing.T) {
			t.Parallel() // the time is mostly Python start-up and reference forwards
			src := makeTiny(t, c.arch, c.pooling, c.act)
			ref := startReference(t, src)
			for _, v := range variants {
				name := v.dtype
				if v.optimize {
					name += "-optimized"
				}
				t.Run(name, func(t *testing.T) {
					out := filepath.Join(t.TempDir(), "onnx")
					rep, err := Export(context.Background(), src, out, Options{
						DType: v.dtype, Optimize: v.optimize,
						Outputs:   []string{OutputLogits, OutputLastHiddenState, OutputPooled},
						Reference: ref,
						Verify:    VerifyOptions{Shapes: dynamicShapes, ORTLibrary: lib},
					})
					if err != nil {
						t.Fatalf("export: %v", err)
					}
					vr := rep.Verification
					t.Logf("max abs diff %.3g, argmax agreement %.4f over %d rows, %d nodes %v",
						vr.MaxAbsDiff, vr.ArgmaxAgreement, vr.Rows, rep.Nodes, rep.OpCounts)
					if !vr.Passed || len(vr.Compared) != 3 {
						t.Fatalf("verification: %+v", vr)
					}
					if v.dtype == "fp32" && vr.MaxAbsDiff > 1e-4 {
						t.Fatalf("fp32 max abs diff %.3g > 1e-4", vr.MaxAbsDiff)
					}
					if v.dtype == "fp16" && (vr.ArgmaxAgreement < 0.995 || vr.MaxAbsDiff > 0.1) {
						t.Fatalf("fp16: argmax agreement %.4f, max abs diff %.3g", vr.ArgmaxAgreement, vr.MaxAbsDiff)
					}
					wantInputs := []string{InputIDs, AttentionMask}
					if c.arch == "bert" || c.arch == "electra" {
						wantInputs = append(wantInputs, TokenTypeIDs)
					}
					if !slices.Equal(rep.Inputs, wantInputs) {
						t.Fatalf("inputs %v, want %v", rep.Inputs, wantInputs)
					}
					fused := rep.OpCounts["Attention"] + rep.OpCounts["SkipLayerNormalization"]
					if v.optimize != (fused > 0) {
						t.Fatalf("optimize=%v but fused op counts %v", v.optimize, rep.OpCounts)
					}
					// EmbedLayerNormalization has a float32 CPU kernel only.
					if want := v.optimize && v.dtype == "fp32"; want != (rep.OpCounts["EmbedLayerNormalization"] == 1) {
						t.Fatalf("optimize=%v dtype=%s: op counts %v", v.optimize, v.dtype, rep.OpCounts)
					}
					if len(rep.Unused) > 0 {
						t.Fatalf("unused checkpoint tensors: %v", rep.Unused)
					}
					for _, f := range []string{ModelFile, ConfigFile, TokenizerFile, TokenizerConfig, SpecialTokensFile} {
						if _, err := os.Stat(filepath.Join(out, f)); err != nil {
							t.Fatalf("missing %s: %v", f, err)
						}
					}
				})
			}
		})
	}
}

// TestExportIO checks the declared graph inputs and outputs as ONNX Runtime
// reads them: int64 inputs with dynamic [batch_size, sequence_length]
// axes, float logits [batch_size, num_labels], as Optimum declares them.
func TestExportIO(t *testing.T) {
	initORT(t)
	src := makeTiny(t, "bert", "cls", "gelu")
	for _, dtype := range []string{"fp32", "fp16"} {
		out := filepath.Join(t.TempDir(), "m")
		if _, err := Export(context.Background(), src, out, Options{DType: dtype}); err != nil {
			t.Fatal(err)
		}
		s, err := ort.NewSession(filepath.Join(out, ModelFile), ort.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range s.Inputs() {
			if in.DataType != "int64" || !slices.Equal(in.Shape, []int64{-1, -1}) {
				t.Errorf("%s input %s: %s %v", dtype, in.Name, in.DataType, in.Shape)
			}
		}
		outs := s.Outputs()
		if len(outs) != 1 || outs[0].Name != OutputLogits || outs[0].DataType != "float" || !slices.Equal(outs[0].Shape, []int64{-1, 3}) {
			t.Errorf("%s outputs %+v", dtype, outs)
		}
		s.Close()
		// The symbolic axis names are Optimum's.
		m := readModel(t, filepath.Join(out, ModelFile))
		for _, in := range m.Graph.Input {
			dims := in.GetType().GetTensorType().GetShape().GetDim()
			if dims[0].GetDimParam() != AxisBatch || dims[1].GetDimParam() != AxisSequence {
				t.Errorf("input %s dims %v", in.GetName(), dims)
			}
		}
		if dtype == "fp16" {
			for _, init := range m.Graph.Initializer {
				if strings.HasSuffix(init.GetName(), ".weight") && init.GetDataType() != int32(onnxpb.TensorProto_FLOAT16) {
					t.Errorf("fp16 export: weight %s has type %d", init.GetName(), init.GetDataType())
				}
			}
		}
	}
}

func readModel(t *testing.T, path string) *onnxpb.ModelProto {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExportOptions covers the option checks and the output directory
// rules, each with the error it must produce.
func TestExportOptions(t *testing.T) {
	src := makeTiny(t, "bert", "cls", "gelu")
	existing := t.TempDir()
	if err := os.WriteFile(filepath.Join(existing, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	gpt := t.TempDir()
	if err := os.WriteFile(filepath.Join(gpt, "config.json"), []byte(`{"model_type":"gpt2","n_embd":8}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		src     string
		out     string
		opts    Options
		wantErr string
	}{
		{"opset too old", src, "", Options{Opset: 13}, "opset 13 is not supported"},
		{"opset too new", src, "", Options{Opset: 19}, "opset 19 is not supported"},
		{"bad dtype", src, "", Options{DType: "int8"}, `dtype "int8" is not supported`},
		{"bad output", src, "", Options{Outputs: []string{"hidden"}}, `output "hidden" is not supported`},
		{"exists", src, existing, Options{}, "output directory exists"},
		{"unsupported architecture", gpt, "", Options{}, `model_type "gpt2" is not supported`},
		{"opset 14", src, "", Options{Opset: 14}, ""},
		{"force", src, existing, Options{Force: true}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := c.out
			if out == "" {
				out = filepath.Join(t.TempDir(), "out")
			}
			_, err := Export(context.Background(), c.src, out, c.opts)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(out, ModelFile)); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(out, "keep")); err == nil {
					t.Fatal("--force kept the old directory's files")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
			if c.out == "" {
				if _, err := os.Stat(out); err == nil {
					t.Fatal("failed export left an output directory")
				}
			}
		})
	}
	// No temporary directories are left next to the outputs.
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(existing), "."+filepath.Base(existing)+".tmp*"))
	if len(left) > 0 {
		t.Fatalf("temporary directories left: %v", left)
	}
}

// failingReference disagrees with every model, to check that a failed
// verification reports numbers and commits nothing.
type failingReference struct{ inner Reference }

func (f failingReference) Name() string { return "perturbed reference" }
func (f failingReference) Forward(ctx context.Context, b Batch) (*RefOutput, error) {
	o, err := f.inner.Forward(ctx, b)
	if err != nil {
		return nil, err
	}
	l := slices.Clone(o.Logits)
	l[0] += 1e-3
	return &RefOutput{Logits: l}, nil
}

func TestVerificationFailure(t *testing.T) {
	lib := initORT(t)
	src := makeTiny(t, "bert", "cls", "gelu")
	out := filepath.Join(t.TempDir(), "out")
	_, err := Export(context.Background(), src, out, Options{
		Reference: failingReference{startReference(t, src)},
		Verify:    VerifyOptions{Shapes: [][2]int{{2, 8}}, ORTLibrary: lib},
	})
	var ve *VerificationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v, want a VerificationError", err)
	}
	if ve.Report.MaxAbsDiff < 9e-4 || !strings.Contains(err.Error(), "max abs diff") || ve.ExitCode() == 0 {
		t.Fatalf("report %+v, message %q", ve.Report, err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a failed verification committed the output directory")
	}
}

// TestExternalData forces the weights into model.onnx_data and checks that
// ONNX Runtime loads them and computes the same logits as the inline model.
func TestExternalData(t *testing.T) {
	initORT(t)
	src := makeTiny(t, "roberta", "cls", "gelu")
	inline := filepath.Join(t.TempDir(), "inline")
	ext := filepath.Join(t.TempDir(), "ext")
	if _, err := Export(context.Background(), src, inline, Options{}); err != nil {
		t.Fatal(err)
	}
	rep, err := Export(context.Background(), src, ext, Options{ExternalData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.ExternalData || !slices.Contains(rep.Files, ExternalDataFile) {
		t.Fatalf("report %+v", rep)
	}
	mi, _ := os.Stat(filepath.Join(inline, ModelFile))
	me, _ := os.Stat(filepath.Join(ext, ModelFile))
	if me.Size()*10 > mi.Size() {
		t.Fatalf("model.onnx with external data is %d bytes, inline %d", me.Size(), mi.Size())
	}
	cfgB := Batch{Batch: 2, Seq: 6, InputIDs: []int64{0, 100, 200, 300, 400, 2, 0, 500, 2, 1, 1, 1},
		AttentionMask: []int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}}
	a := runORT(t, filepath.Join(inline, ModelFile), cfgB, ort.Options{})
	b := runORT(t, filepath.Join(ext, ModelFile), cfgB, ort.Options{})
	if d := maxAbsDiff(a[OutputLogits].Data, b[OutputLogits].Data); d != 0 {
		t.Fatalf("external-data logits differ by %g", d)
	}
}

// TestOpsets exports one checkpoint at every supported opset (14–16 spell
// LayerNorm out, 18 takes reduction axes as inputs) and checks ONNX Runtime
// gives the opset-17 logits and pooled output on a padded batch.
func TestOpsets(t *testing.T) {
	initORT(t)
	src := makeTiny(t, "bert", "mean", "gelu")
	b := Batch{Batch: 2, Seq: 6, InputIDs: []int64{101, 2000, 3000, 4000, 5000, 102, 101, 7000, 102, 0, 0, 0},
		AttentionMask: []int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, TokenTypeIDs: make([]int64, 12)}
	outputs := []string{OutputLogits, OutputPooled}
	run := func(opset int) map[string]ort.Float32Tensor {
		out := filepath.Join(t.TempDir(), "m")
		if _, err := Export(context.Background(), src, out, Options{Opset: opset, Outputs: outputs}); err != nil {
			t.Fatalf("opset %d: %v", opset, err)
		}
		if got := readModel(t, filepath.Join(out, ModelFile)).GetOpsetImport()[0].GetVersion(); got != int64(opset) {
			t.Fatalf("opset %d: model imports opset %d", opset, got)
		}
		return runORT(t, filepath.Join(out, ModelFile), b, ort.Options{})
	}
	want := run(DefaultOpset)
	for _, opset := range []int{MinOpset, 15, 16, MaxOpset} {
		got := run(opset)
		for _, o := range outputs {
			if d := maxAbsDiff(got[o].Data, want[o].Data); d > 1e-5 {
				t.Fatalf("opset %d: %s differs from opset %d by %.3g", opset, o, DefaultOpset, d)
			}
		}
	}
}
