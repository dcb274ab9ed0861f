package ort

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// tinyModel writes an ONNX model computing logits = float(input_ids + attention_mask)
// with dynamic [batch, seq] axes. It is encoded with protowire directly so this
// package's tests depend on nothing but ONNX Runtime itself.
func tinyModel(t *testing.T) string {
	t.Helper()
	msg := func(field protowire.Number, body []byte) []byte {
		b := protowire.AppendTag(nil, field, protowire.BytesType)
		return protowire.AppendBytes(b, body)
	}
	str := func(field protowire.Number, s string) []byte { return msg(field, []byte(s)) }
	varint := func(field protowire.Number, v uint64) []byte {
		b := protowire.AppendTag(nil, field, protowire.VarintType)
		return protowire.AppendVarint(b, v)
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	valueInfo := func(name string, elem uint64) []byte {
		shape := cat(msg(1, str(2, "batch_size")), msg(1, str(2, "sequence_length")))
		tensor := cat(varint(1, elem), msg(2, shape))
		return cat(str(1, name), msg(2, msg(1, tensor)))
	}
	const float, int64 = 1, 7
	add := cat(str(1, "input_ids"), str(1, "attention_mask"), str(2, "sum"), str(3, "add"), str(4, "Add"))
	cast := cat(str(1, "sum"), str(2, "logits"), str(3, "cast"), str(4, "Cast"),
		msg(5, cat(str(1, "to"), varint(3, float), varint(20, 2))))
	graph := cat(msg(1, add), msg(1, cast), str(2, "tiny"),
		msg(11, valueInfo("input_ids", int64)), msg(11, valueInfo("attention_mask", int64)),
		msg(12, valueInfo("logits", float)))
	model := cat(varint(1, 8), str(2, "kiln-test"), msg(7, graph), msg(8, cat(str(1, ""), varint(2, 17))))
	path := filepath.Join(t.TempDir(), "tiny.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSessionRun(t *testing.T) {
	if err := Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	if v := Version(); v == "" {
		t.Fatal("empty version after Init")
	}
	provs, err := AvailableProviders()
	if err != nil || len(provs) == 0 || provs[0] != CPUProvider {
		t.Fatalf("providers = %v, %v", provs, err)
	}
	s, err := NewSession(tinyModel(t), Options{Device: "auto", IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Provider() == CPUProvider && s.FallbackReason() == "" {
		t.Error("auto fell back to CPU without saying why")
	}
	if got := strings.Join(s.InputNames(), ","); got != "input_ids,attention_mask" {
		t.Errorf("inputs = %s", got)
	}
	if s.Inputs()[0].Shape[0] != -1 || s.Inputs()[0].Shape[1] != -1 {
		t.Errorf("axes not dynamic: %v", s.Inputs()[0].Shape)
	}

	tests := []struct {
		name    string
		in      map[string]Int64Tensor
		want    []float32
		wantErr string
	}{
		{name: "batch 2 seq 3", in: map[string]Int64Tensor{
			"input_ids":      {Shape: []int64{2, 3}, Data: []int64{1, 2, 3, 4, 5, 6}},
			"attention_mask": {Shape: []int64{2, 3}, Data: []int64{1, 1, 1, 1, 1, 0}},
		}, want: []float32{2, 3, 4, 5, 6, 6}},
		{name: "batch 1 seq 1", in: map[string]Int64Tensor{
			"input_ids":      {Shape: []int64{1, 1}, Data: []int64{41}},
			"attention_mask": {Shape: []int64{1, 1}, Data: []int64{1}},
		}, want: []float32{42}},
		{name: "missing input", in: map[string]Int64Tensor{
			"input_ids": {Shape: []int64{1, 1}, Data: []int64{1}},
		}, wantErr: `input "attention_mask" missing`},
		{name: "shape and data disagree", in: map[string]Int64Tensor{
			"input_ids":      {Shape: []int64{1, 2}, Data: []int64{1}},
			"attention_mask": {Shape: []int64{1, 1}, Data: []int64{1}},
		}, wantErr: "holds 2 values"},
		{name: "unknown input", in: map[string]Int64Tensor{
			"input_ids":      {Shape: []int64{1, 1}, Data: []int64{1}},
			"attention_mask": {Shape: []int64{1, 1}, Data: []int64{1}},
			"token_type_ids": {Shape: []int64{1, 1}, Data: []int64{0}},
		}, wantErr: `no input "token_type_ids"`},
		{name: "mismatched shapes fail inside ONNX Runtime", in: map[string]Int64Tensor{
			"input_ids":      {Shape: []int64{1, 2}, Data: []int64{1, 2}},
			"attention_mask": {Shape: []int64{1, 3}, Data: []int64{1, 1, 1}},
		}, wantErr: "onnxruntime: run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.Run(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := out["logits"].Data
			if len(got) != len(tc.want) {
				t.Fatalf("logits = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("logits = %v, want %v", got, tc.want)
				}
			}
		})
	}

	// Concurrent runs on one session must be safe.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := s.Run(map[string]Int64Tensor{
				"input_ids":      {Shape: []int64{1, 1}, Data: []int64{int64(i)}},
				"attention_mask": {Shape: []int64{1, 1}, Data: []int64{0}},
			})
			if err != nil || out["logits"].Data[0] != float32(i) {
				t.Errorf("concurrent run %d: %v %v", i, out, err)
			}
		}()
	}
	wg.Wait()
}

func TestNewSessionErrors(t *testing.T) {
	if err := Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	tests := []struct{ name, path, device, wantErr string }{
		{"missing file", filepath.Join(t.TempDir(), "nope.onnx"), "cpu", "reading"},
		{"corrupt file", bad, "cpu", "reading"},
		{"bad device", tinyModel(t), "tpu", "want auto, cpu, cuda"},
		{"cuda without provider fails fast", tinyModel(t), "cuda:0", "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.device == "cuda:0" && CUDAUnavailableReason() == "" {
				t.Skip("CUDA provider is available here")
			}
			_, err := NewSession(tc.path, Options{Device: tc.device})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in   string
		kind string
		idx  int
		ok   bool
	}{
		{"", "cpu", 0, true}, {"cpu", "cpu", 0, true}, {"auto", "auto", 0, true},
		{"cuda", "cuda", 0, true}, {"cuda:3", "cuda", 3, true},
		{"cuda:x", "", 0, false}, {"cuda:-1", "", 0, false}, {"metal", "", 0, false},
	}
	for _, tc := range tests {
		kind, idx, err := ParseDevice(tc.in)
		if (err == nil) != tc.ok || kind != tc.kind || idx != tc.idx {
			t.Errorf("ParseDevice(%q) = %q, %d, %v", tc.in, kind, idx, err)
		}
	}
}
