package models

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"github.com/kiln-ml/kiln/internal/atomicfile"
)

// maxSafetensorsHeader bounds the JSON header, as the reference
// implementation does, so a corrupt length cannot make us allocate wildly.
const maxSafetensorsHeader = 100 << 20

type stEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// ReadSafetensors reads a .safetensors file: the tensors and the
// __metadata__ strings. Tensor data alias one buffer holding the file.
func ReadSafetensors(path string) (StateDict, map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read safetensors: %w", err)
	}
	sd, meta, err := ParseSafetensors(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return sd, meta, nil
}

// ParseSafetensors decodes safetensors bytes.
func ParseSafetensors(data []byte) (StateDict, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("safetensors: file is %d bytes, too short for the 8-byte header length (truncated?)", len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > maxSafetensorsHeader {
		return nil, nil, fmt.Errorf("safetensors: header length %d exceeds %d bytes (corrupt file?)", n, maxSafetensorsHeader)
	}
	if n > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("safetensors: header length %d exceeds the file size %d (truncated?)", n, len(data))
	}
	header := data[8 : 8+n]
	body := data[8+n:]
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimRight(header, " \x00"), &raw); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header is not valid JSON (corrupt file?): %w", err)
	}
	meta := map[string]string{}
	sd := make(StateDict, len(raw))
	type span struct {
		name       string
		begin, end int64
	}
	var spans []span
	for name, v := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return nil, nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var e stEntry
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: bad header entry: %w", name, err)
		}
		b, en := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || en < b || en > int64(len(body)) {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] outside the %d data bytes (truncated?)", name, b, en, len(body))
		}
		t := Tensor{DType: e.DType, Shape: e.Shape, Data: body[b:en:en]}
		if t.Shape == nil {
			t.Shape = []int64{}
		}
		if err := t.check(); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		sd[name] = t
		spans = append(spans, span{name, b, en})
	}
	// Overlapping tensors mean a corrupt or hostile header.
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return nil, nil, fmt.Errorf("safetensors: tensors %q and %q overlap (corrupt file?)", spans[i-1].name, spans[i].name)
		}
	}
	return sd, meta, nil
}

// WriteSafetensors writes sd atomically. Tensors are laid out by name,
// the header padded with spaces to 8 bytes as the reference writer does.
func WriteSafetensors(path string, sd StateDict, metadata map[string]string) error {
	tensors := make([]StreamedTensor, 0, len(sd))
	for name, t := range sd {
		if err := t.check(); err != nil {
			return fmt.Errorf("write %s: tensor %q: %w", path, name, err)
		}
		tensors = append(tensors, StreamedTensor{Name: name, DType: t.DType, Shape: t.Shape,
			Write: func(w io.Writer) error { _, err := w.Write(t.Data); return err }})
	}
	return StreamSafetensors(path, tensors, metadata)
}

// StreamedTensor is one tensor of a safetensors file whose bytes are
// produced while the file is written, so that a whole state never needs a
// copy in Go memory (a checkpoint streams from libtorch, see models/torch).
type StreamedTensor struct {
	Name  string
	DType string
	Shape []int64
	// Write writes the tensor's bytes: little-endian, row-major, exactly
	// DType's size times the number of elements of Shape.
	Write func(w io.Writer) error
}

// StreamSafetensors writes tensors atomically as WriteSafetensors does
// (the same bytes for the same tensors): laid out by name, the header
// padded with spaces to 8 bytes. A Write that writes a wrong number of
// bytes is an error, and nothing at path changes.
func StreamSafetensors(path string, tensors []StreamedTensor, metadata map[string]string) error {
	tensors = slices.Clone(tensors)
	sort.Slice(tensors, func(i, j int) bool { return tensors[i].Name < tensors[j].Name })
	header := make(map[string]any, len(tensors)+1)
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	sizes := make([]int64, len(tensors))
	var off int64
	for i, t := range tensors {
		if i > 0 && t.Name == tensors[i-1].Name {
			return fmt.Errorf("write %s: tensor %q appears twice", path, t.Name)
		}
		size, ok := dtypeSize[t.DType]
		if !ok {
			return fmt.Errorf("write %s: tensor %q: unknown dtype %q", path, t.Name, t.DType)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		n := int64(size)
		for _, d := range shape {
			if d < 0 {
				return fmt.Errorf("write %s: tensor %q: negative dimension in shape %v", path, t.Name, shape)
			}
			n *= d
		}
		sizes[i] = n
		header[t.Name] = stEntry{DType: t.DType, Shape: shape, DataOffsets: [2]int64{off, off + n}}
		off += n
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("write %s: encode header: %w", path, err)
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hj)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(hj); err != nil {
			return err
		}
		cw := &countingWriter{w: w}
		for i, t := range tensors {
			cw.n = 0
			if err := t.Write(cw); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			if cw.n != sizes[i] {
				return fmt.Errorf("tensor %q: %s%v needs %d bytes, %d were written", t.Name, t.DType, t.Shape, sizes[i], cw.n)
			}
		}
		return nil
	})
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
