package torch

// DeBERTa-v2/v3 (model_type "deberta-v2"), following HF transformers'
// modeling_deberta_v2.py: parameter names are its checkpoint keys
// (deberta.embeddings.*, deberta.encoder.layer.N.attention.self.query_proj,
// deberta.encoder.rel_embeddings, pooler.dense, classifier) and the
// operations are its operations, in its order. The Model type, the
// checkpoint loader, gradient checkpointing and the pooling options are
// the ones the BERT family uses; model.go calls into this file from
// wire, newCtx, embeddings, layerForward and head.

import (
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/models"
)

// debertaParts are the encoder-level parameters BERT has no place for.
type debertaParts struct {
	embProj *ts.Tensor // deberta.embeddings.embed_proj.weight (no bias); nil when embedding_size == hidden_size
	relEmb  *ts.Tensor // deberta.encoder.rel_embeddings.weight [2*span, H]; nil without relative_attention
	relLN   *layerNorm // deberta.encoder.LayerNorm (norm_rel_ebd: layer_norm)
}

// debertaLayer holds the separate position projections (relative_attention
// without share_att_key); nil fields are absent.
type debertaLayer struct {
	posKey, posQuery *linear
}

// debertaCtx is what every DeBERTa layer of one forward shares.
type debertaCtx struct {
	rmask  *ts.Tensor // [B,1,S,S] bool, true where query or key is padding (XSoftmax's ~mask)
	c2pIdx *ts.Tensor // [S,S] int64: clamp(rel(q-k) + span, 0, 2*span-1)
	p2cIdx *ts.Tensor // [S,S] int64: clamp(-rel(q-k) + span, 0, 2*span-1)
}

func (c *debertaCtx) drop() {
	for _, t := range []*ts.Tensor{c.rmask, c.c2pIdx, c.p2cIdx} {
		if t != nil {
			t.MustDrop()
		}
	}
}

func (m *Model) wireDeberta() {
	cfg := m.Config
	p := func(name string) *ts.Tensor { return m.byName[name] }
	lin := func(name string) linear { return linear{p(name + ".weight"), p(name + ".bias")} }
	ln := func(name string) layerNorm { return layerNorm{p(name + ".weight"), p(name + ".bias")} }
	base := models.BasePrefix(cfg.ModelType)
	m.wordEmb = p(base + "embeddings.word_embeddings.weight")
	m.posEmb = p(base + "embeddings.position_embeddings.weight")    // nil unless position_biased_input
	m.typeEmb = p(base + "embeddings.token_type_embeddings.weight") // nil when type_vocab_size is 0
	m.embLN = ln(base + "embeddings.LayerNorm")
	m.deb = &debertaParts{embProj: p(base + "embeddings.embed_proj.weight"), relEmb: p(base + "encoder.rel_embeddings.weight")}
	if w := p(base + "encoder.LayerNorm.weight"); w != nil {
		l := ln(base + "encoder.LayerNorm")
		m.deb.relLN = &l
	}
	names := models.LayerParamNames[cfg.ModelType]
	m.layers = make([]encoderLayer, cfg.NumHiddenLayers)
	for i := range m.layers {
		lp := models.LayerPrefix(cfg.ModelType, i)
		dl := &debertaLayer{}
		if p(lp+names["pos_key"]+".weight") != nil {
			l := lin(lp + names["pos_key"])
			dl.posKey = &l
		}
		if p(lp+names["pos_query"]+".weight") != nil {
			l := lin(lp + names["pos_query"])
			dl.posQuery = &l
		}
		m.layers[i] = encoderLayer{
			query: lin(lp + names["query"]), key: lin(lp + names["key"]), value: lin(lp + names["value"]),
			attnOut: lin(lp + names["attn_out"]), attnLN: ln(lp + names["attn_ln"]),
			ffnIn: lin(lp + names["ffn_in"]), ffnOut: lin(lp + names["ffn_out"]), outLN: ln(lp + names["out_ln"]),
			deb: dl,
		}
	}
	pooler := lin("pooler.dense")
	m.pooler = &pooler
	m.headOut = lin("classifier")
}

// newDebertaCtx builds the pairwise mask (get_attention_mask: mask_q *
// mask_k) and the relative-position gather indices for sequence length s.
func (m *Model) newDebertaCtx(ctx *fwdCtx) {
	cfg := m.Config
	b, s := ctx.b, ctx.s
	dc := &debertaCtx{}
	q := ctx.maskFloat.MustView([]int64{b, 1, s, 1}, false)
	k := ctx.maskFloat.MustView([]int64{b, 1, 1, s}, false)
	pair := q.MustMul(k, true)
	k.MustDrop()
	dc.rmask = pair.MustEq(ts.FloatScalar(0), true)
	if cfg.Deberta.RelativeAttention {
		// Both indices depend on q-k only: one lookup per distance.
		c2pOf, p2cOf := make([]int64, 2*s-1), make([]int64, 2*s-1)
		for d := -(s - 1); d <= s-1; d++ {
			c, p := cfg.AttIndex(int(d))
			c2pOf[d+s-1], p2cOf[d+s-1] = int64(c), int64(p)
		}
		c2p, p2c := make([]int64, s*s), make([]int64, s*s)
		for q := int64(0); q < s; q++ {
			for k := int64(0); k < s; k++ {
				c2p[q*s+k], p2c[q*s+k] = c2pOf[q-k+s-1], p2cOf[q-k+s-1]
			}
		}
		dc.c2pIdx = ts.MustOfSlice(c2p).MustView([]int64{s, s}, true).MustTo(m.dev, true)
		dc.p2cIdx = ts.MustOfSlice(p2c).MustView([]int64{s, s}, true).MustTo(m.dev, true)
	}
	ctx.deb = dc
}

// debertaEmbeddings is DebertaV2Embeddings: word (+ absolute position when
// position_biased_input) (+ token type when type_vocab_size > 0), the
// embed_proj when embedding_size differs, LayerNorm, times the mask.
func (m *Model) debertaEmbeddings(inputIDs, tokenTypeIDs *ts.Tensor, ctx *fwdCtx) *ts.Tensor {
	cfg := m.Config
	ids := inputIDs.MustTo(m.dev, false)
	e := ts.MustEmbedding(m.wordEmb, ids, int64(cfg.PadTokenID), false, false)
	ids.MustDrop()
	if m.posEmb != nil {
		ar := ts.MustArange(ts.IntScalar(ctx.s), gotch.Int64, m.dev)
		pos := ar.MustView([]int64{1, ctx.s}, true)
		pe := ts.MustEmbedding(m.posEmb, pos, -1, false, false)
		pos.MustDrop()
		e = e.MustAdd(pe, true)
		pe.MustDrop()
	}
	if m.typeEmb != nil {
		var tt *ts.Tensor
		if tokenTypeIDs != nil {
			tt = tokenTypeIDs.MustTo(m.dev, false)
		} else {
			tt = ts.MustZeros([]int64{ctx.b, ctx.s}, gotch.Int64, m.dev)
		}
		te := ts.MustEmbedding(m.typeEmb, tt, -1, false, false)
		tt.MustDrop()
		e = e.MustAdd(te, true)
		te.MustDrop()
	}
	if m.deb.embProj != nil {
		e = consume(linearNoBias(e, m.deb.embProj), e)
	}
	e = consume(m.layerNorm(e, m.embLN, cfg.LayerNormEps), e)
	mk := ctx.maskFloat.MustUnsqueeze(2, false)
	e = e.MustMul(mk, true)
	mk.MustDrop()
	return m.dropout(e, cfg.HiddenDropoutProb, ctx.train)
}

// linearNoBias is F.linear(x, w) without a bias.
func linearNoBias(x, w *ts.Tensor) *ts.Tensor {
	wt := w.MustT(false)
	y := x.MustMatmul(wt, false)
	wt.MustDrop()
	return y
}

// heads splits [B,S,H] into [B,nh,S,d] (HF's transpose_for_scores, kept 4-D).
func heads(x *ts.Tensor, b, s, nh, d int64) *ts.Tensor {
	return x.MustView([]int64{b, s, nh, d}, true).MustPermute([]int64{0, 2, 1, 3}, true)
}

// debertaLayerForward is DebertaV2Layer: disentangled self-attention, then
// the BERT-style output, intermediate and output blocks.
func (m *Model) debertaLayerForward(l *encoderLayer, x *ts.Tensor, ctx *fwdCtx) *ts.Tensor {
	cfg := m.Config
	H := int64(cfg.HiddenSize)
	nh := int64(cfg.NumAttentionHeads)
	d := H / nh
	b, s := ctx.b, ctx.s
	sf := float64(cfg.ScaleFactor())
	// torch.sqrt(torch.tensor(d, dtype=float) * scale_factor), in float32.
	scale := float64(float32(math.Sqrt(float64(float32(float64(d) * sf)))))

	q := heads(l.query.forward(x), b, s, nh, d)
	k := heads(l.key.forward(x), b, s, nh, d)
	v := heads(l.value.forward(x), b, s, nh, d)
	// bmm(q, k^T / scale)
	kt := k.MustTranspose(-1, -2, false).MustDivScalar(ts.FloatScalar(scale), true)
	scores := q.MustMatmul(kt, false)
	kt.MustDrop()
	if cfg.Deberta.RelativeAttention {
		rel := m.disentangledBias(l, q, k, ctx, scale)
		scores = scores.MustAdd(rel, true)
		rel.MustDrop()
	}
	q.MustDrop()
	k.MustDrop()
	// XSoftmax: fill the masked scores with the dtype's minimum, softmax,
	// zero the masked probabilities (rows of padding queries become 0).
	fill := ts.FloatScalar(dtypeMin(scores.DType()))
	scores = scores.MustMaskedFill(ctx.deb.rmask, fill, true)
	probs := scores.MustSoftmax(-1, gotch.Float, true) // float32 under autocast too, as the BERT path
	probs = probs.MustMaskedFill(ctx.deb.rmask, ts.FloatScalar(0), true)
	probs = m.dropout(probs, cfg.AttentionProbsDropoutProb, ctx.train)
	c := probs.MustMatmul(v, true)
	v.MustDrop()
	c = c.MustPermute([]int64{0, 2, 1, 3}, true).MustContiguous(true).MustView([]int64{b, s, H}, true)
	return m.layerOutput(l, c, x, ctx)
}

// disentangledBias is disentangled_attention_bias: the content→position
// term q·K_r[δ(q,k)] and the position→content term k·Q_r[δ(k,q)], each
// divided by the same scale, for q and k as [B,nh,S,d].
func (m *Model) disentangledBias(l *encoderLayer, q, k *ts.Tensor, ctx *fwdCtx, scale float64) *ts.Tensor {
	cfg := m.Config
	nh := int64(cfg.NumAttentionHeads)
	d := int64(cfg.HiddenSize) / nh
	span2 := int64(2 * cfg.AttSpan())
	b, s := ctx.b, ctx.s
	// get_rel_embedding: rel_embeddings (LayerNorm'd), then pos_dropout, then
	// [0:2*span]. The LayerNorm runs per layer so that each (possibly
	// recomputed) layer is self-contained; its value is the same each time.
	rel := m.deb.relEmb.MustShallowClone()
	if m.deb.relLN != nil {
		rel = consume(m.layerNorm(rel, *m.deb.relLN, cfg.LayerNormEps), rel)
	}
	rel = m.dropout(rel, cfg.HiddenDropoutProb, ctx.train)
	if rel.MustSize()[0] > span2 {
		rel = rel.MustNarrow(0, 0, span2, true)
	}
	// [2span,H] → [nh,2span,d]
	proj := func(p linear) *ts.Tensor {
		return p.forward(rel).MustView([]int64{span2, nh, d}, true).MustPermute([]int64{1, 0, 2}, true)
	}
	idx := func(t *ts.Tensor) *ts.Tensor { return t.MustExpand([]int64{b, nh, s, s}, false, false) }
	c2p := cfg.Deberta.HasPosAtt("c2p")
	p2c := cfg.Deberta.HasPosAtt("p2c")
	var score *ts.Tensor
	if c2p {
		pk := l.key
		if !cfg.Deberta.ShareAttKey {
			pk = *l.deb.posKey
		}
		posKey := proj(pk).MustTranspose(-1, -2, true) // [nh,d,2span]
		att := q.MustMatmul(posKey, false)             // [B,nh,S,2span]
		posKey.MustDrop()
		ix := idx(ctx.deb.c2pIdx)
		att = att.MustGather(-1, ix, false, true)
		ix.MustDrop()
		score = att.MustDivScalar(ts.FloatScalar(scale), true)
	}
	if p2c {
		pq := l.query
		if !cfg.Deberta.ShareAttKey {
			pq = *l.deb.posQuery
		}
		posQuery := proj(pq).MustTranspose(-1, -2, true) // [nh,d,2span]
		att := k.MustMatmul(posQuery, false)             // [B,nh,S(key),2span]
		posQuery.MustDrop()
		ix := idx(ctx.deb.p2cIdx)
		att = att.MustGather(-1, ix, false, true).MustTranspose(-1, -2, true)
		ix.MustDrop()
		att = att.MustDivScalar(ts.FloatScalar(scale), true)
		if score == nil {
			score = att
		} else {
			score = score.MustAdd(att, true)
			att.MustDrop()
		}
	}
	rel.MustDrop()
	if score == nil { // relative_attention with neither term: HF adds 0
		score = ts.MustZeros([]int64{1}, q.DType(), m.dev)
	}
	return score
}

// dtypeMin is torch.finfo(dtype).min, XSoftmax's fill value.
func dtypeMin(dt gotch.DType) float64 {
	switch dt {
	case gotch.BFloat16:
		return -3.3895313892515355e38
	case gotch.Half:
		return -65504
	case gotch.Double:
		return -math.MaxFloat64
	}
	return maskMin
}

// debertaHead is ContextPooler (first token, or the mean/max feature;
// pooler dropout, dense, pooler_hidden_act) then dropout and classifier.
func (m *Model) debertaHead(h *ts.Tensor, ctx *fwdCtx) (pooled, logits *ts.Tensor) {
	cfg := m.Config
	f := m.feature(h, ctx)
	f = m.dropout(f, cfg.Deberta.PoolerDropout, ctx.train)
	d := consume(m.pooler.forward(f), f)
	pooled = consume(activate(cfg.Deberta.PoolerHiddenAct, d), d)
	x := m.dropout(pooled.MustShallowClone(), cfg.ClassifierDropoutProb(), ctx.train)
	logits = consume(m.headOut.forward(x), x)
	return pooled, logits
}
