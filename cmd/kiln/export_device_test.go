//go:build !notorch

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/export/verify"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/internal/torchinfo"
)

// TestExportVerifyDevice: --verify-device on a machine without a usable GPU
// (the GPU kit's export-verify-cuda stage runs the CUDA side). cpu verifies
// on the CPU quietly; auto verifies the same, saying in one line per side
// why CUDA was not used; cuda fails naming what is missing and writes
// nothing; anything else is refused by name.
func TestExportVerifyDevice(t *testing.T) {
	if err := ort.Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	torchWhy, ortWhy := torchinfo.CUDAUnavailableReason(), ort.CUDAUnavailableReason()
	if torchWhy == "" || ortWhy == "" {
		t.Skip("CUDA is usable here on one side: this test covers the fallbacks of a machine without it")
	}
	ckpt := exportCheckpoint(t)
	dir := t.TempDir()
	const torchLine = "export: --verify-device auto: libtorch runs on the CPU, CUDA is unavailable: "
	const ortLine = "export: --verify-device auto: ONNX Runtime runs on the CPU, its CUDA provider is unavailable: "
	cases := []struct {
		device    string
		err       []string // empty: must pass
		fallbacks []string // the stderr lines (prefixes) auto prints
	}{
		{device: "cpu"},
		{device: "auto", fallbacks: []string{torchLine, ortLine}},
		{device: "cuda", err: []string{`export: --verify-device: verify: device "cuda": `, torchWhy}},
		{device: "cuda:1", err: []string{`device "cuda:1": `, torchWhy}},
		{device: "tpu", err: []string{`device "tpu": want auto, cpu, cuda or cuda:N`}},
	}
	for _, c := range cases {
		t.Run(c.device, func(t *testing.T) {
			out := filepath.Join(dir, c.device)
			got, err := runExport(t, "--model", ckpt, "--out", out, "--verify-device", c.device)
			if len(c.err) > 0 {
				if err == nil {
					t.Fatalf("--verify-device %s succeeded:\n%s", c.device, got)
				}
				for _, want := range c.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				if _, serr := os.Stat(out); !os.IsNotExist(serr) {
					t.Errorf("a refused verification left %s behind (%v)", out, serr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, got)
			}
			if !strings.Contains(got, "verify      PASSED against libtorch (models/torch) on CPUExecutionProvider") {
				t.Errorf("report does not say where it verified:\n%s", got)
			}
			n := 0
			for _, l := range strings.Split(got, "\n") {
				if strings.HasPrefix(l, "export: --verify-device") {
					n++
				}
			}
			if n != len(c.fallbacks) {
				t.Errorf("%d fallback lines, want %d:\n%s", n, len(c.fallbacks), got)
			}
			for _, want := range c.fallbacks {
				if !strings.Contains(got, want) {
					t.Errorf("output lacks %q:\n%s", want, got)
				}
			}
		})
	}
	// ONNX Runtime's side on its own: a CPU reference and a CUDA session.
	t.Run("ort-cuda", func(t *testing.T) {
		ref, err := verify.Load(ckpt)
		if err != nil {
			t.Fatal(err)
		}
		defer ref.Close()
		_, err = export.Export(context.Background(), ckpt, filepath.Join(dir, "ort-cuda"),
			export.Options{Reference: ref, Verify: export.VerifyOptions{Device: "cuda"}})
		if err == nil || !strings.Contains(err.Error(), "--device cuda:0 requested but unavailable") {
			t.Errorf("ONNX Runtime on cuda without its provider: err %v", err)
		}
		rep, err := export.Export(context.Background(), ckpt, filepath.Join(dir, "ort-auto"),
			export.Options{Reference: ref, Verify: export.VerifyOptions{Device: "auto"}})
		if err != nil {
			t.Fatal(err)
		}
		if v := rep.Verification; v.Provider != ort.CPUProvider || v.ProviderFallback == "" || !v.Passed {
			t.Errorf("auto without the CUDA provider: provider %s, fallback %q, passed %v", v.Provider, v.ProviderFallback, v.Passed)
		}
	})
	t.Run("help", func(t *testing.T) {
		got, err := runExport(t, "--help")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"--verify-device string", "--verify-device cpu (the default), cuda or cuda:N", "--verify-device auto uses CUDA"} {
			if !strings.Contains(got, want) {
				t.Errorf("export --help lacks %q", want)
			}
		}
	})
}
