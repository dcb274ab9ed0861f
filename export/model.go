package export

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/export/onnxpb"
	"github.com/kiln-ml/kiln/models"
)

// arch holds the HF parameter names of one architecture.
type arch struct {
	prefix        string // "bert." etc.; "" for a bare encoder checkpoint
	layer         string // per-layer prefix with %d
	q, k, v, o    string
	attnLN        string
	inter, out    string
	outLN         string
	tokenTypes    bool // the model takes token_type_ids
	robertaPos    bool // position ids count non-pad tokens from pad_token_id+1
	distilScaling bool // DistilBERT scales q before the product (same maths)
}

func archFor(cfg *models.Config, sd models.StateDict) (arch, error) {
	var a arch
	switch cfg.ModelType {
	case models.TypeBERT, models.TypeRoBERTa, models.TypeELECTRA:
		a = arch{
			prefix: cfg.ModelType + ".", layer: "encoder.layer.%d.",
			q: "attention.self.query", k: "attention.self.key", v: "attention.self.value",
			o: "attention.output.dense", attnLN: "attention.output.LayerNorm",
			inter: "intermediate.dense", out: "output.dense", outLN: "output.LayerNorm",
			tokenTypes: true,
		}
		if cfg.ModelType == models.TypeRoBERTa {
			// RoBERTa's single token type is always 0: Optimum exports
			// no token_type_ids input for it, and neither do we.
			a.robertaPos = true
			a.tokenTypes = cfg.TypeVocabSize > 1
		}
	case models.TypeDeBERTaV2:
		a = debertaArch(cfg)
	case models.TypeDistilBERT:
		a = arch{
			prefix: "distilbert.", layer: "transformer.layer.%d.",
			q: "attention.q_lin", k: "attention.k_lin", v: "attention.v_lin", o: "attention.out_lin",
			attnLN: "sa_layer_norm", inter: "ffn.lin1", out: "ffn.lin2", outLN: "output_layer_norm",
			distilScaling: true,
		}
	default:
		return a, fmt.Errorf("model_type %q cannot be exported (supported: bert, roberta, distilbert, electra, deberta-v2)", cfg.ModelType)
	}
	if _, ok := sd[a.prefix+"embeddings.word_embeddings.weight"]; !ok {
		if _, bare := sd["embeddings.word_embeddings.weight"]; bare {
			a.prefix = "" // a base-model checkpoint (BertModel.save_pretrained)
		} else {
			return a, fmt.Errorf("checkpoint has neither %q nor %q: not a %s checkpoint",
				a.prefix+"embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight", cfg.ModelType)
		}
	}
	return a, nil
}

// hasHead reports whether the checkpoint carries the classification head.
func hasHead(cfg *models.Config, sd models.StateDict) bool {
	name := "classifier.weight"
	if cfg.ModelType == models.TypeRoBERTa || cfg.ModelType == models.TypeELECTRA {
		name = "classifier.out_proj.weight"
	}
	_, ok := sd[name]
	return ok
}

// graphSpec is what buildGraph needs beyond the checkpoint.
type graphSpec struct {
	cfg       *models.Config
	sd        models.StateDict
	opset     int
	fp16      bool
	optimized bool
	outputs   []string
}

// maskValue is the additive attention-mask value for padded keys: the most
// negative float32 (what HF uses), or -10000 in float16 so that adding it to
// a score can never overflow to -inf.
func (b *builder) maskValue() float32 {
	if b.fp16 {
		return -10000
	}
	return -math.MaxFloat32
}

// buildGraph writes the encoder, the pooling and the head as ONNX nodes.
func buildGraph(s graphSpec) (*builder, arch, error) {
	cfg := s.cfg
	a, err := archFor(cfg, s.sd)
	if err != nil {
		return nil, a, err
	}
	b := newBuilder("kiln_"+cfg.ModelType, s.opset, s.fp16, s.sd)
	H := int64(cfg.HiddenSize)
	E := H
	if cfg.ModelType == models.TypeELECTRA && cfg.EmbeddingSize > 0 {
		E = int64(cfg.EmbeddingSize)
	}
	heads := int64(cfg.NumAttentionHeads)

	b.g.Input = append(b.g.Input,
		valueInfo(InputIDs, onnxpb.TensorProto_INT64, AxisBatch, AxisSequence),
		valueInfo(AttentionMask, onnxpb.TensorProto_INT64, AxisBatch, AxisSequence))
	if a.tokenTypes {
		b.g.Input = append(b.g.Input, valueInfo(TokenTypeIDs, onnxpb.TensorProto_INT64, AxisBatch, AxisSequence))
	}

	if cfg.ModelType == models.TypeDeBERTaV2 {
		if s.optimized {
			return nil, a, fmt.Errorf("--optimize is not available for deberta-v2 (ONNX Runtime has no fused disentangled attention): export the plain graph")
		}
		return b, a, b.outputs(s, b.debertaEncoder(cfg, a), H)
	}
	var x string
	if s.optimized && !s.fp16 {
		x = b.fusedEmbeddings(cfg, a, E)
	} else {
		x = b.embeddings(cfg, a, E)
	}
	if E != H {
		x = b.linear(x, a.prefix+"embeddings_project", E, H, s.optimized)
	}

	// Under first-token pooling, with no last_hidden_state output, nothing
	// reads tokens 1…S-1 of the last layer's output: that layer needs every
	// token's keys and values, but its query rows, attention output and
	// feed-forward block only for token 0.
	firstOnly := firstTokenOnly(cfg.Pooling, s.outputs)
	last := cfg.NumHiddenLayers - 1
	var mask32, additive string
	if s.optimized && (!firstOnly || last > 0) {
		mask32 = b.cast(AttentionMask, onnxpb.TensorProto_INT32)
	}
	if !s.optimized || firstOnly {
		additive = b.additiveMask()
	}
	for i := 0; i <= last; i++ {
		p := a.prefix + fmt.Sprintf(a.layer, i)
		if s.optimized {
			x = b.fusedLayer(x, mask32, additive, p, a, cfg, H, heads, firstOnly && i == last)
		} else {
			x = b.plainLayer(x, additive, p, a, cfg, H, heads, firstOnly && i == last)
		}
	}
	return b, a, b.outputs(s, x, H)
}

// outputs pools the last hidden state, applies the head and names the
// requested graph outputs.
func (b *builder) outputs(s graphSpec, hidden string, H int64) error {
	cfg := s.cfg
	pooled := b.pool(hidden, cfg.Pooling)
	produced := map[string]string{OutputLastHiddenState: hidden, OutputPooled: pooled}
	for _, o := range s.outputs {
		if o == OutputLogits {
			produced[OutputLogits] = b.head(pooled, cfg, H, s.optimized)
		}
	}
	for _, o := range s.outputs {
		src := produced[o]
		if s.fp16 {
			src = b.cast(src, onnxpb.TensorProto_FLOAT)
		}
		// Identity gives the output its public name whatever node made it.
		b.g.Node = append(b.g.Node, &onnxpb.NodeProto{
			Name: strPtr(b.fresh("output_" + o)), OpType: strPtr("Identity"),
			Input: []string{src}, Output: []string{o},
		})
		switch o {
		case OutputLogits:
			b.g.Output = append(b.g.Output, valueInfo(o, onnxpb.TensorProto_FLOAT, AxisBatch, cfg.NumLabels()))
		case OutputLastHiddenState:
			b.g.Output = append(b.g.Output, valueInfo(o, onnxpb.TensorProto_FLOAT, AxisBatch, AxisSequence, H))
		case OutputPooled:
			b.g.Output = append(b.g.Output, valueInfo(o, onnxpb.TensorProto_FLOAT, AxisBatch, H))
		}
	}
	return b.err
}

func strPtr(s string) *string { return &s }

// embeddings: word + position (+ token type) embeddings, then LayerNorm.
func (b *builder) embeddings(cfg *models.Config, a arch, E int64) string {
	p := a.prefix + "embeddings."
	V, P := int64(cfg.VocabSize), int64(cfg.MaxPositionEmbeddings)
	x := b.node("Gather", []string{b.weight(p+"word_embeddings.weight", V, E), InputIDs})

	pos := b.positionIDs(cfg, a)
	x = b.node("Add", []string{x, b.node("Gather", []string{b.weight(p+"position_embeddings.weight", P, E), pos})})

	if cfg.ModelType != models.TypeDistilBERT {
		T := int64(cfg.TypeVocabSize)
		tt := b.weight(p+"token_type_embeddings.weight", T, E)
		if a.tokenTypes {
			x = b.node("Add", []string{x, b.node("Gather", []string{tt, TokenTypeIDs})})
		} else {
			// No token_type_ids input: HF uses type 0 everywhere.
			x = b.node("Add", []string{x, b.node("Gather", []string{tt, b.constI64(nil, 0)}, attrInt("axis", 0))})
		}
	}
	lnName := p + "LayerNorm"
	return b.layerNorm(x, lnName, E, cfg.LayerNormEps)
}

// positionIDs returns the int64 position ids: [B, S] for RoBERTa, [1, S]
// otherwise.
func (b *builder) positionIDs(cfg *models.Config, a arch) string {
	if a.robertaPos {
		// HF create_position_ids_from_input_ids: cumsum of the non-pad
		// mask, times the mask, plus padding_idx.
		pad := int64(cfg.PadTokenID)
		nonPad := b.cast(b.node("Not", []string{b.node("Equal", []string{InputIDs, b.constI64(nil, pad)})}), onnxpb.TensorProto_INT64)
		cum := b.node("CumSum", []string{nonPad, b.constI64(nil, 1)})
		return b.node("Add", []string{b.node("Mul", []string{cum, nonPad}), b.constI64(nil, pad)})
	}
	// arange(sequence_length), broadcast over the batch.
	seq := b.node("Gather", []string{b.node("Shape", []string{InputIDs}), b.constI64(nil, 1)}, attrInt("axis", 0))
	return b.unsqueeze(b.node("Range", []string{b.constI64(nil, 0), seq, b.constI64(nil, 1)}), 0)
}

// activation applies an HF hidden_act.
func (b *builder) activation(x, act string) string {
	switch act {
	case "relu":
		return b.node("Relu", []string{x})
	case "gelu_new", "gelu_pytorch_tanh":
		// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
		x3 := b.node("Mul", []string{b.node("Mul", []string{x, x}), x})
		inner := b.node("Add", []string{x, b.node("Mul", []string{x3, b.scalar(0.044715)})})
		t := b.node("Tanh", []string{b.node("Mul", []string{inner, b.scalar(float32(math.Sqrt(2 / math.Pi)))})})
		return b.node("Mul", []string{b.node("Mul", []string{x, b.scalar(0.5)}), b.node("Add", []string{t, b.scalar(1)})})
	default: // "gelu": exact, with erf
		e := b.node("Erf", []string{b.node("Div", []string{x, b.scalar(float32(math.Sqrt2))})})
		return b.node("Mul", []string{b.node("Mul", []string{x, b.scalar(0.5)}), b.node("Add", []string{e, b.scalar(1)})})
	}
}

// firstTokenOnly reports whether the requested outputs read nothing of the
// last layer but token 0: first-token pooling (pool's default) and no
// last_hidden_state.
func firstTokenOnly(pooling string, outputs []string) bool {
	return pooling != models.PoolMean && pooling != models.PoolMax &&
		!slices.Contains(outputs, OutputLastHiddenState)
}

// additiveMask is the [B, 1, 1, S] attention-mask term added to the scores:
// 0 for kept keys, maskValue for padding.
func (b *builder) additiveMask() string {
	m := b.cast(b.unsqueeze(AttentionMask, 1, 2), b.dtype())
	return b.node("Mul", []string{b.node("Sub", []string{b.scalar(1), m}), b.scalar(b.maskValue())})
}

// firstToken slices [B, S, H] to [B, 1, H], keeping the sequence axis so
// that the layer code after it is the same for one token as for S.
func (b *builder) firstToken(x string) string {
	return b.node("Slice", []string{x, b.vecI64(0), b.vecI64(1), b.vecI64(1)})
}

// selfAttention is multi-head scaled dot-product attention in standard
// operators: the queries of xq [B, Sq, H] against the keys and values of
// x [B, S, H] under the additive mask, heads merged back to [B, Sq, H]. xq
// is x itself, or its first token when only that row of the result is read.
func (b *builder) selfAttention(xq, x, mask, p string, a arch, H, heads int64, optimized bool) string {
	D := H / heads
	split := b.vecI64(0, 0, heads, D)
	project := func(in, name string, perm ...int64) string {
		h := b.node("Reshape", []string{b.linear(in, p+name, H, H, optimized), split})
		return b.node("Transpose", []string{h}, attrInts("perm", perm...))
	}
	q := project(xq, a.q, 0, 2, 1, 3)
	k := project(x, a.k, 0, 2, 3, 1)
	v := project(x, a.v, 0, 2, 1, 3)
	scale := b.scalar(float32(1 / math.Sqrt(float64(D))))
	var scores string
	if a.distilScaling {
		scores = b.node("MatMul", []string{b.node("Mul", []string{q, scale}), k})
	} else {
		scores = b.node("Mul", []string{b.node("MatMul", []string{q, k}), scale})
	}
	probs := b.node("Softmax", []string{b.node("Add", []string{scores, mask})}, attrInt("axis", -1))
	ctx := b.node("Transpose", []string{b.node("MatMul", []string{probs, v})}, attrInts("perm", 0, 2, 1, 3))
	return b.node("Reshape", []string{ctx, b.vecI64(0, 0, H)})
}

// plainLayer is one post-LayerNorm transformer layer in standard operators.
// With firstToken it computes token 0's output only, [B, 1, H].
func (b *builder) plainLayer(x, mask, p string, a arch, cfg *models.Config, H, heads int64, firstToken bool) string {
	xq := x
	if firstToken {
		xq = b.firstToken(x)
	}
	ctx := b.selfAttention(xq, x, mask, p, a, H, heads, false)
	attn := b.layerNorm(b.node("Add", []string{b.linear(ctx, p+a.o, H, H, false), xq}), p+a.attnLN, H, cfg.LayerNormEps)
	I := int64(cfg.IntermediateSize)
	h := b.activation(b.linear(attn, p+a.inter, H, I, false), cfg.HiddenAct)
	return b.layerNorm(b.node("Add", []string{b.linear(h, p+a.out, I, H, false), attn}), p+a.outLN, H, cfg.LayerNormEps)
}

// pool reduces [B, S, H] to [B, H]: the first token (cls), or the mean or
// max over the tokens the attention mask keeps. For cls, hidden may be the
// [B, 1, H] of a first-token last layer.
func (b *builder) pool(hidden, pooling string) string {
	switch pooling {
	case models.PoolMean:
		m := b.cast(b.unsqueeze(AttentionMask, 2), b.dtype())
		sum := b.reduce("ReduceSum", b.node("Mul", []string{hidden, m}), false, 1)
		floor := float32(1e-9) // sentence-transformers' clamp; only matters for all-pad rows
		if b.fp16 {
			floor = 1e-7 // 1e-9 is 0 in float16
		}
		cnt := b.node("Max", []string{b.reduce("ReduceSum", m, false, 1), b.scalar(floor)})
		return b.node("Div", []string{sum, cnt})
	case models.PoolMax:
		keep := b.cast(b.unsqueeze(AttentionMask, 2), onnxpb.TensorProto_BOOL)
		neg := b.scalar(-math.MaxFloat32)
		if b.fp16 {
			neg = b.scalar(-65504)
		}
		return b.reduce("ReduceMax", b.node("Where", []string{keep, hidden, neg}), false, 1)
	default:
		return b.node("Gather", []string{hidden, b.constI64(nil, 0)}, attrInt("axis", 1))
	}
}

// head is the architecture's classification head on the pooled vector.
func (b *builder) head(pooled string, cfg *models.Config, H int64, optimized bool) string {
	L := int64(cfg.NumLabels())
	switch cfg.ModelType {
	case models.TypeDeBERTaV2:
		return b.debertaHead(pooled, cfg, H)
	case models.TypeRoBERTa:
		h := b.node("Tanh", []string{b.linear(pooled, "classifier.dense", H, H, optimized)})
		return b.linear(h, "classifier.out_proj", H, L, optimized)
	case models.TypeELECTRA:
		// HF's ElectraClassificationHead uses exact gelu whatever hidden_act says.
		h := b.activation(b.linear(pooled, "classifier.dense", H, H, optimized), "gelu")
		return b.linear(h, "classifier.out_proj", H, L, optimized)
	case models.TypeDistilBERT:
		h := b.node("Relu", []string{b.linear(pooled, "pre_classifier", H, H, optimized)})
		return b.linear(h, "classifier", H, L, optimized)
	default:
		prefix := "bert."
		if _, ok := b.sd[prefix+"pooler.dense.weight"]; !ok {
			prefix = ""
		}
		h := b.node("Tanh", []string{b.linear(pooled, prefix+"pooler.dense", H, H, optimized)})
		return b.linear(h, "classifier", H, L, optimized)
	}
}

// unusedWeights lists checkpoint tensors the graph does not read, leaving
// out the buffers HF stores that carry no parameters.
func unusedWeights(sd models.StateDict, used map[string]bool) []string {
	var out []string
	for _, n := range sd.Names() {
		if used[n] || strings.HasSuffix(n, "position_ids") || strings.HasSuffix(n, "token_type_ids") {
			continue
		}
		out = append(out, n)
	}
	return out
}
