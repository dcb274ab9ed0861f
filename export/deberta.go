package export

// The DeBERTa-v2/v3 graph (model_type "deberta-v2") in standard ONNX
// operators, mirroring models/torch/deberta.go and HF's
// modeling_deberta_v2.py: masked embeddings, disentangled self-attention
// whose relative-position gather indices come from a constant per-distance
// table (models.Config.AttIndex) looked up with the clipped distance q-k,
// so one graph serves every batch size and sequence length.

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/export/onnxpb"

	"github.com/kiln-ml/kiln/models"
)

func debertaArch(cfg *models.Config) arch {
	return arch{
		prefix: "deberta.", layer: "encoder.layer.%d.",
		q: "attention.self.query_proj", k: "attention.self.key_proj", v: "attention.self.value_proj",
		o: "attention.output.dense", attnLN: "attention.output.LayerNorm",
		inter: "intermediate.dense", out: "output.dense", outLN: "output.LayerNorm",
		// Optimum's DebertaV2OnnxConfig has no token_type_ids input when
		// type_vocab_size is 0 (every DeBERTa-v3).
		tokenTypes: cfg.TypeVocabSize > 0,
	}
}

// debertaState is what every layer of the graph shares.
type debertaState struct {
	rmask          string // [B,1,S,S] bool: query or key is padding
	c2pIdx, p2cIdx string // [B,nh,S,S] int64 gather indices
	rel            string // [2·span, H] relative embeddings (LayerNorm'd)
}

// debertaEncoder returns the last hidden state [B, S, H].
func (b *builder) debertaEncoder(cfg *models.Config, a arch) string {
	H, nh := int64(cfg.HiddenSize), int64(cfg.NumAttentionHeads)
	E := int64(cfg.EmbeddingWidth())
	p := a.prefix + "embeddings."
	x := b.node("Gather", []string{b.weight(p+"word_embeddings.weight", int64(cfg.VocabSize), E), InputIDs})
	if cfg.Deberta.PositionBiasedInput {
		pos := b.positionIDs(cfg, a)
		x = b.node("Add", []string{x, b.node("Gather", []string{b.weight(p+"position_embeddings.weight", int64(cfg.MaxPositionEmbeddings), E), pos})})
	}
	if a.tokenTypes {
		x = b.node("Add", []string{x, b.node("Gather", []string{b.weight(p+"token_type_embeddings.weight", int64(cfg.TypeVocabSize), E), TokenTypeIDs})})
	}
	if E != H {
		x = b.matmulW(x, p+"embed_proj", E, H, false)
	}
	x = b.layerNorm(x, p+"LayerNorm", H, cfg.LayerNormEps)
	x = b.node("Mul", []string{x, b.cast(b.unsqueeze(AttentionMask, 2), b.dtype())})

	st := debertaState{}
	// get_attention_mask: mask_q · mask_k; XSoftmax masks where it is 0.
	pair := b.node("Mul", []string{b.unsqueeze(AttentionMask, 1, 3), b.unsqueeze(AttentionMask, 1, 2)})
	st.rmask = b.node("Equal", []string{pair, b.constI64(nil, 0)})
	if cfg.Deberta.RelativeAttention {
		st.c2pIdx, st.p2cIdx = b.debertaIndices(cfg, nh)
		span2 := int64(2 * cfg.AttSpan())
		st.rel = b.f32(a.prefix+"encoder.rel_embeddings.weight", span2, H)
		if cfg.Deberta.NormRelEbd == "layer_norm" {
			st.rel = b.layerNormF32(st.rel, a.prefix+"encoder.LayerNorm", H, cfg.LayerNormEps)
		}
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		x = b.debertaLayer(x, a.prefix+fmt.Sprintf(a.layer, i), a, cfg, st)
	}
	return x
}

// debertaIndices builds the c2p and p2c gather indices for the input's
// sequence length, expanded to [B, nh, S, S].
func (b *builder) debertaIndices(cfg *models.Config, nh int64) (c2p, p2c string) {
	cp := cfg.AttIndexCap()
	n := 2*cp + 1
	c2pTab, p2cTab := make([]int64, n), make([]int64, n)
	for d := -cp; d <= cp; d++ {
		c, p := cfg.AttIndex(d)
		c2pTab[d+cp], p2cTab[d+cp] = int64(c), int64(p)
	}
	shape := b.node("Shape", []string{InputIDs})
	batch := b.node("Slice", []string{shape, b.vecI64(0), b.vecI64(1), b.vecI64(0)})
	seq := b.node("Slice", []string{shape, b.vecI64(1), b.vecI64(2), b.vecI64(0)})
	r := b.node("Range", []string{b.constI64(nil, 0), b.node("Squeeze", []string{seq, b.vecI64(0)}), b.constI64(nil, 1)})
	dist := b.node("Sub", []string{b.unsqueeze(r, 1), b.unsqueeze(r, 0)}) // [S,S]: q - k
	capped := b.node("Max", []string{b.node("Min", []string{dist, b.constI64(nil, int64(cp))}), b.constI64(nil, int64(-cp))})
	at := b.node("Add", []string{capped, b.constI64(nil, int64(cp))})
	full := b.node("Concat", []string{batch, b.vecI64(nh), seq, seq}, attrInt("axis", 0))
	lookup := func(tab []int64) string {
		idx := b.node("Gather", []string{b.constI64([]int64{int64(n)}, tab...), at}, attrInt("axis", 0))
		return b.node("Expand", []string{idx, full})
	}
	return lookup(c2pTab), lookup(p2cTab)
}

// The relative-embedding path (rel_embeddings, its LayerNorm and the
// position projections of every layer) depends on weights only: ONNX
// Runtime folds it into constants at load. It is built in float32 even in
// fp16 graphs, because ONNX Runtime's CPU provider has no float16 MatMul
// to fold it with (and its extended optimisations crash on the unfolded
// float16 path); the folded result is cast to float16 once.

// f32 is the checkpoint tensor name as float32 (a Cast of the float16
// initialiser in fp16 graphs, folded at load).
func (b *builder) f32(name string, shape ...int64) string {
	w := b.weight(name, shape...)
	if !b.fp16 {
		return w
	}
	return b.cast(w, onnxpb.TensorProto_FLOAT)
}

// computeType casts a float32 tensor to the graph's compute dtype.
func (b *builder) computeType(x string) string {
	if !b.fp16 {
		return x
	}
	return b.cast(x, b.dtype())
}

// layerNormF32 is layerNorm on a float32 tensor whatever the graph dtype.
func (b *builder) layerNormF32(x, prefix string, hidden int64, eps float64) string {
	gamma, beta := b.f32(prefix+".weight", hidden), b.f32(prefix+".bias", hidden)
	if b.opset >= 17 {
		return b.node("LayerNormalization", []string{x, gamma, beta}, attrInt("axis", -1), attrFloat("epsilon", float32(eps)))
	}
	f32 := func(v float32) string {
		return b.addInit(b.fresh("const_f32"), onnxpb.TensorProto_FLOAT, nil, binaryF32(v))
	}
	mean := b.reduce("ReduceMean", x, true, -1)
	d := b.node("Sub", []string{x, mean})
	v := b.reduce("ReduceMean", b.node("Mul", []string{d, d}), true, -1)
	std := b.node("Sqrt", []string{b.node("Add", []string{v, f32(float32(eps))})})
	return b.node("Add", []string{b.node("Mul", []string{b.node("Div", []string{d, std}), gamma}), beta})
}

func binaryF32(v float32) []byte {
	raw := make([]byte, 4)
	binary.LittleEndian.PutUint32(raw, math.Float32bits(v))
	return raw
}

// debertaScale is torch.sqrt(torch.tensor(head_size, dtype=float) * scale_factor) in float32.
func debertaScale(cfg *models.Config) float32 {
	d := cfg.HiddenSize / cfg.NumAttentionHeads
	return float32(math.Sqrt(float64(float32(float64(d) * float64(cfg.ScaleFactor())))))
}

// debertaLayer is DebertaV2Layer in eval mode.
func (b *builder) debertaLayer(x, p string, a arch, cfg *models.Config, st debertaState) string {
	H, nh := int64(cfg.HiddenSize), int64(cfg.NumAttentionHeads)
	D := H / nh
	split := b.vecI64(0, 0, nh, D)
	project := func(in, name string) string { // [B,nh,S,D]
		h := b.node("Reshape", []string{b.linear(in, p+name, H, H, false), split})
		return b.node("Transpose", []string{h}, attrInts("perm", 0, 2, 1, 3))
	}
	q, k, v := project(x, a.q), project(x, a.k), project(x, a.v)
	scale := b.scalar(debertaScale(cfg))
	kt := b.node("Transpose", []string{k}, attrInts("perm", 0, 1, 3, 2))
	scores := b.node("MatMul", []string{q, b.node("Div", []string{kt, scale})})
	if cfg.Deberta.RelativeAttention {
		span2 := int64(2 * cfg.AttSpan())
		posProj := func(name string) string { // [nh, D, 2·span]
			w := b.node("Transpose", []string{b.f32(p+name+".weight", H, H)}, attrInts("perm", 1, 0))
			h := b.node("Add", []string{b.node("MatMul", []string{st.rel, w}), b.f32(p+name+".bias", H)})
			h = b.node("Reshape", []string{h, b.vecI64(span2, nh, D)})
			return b.computeType(b.node("Transpose", []string{h}, attrInts("perm", 1, 2, 0)))
		}
		var rel string
		add := func(t string) {
			if rel == "" {
				rel = t
			} else {
				rel = b.node("Add", []string{rel, t})
			}
		}
		if cfg.Deberta.HasPosAtt("c2p") {
			name := a.k
			if !cfg.Deberta.ShareAttKey {
				name = "attention.self.pos_key_proj"
			}
			c2p := b.node("GatherElements", []string{b.node("MatMul", []string{q, posProj(name)}), st.c2pIdx}, attrInt("axis", 3))
			add(b.node("Div", []string{c2p, scale}))
		}
		if cfg.Deberta.HasPosAtt("p2c") {
			name := a.q
			if !cfg.Deberta.ShareAttKey {
				name = "attention.self.pos_query_proj"
			}
			p2c := b.node("GatherElements", []string{b.node("MatMul", []string{k, posProj(name)}), st.p2cIdx}, attrInt("axis", 3))
			p2c = b.node("Transpose", []string{p2c}, attrInts("perm", 0, 1, 3, 2))
			add(b.node("Div", []string{p2c, scale}))
		}
		if rel != "" {
			scores = b.node("Add", []string{scores, rel})
		}
	}
	// XSoftmax: masked scores filled with the dtype's minimum, masked
	// probabilities zeroed (rows of padding queries are all zero).
	low := float32(-math.MaxFloat32)
	if b.fp16 {
		low = -65504
	}
	scores = b.node("Where", []string{st.rmask, b.scalar(low), scores})
	probs := b.node("Softmax", []string{scores}, attrInt("axis", -1))
	probs = b.node("Where", []string{st.rmask, b.scalar(0), probs})
	ctx := b.node("Transpose", []string{b.node("MatMul", []string{probs, v})}, attrInts("perm", 0, 2, 1, 3))
	ctx = b.node("Reshape", []string{ctx, b.vecI64(0, 0, H)})
	attn := b.layerNorm(b.node("Add", []string{b.linear(ctx, p+a.o, H, H, false), x}), p+a.attnLN, H, cfg.LayerNormEps)
	I := int64(cfg.IntermediateSize)
	h := b.activation(b.linear(attn, p+a.inter, H, I, false), cfg.HiddenAct)
	return b.layerNorm(b.node("Add", []string{b.linear(h, p+a.out, I, H, false), attn}), p+a.outLN, H, cfg.LayerNormEps)
}

// debertaHead is ContextPooler (dense, pooler_hidden_act) and the classifier.
func (b *builder) debertaHead(pooled string, cfg *models.Config, H int64) string {
	h := b.linear(pooled, "pooler.dense", H, H, false)
	if cfg.Deberta.PoolerHiddenAct == "tanh" {
		h = b.node("Tanh", []string{h})
	} else {
		h = b.activation(h, cfg.Deberta.PoolerHiddenAct)
	}
	return b.linear(h, "classifier", H, int64(cfg.NumLabels()), false)
}
