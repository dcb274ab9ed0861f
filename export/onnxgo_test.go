package export

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	onnxgo "github.com/owulveryck/onnx-go"
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/simple"
	"gorgonia.org/tensor"
)

// recorder is an onnx-go Backend that keeps what the decoder hands it:
// node names, the tensors of initialisers and declared values, and the
// operator applied to each node. onnx-go keeps its protobuf types internal,
// so a Backend is the only public window onto a decoded model.
type recorder struct {
	*simple.WeightedDirectedGraph
	ops []string
}

type recNode struct {
	id   int64
	name string
	t    tensor.Tensor
	op   string
}

func (n *recNode) ID() int64                       { return n.id }
func (n *recNode) SetName(s string)                { n.name = s }
func (n *recNode) GetName() string                 { return n.name }
func (n *recNode) SetTensor(t tensor.Tensor) error { n.t = t; return nil }
func (n *recNode) GetTensor() tensor.Tensor        { return n.t }

func (r *recorder) NewNode() graph.Node { return &recNode{id: r.WeightedDirectedGraph.NewNode().ID()} }

func (r *recorder) ApplyOperation(op onnxgo.Operation, outs ...graph.Node) error {
	r.ops = append(r.ops, op.Name)
	for _, n := range outs {
		n.(*recNode).op = op.Name
	}
	return nil
}

// TestDecodesWithOnnxGo decodes our exports with github.com/owulveryck/onnx-go,
// an ONNX reader that shares no code with ours (it has its own gogo-protobuf
// types), and checks the structure it sees: the graph inputs, the operator
// of every node in order, and every initialiser's name and shape. fp16
// exports cannot be decoded: onnx-go v0.5.0 has no float16 tensors, which
// the test pins down so that docs/export.md stays true.
func TestDecodesWithOnnxGo(t *testing.T) {
	cases := []struct {
		arch, dtype string
		optimize    bool
		wantErr     string
	}{
		{"bert", "fp32", false, ""},
		{"bert", "fp32", true, ""},
		{"roberta", "fp32", false, ""},
		{"distilbert", "fp32", true, ""},
		{"bert", "fp16", false, "FLOAT16: Not Yet Implemented"},
	}
	for _, c := range cases {
		name := c.arch + "-" + c.dtype
		if c.optimize {
			name += "-optimized"
		}
		t.Run(name, func(t *testing.T) {
			src := makeTiny(t, c.arch, "mean", "gelu")
			out := filepath.Join(t.TempDir(), "m")
			if _, err := Export(context.Background(), src, out, Options{DType: c.dtype, Optimize: c.optimize}); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(out, ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{WeightedDirectedGraph: simple.NewWeightedDirectedGraph(0, 0)}
			m := onnxgo.NewModel(rec)
			err = m.UnmarshalBinary(data)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("onnx-go decoded an fp16 model (err %v): update docs/export.md", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("onnx-go: %v", err)
			}
			ours := readModel(t, filepath.Join(out, ModelFile))

			// Inputs: onnx-go removes initialisers from the input list.
			var inputs []string
			for _, id := range m.Input {
				inputs = append(inputs, rec.Node(id).(*recNode).name)
			}
			var want []string
			for _, in := range ours.Graph.Input {
				want = append(want, in.GetName())
			}
			if !slices.Equal(inputs, want) {
				t.Fatalf("onnx-go inputs %v, want %v", inputs, want)
			}
			var outputs []string
			for _, id := range m.Output {
				outputs = append(outputs, rec.Node(id).(*recNode).name)
			}
			if !slices.Equal(outputs, []string{OutputLogits}) {
				t.Fatalf("onnx-go outputs %v", outputs)
			}
			// Operators, in graph order.
			var ops []string
			for _, n := range ours.Graph.Node {
				ops = append(ops, n.GetOpType())
			}
			if !slices.Equal(rec.ops, ops) {
				t.Fatalf("onnx-go saw %d operators %v, want %d", len(rec.ops), rec.ops, len(ops))
			}
			// Initialisers: name, shape and element count as onnx-go decodes them.
			for _, init := range ours.Graph.Initializer {
				n, ok := m.GetNodeByName(init.GetName())
				if !ok {
					t.Fatalf("onnx-go has no node for initialiser %s", init.GetName())
				}
				tt := n.(*recNode).t
				if tt == nil {
					t.Fatalf("onnx-go decoded no tensor for %s", init.GetName())
				}
				var dims []int
				size := 1
				for _, d := range init.GetDims() {
					dims = append(dims, int(d))
					size *= int(d)
				}
				if len(dims) > 0 && !slices.Equal([]int(tt.Shape()), dims) {
					t.Fatalf("initialiser %s: onnx-go shape %v, ours %v", init.GetName(), tt.Shape(), dims)
				}
				if len(dims) == 0 {
					// Scalars (shape constants): gorgonia keeps them as
					// scalar-shaped tensors with no backing array.
					if !tt.Shape().IsScalar() || tt.Data() == nil {
						t.Fatalf("initialiser %s: onnx-go shape %v, want a scalar", init.GetName(), tt.Shape())
					}
					continue
				}
				// gorgonia treats one-element vectors as scalars (DataSize 0).
				if size > 1 && tt.DataSize() != size {
					t.Fatalf("initialiser %s: onnx-go holds %d values %v (shape %v), want %d", init.GetName(), tt.DataSize(), tt.Data(), tt.Shape(), size)
				}
			}
		})
	}
}
