package models

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// Tensor is one checkpoint tensor as stored on disk: little-endian, C order.
// DType uses the safetensors names (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL).
type Tensor struct {
	DType string
	Shape []int64
	Data  []byte
}

// StateDict maps HF parameter names to tensors.
type StateDict map[string]Tensor

// Names returns the keys in sorted order.
func (sd StateDict) Names() []string {
	names := make([]string, 0, len(sd))
	for k := range sd {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// dtypeSize is the element size of each safetensors dtype.
var dtypeSize = map[string]int{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}

// DTypeSize returns the element size of a safetensors dtype, or 0 when unknown.
func DTypeSize(dtype string) int { return dtypeSize[dtype] }

// NumElements is the product of the shape (1 for a scalar).
func (t Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// check verifies that the data length matches dtype and shape.
func (t Tensor) check() error {
	size, ok := dtypeSize[t.DType]
	if !ok {
		return fmt.Errorf("unknown dtype %q", t.DType)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
	}
	if want := t.NumElements() * int64(size); int64(len(t.Data)) != want {
		return fmt.Errorf("%s%v needs %d bytes, have %d", t.DType, t.Shape, want, len(t.Data))
	}
	return nil
}

// Float32s decodes a floating-point tensor (F32, F16, BF16, F64) to float32.
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	n := int(t.NumElements())
	out := make([]float32, n)
	b := t.Data
	switch t.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	case "F16":
		for i := range out {
			out[i] = HalfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	default:
		return nil, fmt.Errorf("Float32s: dtype %s is not floating point", t.DType)
	}
	return out, nil
}

// Int64s decodes an integer tensor (I64, I32, I16, I8, U8, BOOL) to int64.
func (t Tensor) Int64s() ([]int64, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	n := int(t.NumElements())
	out := make([]int64, n)
	b := t.Data
	switch t.DType {
	case "I64":
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case "I32":
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case "I16":
		for i := range out {
			out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case "I8":
		for i := range out {
			out[i] = int64(int8(b[i]))
		}
	case "U8", "BOOL":
		for i := range out {
			out[i] = int64(b[i])
		}
	default:
		return nil, fmt.Errorf("Int64s: dtype %s is not an integer type", t.DType)
	}
	return out, nil
}

// FromFloat32s encodes values as a tensor of dtype F32, F16 or BF16
// (round to nearest even, as torch's .half() and .bfloat16() do).
func FromFloat32s(dtype string, shape []int64, v []float32) (Tensor, error) {
	t := Tensor{DType: dtype, Shape: append([]int64(nil), shape...)}
	if t.NumElements() != int64(len(v)) {
		return Tensor{}, fmt.Errorf("shape %v has %d elements, got %d values", shape, t.NumElements(), len(v))
	}
	switch dtype {
	case "F32":
		t.Data = make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(x))
		}
	case "F16":
		t.Data = make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(t.Data[2*i:], Float32ToHalf(x))
		}
	case "BF16":
		t.Data = make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(t.Data[2*i:], Float32ToBF16(x))
		}
	default:
		return Tensor{}, fmt.Errorf("FromFloat32s: dtype %q is not F32, F16 or BF16", dtype)
	}
	return t, nil
}

// FromInt64s encodes values as an I64 tensor.
func FromInt64s(shape []int64, v []int64) (Tensor, error) {
	t := Tensor{DType: "I64", Shape: append([]int64(nil), shape...), Data: make([]byte, 8*len(v))}
	if t.NumElements() != int64(len(v)) {
		return Tensor{}, fmt.Errorf("shape %v has %d elements, got %d values", shape, t.NumElements(), len(v))
	}
	for i, x := range v {
		binary.LittleEndian.PutUint64(t.Data[8*i:], uint64(x))
	}
	return t, nil
}

// Convert re-encodes a floating-point tensor in another floating dtype.
func (t Tensor) Convert(dtype string) (Tensor, error) {
	if t.DType == dtype {
		return t, nil
	}
	v, err := t.Float32s()
	if err != nil {
		return Tensor{}, err
	}
	return FromFloat32s(dtype, t.Shape, v)
}

// HalfToFloat32 decodes an IEEE 754 binary16 value.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToHalf encodes an IEEE 754 binary16 value, rounding to nearest even.
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff { // inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 { // subnormal or zero in half
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(half)
}

// Float32ToBF16 encodes a bfloat16 value, rounding to nearest even.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it a quiet NaN
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
