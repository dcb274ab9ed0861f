package export

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/kiln-ml/kiln/export/onnxpb"
	"github.com/kiln-ml/kiln/models"
)

// msDomain is ONNX Runtime's contrib operator domain (Attention,
// SkipLayerNormalization, BiasGelu, FastGelu, …).
const msDomain = "com.microsoft"

// builder accumulates one ONNX graph. Errors are sticky (the first one wins)
// so that graph code reads as a straight sequence of operations, as the
// model definition it mirrors does; callers check b.err once at the end.
type builder struct {
	g      *onnxpb.GraphProto
	opset  int
	fp16   bool // weights and compute in float16
	sd     models.StateDict
	used   map[string]bool   // state-dict entries that became initialisers
	inits  map[string]string // state-dict name → initialiser name (dedup)
	seq    int
	err    error
	usesMS bool
}

func newBuilder(name string, opset int, fp16 bool, sd models.StateDict) *builder {
	return &builder{
		g:     &onnxpb.GraphProto{Name: &name},
		opset: opset, fp16: fp16, sd: sd,
		used: map[string]bool{}, inits: map[string]string{},
	}
}

func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// dtype is the ONNX element type of activations and weights.
func (b *builder) dtype() onnxpb.TensorProto_DataType {
	if b.fp16 {
		return onnxpb.TensorProto_FLOAT16
	}
	return onnxpb.TensorProto_FLOAT
}

func (b *builder) fresh(op string) string {
	b.seq++
	return op + "_" + strconv.Itoa(b.seq)
}

// nodeIn adds a node in domain with nOut outputs and returns their names.
func (b *builder) nodeIn(domain, op string, inputs []string, nOut int, attrs ...*onnxpb.AttributeProto) []string {
	name := b.fresh(op)
	outs := make([]string, nOut)
	for i := range outs {
		outs[i] = name + "_out" + strconv.Itoa(i)
	}
	n := &onnxpb.NodeProto{Name: &name, OpType: &op, Input: inputs, Output: outs, Attribute: attrs}
	if domain != "" {
		n.Domain = &domain
		b.usesMS = b.usesMS || domain == msDomain
	}
	b.g.Node = append(b.g.Node, n)
	return outs
}

// node adds a default-domain node with one output.
func (b *builder) node(op string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	return b.nodeIn("", op, inputs, 1, attrs...)[0]
}

// msNode adds a com.microsoft node with one output.
func (b *builder) msNode(op string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	return b.nodeIn(msDomain, op, inputs, 1, attrs...)[0]
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INT
	return &onnxpb.AttributeProto{Name: &name, Type: &t, I: &v}
}

func attrInts(name string, v ...int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INTS
	return &onnxpb.AttributeProto{Name: &name, Type: &t, Ints: v}
}

func attrFloat(name string, v float32) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_FLOAT
	return &onnxpb.AttributeProto{Name: &name, Type: &t, F: &v}
}

// addInit appends an initialiser with raw little-endian data.
func (b *builder) addInit(name string, dt onnxpb.TensorProto_DataType, shape []int64, raw []byte) string {
	d := int32(dt)
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{
		Name: &name, DataType: &d, Dims: append([]int64(nil), shape...), RawData: raw,
	})
	return name
}

// constI64 adds an int64 constant initialiser (shape nil = scalar).
func (b *builder) constI64(shape []int64, v ...int64) string {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return b.addInit(b.fresh("const_i64"), onnxpb.TensorProto_INT64, shape, raw)
}

// vecI64 is a 1-D int64 constant.
func (b *builder) vecI64(v ...int64) string { return b.constI64([]int64{int64(len(v))}, v...) }

// floats encodes v in the compute dtype.
func (b *builder) floats(v []float32) []byte {
	if b.fp16 {
		raw := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(raw[2*i:], models.Float32ToHalf(x))
		}
		return raw
	}
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return raw
}

// scalar is a compute-dtype scalar constant.
func (b *builder) scalar(v float32) string {
	return b.addInit(b.fresh("const_f"), b.dtype(), nil, b.floats([]float32{v}))
}

// tensorData returns the state-dict entry name, checked against shape, as
// float32 values.
func (b *builder) tensorData(name string, shape ...int64) (models.Tensor, []float32, bool) {
	t, ok := b.sd[name]
	if !ok {
		b.fail(fmt.Errorf("checkpoint has no tensor %q", name))
		return t, nil, false
	}
	if !sameShape(t.Shape, shape) {
		b.fail(fmt.Errorf("checkpoint tensor %q has shape %v, the config implies %v", name, t.Shape, shape))
		return t, nil, false
	}
	v, err := t.Float32s()
	if err != nil {
		b.fail(fmt.Errorf("checkpoint tensor %q: %w", name, err))
		return t, nil, false
	}
	return t, v, true
}

// weight makes the checkpoint tensor name an initialiser under its own HF
// name and shape, in the compute dtype, and returns the name.
func (b *builder) weight(name string, shape ...int64) string {
	if n, ok := b.inits[name]; ok {
		return n
	}
	_, v, ok := b.tensorData(name, shape...)
	if !ok {
		return name
	}
	b.used[name] = true
	b.inits[name] = name
	return b.addInit(name, b.dtype(), shape, b.floats(v))
}

// derived adds an initialiser computed from checkpoint tensors (fused or
// transposed weights of the --optimize graph), marking the sources used.
func (b *builder) derived(name string, shape []int64, v []float32, sources ...string) string {
	for _, s := range sources {
		b.used[s] = true
	}
	return b.addInit(name, b.dtype(), shape, b.floats(v))
}

func sameShape(a, c []int64) bool {
	if len(a) != len(c) {
		return false
	}
	for i := range a {
		if a[i] != c[i] {
			return false
		}
	}
	return true
}

// valueInfo describes a graph input or output; dims are ints (fixed) or
// strings (symbolic, dynamic).
func valueInfo(name string, dt onnxpb.TensorProto_DataType, dims ...any) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		switch x := d.(type) {
		case string:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: x}
		case int:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(x)}
		case int64:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: x}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	et := int32(dt)
	return &onnxpb.ValueInfoProto{
		Name: &name,
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: &et, Shape: shape},
		}},
	}
}

// transpose2D returns the [cols, rows] transpose of a row-major [rows, cols] matrix.
func transpose2D(v []float32, rows, cols int) []float32 {
	out := make([]float32, len(v))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[c*rows+r] = v[r*cols+c]
		}
	}
	return out
}

// --- operator helpers whose spelling depends on the opset -----------------

// unsqueeze inserts axes (opset ≥ 13: axes is an input).
func (b *builder) unsqueeze(x string, axes ...int64) string {
	return b.node("Unsqueeze", []string{x, b.vecI64(axes...)})
}

// reduce applies ReduceMean/ReduceMax/ReduceSum over axes. ReduceSum takes
// axes as an input from opset 13, the others only from opset 18.
func (b *builder) reduce(op, x string, keep bool, axes ...int64) string {
	k := int64(0)
	if keep {
		k = 1
	}
	if op == "ReduceSum" || b.opset >= 18 {
		return b.node(op, []string{x, b.vecI64(axes...)}, attrInt("keepdims", k))
	}
	return b.node(op, []string{x}, attrInts("axes", axes...), attrInt("keepdims", k))
}

// cast converts x to dt.
func (b *builder) cast(x string, dt onnxpb.TensorProto_DataType) string {
	return b.node("Cast", []string{x}, attrInt("to", int64(dt)))
}

// layerNorm normalises the last axis: the LayerNormalization operator from
// opset 17, its textbook decomposition before.
func (b *builder) layerNorm(x, prefix string, hidden int64, eps float64) string {
	gamma, beta := b.lnParams(prefix, hidden)
	if b.opset >= 17 {
		return b.node("LayerNormalization", []string{x, gamma, beta},
			attrInt("axis", -1), attrFloat("epsilon", float32(eps)))
	}
	mean := b.reduce("ReduceMean", x, true, -1)
	d := b.node("Sub", []string{x, mean})
	v := b.reduce("ReduceMean", b.node("Mul", []string{d, d}), true, -1)
	std := b.node("Sqrt", []string{b.node("Add", []string{v, b.scalar(float32(eps))})})
	return b.node("Add", []string{b.node("Mul", []string{b.node("Div", []string{d, std}), gamma}), beta})
}

// lnParams returns the LayerNorm gamma and beta initialisers, accepting the
// TF-era names gamma/beta that old BERT checkpoints carry.
func (b *builder) lnParams(prefix string, hidden int64) (string, string) {
	w, bias := prefix+".weight", prefix+".bias"
	if _, ok := b.sd[w]; !ok {
		if _, ok := b.sd[prefix+".gamma"]; ok {
			w, bias = prefix+".gamma", prefix+".beta"
		}
	}
	return b.weight(w, hidden), b.weight(bias, hidden)
}

// linear is x·Wᵀ + b for an HF Linear weight [out, in]. The plain graph keeps
// the checkpoint tensor as is (name and shape) behind a Transpose, which ONNX
// Runtime folds at load; the optimised graph stores Wᵀ directly.
func (b *builder) linear(x, prefix string, in, out int64, optimized bool) string {
	return b.node("Add", []string{b.matmulW(x, prefix, in, out, optimized), b.weight(prefix+".bias", out)})
}

// matmulW is x·Wᵀ without the bias.
func (b *builder) matmulW(x, prefix string, in, out int64, optimized bool) string {
	if optimized {
		_, v, ok := b.tensorData(prefix+".weight", out, in)
		if !ok {
			return x
		}
		wt := b.derived(prefix+".weight_t", []int64{in, out}, transpose2D(v, int(out), int(in)), prefix+".weight")
		return b.node("MatMul", []string{x, wt})
	}
	w := b.weight(prefix+".weight", out, in)
	return b.node("MatMul", []string{x, b.node("Transpose", []string{w}, attrInts("perm", 1, 0))})
}
