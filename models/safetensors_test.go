package models

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleDict(t *testing.T) StateDict {
	t.Helper()
	sd := StateDict{}
	vals := []float32{1, -2.5, 3.25, 0, 1e-3, 65000}
	for _, dt := range []string{"F32", "F16", "BF16"} {
		x, err := FromFloat32s(dt, []int64{2, 3}, vals)
		if err != nil {
			t.Fatal(err)
		}
		sd["w."+dt] = x
	}
	ids, err := FromInt64s([]int64{1, 4}, []int64{0, -1, 1 << 40, 7})
	if err != nil {
		t.Fatal(err)
	}
	sd["ids"] = ids
	sd["scalar"] = Tensor{DType: "F32", Shape: []int64{}, Data: []byte{0, 0, 128, 63}}
	return sd
}

func TestSafetensorsRoundTrip(t *testing.T) {
	sd := sampleDict(t)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteSafetensors(path, sd, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	back, meta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != "pt" {
		t.Errorf("metadata %v", meta)
	}
	for name, want := range sd {
		got, ok := back[name]
		if !ok || got.DType != want.DType || !bytes.Equal(got.Data, want.Data) || len(got.Shape) != len(want.Shape) {
			t.Errorf("%s: got %v %v, want %v %v", name, got.DType, got.Shape, want.DType, want.Shape)
		}
	}
	for _, dt := range []string{"F32", "F16", "BF16"} {
		v, err := back["w."+dt].Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if v[1] != -2.5 || v[2] != 3.25 {
			t.Errorf("%s decoded %v", dt, v)
		}
	}
	ids, _ := back["ids"].Int64s()
	if ids[2] != 1<<40 || ids[1] != -1 {
		t.Errorf("ids %v", ids)
	}
}

func TestSafetensorsCorrupt(t *testing.T) {
	sd := sampleDict(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := WriteSafetensors(good, sd, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	hlen := binary.LittleEndian.Uint64(data[:8])
	huge := append([]byte{}, data...)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	badJSON := append([]byte{}, data...)
	badJSON[9] = '!'
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"cut in header", data[:8+hlen/2], "exceeds the file size"},
		{"cut in data", data[:len(data)-3], "outside the"},
		{"huge header length", huge, "exceeds"},
		{"garbage header", badJSON, "not valid JSON"},
		{"overlap", overlapping(t), "overlap"},
		{"shape mismatch", []byte(padHeader(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`) + "12345678"), "needs 12 bytes"},
		{"unknown dtype", []byte(padHeader(`{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}`) + "1"), "unknown dtype"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadSafetensors(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func padHeader(h string) string {
	for len(h)%8 != 0 {
		h += " "
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(h)))
	return string(n[:]) + h
}

func overlapping(t *testing.T) []byte {
	return []byte(padHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`) + "123456789012")
}

// streamed describes sd as streamed tensors, each writing its bytes in
// pieces of at most 5 so a writer that assumes one Write per tensor fails.
func streamed(sd StateDict) []StreamedTensor {
	var out []StreamedTensor
	for name, t := range sd {
		out = append(out, StreamedTensor{Name: name, DType: t.DType, Shape: t.Shape, Write: func(w io.Writer) error {
			for b := t.Data; len(b) > 0; {
				n := min(5, len(b))
				if _, err := w.Write(b[:n]); err != nil {
					return err
				}
				b = b[n:]
			}
			return nil
		}})
	}
	return out
}

func TestStreamSafetensors(t *testing.T) {
	sd := sampleDict(t)
	dir := t.TempDir()
	want := filepath.Join(dir, "want.safetensors")
	if err := WriteSafetensors(want, sd, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	wantBytes, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	tests := []struct {
		name    string
		edit    func([]StreamedTensor) []StreamedTensor
		wantErr string // "" = the same bytes as WriteSafetensors
	}{
		{"same bytes as WriteSafetensors", func(s []StreamedTensor) []StreamedTensor { return s }, ""},
		{"short tensor", func(s []StreamedTensor) []StreamedTensor {
			s[0].Shape = append([]int64{2}, s[0].Shape...)
			return s
		}, "were written"},
		{"duplicate name", func(s []StreamedTensor) []StreamedTensor { return append(s, s[0]) }, "appears twice"},
		{"unknown dtype", func(s []StreamedTensor) []StreamedTensor { s[0].DType = "F8"; return s }, "unknown dtype"},
		{"negative dimension", func(s []StreamedTensor) []StreamedTensor { s[0].Shape = []int64{-1}; return s }, "negative dimension"},
		{"write fails", func(s []StreamedTensor) []StreamedTensor {
			s[1].Write = func(io.Writer) error { return boom }
			return s
		}, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".safetensors")
			err := StreamSafetensors(path, tt.edit(streamed(sd)), map[string]string{"format": "pt"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if _, serr := os.Stat(path); !os.IsNotExist(serr) {
					t.Errorf("a failed write left %s (stat: %v)", path, serr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wantBytes) {
				t.Errorf("streamed file differs from WriteSafetensors' (%d vs %d bytes)", len(got), len(wantBytes))
			}
		})
	}
}
