package train

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/kiln-ml/kiln/internal/torchinfo"
)

// ResolveDevice: the trainer's parsing plus auto; on a machine without a
// usable GPU, cuda fails naming what is missing and auto falls back saying
// the same.
func TestResolveDevice(t *testing.T) {
	why := torchinfo.CUDAUnavailableReason()
	if why == "" {
		t.Skip("CUDA is usable here: the fallback cases need a machine without it")
	}
	cases := []struct {
		in, fallback, err string
		dev               gotch.Device
	}{
		{in: "cpu", dev: gotch.CPU},
		{in: "auto", dev: gotch.CPU, fallback: why},
		{in: "cuda", err: why},
		{in: "cuda:1", err: why},
		{in: "gpu0", err: `device "gpu0": want auto, cpu, cuda or cuda:N`},
		{in: "cuda0", err: `device "cuda0": want auto, cpu, cuda or cuda:N`},
		{in: "", err: `device "": want auto, cpu, cuda or cuda:N`},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			dev, fallback, err := ResolveDevice(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || dev != c.dev || !strings.Contains(fallback, c.fallback) || (c.fallback == "") != (fallback == "") {
				t.Fatalf("= %v, %q, %v; want %v, %q", dev, fallback, err, c.dev, c.fallback)
			}
		})
	}
}
