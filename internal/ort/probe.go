package ort

import (
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
)

// A few ONNX protobuf builders (field numbers from onnx.proto), enough for
// the probe model and the tests' models without a generated protobuf package.

func pbMsg(field protowire.Number, body []byte) []byte {
	b := protowire.AppendTag(nil, field, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

func pbStr(field protowire.Number, s string) []byte { return pbMsg(field, []byte(s)) }

func pbVarint(field protowire.Number, v uint64) []byte {
	b := protowire.AppendTag(nil, field, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func pbCat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// ONNX TensorProto element types used here.
const (
	onnxFloat = 1
	onnxInt64 = 7
)

// pbValueInfo is a ValueInfoProto for a tensor of elem with the named
// dynamic dimensions.
func pbValueInfo(name string, elem uint64, dims ...string) []byte {
	var shape []byte
	for _, d := range dims {
		shape = append(shape, pbMsg(1, pbStr(2, d))...)
	}
	tensor := pbCat(pbVarint(1, elem), pbMsg(2, shape))
	return pbCat(pbStr(1, name), pbMsg(2, pbMsg(1, tensor)))
}

// pbModel wraps a GraphProto body into a ModelProto (IR 8, opset 17).
func pbModel(graph []byte) []byte {
	return pbCat(pbVarint(1, 8), pbStr(2, "kiln"), pbMsg(7, graph), pbMsg(8, pbCat(pbStr(1, ""), pbVarint(2, 17))))
}

var probeModel = sync.OnceValue(func() []byte {
	// y = x + x on float[n]: a real kernel, so creating the session makes the
	// CUDA provider load its libraries and claim the device.
	add := pbCat(pbStr(1, "x"), pbStr(1, "x"), pbStr(2, "y"), pbStr(3, "add"), pbStr(4, "Add"))
	graph := pbCat(pbMsg(1, add), pbStr(2, "probe"), pbMsg(11, pbValueInfo("x", onnxFloat, "n")), pbMsg(12, pbValueInfo("y", onnxFloat, "n")))
	return pbModel(graph)
})
