package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseCase is one config.json, checked after Parse and Validate or
// expected to fail with wantErr.
type parseCase struct {
	name    string
	json    string
	check   func(t *testing.T, c *Config)
	wantErr string // from Parse or Validate
}

func TestParseConfig(t *testing.T) {
	cases := append([]parseCase{
		{
			name: "bert",
			json: `{"model_type":"bert","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":128,"vocab_size":100,"id2label":{"0":"neg","1":"pos"},"label2id":{"neg":0,"pos":1},"transformers_version":"4.40.2"}`,
			check: func(t *testing.T, c *Config) {
				if c.HiddenSize != 64 || c.NumLabels() != 2 || c.ID2Label[1] != "pos" || c.TypeVocabSize != 2 {
					t.Errorf("got %+v", c)
				}
				if string(c.Extra["transformers_version"]) != `"4.40.2"` {
					t.Errorf("extra keys not kept: %v", c.Extra)
				}
			},
		},
		{
			name: "distilbert names",
			json: `{"model_type":"distilbert","dim":32,"n_layers":3,"n_heads":2,"hidden_dim":64,"activation":"gelu","dropout":0.2,"attention_dropout":0.3,"seq_classif_dropout":0.4,"vocab_size":50}`,
			check: func(t *testing.T, c *Config) {
				if c.HiddenSize != 32 || c.NumHiddenLayers != 3 || c.NumAttentionHeads != 2 || c.IntermediateSize != 64 ||
					c.HiddenDropoutProb != 0.2 || c.AttentionProbsDropoutProb != 0.3 || c.ClassifierDropoutProb() != 0.4 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "electra projection",
			json: `{"model_type":"electra","hidden_size":64,"embedding_size":32,"num_attention_heads":4,"num_hidden_layers":1,"intermediate_size":64}`,
			check: func(t *testing.T, c *Config) {
				if c.EmbeddingSize != 32 {
					t.Errorf("embedding_size %d", c.EmbeddingSize)
				}
			},
		},
		{name: "num_labels only", json: `{"model_type":"roberta","num_labels":5}`, check: func(t *testing.T, c *Config) {
			if c.NumLabels() != 5 || c.ID2Label[4] != "LABEL_4" {
				t.Errorf("labels %v", c.ID2Label)
			}
		}},
		{name: "unknown model type", json: `{"model_type":"gpt2"}`, wantErr: `model_type "gpt2" is not supported`},
		{name: "no model type", json: `{"hidden_size":4}`, wantErr: `"model_type" is missing`},
		{name: "unsupported activation", json: `{"model_type":"bert","hidden_act":"swish"}`, wantErr: `hidden_act "swish" is not supported`},
		{name: "relative positions", json: `{"model_type":"bert","position_embedding_type":"relative_key"}`, wantErr: `position_embedding_type "relative_key"`},
		{name: "bad pooling", json: `{"model_type":"bert","pooling":"attention"}`, wantErr: `pooling "attention"`},
		{name: "heads do not divide", json: `{"model_type":"bert","hidden_size":10,"num_attention_heads":3}`, wantErr: "not a multiple"},
		{name: "wrong type", json: `{"model_type":"bert","hidden_size":"big"}`, wantErr: `field "hidden_size"`},
		{name: "bad id2label key", json: `{"model_type":"bert","id2label":{"x":"a"}}`, wantErr: `id2label key "x"`},
		{name: "not json", json: `{"model_type":`, wantErr: "not a JSON object"},
	}, debertaParseCases...) // deberta_test.go
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.json))
			if err == nil {
				err = c.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestConfigRoundTrip(t *testing.T) {
	for _, mt := range []string{TypeBERT, TypeRoBERTa, TypeDistilBERT, TypeELECTRA, TypeDeBERTaV2} {
		t.Run(mt, func(t *testing.T) {
			c := DefaultConfig(mt)
			c.SetLabels([]string{"a", "b", "c"})
			c.ProblemType = ProblemSingleLabel
			c.Pooling = PoolMean
			dir := t.TempDir()
			if err := c.Save(dir); err != nil {
				t.Fatal(err)
			}
			back, err := LoadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := back.Validate(); err != nil {
				t.Fatal(err)
			}
			if back.HiddenSize != c.HiddenSize || back.NumLabels() != 3 || back.ID2Label[2] != "c" || back.Pooling != PoolMean ||
				back.ClassifierDropoutProb() != c.ClassifierDropoutProb() || back.LayerNormEps != c.LayerNormEps ||
				back.EmbeddingWidth() != c.EmbeddingWidth() || back.PadTokenID != c.PadTokenID {
				t.Errorf("round trip changed the config:\n%+v\n%+v", c, back)
			}
			raw, _ := os.ReadFile(filepath.Join(dir, "config.json"))
			if mt == TypeDistilBERT && !strings.Contains(string(raw), `"n_layers"`) {
				t.Errorf("distilbert config not written with HF names: %s", raw)
			}
		})
	}
}
