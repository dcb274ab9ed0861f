package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/models"
)

// runModels runs `kiln models ARGS…` on a fresh command tree and returns
// its stdout.
func runModels(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newModelsCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestModelsInitInspect: init writes a checkpoint kiln reads back with the
// requested dtype, labels and a classification architecture; inspect reports
// it; bad input is refused with an error naming the problem.
func TestModelsInitInspect(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.json")
	src := `{"model_type": "roberta", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
		"intermediate_size": 48, "vocab_size": 100, "max_position_embeddings": 66, "pad_token_id": 1,
		"architectures": ["RobertaModel"]}`
	if err := os.WriteFile(cfgPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, dtype string
		labels      string
		wantDType   string
		wantLabels  int
	}{
		{"f32", "f32", "neg,pos", "F32", 2},
		{"bf16", "bf16", "a,b,c", "BF16", 3},
		{"f16", "fp16", "", "F16", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "ckpt")
			args := []string{"init", "--config", cfgPath, "--out", out, "--dtype", tc.dtype, "--seed", "3"}
			if tc.labels != "" {
				args = append(args, "--labels", tc.labels)
			}
			if _, err := runModels(t, args...); err != nil {
				t.Fatal(err)
			}
			cfg, err := models.LoadConfig(out)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.NumLabels() != tc.wantLabels || len(cfg.Architectures) != 1 || cfg.Architectures[0] != "RobertaForSequenceClassification" {
				t.Errorf("config: %d labels, architectures %v", cfg.NumLabels(), cfg.Architectures)
			}
			js, err := runModels(t, "inspect", "--json", out)
			if err != nil {
				t.Fatal(err)
			}
			var r inspectReport
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				t.Fatalf("%v\n%s", err, js)
			}
			if r.ModelType != "roberta" || r.DTypes[tc.wantDType] == 0 || len(r.DTypes) != 1 || len(r.Missing)+len(r.Unexpected) > 0 {
				t.Errorf("inspect: %+v", r)
			}
			var want int64
			for _, s := range models.ParamSpecs(cfg) {
				n := int64(1)
				for _, d := range s.Shape {
					n *= d
				}
				want += n
			}
			if r.Params != want {
				t.Errorf("inspect: %d parameters, config implies %d", r.Params, want)
			}
			// Init refuses to overwrite without --force.
			if _, err := runModels(t, args...); err == nil || !strings.Contains(err.Error(), "--force") {
				t.Errorf("second init: %v, want a refusal naming --force", err)
			}
		})
	}
	bad := []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"init", "--out", dir}, "--config and --out are required"},
		{"bad dtype", []string{"init", "--config", cfgPath, "--out", filepath.Join(dir, "x"), "--dtype", "f8"}, `--dtype "f8"`},
		{"inspect missing dir", []string{"inspect", filepath.Join(dir, "nope")}, "nope"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runModels(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
