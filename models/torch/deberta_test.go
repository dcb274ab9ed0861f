package torch

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
)

// The DeBERTa-v2/v3 checkpoints of testdata/reference.py run through
// TestHFParity (hidden states, logits and every parameter's gradient within
// parityTol, safetensors and pytorch_model.bin, with and without gradient
// checkpointing).
func init() {
	parityCases = append(parityCases, "deberta_v3_base", "deberta_v3_xsmall", "deberta_buckets_mean",
		"deberta_v3_bf16", "deberta_v2_unshared", "deberta_c2p_only", "deberta_v1style")
}

// TestRelativePositionBuckets: models.RelativePosition gives the same log
// bucket as HF's make_log_bucket_position (float32 arithmetic in torch) for
// every distance up to ±2047 and several (position_buckets,
// max_relative_positions) pairs, including v3's (256, 512).
func TestRelativePositionBuckets(t *testing.T) {
	ref, _, err := models.ReadSafetensors(filepath.Join(reference(t), "buckets.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) == 0 {
		t.Fatal("no bucket tables in the reference")
	}
	for name, tab := range ref {
		var b, m int
		if _, err := fmt.Sscanf(name, "%d_%d", &b, &m); err != nil {
			t.Fatalf("table %q: %v", name, err)
		}
		want, err := tab.Int64s()
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for i, w := range want {
			rel := i - 2047
			if got := models.RelativePosition(rel, b, m); int64(got) != w {
				if bad++; bad <= 5 {
					t.Errorf("buckets %d, max %d, distance %d: got %d, HF %d", b, m, rel, got, w)
				}
			}
		}
		if bad > 0 {
			t.Errorf("buckets %d, max %d: %d of %d distances differ", b, m, bad, len(want))
		}
	}
}

// TestDebertaSaveLoadsInTransformers: a DeBERTa checkpoint kiln draws and
// writes (config.json with every deberta-v2 field, model.safetensors) loads
// in transformers' from_pretrained with no missing or unexpected keys and
// gives kiln's logits (≤ parityTol).
func TestDebertaSaveLoadsInTransformers(t *testing.T) {
	dir := reference(t)
	py := testenv.Python(t)
	var args []string
	type run struct {
		m      *Model
		in     refInputs
		hfPath string
	}
	var runs []run
	defer func() {
		for _, r := range runs {
			r.m.Free()
		}
	}()
	cases := []string{"deberta_v3_xsmall", "deberta_v2_unshared", "deberta_v1style"}
	for _, name := range cases {
		cfg, err := models.LoadConfig(filepath.Join(dir, name, "st"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Pooling = models.PoolCLS // HF has no mean/max head
		src, err := NewSeeded(cfg, gotch.CPU, 5)
		if err != nil {
			t.Fatal(err)
		}
		tmp := t.TempDir()
		ckpt := filepath.Join(tmp, "ckpt")
		err = src.Save(ckpt)
		src.Free()
		if err != nil {
			t.Fatal(err)
		}
		m, rep, err := Load(ckpt, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ref, _, err := models.ReadSafetensors(filepath.Join(dir, name, "ref.safetensors"))
		if err != nil {
			m.Free()
			t.Fatal(err)
		}
		runs = append(runs, run{m: m, in: inputsOf(t, ref), hfPath: filepath.Join(tmp, "hf.safetensors")})
		if len(rep.Missing)+len(rep.Unexpected) > 0 {
			t.Fatalf("%s: kiln reading its own checkpoint: %+v", name, rep)
		}
		inputs := models.StateDict{"input_ids": ref["input_ids"], "attention_mask": ref["attention_mask"]}
		if tt, ok := ref["token_type_ids"]; ok {
			inputs["token_type_ids"] = tt
		}
		in := filepath.Join(tmp, "inputs.safetensors")
		if err := models.WriteSafetensors(in, inputs, nil); err != nil {
			t.Fatal(err)
		}
		args = append(args, ckpt, in, runs[len(runs)-1].hfPath)
	}
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", "reference.py"), "check"}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("transformers could not load kiln's DeBERTa checkpoints: %v\n%s", err, b)
	}
	for i, name := range cases {
		r := runs[i]
		hf, _, err := models.ReadSafetensors(r.hfPath)
		if err != nil {
			t.Fatal(err)
		}
		var o *Output
		NoGrad(func() { o, err = r.m.Forward(r.in.ids, r.in.mask, r.in.types, false) })
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(t, "logits", o.Logits, hf["logits"]); d > parityTol {
			t.Errorf("%s: logits differ from transformers by %.3g > %g", name, d, parityTol)
		}
		o.Drop()
	}
}
