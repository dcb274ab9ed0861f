package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/internal/testenv"
)

// runExport runs `kiln export ARGS…` on a fresh command and returns stdout.
func runExport(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newExportCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// exportCheckpoint writes a tiny BERT classifier with `kiln models init`
// plus the real bert-base-uncased tokenizer.json.
func exportCheckpoint(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.json")
	src := `{"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
		"intermediate_size": 48, "vocab_size": 30522, "max_position_embeddings": 128, "initializer_range": 0.2}`
	if err := os.WriteFile(cfgPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "ckpt")
	if _, err := runModels(t, "init", "--config", cfgPath, "--out", ckpt, "--labels", "neg,pos", "--seed", "5"); err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(testenv.Testdata("tokenizers/bert-base-uncased/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ckpt, "tokenizer.json"), tok, 0o644); err != nil {
		t.Fatal(err)
	}
	return ckpt
}

// TestExportCommandNoVerify: --no-verify works in every build (no
// libtorch, no ONNX Runtime needed), --json reports what was written, an
// existing directory is refused without --force and bad flags are named.
func TestExportCommandNoVerify(t *testing.T) {
	ckpt := exportCheckpoint(t)
	out := filepath.Join(t.TempDir(), "onnx")
	stdout, err := runExport(t, "--model", ckpt, "--out", out, "--no-verify", "--json", "--optimize")
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	var rep export.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if !rep.Optimized || rep.Opset != export.DefaultOpset || rep.Verification != nil ||
		!slices.Equal(rep.Outputs, []string{export.OutputLogits}) || rep.OpCounts["Attention"] != 1 || !rep.LastLayerFirstToken {
		// 2 layers, CLS pooling, logits only: the last layer computes token 0
		// alone with plain attention, so one fused Attention node remains.
		t.Fatalf("report %+v", rep)
	}
	for _, f := range []string{export.ModelFile, export.ConfigFile, export.TokenizerFile, export.TokenizerConfig, export.SpecialTokensFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("missing %s: %v", f, err)
		}
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"exists", []string{"--model", ckpt, "--out", out, "--no-verify"}, "output directory exists"},
		{"no model", []string{"--out", out, "--no-verify"}, "--model and --out are required"},
		// Verification is on: the missing checkpoint must be named as such,
		// before libtorch is asked to load it.
		{"missing checkpoint", []string{"--model", filepath.Join(ckpt, "nope"), "--out", out + "2"}, "export: read config"},
		{"bad dtype", []string{"--model", ckpt, "--out", out + "2", "--no-verify", "--dtype", "int4"}, `dtype "int4" is not supported`},
		{"bad opset", []string{"--model", ckpt, "--out", out + "2", "--no-verify", "--opset", "12"}, "opset 12 is not supported"},
		{"bad output", []string{"--model", ckpt, "--out", out + "2", "--no-verify", "--outputs", "logits,attn"}, `output "attn" is not supported`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runExport(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	if _, err := runExport(t, "--model", ckpt, "--out", out, "--no-verify", "--force", "--dtype", "fp16"); err != nil {
		t.Fatalf("--force: %v", err)
	}
}
