package models

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path"
	"strings"
)

// ReadPytorchBin reads a state dict written by torch.save in the zip format
// (torch >= 1.6, what transformers' save_pretrained(safe_serialization=False)
// produces). It runs a minimal pickle machine that understands exactly what
// state dicts contain: OrderedDict, torch._utils._rebuild_tensor_v2 /
// _rebuild_parameter and typed storages. It never executes arbitrary code:
// any other global is refused by name.
func ReadPytorchBin(file string) (StateDict, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		if f, oerr := os.Open(file); oerr == nil {
			var magic [2]byte
			_, _ = io.ReadFull(f, magic[:])
			f.Close()
			if magic[0] == 0x80 { // a bare pickle: the legacy (torch < 1.6) format
				return nil, fmt.Errorf("%s: legacy (pre-zip) torch.save format is not supported; re-save it with torch >= 1.6 or as safetensors", file)
			}
		}
		return nil, fmt.Errorf("%s: not a torch zip checkpoint (truncated or corrupt?): %w", file, err)
	}
	defer zr.Close()
	sd, err := readTorchZip(&zr.Reader)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return sd, nil
}

func readTorchZip(zr *zip.Reader) (StateDict, error) {
	files := map[string]*zip.File{}
	prefix := ""
	for _, f := range zr.File {
		files[f.Name] = f
		if path.Base(f.Name) == "data.pkl" {
			prefix = strings.TrimSuffix(f.Name, "data.pkl")
		}
	}
	pkl, ok := files[prefix+"data.pkl"]
	if !ok {
		return nil, errors.New("zip holds no data.pkl: not a torch.save checkpoint")
	}
	if bo, ok := files[prefix+"byteorder"]; ok {
		b, err := readZipFile(bo)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(string(b)) != "little" {
			return nil, fmt.Errorf("byteorder %q is not supported (little-endian only)", b)
		}
	}
	code, err := readZipFile(pkl)
	if err != nil {
		return nil, err
	}
	u := &unpickler{r: bytes.NewReader(code), memo: map[uint32]any{}}
	top, err := u.load()
	if err != nil {
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	dict, ok := top.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("data.pkl holds a %T, not a state dict", top)
	}
	storages := map[string][]byte{}
	sd := make(StateDict, len(dict.keys))
	for i, k := range dict.keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("state dict key %v is not a string", k)
		}
		pt, ok := dict.vals[i].(*pickledTensor)
		if !ok {
			return nil, fmt.Errorf("state dict entry %q is a %T, not a tensor", name, dict.vals[i])
		}
		data, ok := storages[pt.storage.key]
		if !ok {
			f, ok := files[prefix+"data/"+pt.storage.key]
			if !ok {
				return nil, fmt.Errorf("tensor %q: storage data/%s missing from the archive (truncated?)", name, pt.storage.key)
			}
			if data, err = readZipFile(f); err != nil {
				return nil, fmt.Errorf("tensor %q: %w", name, err)
			}
			storages[pt.storage.key] = data
		}
		t, err := pt.materialise(data)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		sd[name] = t
	}
	return sd, nil
}

func readZipFile(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("open %s in zip: %w", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s in zip (truncated or corrupt?): %w", f.Name, err)
	}
	return b, nil
}

// storageDTypes maps torch's legacy storage classes to safetensors dtypes.
var storageDTypes = map[string]string{
	"FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16", "DoubleStorage": "F64",
	"LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
	"ByteStorage": "U8", "BoolStorage": "BOOL",
}

type pyGlobal struct{ module, name string }

type pyDict struct {
	keys, vals []any
}

func (d *pyDict) set(k, v any) {
	for i, kk := range d.keys {
		if kk == k {
			d.vals[i] = v
			return
		}
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

type pyList struct{ items []any }

type pyTuple []any

type storageRef struct {
	dtype, key string
	numel      int64
}

type pickledTensor struct {
	storage storageRef
	offset  int64
	size    []int64
	stride  []int64
}

// materialise copies the (possibly strided, possibly shared) view out of its storage.
func (pt *pickledTensor) materialise(data []byte) (Tensor, error) {
	es := dtypeSize[pt.storage.dtype]
	if int64(len(data)) < pt.storage.numel*int64(es) {
		return Tensor{}, fmt.Errorf("storage %s has %d bytes, want %d (truncated?)", pt.storage.key, len(data), pt.storage.numel*int64(es))
	}
	t := Tensor{DType: pt.storage.dtype, Shape: append([]int64{}, pt.size...)}
	n := t.NumElements()
	if len(pt.size) != len(pt.stride) {
		return Tensor{}, fmt.Errorf("size %v and stride %v differ in rank", pt.size, pt.stride)
	}
	// Bounds: the furthest element the view touches must lie in the storage.
	if n > 0 {
		last := pt.offset
		for i, s := range pt.size {
			if pt.stride[i] < 0 {
				return Tensor{}, fmt.Errorf("negative stride %v", pt.stride)
			}
			last += (s - 1) * pt.stride[i]
		}
		if pt.offset < 0 || last >= pt.storage.numel {
			return Tensor{}, fmt.Errorf("view (offset %d, size %v, stride %v) exceeds storage of %d elements", pt.offset, pt.size, pt.stride, pt.storage.numel)
		}
	}
	t.Data = make([]byte, n*int64(es))
	contiguous := true
	expect := int64(1)
	for i := len(pt.size) - 1; i >= 0; i-- {
		if pt.size[i] != 1 && pt.stride[i] != expect {
			contiguous = false
		}
		expect *= pt.size[i]
	}
	if contiguous {
		copy(t.Data, data[pt.offset*int64(es):])
		return t, nil
	}
	idx := make([]int64, len(pt.size))
	for i := int64(0); i < n; i++ {
		src := pt.offset
		for d := range idx {
			src += idx[d] * pt.stride[d]
		}
		copy(t.Data[i*int64(es):(i+1)*int64(es)], data[src*int64(es):])
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < pt.size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return t, nil
}

// unpickler is the minimal pickle machine (protocols 2–5).
type unpickler struct {
	r     *bytes.Reader
	stack []any
	marks []int
	memo  map[uint32]any
}

var errMark = errors.New("pickle: stack underflow (corrupt data.pkl?)")

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, errMark
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, errMark
	}
	return u.stack[len(u.stack)-1], nil
}

func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("pickle: no MARK on the stack (corrupt data.pkl?)")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) readN(n int) ([]byte, error) {
	if n < 0 || n > u.r.Len() {
		return nil, fmt.Errorf("pickle: wants %d bytes at offset %d, only %d left (truncated?)", n, u.pos(), u.r.Len())
	}
	b := make([]byte, n)
	_, err := io.ReadFull(u.r, b)
	return b, err
}

func (u *unpickler) pos() int64 { return u.r.Size() - int64(u.r.Len()) }

func (u *unpickler) readUint(n int) (uint64, error) {
	b, err := u.readN(n)
	if err != nil {
		return 0, err
	}
	var buf [8]byte
	copy(buf[:], b)
	return binary.LittleEndian.Uint64(buf[:]), nil
}

func (u *unpickler) readLine() (string, error) {
	var sb strings.Builder
	for {
		c, err := u.r.ReadByte()
		if err != nil {
			return "", fmt.Errorf("pickle: unterminated line (truncated?)")
		}
		if c == '\n' {
			return sb.String(), nil
		}
		sb.WriteByte(c)
	}
}

func (u *unpickler) load() (any, error) {
	for {
		op, err := u.r.ReadByte()
		if err != nil {
			return nil, errors.New("pickle: ended before STOP (truncated?)")
		}
		switch op {
		case 0x80: // PROTO
			if _, err := u.readN(1); err != nil {
				return nil, err
			}
		case 0x95: // FRAME
			if _, err := u.readN(8); err != nil {
				return nil, err
			}
		case '.': // STOP
			return u.pop()
		case '(': // MARK
			u.marks = append(u.marks, len(u.stack))
		case '}': // EMPTY_DICT
			u.push(&pyDict{})
		case ']': // EMPTY_LIST
			u.push(&pyList{})
		case ')': // EMPTY_TUPLE
			u.push(pyTuple{})
		case 0x8f: // EMPTY_SET
			u.push(&pyList{})
		case 'N':
			u.push(nil)
		case 0x88:
			u.push(true)
		case 0x89:
			u.push(false)
		case 'K', 'M', 'J': // BININT1, BININT2, BININT
			n := map[byte]int{'K': 1, 'M': 2, 'J': 4}[op]
			v, err := u.readUint(n)
			if err != nil {
				return nil, err
			}
			if op == 'J' {
				u.push(int64(int32(uint32(v))))
			} else {
				u.push(int64(v))
			}
		case 0x8a, 0x8b: // LONG1, LONG4
			ln := 1
			if op == 0x8b {
				ln = 4
			}
			n, err := u.readUint(ln)
			if err != nil {
				return nil, err
			}
			b, err := u.readN(int(n))
			if err != nil {
				return nil, err
			}
			v, err := decodeLong(b)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case 'G': // BINFLOAT (big-endian)
			b, err := u.readN(8)
			if err != nil {
				return nil, err
			}
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C', 0x8e: // unicode / bytes strings
			ln := map[byte]int{'X': 4, 0x8c: 1, 0x8d: 8, 'T': 4, 'U': 1, 'B': 4, 'C': 1, 0x8e: 8}[op]
			n, err := u.readUint(ln)
			if err != nil {
				return nil, err
			}
			b, err := u.readN(int(min(n, math.MaxInt32)))
			if err != nil {
				return nil, err
			}
			u.push(string(b))
		case 'q', 'r': // BINPUT, LONG_BINPUT
			ln := 1
			if op == 'r' {
				ln = 4
			}
			k, err := u.readUint(ln)
			if err != nil {
				return nil, err
			}
			v, err := u.top()
			if err != nil {
				return nil, err
			}
			u.memo[uint32(k)] = v
		case 0x94: // MEMOIZE
			v, err := u.top()
			if err != nil {
				return nil, err
			}
			u.memo[uint32(len(u.memo))] = v
		case 'h', 'j': // BINGET, LONG_BINGET
			ln := 1
			if op == 'j' {
				ln = 4
			}
			k, err := u.readUint(ln)
			if err != nil {
				return nil, err
			}
			v, ok := u.memo[uint32(k)]
			if !ok {
				return nil, fmt.Errorf("pickle: memo key %d unknown (corrupt data.pkl?)", k)
			}
			u.push(v)
		case 'c': // GLOBAL
			mod, err := u.readLine()
			if err != nil {
				return nil, err
			}
			name, err := u.readLine()
			if err != nil {
				return nil, err
			}
			u.push(pyGlobal{mod, name})
		case 0x93: // STACK_GLOBAL
			name, err1 := u.pop()
			mod, err2 := u.pop()
			if err := errors.Join(err1, err2); err != nil {
				return nil, err
			}
			ms, ok1 := mod.(string)
			ns, ok2 := name.(string)
			if !ok1 || !ok2 {
				return nil, errors.New("pickle: STACK_GLOBAL needs two strings")
			}
			u.push(pyGlobal{ms, ns})
		case 't': // TUPLE
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(pyTuple(items))
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			if len(u.stack) < n {
				return nil, errMark
			}
			t := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
			u.stack = u.stack[:len(u.stack)-n]
			u.push(t)
		case 'a': // APPEND
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			l, err := u.top()
			if err != nil {
				return nil, err
			}
			if pl, ok := l.(*pyList); ok {
				pl.items = append(pl.items, v)
			}
		case 'e', 0x90: // APPENDS, ADDITEMS
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			l, err := u.top()
			if err != nil {
				return nil, err
			}
			if pl, ok := l.(*pyList); ok {
				pl.items = append(pl.items, items...)
			}
		case 's': // SETITEM
			v, err1 := u.pop()
			k, err2 := u.pop()
			if err := errors.Join(err1, err2); err != nil {
				return nil, err
			}
			d, err := u.top()
			if err != nil {
				return nil, err
			}
			pd, ok := d.(*pyDict)
			if !ok {
				return nil, fmt.Errorf("pickle: SETITEM on a %T", d)
			}
			pd.set(k, v)
		case 'u': // SETITEMS
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			d, err := u.top()
			if err != nil {
				return nil, err
			}
			pd, ok := d.(*pyDict)
			if !ok || len(items)%2 != 0 {
				return nil, fmt.Errorf("pickle: SETITEMS on a %T with %d items", d, len(items))
			}
			for i := 0; i < len(items); i += 2 {
				pd.set(items[i], items[i+1])
			}
		case 'b': // BUILD: state for an object (OrderedDict._metadata); state dicts need none of it
			if _, err := u.pop(); err != nil {
				return nil, err
			}
		case 'Q': // BINPERSID
			pid, err := u.pop()
			if err != nil {
				return nil, err
			}
			s, err := persistentStorage(pid)
			if err != nil {
				return nil, err
			}
			u.push(s)
		case 'R', 0x81: // REDUCE, NEWOBJ
			args, err1 := u.pop()
			fn, err2 := u.pop()
			if err := errors.Join(err1, err2); err != nil {
				return nil, err
			}
			v, err := reduce(fn, args)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case '0': // POP
			if _, err := u.pop(); err != nil {
				return nil, err
			}
		case '1': // POP_MARK
			if _, err := u.popMark(); err != nil {
				return nil, err
			}
		case '2': // DUP
			v, err := u.top()
			if err != nil {
				return nil, err
			}
			u.push(v)
		default:
			return nil, fmt.Errorf("pickle: opcode 0x%02x at offset %d is not supported in a state dict", op, u.pos()-1)
		}
	}
}

func decodeLong(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > 8 {
		// Python ints beyond int64 do not occur in tensor metadata.
		be := make([]byte, len(b))
		for i := range b {
			be[len(b)-1-i] = b[i]
		}
		v := new(big.Int).SetBytes(be)
		if b[len(b)-1]&0x80 != 0 {
			v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		if !v.IsInt64() {
			return 0, fmt.Errorf("pickle: integer %s does not fit in int64", v)
		}
		return v.Int64(), nil
	}
	var buf [8]byte
	copy(buf[:], b)
	if b[len(b)-1]&0x80 != 0 {
		for i := len(b); i < 8; i++ {
			buf[i] = 0xff
		}
	}
	return int64(binary.LittleEndian.Uint64(buf[:])), nil
}

// persistentStorage decodes ('storage', storage_type, key, location, numel).
func persistentStorage(pid any) (storageRef, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 {
		return storageRef{}, fmt.Errorf("pickle: persistent id %v is not a storage tuple", pid)
	}
	if s, _ := t[0].(string); s != "storage" {
		return storageRef{}, fmt.Errorf("pickle: persistent id kind %v is not 'storage'", t[0])
	}
	g, ok := t[1].(pyGlobal)
	if !ok {
		return storageRef{}, fmt.Errorf("pickle: storage type %v is not a class", t[1])
	}
	dt, ok := storageDTypes[g.name]
	if !ok || g.module != "torch" {
		return storageRef{}, fmt.Errorf("pickle: storage type %s.%s is not supported", g.module, g.name)
	}
	key, ok1 := t[2].(string)
	numel, ok2 := t[4].(int64)
	if !ok1 || !ok2 || numel < 0 {
		return storageRef{}, fmt.Errorf("pickle: malformed storage tuple %v", t)
	}
	return storageRef{dtype: dt, key: key, numel: numel}, nil
}

func intsOf(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("pickle: want a tuple of ints, got %T", v)
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("pickle: want a tuple of ints, got %v", t)
		}
		out[i] = n
	}
	return out, nil
}

// reduce applies the few callables a state dict may use; anything else is
// refused so that a checkpoint can never run code.
func reduce(fn, args any) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, fmt.Errorf("pickle: REDUCE on a %T", fn)
	}
	a, ok := args.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("pickle: %s.%s called with %T arguments", g.module, g.name, args)
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict", "builtins.dict":
		return &pyDict{}, nil
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		if len(a) < 4 {
			return nil, fmt.Errorf("pickle: %s needs 4+ arguments, got %d", g.name, len(a))
		}
		st, ok := a[0].(storageRef)
		off, ok2 := a[1].(int64)
		if !ok || !ok2 {
			return nil, fmt.Errorf("pickle: %s: bad storage or offset", g.name)
		}
		size, err := intsOf(a[2])
		if err != nil {
			return nil, err
		}
		stride, err := intsOf(a[3])
		if err != nil {
			return nil, err
		}
		return &pickledTensor{storage: st, offset: off, size: size, stride: stride}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		if len(a) < 1 {
			return nil, fmt.Errorf("pickle: %s without arguments", g.name)
		}
		if _, ok := a[0].(*pickledTensor); !ok {
			return nil, fmt.Errorf("pickle: %s of a %T", g.name, a[0])
		}
		return a[0], nil
	}
	return nil, fmt.Errorf("pickle: global %s.%s is not allowed in a state dict", g.module, g.name)
}
