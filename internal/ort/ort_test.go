package ort

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	onnx "github.com/yalue/onnxruntime_go"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// tinyModel writes an ONNX model computing logits = float(input_ids + attention_mask)
// with dynamic [batch, seq] axes, encoded with probe.go's protobuf builders.
func tinyModel(t *testing.T) string {
	t.Helper()
	add := pbCat(pbStr(1, "input_ids"), pbStr(1, "attention_mask"), pbStr(2, "sum"), pbStr(3, "add"), pbStr(4, "Add"))
	cast := pbCat(pbStr(1, "sum"), pbStr(2, "logits"), pbStr(3, "cast"), pbStr(4, "Cast"),
		pbMsg(5, pbCat(pbStr(1, "to"), pbVarint(3, onnxFloat), pbVarint(20, 2))))
	dims := []string{"batch_size", "sequence_length"}
	graph := pbCat(pbMsg(1, add), pbMsg(1, cast), pbStr(2, "tiny"),
		pbMsg(11, pbValueInfo("input_ids", onnxInt64, dims...)), pbMsg(11, pbValueInfo("attention_mask", onnxInt64, dims...)),
		pbMsg(12, pbValueInfo("logits", onnxFloat, dims...)))
	model := pbModel(graph)
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

// "auto" falls back to the CPU whenever the CUDA session cannot be created,
// whether appending the provider failed or creating the session did (cuDNN
// missing, no device); the CPU session is real and runs.
func TestAutoFallback(t *testing.T) {
	if err := Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	model := tinyModel(t)
	cpu := func() (*Session, error) { return NewSession(model, Options{Device: "cpu", IntraOpThreads: 1}) }
	tests := []struct {
		name         string
		cudaErr      error // nil: the CUDA attempt succeeds
		cpuErr       error
		wantProvider string
		wantReason   string
		wantErr      string
	}{
		{"provider append fails", errors.New("CUDA execution provider: Failed to load shared library"), nil, CPUProvider, "Failed to load", ""},
		{"session creation fails", errors.New("onnxruntime: creating session for m.onnx: CUDA failure 100: no CUDA-capable device"), nil, CPUProvider, "no CUDA-capable device", ""},
		{"cuda works", nil, nil, CUDAProvider, "", ""},
		{"both fail", errors.New("cudnn missing"), errors.New("corrupt model"), "", "cudnn missing", "CUDA failed first: cudnn missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tried []bool
			s, provider, reason, err := withFallback(func(cuda bool) (*Session, error) {
				tried = append(tried, cuda)
				if cuda && tc.cudaErr != nil {
					return nil, tc.cudaErr
				}
				if !cuda && tc.cpuErr != nil {
					return nil, tc.cpuErr
				}
				return cpu()
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if provider != tc.wantProvider || !strings.Contains(reason, tc.wantReason) || (tc.wantReason == "" && reason != "") {
				t.Fatalf("provider %q reason %q; want %q, reason containing %q", provider, reason, tc.wantProvider, tc.wantReason)
			}
			if want := tc.cudaErr != nil; len(tried) != map[bool]int{true: 2, false: 1}[want] || !tried[0] {
				t.Fatalf("attempts (cuda?) = %v", tried)
			}
			out, err := s.Run(map[string]Int64Tensor{
				"input_ids": {Shape: []int64{1, 1}, Data: []int64{2}}, "attention_mask": {Shape: []int64{1, 1}, Data: []int64{1}},
			})
			if err != nil || out["logits"].Data[0] != 3 {
				t.Fatalf("run = %v, %v", out, err)
			}
		})
	}
}

// The probe creates a session on probe.go's model; on the CPU that model
// must load and compute y = 2x, or the probe would report CUDA as broken for
// the model's sake.
func TestProbeModelRunsOnCPU(t *testing.T) {
	if err := Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	so, err := sessionOptions(Options{IntraOpThreads: 1}, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	x, _ := onnx.NewTensor(onnx.NewShape(3), []float32{1, 2, 3.5})
	defer x.Destroy()
	ds, err := onnx.NewDynamicAdvancedSessionWithONNXData(probeModel(), []string{"x"}, []string{"y"}, so)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Destroy()
	outs := []onnx.Value{nil}
	if err := ds.Run([]onnx.Value{x}, outs); err != nil {
		t.Fatal(err)
	}
	defer outs[0].Destroy()
	got := outs[0].(*onnx.Tensor[float32]).GetData()
	if len(got) != 3 || got[0] != 2 || got[1] != 4 || got[2] != 7 {
		t.Fatalf("y = %v, want [2 4 7]", got)
	}
	if CUDAUnavailableReason() == "" {
		t.Log("CUDA provider usable here")
	} else if !strings.Contains(CUDAUnavailableReason(), "CUDA") {
		t.Errorf("reason %q does not name CUDA", CUDAUnavailableReason())
	}
}

// A CUDA setup's onnxruntime-gpu build wins over the CPU one; without it the
// CPU library is found as before.
func TestDefaultLibraryPathPrefersCUDABuild(t *testing.T) {
	t.Setenv("ONNXRUNTIME_LIB", "")
	root := t.TempDir()
	sub := filepath.Join(root, "a", "b")
	cpu := filepath.Join(root, "build", "onnxruntime", "lib", LibraryFile)
	gpu := filepath.Join(root, "build", "onnxruntime-cuda", "lib", LibraryFile)
	for _, p := range []string{sub, filepath.Dir(cpu), filepath.Dir(gpu)} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(sub)
	os.WriteFile(cpu, nil, 0o644)
	// (go test runs the binary from a temporary directory with no build/ above.)
	if got := DefaultLibraryPath(); got != cpu {
		t.Fatalf("CPU only: DefaultLibraryPath = %s, want %s", got, cpu)
	}
	os.WriteFile(gpu, nil, 0o644)
	if got := DefaultLibraryPath(); got != gpu {
		t.Fatalf("with the CUDA build: DefaultLibraryPath = %s, want %s", got, gpu)
	}
}
