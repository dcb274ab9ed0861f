package models

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const debertaV3 = `{"model_type":"deberta-v2","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
"intermediate_size":128,"vocab_size":100,"relative_attention":true,"pos_att_type":["p2c","c2p"],
"position_buckets":256,"max_relative_positions":-1,"max_position_embeddings":512,"share_att_key":true,
"norm_rel_ebd":"layer_norm","position_biased_input":false,"type_vocab_size":0,"pooler_hidden_act":"gelu",
"pooler_dropout":0,"pooler_hidden_size":64,"layer_norm_eps":1e-7,"transformers_version":"4.40.2"}`

func debertaWith(kv string) string { return strings.TrimSuffix(debertaV3, "}") + "," + kv + "}" }

// debertaParseCases run in TestParseConfig.
var debertaParseCases = []parseCase{
	{name: "deberta v3", json: debertaV3, check: func(t *testing.T, c *Config) {
		d := c.Deberta
		if !d.RelativeAttention || !d.ShareAttKey || d.PositionBiasedInput || d.NormRelEbd != "layer_norm" ||
			!d.HasPosAtt("c2p") || !d.HasPosAtt("p2c") || c.AttSpan() != 256 || c.MaxRelPositions() != 512 ||
			c.ScaleFactor() != 3 || c.TypeVocabSize != 0 || c.LayerNormEps != 1e-7 {
			t.Errorf("got %+v", c)
		}
		if _, ok := c.Extra["share_att_key"]; ok {
			t.Error("interpreted deberta keys must not be kept in Extra")
		}
		names := map[string]bool{}
		for _, s := range ParamSpecs(c) {
			names[s.Name] = true
		}
		for _, n := range []string{"deberta.encoder.rel_embeddings.weight", "deberta.encoder.LayerNorm.weight",
			"deberta.encoder.layer.1.attention.self.query_proj.bias", "pooler.dense.weight", "classifier.bias"} {
			if !names[n] {
				t.Errorf("ParamSpecs lacks %s", n)
			}
		}
		for _, n := range []string{"deberta.embeddings.position_embeddings.weight", "deberta.embeddings.token_type_embeddings.weight",
			"deberta.encoder.layer.0.attention.self.pos_key_proj.weight"} {
			if names[n] {
				t.Errorf("ParamSpecs has %s, which this config does not", n)
			}
		}
	}},
	{name: "deberta HF defaults", json: `{"model_type":"deberta-v2","hidden_size":32,"num_attention_heads":4,"vocab_size":50}`, check: func(t *testing.T, c *Config) {
		d := c.Deberta
		if d.RelativeAttention || !d.PositionBiasedInput || d.PosAttType != nil || d.NormRelEbd != "none" || d.PoolerHiddenAct != "gelu" || c.ScaleFactor() != 1 {
			t.Errorf("got %+v", d)
		}
	}},
	{name: "old pos_att_type string", json: debertaWith(`"pos_att_type":"C2P|p2c","share_att_key":false`), check: func(t *testing.T, c *Config) {
		if !slices.Equal(c.Deberta.PosAttType, []string{"c2p", "p2c"}) {
			t.Errorf("pos_att_type %v", c.Deberta.PosAttType)
		}
		n := 0
		for _, s := range ParamSpecs(c) {
			if strings.Contains(s.Name, "pos_key_proj") || strings.Contains(s.Name, "pos_query_proj") {
				n++
			}
		}
		if n != 2*2*2 {
			t.Errorf("%d pos_*_proj tensors, want 8 (2 layers × 2 projections × weight+bias)", n)
		}
	}},
	{name: "cls_dropout", json: debertaWith(`"cls_dropout":0.3`), check: func(t *testing.T, c *Config) {
		if c.ClassifierDropoutProb() != 0.3 {
			t.Errorf("classifier dropout %v", c.ClassifierDropoutProb())
		}
	}},
	{name: "conv layer", json: debertaWith(`"conv_kernel_size":3`), wantErr: "conv_kernel_size"},
	{name: "pooler size", json: debertaWith(`"pooler_hidden_size":32`), wantErr: "pooler_hidden_size"},
	{name: "head size", json: debertaWith(`"attention_head_size":8`), wantErr: "attention_head_size"},
	{name: "norm_rel_ebd", json: debertaWith(`"norm_rel_ebd":"batch_norm"`), wantErr: "norm_rel_ebd"},
	{name: "pos_att_type", json: debertaWith(`"pos_att_type":["c2c"]`), wantErr: "pos_att_type"},
	{name: "pooler act", json: debertaWith(`"pooler_hidden_act":"swish"`), wantErr: "pooler_hidden_act"},
	{name: "buckets vs max", json: debertaWith(`"max_relative_positions":100`), wantErr: "max_relative_positions"},
	{name: "pos_att_type type", json: debertaWith(`"pos_att_type":3`), wantErr: "pos_att_type"},
}

// A saved deberta config reads back identical (HF's keys, not BERT's).
func TestDebertaConfigRoundTrip(t *testing.T) {
	c, err := ParseConfig([]byte(debertaWith(`"cls_dropout":0.25,"embedding_size":32`)))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.json")
	if err := c.Save(p); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Deberta.PosAttType, c.Deberta.PosAttType) || back.Deberta.ShareAttKey != c.Deberta.ShareAttKey ||
		back.Deberta.PositionBuckets != 256 || back.Deberta.NormRelEbd != "layer_norm" || back.EmbeddingWidth() != 32 ||
		back.ClassifierDropoutProb() != 0.25 || string(back.Extra["transformers_version"]) != `"4.40.2"` {
		t.Errorf("round trip changed the config: %+v", back)
	}
	if _, ok := back.Extra["classifier_dropout"]; ok {
		t.Error("wrote BERT's classifier_dropout for deberta")
	}
}

// A microsoft/deberta-v3-* pre-training checkpoint (encoder, MLM head
// lm_predictions.*, RTD head mask_predictions.*, a position table v3 does
// not use, the position_ids buffer) normalises to the encoder with only
// the classification head missing, as transformers loads it.
func TestDebertaPretrainingCheckpointKeys(t *testing.T) {
	cfg, err := ParseConfig([]byte(debertaV3))
	if err != nil {
		t.Fatal(err)
	}
	sd := StateDict{}
	one := Tensor{DType: "F32", Shape: []int64{1}, Data: make([]byte, 4)}
	for _, s := range ParamSpecs(cfg) {
		if !IsHeadParam(cfg.ModelType, s.Name) {
			sd[s.Name] = one
		}
	}
	for _, k := range []string{"lm_predictions.lm_head.dense.weight", "lm_predictions.lm_head.LayerNorm.weight",
		"lm_predictions.lm_head.bias", "mask_predictions.dense.weight", "mask_predictions.classifier.weight",
		"deberta.embeddings.position_embeddings.weight", "deberta.embeddings.position_ids"} {
		sd[k] = one
	}
	_, rep := NormalizeStateDict(cfg, sd)
	if len(rep.Unexpected) > 0 {
		t.Errorf("unexpected: %v", rep.Unexpected)
	}
	if len(rep.Dropped) != 7 {
		t.Errorf("dropped %v, want the 7 pre-training/buffer keys", rep.Dropped)
	}
	if !rep.MissingOnlyHead(cfg.ModelType) || len(rep.Missing) != 4 {
		t.Errorf("missing %v, want pooler.dense and classifier only", rep.Missing)
	}
}
