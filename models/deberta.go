package models

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// TypeDeBERTaV2 is DeBERTa-v2 and DeBERTa-v3 (both save model_type "deberta-v2").
const TypeDeBERTaV2 = "deberta-v2"

// DebertaOptions are the DeBERTa-v2 config.json fields beyond BERT's, with
// HF's DebertaV2Config defaults (v3 checkpoints set relative_attention,
// pos_att_type [p2c, c2p], position_buckets 256, share_att_key,
// norm_rel_ebd layer_norm and position_biased_input false).
type DebertaOptions struct {
	RelativeAttention    bool
	MaxRelativePositions int // < 1: max_position_embeddings
	PositionBuckets      int // <= 0: no log buckets
	PositionBiasedInput  bool
	PosAttType           []string // "c2p", "p2c" (v1's "p2p" is ignored, as in HF's v2 code)
	ShareAttKey          bool
	NormRelEbd           string // "none" or "layer_norm"
	PoolerHiddenAct      string
	PoolerDropout        float64
}

// debertaKeys are the config.json keys DebertaOptions (and cls_dropout) consume.
var debertaKeys = map[string]bool{
	"relative_attention": true, "max_relative_positions": true, "position_buckets": true,
	"position_biased_input": true, "pos_att_type": true, "share_att_key": true, "norm_rel_ebd": true,
	"pooler_hidden_act": true, "pooler_dropout": true, "pooler_hidden_size": true, "cls_dropout": true,
	"attention_head_size": true, "conv_kernel_size": true,
}

func defaultDeberta(c *Config) {
	c.VocabSize, c.TypeVocabSize, c.LayerNormEps = 128100, 0, 1e-7
	c.Deberta = DebertaOptions{MaxRelativePositions: -1, PositionBuckets: -1, PositionBiasedInput: true,
		NormRelEbd: "none", PoolerHiddenAct: "gelu"}
}

// parseDeberta reads the DeBERTa fields of raw into c. embedding_size,
// type_vocab_size and cls_dropout are read by ParseConfig.
func parseDeberta(raw map[string]json.RawMessage, c *Config) error {
	d := &c.Deberta
	for _, f := range []struct {
		key string
		dst any
	}{
		{"relative_attention", &d.RelativeAttention}, {"max_relative_positions", &d.MaxRelativePositions},
		{"position_buckets", &d.PositionBuckets}, {"position_biased_input", &d.PositionBiasedInput},
		{"share_att_key", &d.ShareAttKey}, {"norm_rel_ebd", &d.NormRelEbd},
		{"pooler_hidden_act", &d.PoolerHiddenAct}, {"pooler_dropout", &d.PoolerDropout},
	} {
		if err := getField(raw, f.key, f.dst); err != nil {
			return err
		}
	}
	// pos_att_type: a list, or the old "c2p|p2c" string (HF accepts both).
	if v, ok := raw["pos_att_type"]; ok && string(v) != "null" {
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			var s string
			if err2 := json.Unmarshal(v, &s); err2 != nil {
				return fmt.Errorf(`config.json field "pos_att_type": want a list or a "c2p|p2c" string: %w`, err)
			}
			for _, p := range strings.Split(s, "|") {
				list = append(list, p)
			}
		}
		for i := range list {
			list[i] = strings.ToLower(strings.TrimSpace(list[i]))
		}
		d.PosAttType = list
	}
	// Options of HF's code that kiln does not implement change the numerics:
	// refused by name rather than ignored.
	var n int
	if err := getField(raw, "conv_kernel_size", &n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf(`config.json: deberta-v2 "conv_kernel_size" %d (the first layer's ConvLayer) is not supported; only 0`, n)
	}
	if c.HiddenSize > 0 && c.NumAttentionHeads > 0 {
		n = c.HiddenSize / c.NumAttentionHeads
		if err := getField(raw, "attention_head_size", &n); err != nil {
			return err
		}
		if n*c.NumAttentionHeads != c.HiddenSize {
			return fmt.Errorf(`config.json: deberta-v2 "attention_head_size" %d with %d heads != hidden_size %d is not supported`, n, c.NumAttentionHeads, c.HiddenSize)
		}
	}
	n = c.HiddenSize
	if err := getField(raw, "pooler_hidden_size", &n); err != nil {
		return err
	}
	if n != c.HiddenSize {
		return fmt.Errorf(`config.json: deberta-v2 "pooler_hidden_size" %d != hidden_size %d is not supported`, n, c.HiddenSize)
	}
	return nil
}

// HasPosAtt reports whether pos_att_type lists kind ("c2p" or "p2c").
func (d *DebertaOptions) HasPosAtt(kind string) bool {
	for _, p := range d.PosAttType {
		if p == kind {
			return true
		}
	}
	return false
}

// MaxRelPositions is max_relative_positions with HF's fallback to
// max_position_embeddings.
func (c *Config) MaxRelPositions() int {
	if c.Deberta.MaxRelativePositions < 1 {
		return c.MaxPositionEmbeddings
	}
	return c.Deberta.MaxRelativePositions
}

// AttSpan is HF's pos_ebd_size: the number of relative distances on each
// side that get their own embedding (rel_embeddings has 2*AttSpan rows).
func (c *Config) AttSpan() int {
	if c.Deberta.PositionBuckets > 0 {
		return c.Deberta.PositionBuckets
	}
	return c.MaxRelPositions()
}

// ScaleFactor is 1 + one per disentangled term: DeBERTa divides every
// attention term by sqrt(head_size * ScaleFactor).
func (c *Config) ScaleFactor() int {
	// HF counts the terms even when relative_attention is off.
	f := 1
	if c.Deberta.HasPosAtt("c2p") {
		f++
	}
	if c.Deberta.HasPosAtt("p2c") {
		f++
	}
	return f
}

func validateDeberta(c *Config) error {
	d := c.Deberta
	for _, p := range d.PosAttType {
		switch p {
		case "c2p", "p2c", "p2p": // p2p is accepted and ignored, as HF's v2 code does
		default:
			return fmt.Errorf("config: pos_att_type %q is not supported (c2p, p2c)", p)
		}
	}
	switch d.NormRelEbd {
	case "none", "layer_norm":
	default:
		return fmt.Errorf("config: norm_rel_ebd %q is not supported (none, layer_norm)", d.NormRelEbd)
	}
	ok := d.PoolerHiddenAct == "tanh"
	for _, a := range SupportedActivations {
		ok = ok || a == d.PoolerHiddenAct
	}
	if !ok {
		return fmt.Errorf("config: pooler_hidden_act %q is not supported (supported: %v, tanh)", d.PoolerHiddenAct, SupportedActivations)
	}
	if d.PoolerDropout < 0 || d.PoolerDropout >= 1 {
		return fmt.Errorf("config: pooler_dropout must be in [0, 1), got %g", d.PoolerDropout)
	}
	if d.RelativeAttention && d.PositionBuckets > 0 && c.MaxRelPositions() <= d.PositionBuckets/2 {
		return fmt.Errorf("config: max_relative_positions %d must exceed position_buckets/2 = %d for log buckets", c.MaxRelPositions(), d.PositionBuckets/2)
	}
	if d.RelativeAttention && d.PositionBuckets > 0 && d.PositionBuckets < 2 {
		return fmt.Errorf("config: position_buckets must be at least 2, got %d", d.PositionBuckets)
	}
	return nil
}

func marshalDeberta(c *Config, out map[string]any) {
	d := c.Deberta
	out["relative_attention"] = d.RelativeAttention
	out["max_relative_positions"] = d.MaxRelativePositions
	out["position_buckets"] = d.PositionBuckets
	out["position_biased_input"] = d.PositionBiasedInput
	out["pos_att_type"] = d.PosAttType
	if d.PosAttType == nil {
		out["pos_att_type"] = nil
	}
	out["share_att_key"] = d.ShareAttKey
	out["norm_rel_ebd"] = d.NormRelEbd
	out["pooler_hidden_act"] = d.PoolerHiddenAct
	out["pooler_dropout"] = d.PoolerDropout
	out["pooler_hidden_size"] = c.HiddenSize
	out["cls_dropout"] = c.ClassifierDropout
	out["embedding_size"] = c.EmbeddingWidth()
}

// RelativePosition is HF's build_relative_position for one query/key pair
// distance rel = q - k: the distance itself, or with bucketSize > 0 and
// maxPosition > 0 its log bucket (make_log_bucket_position). The bucket
// arithmetic runs in float32 as torch does it (true division of int64
// tensors gives float32), so that the ceil lands on the same integer.
func RelativePosition(rel, bucketSize, maxPosition int) int {
	if bucketSize <= 0 || maxPosition <= 0 {
		return rel
	}
	mid := bucketSize / 2
	sign := 0
	switch {
	case rel > 0:
		sign = 1
	case rel < 0:
		sign = -1
	}
	abs := rel
	if rel < mid && rel > -mid {
		abs = mid - 1
	} else if abs < 0 {
		abs = -abs
	}
	if abs <= mid {
		return rel
	}
	num := float32(math.Log(float64(float32(abs) / float32(mid))))
	den := float32(math.Log(float64(float32(float64(maxPosition-1) / float64(mid)))))
	logPos := float32(math.Ceil(float64(num/den*float32(mid-1)))) + float32(mid)
	return int(logPos * float32(sign))
}

// debertaParamSpecs lists DebertaV2ForSequenceClassification's parameters
// in HF's order (embed_proj has no bias).
func debertaParamSpecs(cfg *Config) []ParamSpec {
	var ps []ParamSpec
	H, E, d := cfg.HiddenSize, cfg.EmbeddingWidth(), cfg.Deberta
	emb := "deberta.embeddings."
	ps = append(ps, ParamSpec{Name: emb + "word_embeddings.weight", Shape: []int64{int64(cfg.VocabSize), int64(E)}, Init: InitNormal, PaddingIdx: cfg.PadTokenID})
	local := func(name, init string, shape ...int64) {
		ps = append(ps, ParamSpec{Name: name, Shape: shape, Init: init, PaddingIdx: -1})
	}
	lin := func(name string, out, in int, bias bool) {
		local(name+".weight", InitNormal, int64(out), int64(in))
		if bias {
			local(name+".bias", InitZeros, int64(out))
		}
	}
	ln := func(name string, n int) {
		local(name+".weight", InitOnes, int64(n))
		local(name+".bias", InitZeros, int64(n))
	}
	if d.PositionBiasedInput {
		local(emb+"position_embeddings.weight", InitNormal, int64(cfg.MaxPositionEmbeddings), int64(E))
	}
	if cfg.TypeVocabSize > 0 {
		local(emb+"token_type_embeddings.weight", InitNormal, int64(cfg.TypeVocabSize), int64(E))
	}
	if E != H {
		lin(emb+"embed_proj", H, E, false)
	}
	ln(emb+"LayerNorm", H)
	names := LayerParamNames[TypeDeBERTaV2]
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		lp := LayerPrefix(TypeDeBERTaV2, i)
		lin(lp+names["query"], H, H, true)
		lin(lp+names["key"], H, H, true)
		lin(lp+names["value"], H, H, true)
		if d.RelativeAttention && !d.ShareAttKey {
			if d.HasPosAtt("c2p") {
				lin(lp+names["pos_key"], H, H, true)
			}
			if d.HasPosAtt("p2c") {
				lin(lp+names["pos_query"], H, H, true)
			}
		}
		lin(lp+names["attn_out"], H, H, true)
		ln(lp+names["attn_ln"], H)
		lin(lp+names["ffn_in"], cfg.IntermediateSize, H, true)
		lin(lp+names["ffn_out"], H, cfg.IntermediateSize, true)
		ln(lp+names["out_ln"], H)
	}
	if d.RelativeAttention {
		local("deberta.encoder.rel_embeddings.weight", InitNormal, int64(2*cfg.AttSpan()), int64(H))
	}
	if d.NormRelEbd == "layer_norm" {
		ln("deberta.encoder.LayerNorm", H)
	}
	lin("pooler.dense", H, H, true)
	lin("classifier", cfg.NumLabels(), H, true)
	return ps
}

// AttIndex is where DeBERTa's disentangled attention reads the relative
// embeddings for query/key distance rel = q - k (HF's c2p_pos and p2c_pos):
// c2p = clamp(δ(rel) + span, 0, 2·span-1), p2c = clamp(-δ(rel) + span, …),
// δ the (bucketed) RelativePosition.
func (c *Config) AttIndex(rel int) (c2p, p2c int) {
	span := c.AttSpan()
	r := RelativePosition(rel, c.Deberta.PositionBuckets, c.MaxRelPositions())
	return min(max(r+span, 0), 2*span-1), min(max(-r+span, 0), 2*span-1)
}

// AttIndexCap is a distance from which on AttIndex no longer changes
// (both indices are clamped): distances can be clipped to ±AttIndexCap
// before a table lookup, so a fixed table serves any sequence length.
func (c *Config) AttIndexCap() int {
	span := c.AttSpan()
	for d := 1; ; d++ {
		c2pPos, p2cPos := c.AttIndex(d)
		c2pNeg, p2cNeg := c.AttIndex(-d)
		if c2pPos == 2*span-1 && p2cPos == 0 && c2pNeg == 0 && p2cNeg == 2*span-1 {
			return d // δ is monotone in |rel|, so every longer distance clamps too
		}
	}
}
