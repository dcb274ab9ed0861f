package export

import (
	"github.com/kiln-ml/kiln/export/onnxpb"
	"github.com/kiln-ml/kiln/models"
)

// fusedEmbeddings is embeddings as one EmbedLayerNormalization node: the
// word, position and token-type lookups, their sum and the LayerNorm. The
// ids go in as int32 (the operator's type). Position ids are always passed
// explicitly (RoBERTa's count from padding_idx+1). A model without a
// token_type_ids input (RoBERTa, whose one type embedding is added to every
// token; DistilBERT, which has none) gets that constant row folded into the
// position table, since every token receives exactly one position
// embedding. ONNX Runtime's CPU kernel is float32 only, so fp16 exports keep
// the plain embeddings.
func (b *builder) fusedEmbeddings(cfg *models.Config, a arch, E int64) string {
	p := a.prefix + "embeddings."
	V, P := int64(cfg.VocabSize), int64(cfg.MaxPositionEmbeddings)
	pos := b.cast(b.positionIDs(cfg, a), onnxpb.TensorProto_INT32)
	if !a.robertaPos {
		// [1, S] → [B, S]: the kernel wants one row per sequence.
		pos = b.node("Expand", []string{pos, b.node("Shape", []string{InputIDs})})
	}
	ids := b.cast(InputIDs, onnxpb.TensorProto_INT32)
	word := b.weight(p+"word_embeddings.weight", V, E)
	gamma, beta := b.lnParams(p+"LayerNorm", E)

	segIDs, segEmb := "", ""
	posEmb := p + "position_embeddings.weight"
	switch {
	case a.tokenTypes:
		segIDs = b.cast(TokenTypeIDs, onnxpb.TensorProto_INT32)
		segEmb = b.weight(p+"token_type_embeddings.weight", int64(cfg.TypeVocabSize), E)
		posEmb = b.weight(posEmb, P, E)
	case cfg.ModelType != models.TypeDistilBERT:
		// Fold token type 0 into the position table.
		_, pv, ok1 := b.tensorData(posEmb, P, E)
		_, tv, ok2 := b.tensorData(p+"token_type_embeddings.weight", int64(cfg.TypeVocabSize), E)
		if !ok1 || !ok2 {
			return ids
		}
		sum := make([]float32, len(pv))
		for i := range pv {
			sum[i] = pv[i] + tv[int64(i)%E]
		}
		posEmb = b.derived(posEmb+"_plus_token_type_0", []int64{P, E}, sum, posEmb, p+"token_type_embeddings.weight")
	default:
		posEmb = b.weight(posEmb, P, E)
	}
	// Inputs: input_ids, segment_ids, word, position, segment embeddings,
	// gamma, beta, mask, position_ids ("" = absent optional input).
	outs := b.nodeIn(msDomain, "EmbedLayerNormalization",
		[]string{ids, segIDs, word, posEmb, segEmb, gamma, beta, "", pos}, 2,
		attrFloat("epsilon", float32(cfg.LayerNormEps)))
	return outs[0]
}

// fusedLayer is plainLayer in ONNX Runtime's contrib operators: one
// Attention node (fused QKV projection, scaled dot product with the raw
// int32 mask, output heads merged), SkipLayerNormalization for the two
// residual + LayerNorm pairs (the dense biases folded in), and BiasGelu /
// FastGelu for the feed-forward activation. These only run on ONNX Runtime,
// which is why the plain graph stays the default.
//
// With firstToken the layer computes token 0's output only, [B, 1, H]. Its
// attention is then selfAttention under the additive mask, since Attention
// takes queries, keys and values from one input and one query row is cheap
// in standard operators; the rest is the same on one token as on S.
func (b *builder) fusedLayer(x, mask32, additive, p string, a arch, cfg *models.Config, H, heads int64, firstToken bool) string {
	res, attn := x, ""
	if firstToken {
		res = b.firstToken(x)
		attn = b.selfAttention(res, x, additive, p, a, H, heads, true)
	} else {
		attn = b.fusedAttention(x, mask32, p, a, H, heads)
	}

	eps := float32(cfg.LayerNormEps)
	skipLN := func(in, skip, ln, biasName string, n int64) string {
		gamma, beta := b.lnParams(ln, H)
		return b.msNode("SkipLayerNormalization", []string{in, skip, gamma, beta, b.weight(biasName, n)}, attrFloat("epsilon", eps))
	}
	x1 := skipLN(b.matmulW(attn, p+a.o, H, H, true), res, p+a.attnLN, p+a.o+".bias", H)

	I := int64(cfg.IntermediateSize)
	h := b.matmulW(x1, p+a.inter, H, I, true)
	ib := b.weight(p+a.inter+".bias", I)
	switch cfg.HiddenAct {
	case "relu":
		h = b.node("Relu", []string{b.node("Add", []string{h, ib})})
	case "gelu_new", "gelu_pytorch_tanh":
		h = b.msNode("FastGelu", []string{h, ib})
	default:
		h = b.msNode("BiasGelu", []string{h, ib})
	}
	return skipLN(b.matmulW(h, p+a.out, I, H, true), x1, p+a.outLN, p+a.out+".bias", H)
}

// fusedAttention is one layer's contrib Attention node, heads merged:
// [B, S, H].
func (b *builder) fusedAttention(x, mask32, p string, a arch, H, heads int64) string {
	// Attention wants Wqkv as [H, 3H]: the transposes of the three HF
	// [out, in] weights side by side, and the biases concatenated.
	w := make([]float32, H*3*H)
	bias := make([]float32, 3*H)
	for j, name := range []string{a.q, a.k, a.v} {
		_, wv, ok := b.tensorData(p+name+".weight", H, H)
		_, bv, ok2 := b.tensorData(p+name+".bias", H)
		if !ok || !ok2 {
			return x
		}
		for r := int64(0); r < H; r++ { // r: input feature
			for c := int64(0); c < H; c++ { // c: output feature
				w[r*3*H+int64(j)*H+c] = wv[c*H+r]
			}
		}
		copy(bias[int64(j)*H:], bv)
		b.used[p+name+".weight"], b.used[p+name+".bias"] = true, true
	}
	qkvW := b.derived(p+"attention.qkv.weight", []int64{H, 3 * H}, w)
	qkvB := b.derived(p+"attention.qkv.bias", []int64{3 * H}, bias)
	return b.nodeIn(msDomain, "Attention", []string{x, qkvW, qkvB, mask32}, 1, attrInt("num_heads", heads))[0]
}
