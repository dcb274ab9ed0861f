package export

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/kiln-ml/kiln/export/onnxpb"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
)

// TestMatchesOptimum exports the same transformers checkpoint with kiln and
// with HF Optimum (optimum.exporters.onnx, torch.onnx underneath) and checks
// that (1) the graph interfaces are the same — input and output names, element
// types and symbolic axis names, so tools that read Optimum exports read
// ours — and (2) both give the same logits on ONNX Runtime for padded
// batches of several shapes (max abs diff ≤ 1e-4).
func TestMatchesOptimum(t *testing.T) {
	initORT(t)
	py := testenv.Python(t)
	// deberta: DeBERTa-v3's options (log buckets reached by the longer
	// batches, shared position keys, no token types); deberta-v2: separate
	// position projections, token types, absolute positions, tanh pooler.
	archs := []string{"bert", "roberta", "distilbert", "deberta", "deberta-v2"}
	srcs, optDirs, ourDirs := map[string]string{}, map[string]string{}, map[string]string{}
	args := []string{filepath.Join("testdata", "optimum_export.py")}
	for _, arch := range archs {
		srcs[arch] = makeTiny(t, arch, "cls", "gelu")
		optDirs[arch] = filepath.Join(t.TempDir(), "optimum-"+arch)
		ourDirs[arch] = filepath.Join(t.TempDir(), "kiln-"+arch)
		args = append(args, srcs[arch], optDirs[arch])
		if _, err := Export(context.Background(), srcs[arch], ourDirs[arch], Options{}); err != nil {
			t.Fatal(err)
		}
	}
	// One interpreter start for the three Optimum exports.
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("optimum export: %v\n%s", err, out)
	}
	for _, arch := range archs {
		t.Run(arch, func(t *testing.T) {
			src, optDir, ours := srcs[arch], optDirs[arch], ourDirs[arch]
			om := readModel(t, filepath.Join(optDir, ModelFile))
			km := readModel(t, filepath.Join(ours, ModelFile))
			if a, b := ioSignature(om.Graph.Input), ioSignature(km.Graph.Input); !slices.Equal(a, b) {
				t.Fatalf("inputs: optimum %v, kiln %v", a, b)
			}
			if a, b := ioSignature(om.Graph.Output), ioSignature(km.Graph.Output); !slices.Equal(a, b) {
				t.Fatalf("outputs: optimum %v, kiln %v", a, b)
			}

			cfg, err := models.LoadConfig(src)
			if err != nil {
				t.Fatal(err)
			}
			hasTT := arch == "bert" || arch == "deberta-v2"
			rng := rand.New(rand.NewPCG(1, 2))
			worst := 0.0
			for _, shape := range [][2]int{{1, 5}, {7, 64}, {16, 200}} {
				b := SampleBatch(rng, cfg, shape[0], shape[1], hasTT)
				want := runORT(t, filepath.Join(optDir, ModelFile), b, ort.Options{})[OutputLogits]
				got := runORT(t, filepath.Join(ours, ModelFile), b, ort.Options{})[OutputLogits]
				if !slices.Equal(want.Shape, got.Shape) {
					t.Fatalf("%v: logits shape optimum %v, kiln %v", shape, want.Shape, got.Shape)
				}
				d := maxAbsDiff(want.Data, got.Data)
				worst = max(worst, d)
				if d > 1e-4 {
					t.Fatalf("%v: logits differ from Optimum's export by %.3g > 1e-4", shape, d)
				}
			}
			t.Logf("%s: max abs diff vs Optimum %.3g", arch, worst)
		})
	}
}

// ioSignature renders graph inputs/outputs as "name:elemtype[dims]", with
// symbolic dims by name, fixed dims by value.
func ioSignature(vs []*onnxpb.ValueInfoProto) []string {
	var out []string
	for _, v := range vs {
		tt := v.GetType().GetTensorType()
		s := v.GetName() + ":" + onnxpb.TensorProto_DataType(tt.GetElemType()).String() + "["
		for i, d := range tt.GetShape().GetDim() {
			if i > 0 {
				s += ","
			}
			if p := d.GetDimParam(); p != "" {
				s += p
			} else {
				s += strconv.FormatInt(d.GetDimValue(), 10)
			}
		}
		out = append(out, s+"]")
	}
	return out
}
