package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
)

// TestPredictDevice: --device on both backends, on a machine without a
// usable GPU (the GPU kit's logits-cuda and predict-onnx-cuda stages run
// the CUDA side). cpu runs quietly; auto gives cpu's numbers plus one
// stderr line saying why CUDA was not used; cuda fails naming what is
// missing; anything else is refused by name.
func TestPredictDevice(t *testing.T) {
	if err := ort.Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	ckpt := exportCheckpoint(t)
	onnxDir := filepath.Join(t.TempDir(), "onnx")
	if out, err := runExport(t, "--model", ckpt, "--out", onnxDir, "--no-verify"); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	in := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(in, []byte("text\na gripping film\ndull and long\nit is what it is\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type backend struct {
		name, model string
		// cudaMissing: why this backend cannot use CUDA here ("" = it can).
		cudaMissing func() string
		// cudaErr: what --device cuda's error must contain.
		cudaErr []string
	}
	backends := []backend{{"onnx", onnxDir, ort.CUDAUnavailableReason,
		[]string{"--device cuda:0 requested but unavailable", "CUDA"}}}
	if libtorchPredict != nil {
		backends = append(backends, backend{"libtorch", ckpt, libtorchCUDAMissing,
			[]string{`--device: device "cuda"`, libtorchCUDAMissing()}})
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			why := b.cudaMissing()
			if why == "" {
				t.Skip("CUDA is usable here: this test covers the fallbacks of a machine without it")
			}
			run := func(dev string) (string, string, error) {
				return runPredictStderr(t, "--model", b.model, "--backend", b.name, "--input", in, "--json", "--logits", "--device", dev)
			}
			cpu, cpuErr, err := run("cpu")
			if err != nil || cpuErr != "" || strings.Count(cpu, "\n") != 3 {
				t.Fatalf("--device cpu: err %v, stderr %q, stdout %q", err, cpuErr, cpu)
			}
			auto, autoErr, err := run("auto")
			if err != nil {
				t.Fatalf("--device auto: %v", err)
			}
			if auto != cpu {
				t.Errorf("--device auto gave\n%s\nwant --device cpu's\n%s", auto, cpu)
			}
			wantLine := "predict: --device auto: running on the CPU, CUDA is unavailable: "
			if strings.Count(autoErr, "\n") != 1 || !strings.HasPrefix(autoErr, wantLine) {
				t.Errorf("--device auto stderr %q: want one line starting %q", autoErr, wantLine)
			}
			for _, dev := range []string{"cuda", "cuda:0"} {
				out, _, err := run(dev)
				if err == nil {
					t.Fatalf("--device %s without CUDA succeeded: %s", dev, out)
				}
				for _, want := range b.cudaErr {
					if want = strings.Replace(want, `"cuda"`, `"`+dev+`"`, 1); !strings.Contains(err.Error(), want) {
						t.Errorf("--device %s: error %q lacks %q", dev, err, want)
					}
				}
			}
			if _, _, err := run("tpu"); err == nil || !strings.Contains(err.Error(), `"tpu": want auto, cpu, cuda or cuda:N`) {
				t.Errorf("--device tpu: err %v, want it refused by name", err)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		out, err := runPredict(t, "--help")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"--device string", "cpu, cuda, cuda:N", "auto (CUDA when usable, else the CPU)", "--device\nauto uses CUDA when it can"} {
			if !strings.Contains(out, want) {
				t.Errorf("predict --help lacks %q", want)
			}
		}
	})
}
