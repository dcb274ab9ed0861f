// Package torch implements kiln's BERT-family encoders (BERT, RoBERTa,
// DistilBERT, ELECTRA-style embedding projection) and their classification
// heads on libtorch through gotch, with HF parameter names, HF-identical
// numerics, HF checkpoints in and out, and per-layer gradient checkpointing.
//
// Memory: gotch tensors own C memory. Every intermediate is dropped as soon
// as it is used; callers own the tensors of an Output and must Drop them.
package torch

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/models"
)

// maskMin is torch.finfo(torch.float32).min, HF's additive mask value.
const maskMin = -3.4028234663852886e38

// maxPoolFill is what max pooling puts in padded positions (sentence-transformers' -1e9).
const maxPoolFill = -1e9

// NamedParameter is one trainable tensor with its HF name.
type NamedParameter struct {
	Name   string
	Tensor *ts.Tensor
	// NoDecay marks biases and LayerNorm weights, which HF's trainers
	// exclude from weight decay.
	NoDecay bool
}

// Output of a forward pass. The caller frees every non-nil tensor (Drop).
type Output struct {
	LastHiddenState *ts.Tensor // [B, S, H]
	// Pooled is the vector the classification head starts from: BERT's
	// pooler output (dense+tanh over the cls/mean/max feature), DeBERTa's
	// ContextPooler output (dense+pooler_hidden_act); for the other
	// architectures the cls/mean/max feature itself. [B, H]
	Pooled *ts.Tensor
	Logits *ts.Tensor // [B, NumLabels]
	// HiddenStates holds the embeddings output and every layer's output
	// when Model.OutputHiddenStates is set (HF's output_hidden_states).
	HiddenStates []*ts.Tensor
}

// Drop frees every tensor of the output.
func (o *Output) Drop() {
	for _, t := range append([]*ts.Tensor{o.LastHiddenState, o.Pooled, o.Logits}, o.HiddenStates...) {
		if t != nil {
			t.MustDrop()
		}
	}
}

type linear struct{ w, b *ts.Tensor }

func (l linear) forward(x *ts.Tensor) *ts.Tensor { return ts.MustLinear(x, l.w, l.b) }

type layerNorm struct{ w, b *ts.Tensor }

type encoderLayer struct {
	query, key, value, attnOut, ffnIn, ffnOut linear
	attnLN, outLN                             layerNorm
	deb                                       *debertaLayer // deberta-v2 only (deberta.go)
}

// Model is an encoder plus its sequence-classification head.
type Model struct {
	Config *models.Config
	// OutputHiddenStates makes Forward return every layer's output.
	OutputHiddenStates bool
	// Attention is the self-attention implementation (HF's
	// attn_implementation): AttentionSDPA, AttentionEager, or "" for SDPA
	// where the libtorch has it (SDPAUnavailable) and eager otherwise.
	// DeBERTa's disentangled attention is always eager.
	Attention string

	dev    gotch.Device
	params []NamedParameter
	byName map[string]*ts.Tensor

	wordEmb, posEmb, typeEmb *ts.Tensor
	embLN                    layerNorm
	embProj                  *linear // ELECTRA embeddings_project
	layers                   []encoderLayer
	pooler                   *linear // BERT pooler.dense
	headDense                *linear // roberta/electra classifier.dense, distilbert pre_classifier
	headOut                  linear  // classifier / classifier.out_proj

	deb *debertaParts // deberta-v2 only (deberta.go)

	checkpointing bool
	ckpt          *ckptState // pending recomputation from the last checkpointed forward
}

// New builds a model with HF's initialisation (normal(0, initializer_range),
// zero biases, LayerNorm 1/0, zero padding rows) drawn from seed.
func New(cfg *models.Config, dev gotch.Device) (*Model, error) {
	return NewSeeded(cfg, dev, rand.Uint64())
}

// NewSeeded is New with an explicit seed for the initial weights.
func NewSeeded(cfg *models.Config, dev gotch.Device, seed uint64) (*Model, error) {
	sd, err := models.InitStateDict(cfg, seed, "F32")
	if err != nil {
		return nil, err
	}
	return fromStateDict(cfg, sd, dev)
}

// fromStateDict builds the model from a complete, normalised state dict.
func fromStateDict(cfg *models.Config, sd models.StateDict, dev gotch.Device) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	InitThreads()
	dev = normDevice(dev)
	m := &Model{Config: cfg, dev: dev, byName: map[string]*ts.Tensor{}}
	for _, spec := range models.ParamSpecs(cfg) {
		t, ok := sd[spec.Name]
		if !ok {
			return nil, fmt.Errorf("build model: parameter %s missing", spec.Name)
		}
		if !slices.Equal(t.Shape, spec.Shape) {
			return nil, fmt.Errorf("build model: parameter %s has shape %v, config wants %v", spec.Name, t.Shape, spec.Shape)
		}
		vals, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("build model: parameter %s: %w", spec.Name, err)
		}
		x, err := tensorFromFloat32s(vals, spec.Shape, dev)
		if err != nil {
			return nil, fmt.Errorf("build model: parameter %s: %w", spec.Name, err)
		}
		if err := setRequiresGrad(x, true); err != nil {
			return nil, fmt.Errorf("build model: parameter %s: %w", spec.Name, err)
		}
		noDecay := strings.HasSuffix(spec.Name, ".bias") || strings.Contains(spec.Name, "LayerNorm") || strings.Contains(spec.Name, "layer_norm")
		m.params = append(m.params, NamedParameter{Name: spec.Name, Tensor: x, NoDecay: noDecay})
		m.byName[spec.Name] = x
	}
	m.wire()
	return m, nil
}

// wire points the module fields at the parameters by HF name.
func (m *Model) wire() {
	cfg := m.Config
	mt := cfg.ModelType
	if mt == models.TypeDeBERTaV2 {
		m.wireDeberta()
		return
	}
	p := func(name string) *ts.Tensor { return m.byName[name] }
	lin := func(name string) linear { return linear{p(name + ".weight"), p(name + ".bias")} }
	ln := func(name string) layerNorm { return layerNorm{p(name + ".weight"), p(name + ".bias")} }
	base := models.BasePrefix(mt)
	m.wordEmb = p(base + "embeddings.word_embeddings.weight")
	m.posEmb = p(base + "embeddings.position_embeddings.weight")
	m.typeEmb = p(base + "embeddings.token_type_embeddings.weight") // nil for DistilBERT
	m.embLN = ln(base + "embeddings.LayerNorm")
	if w := p(base + "embeddings_project.weight"); w != nil {
		l := lin(base + "embeddings_project")
		m.embProj = &l
	}
	names := models.LayerParamNames[mt]
	m.layers = make([]encoderLayer, cfg.NumHiddenLayers)
	for i := range m.layers {
		lp := models.LayerPrefix(mt, i)
		m.layers[i] = encoderLayer{
			query: lin(lp + names["query"]), key: lin(lp + names["key"]), value: lin(lp + names["value"]),
			attnOut: lin(lp + names["attn_out"]), attnLN: ln(lp + names["attn_ln"]),
			ffnIn: lin(lp + names["ffn_in"]), ffnOut: lin(lp + names["ffn_out"]), outLN: ln(lp + names["out_ln"]),
		}
	}
	switch mt {
	case models.TypeBERT:
		l := lin(base + "pooler.dense")
		m.pooler = &l
		m.headOut = lin("classifier")
	case models.TypeRoBERTa, models.TypeELECTRA:
		l := lin("classifier.dense")
		m.headDense = &l
		m.headOut = lin("classifier.out_proj")
	case models.TypeDistilBERT:
		l := lin("pre_classifier")
		m.headDense = &l
		m.headOut = lin("classifier")
	}
}

func tensorFromFloat32s(vals []float32, shape []int64, dev gotch.Device) (*ts.Tensor, error) {
	buf := make([]byte, 4*len(vals))
	for i, v := range vals {
		b := math.Float32bits(v)
		buf[4*i], buf[4*i+1], buf[4*i+2], buf[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
	}
	x, err := ts.OfDataSize(buf, shape, gotch.Float)
	if err != nil {
		return nil, err
	}
	if dev.Name != gotch.CPU.Name {
		y := x.MustTo(dev, true)
		return y, nil
	}
	return x, nil
}

// normDevice makes the zero Device mean CPU: gotch's Device.CInt calls
// log.Fatal on a Device without a name.
func normDevice(dev gotch.Device) gotch.Device {
	if dev.Name == "" {
		return gotch.CPU
	}
	return dev
}

// Device is where the parameters live.
func (m *Model) Device() gotch.Device { return m.dev }

// NamedParameters returns the trainable tensors with their HF names, in
// checkpoint order. The tensors belong to the model.
func (m *Model) NamedParameters() []NamedParameter { return m.params }

// Parameter returns the tensor of one parameter by HF name, or nil.
func (m *Model) Parameter(name string) *ts.Tensor { return m.byName[name] }

// ZeroGrad clears the gradients of every parameter. (gotch's
// Tensor.ZeroGrad leaks the handle of each gradient it fetches, and its
// Zero_ another; see inplace.)
func (m *Model) ZeroGrad() {
	for _, p := range m.params {
		g := p.Tensor.MustGrad(false)
		if g.MustDefined() {
			if err := zero(g); err != nil {
				slog.Error("zero gradient", "param", p.Name, "err", err) // cannot happen on a defined float tensor
			}
		}
		g.MustDrop()
	}
}

// SetGradientCheckpointing turns per-layer recomputation on or off. With
// it on, a training forward keeps only each layer's input; Backward then
// recomputes each layer. Use Model.Backward instead of loss.Backward.
func (m *Model) SetGradientCheckpointing(on bool) { m.checkpointing = on }

// GradientCheckpointing reports whether checkpointing is on.
func (m *Model) GradientCheckpointing() bool { return m.checkpointing }

// Free releases the parameters' C memory. The model is unusable afterwards.
func (m *Model) Free() {
	m.dropCkpt()
	for _, p := range m.params {
		p.Tensor.MustDrop()
	}
	m.params, m.byName = nil, nil
}

// fwdCtx carries what every layer of one forward needs.
type fwdCtx struct {
	b, s      int64
	addMask   *ts.Tensor // [B,1,1,S] additive mask (BERT family)
	boolMask  *ts.Tensor // [B,1,1,S] true where masked (DistilBERT's masked_fill)
	maskFloat *ts.Tensor // [B,S] 1/0 float, for pooling
	deb       *debertaCtx
	train     bool
	sdpa      bool // attention through scaled_dot_product_attention
}

func (c *fwdCtx) drop() {
	for _, t := range []*ts.Tensor{c.addMask, c.boolMask, c.maskFloat} {
		if t != nil {
			t.MustDrop()
		}
	}
	if c.deb != nil {
		c.deb.drop()
	}
}

// Forward runs the encoder and the head. attentionMask nil means all ones;
// tokenTypeIDs nil means zeros. DistilBERT has no token-type embeddings and
// ignores tokenTypeIDs (HF's tokenizer for it returns none), so callers can
// pass one batch layout to every architecture. train enables dropout (and, with gradient
// checkpointing on, recomputation in Backward).
//
// Forward checks the values of the id tensors, reading them back from the
// device; ForwardInputs on inputs made by NewInputs does not.
func (m *Model) Forward(inputIDs, attentionMask, tokenTypeIDs *ts.Tensor, train bool) (*Output, error) {
	InitThreads() // this OS thread's OpenMP count (see InitThreads)
	b, s, err := m.checkInputs(inputIDs, attentionMask, tokenTypeIDs)
	if err != nil {
		return nil, err
	}
	return m.forward(inputIDs, attentionMask, tokenTypeIDs, b, s, train)
}

// ForwardInputs is Forward on inputs NewInputs checked against this
// model's config: no host synchronisation before the encoder runs.
func (m *Model) ForwardInputs(in *Inputs, train bool) (*Output, error) {
	InitThreads()
	if in == nil || in.IDs == nil {
		return nil, fmt.Errorf("forward: no inputs")
	}
	if lim := limitsOf(m.Config); !lim.allows(in.lim) {
		return nil, fmt.Errorf("forward: inputs were checked against another config (vocabulary %d, type vocabulary %d, %d positions); this model has %d, %d, %d",
			in.lim.vocab, in.lim.typeVocab, in.lim.maxLen, lim.vocab, lim.typeVocab, lim.maxLen)
	}
	return m.forward(in.IDs, in.Mask, in.Types, in.b, in.s, train)
}

func (m *Model) forward(inputIDs, attentionMask, tokenTypeIDs *ts.Tensor, b, s int64, train bool) (*Output, error) {
	sdpa, err := m.attention()
	if err != nil {
		return nil, err
	}
	m.dropCkpt() // a forward without Backward abandons the previous recomputation
	gradOn, release := pinGrad()
	defer release()
	ctx, err := m.newCtx(inputIDs, attentionMask, b, s, train, sdpa)
	if err != nil {
		return nil, err
	}
	out := &Output{}
	h := m.embeddings(inputIDs, tokenTypeIDs, ctx)
	if m.OutputHiddenStates {
		out.HiddenStates = append(out.HiddenStates, h.MustShallowClone())
	}
	seeds := m.newSeedStream(train)
	ckptOn := m.checkpointing && train && gradOn
	if ckptOn {
		if h, err = m.encodeCheckpointed(h, ctx, seeds, out); err != nil {
			ctx.drop()
			out.Drop()
			return nil, err
		}
	} else {
		for i := range m.layers {
			if seeds != nil {
				if err := ManualSeed(seeds.next()); err != nil {
					ctx.drop()
					h.MustDrop()
					out.Drop()
					return nil, err
				}
			}
			next := m.layerForward(&m.layers[i], h, ctx)
			h.MustDrop()
			h = next
			if m.OutputHiddenStates {
				out.HiddenStates = append(out.HiddenStates, h.MustShallowClone())
			}
		}
	}
	out.LastHiddenState = h
	out.Pooled, out.Logits = m.head(h, ctx)
	if seeds != nil {
		final := seeds.next()
		if ckptOn {
			m.ckpt.final = final
		}
		if err := ManualSeed(final); err != nil {
			ctx.drop()
			out.Drop()
			return nil, err
		}
	}
	if ckptOn {
		m.ckpt.ctx = ctx // the layers need the masks again in Backward
	} else {
		ctx.drop()
	}
	return out, nil
}

func (m *Model) newCtx(inputIDs, attentionMask *ts.Tensor, b, s int64, train, sdpa bool) (*fwdCtx, error) {
	ctx := &fwdCtx{b: b, s: s, train: train, sdpa: sdpa}
	var mask *ts.Tensor
	if attentionMask != nil {
		mask = attentionMask.MustTo(m.dev, false)
	} else {
		mask = ts.MustOnes([]int64{b, s}, gotch.Int64, m.dev)
	}
	ctx.maskFloat = mask.MustTotype(gotch.Float, false)
	if m.deb != nil {
		m.newDebertaCtx(ctx)
	} else if m.Config.ModelType == models.TypeDistilBERT && !sdpa {
		// (mask == 0).view(bs, 1, 1, k)
		eq := mask.MustEq(ts.IntScalar(0), false)
		ctx.boolMask = eq.MustView([]int64{b, 1, 1, s}, true)
	} else {
		// (1.0 - mask[:, None, None, :]) * finfo.min
		ext := ctx.maskFloat.MustView([]int64{b, 1, 1, s}, false)
		inv := ext.MustRsubScalar(ts.FloatScalar(1.0), true)
		ctx.addMask = inv.MustMulScalar(ts.FloatScalar(maskMin), true)
	}
	mask.MustDrop()
	return ctx, nil
}

func (m *Model) dropout(x *ts.Tensor, p float64, train bool) *ts.Tensor {
	if !train || p == 0 {
		return x
	}
	return consume(ts.MustDropout(x, p, train), x)
}

func (m *Model) layerNorm(x *ts.Tensor, ln layerNorm, eps float64) *ts.Tensor {
	n := ln.w.MustSize()
	return ts.MustLayerNorm(x, n, ln.w, ln.b, eps, false)
}

func (m *Model) embeddings(inputIDs, tokenTypeIDs *ts.Tensor, ctx *fwdCtx) *ts.Tensor {
	if m.deb != nil {
		return m.debertaEmbeddings(inputIDs, tokenTypeIDs, ctx)
	}
	cfg := m.Config
	ids := inputIDs.MustTo(m.dev, false)
	defer ids.MustDrop()
	words := ts.MustEmbedding(m.wordEmb, ids, int64(cfg.PadTokenID), false, false)
	var pos *ts.Tensor
	posPad := int64(-1)
	if cfg.ModelType == models.TypeRoBERTa {
		// create_position_ids_from_input_ids: cumsum of non-pad tokens, offset past padding_idx
		ne := ids.MustNe(ts.IntScalar(int64(cfg.PadTokenID)), false)
		mask := ne.MustTotype(gotch.Int, true)
		cs := mask.MustCumsum(1, gotch.Int, false)
		inc := cs.MustMul(mask, true)
		mask.MustDrop()
		pl := inc.MustTotype(gotch.Int64, true)
		pos = pl.MustAddScalar(ts.IntScalar(int64(cfg.PadTokenID)), true)
		posPad = int64(cfg.PadTokenID)
	} else {
		ar := ts.MustArange(ts.IntScalar(ctx.s), gotch.Int64, m.dev)
		pos = ar.MustView([]int64{1, ctx.s}, true)
	}
	posEmb := ts.MustEmbedding(m.posEmb, pos, posPad, false, false)
	pos.MustDrop()
	var e *ts.Tensor
	if cfg.ModelType == models.TypeDistilBERT {
		e = words.MustAdd(posEmb, true)
		posEmb.MustDrop()
	} else {
		var tt *ts.Tensor
		if tokenTypeIDs != nil {
			tt = tokenTypeIDs.MustTo(m.dev, false)
		} else {
			tt = ts.MustZeros([]int64{ctx.b, ctx.s}, gotch.Int64, m.dev)
		}
		typ := ts.MustEmbedding(m.typeEmb, tt, -1, false, false)
		tt.MustDrop()
		// HF order: (inputs_embeds + token_type_embeddings) + position_embeddings
		e = words.MustAdd(typ, true)
		typ.MustDrop()
		e2 := e.MustAdd(posEmb, true)
		posEmb.MustDrop()
		e = e2
	}
	e = consume(m.layerNorm(e, m.embLN, cfg.LayerNormEps), e)
	e = m.dropout(e, cfg.HiddenDropoutProb, ctx.train)
	if m.embProj != nil {
		e = consume(m.embProj.forward(e), e)
	}
	return e
}

func (m *Model) activation(x *ts.Tensor) *ts.Tensor { return activate(m.Config.HiddenAct, x) }

// activate applies HF's ACT2FN[name] (models.SupportedActivations, and tanh).
func activate(name string, x *ts.Tensor) *ts.Tensor {
	switch name {
	case "gelu_new", "gelu_pytorch_tanh":
		return x.MustGelu("tanh", false)
	case "relu":
		return x.MustRelu(false)
	case "tanh":
		return x.MustTanh(false)
	}
	return x.MustGelu("none", false)
}

// layerForward is one post-LN transformer layer, in HF's operation order
// for the architecture (DistilBERT scales q before the product and fills the
// mask; BERT scales the scores and adds the mask).
func (m *Model) layerForward(l *encoderLayer, x *ts.Tensor, ctx *fwdCtx) *ts.Tensor {
	if l.deb != nil {
		return m.debertaLayerForward(l, x, ctx)
	}
	cfg := m.Config
	H := int64(cfg.HiddenSize)
	nh := int64(cfg.NumAttentionHeads)
	hd := H / nh
	b, s := ctx.b, ctx.s
	distil := cfg.ModelType == models.TypeDistilBERT
	// One GEMM for q, k and v (weights concatenated per call, a copy of
	// 3·H² floats; cat's backward splits the gradients back).
	wqkv := ts.MustCat([]*ts.Tensor{l.query.w, l.key.w, l.value.w}, 0)
	bqkv := ts.MustCat([]*ts.Tensor{l.query.b, l.key.b, l.value.b}, 0)
	qkv := ts.MustLinear(x, wqkv, bqkv)
	wqkv.MustDrop()
	bqkv.MustDrop()
	qkv = qkv.MustView([]int64{b, s, 3, nh, hd}, true).MustPermute([]int64{2, 0, 3, 1, 4}, true) // [3,B,nh,S,hd]
	q := qkv.MustSelect(0, 0, false)
	k := qkv.MustSelect(0, 1, false)
	v := qkv.MustSelect(0, 2, false)
	qkv.MustDrop()
	if ctx.sdpa {
		c := m.sdpa(q, k, v, ctx)
		c = c.MustPermute([]int64{0, 2, 1, 3}, true)
		c = c.MustContiguous(true)
		c = c.MustView([]int64{b, s, H}, true)
		return m.layerOutput(l, c, x, ctx)
	}
	if distil {
		q = q.MustDivScalar(ts.FloatScalar(math.Sqrt(float64(hd))), true)
	}
	kt := k.MustTranspose(-1, -2, true)
	scores := q.MustMatmul(kt, true)
	kt.MustDrop()
	if distil {
		scores = scores.MustMaskedFill(ctx.boolMask, ts.FloatScalar(maskMin), true)
	} else {
		scores = scores.MustDivScalar(ts.FloatScalar(math.Sqrt(float64(hd))), true)
		scores = scores.MustAdd(ctx.addMask, true)
	}
	probs := scores.MustSoftmax(-1, gotch.Float, true)
	probs = m.dropout(probs, cfg.AttentionProbsDropoutProb, ctx.train)
	c := probs.MustMatmul(v, true)
	v.MustDrop()
	c = c.MustPermute([]int64{0, 2, 1, 3}, true)
	c = c.MustContiguous(true)
	c = c.MustView([]int64{b, s, H}, true)
	return m.layerOutput(l, c, x, ctx)
}

// layerOutput is the rest of a post-LN layer after the attention heads are
// merged into c [B,S,H]: output projection, residual and LayerNorm, then
// the feed-forward block with its residual and LayerNorm (BERT's
// SelfOutput, Intermediate and Output; DeBERTa's are the same).
func (m *Model) layerOutput(l *encoderLayer, c, x *ts.Tensor, ctx *fwdCtx) *ts.Tensor {
	cfg := m.Config
	a := consume(l.attnOut.forward(c), c)
	a = m.dropout(a, cfg.HiddenDropoutProb, ctx.train)
	a = a.MustAdd(x, true)
	a = consume(m.layerNorm(a, l.attnLN, cfg.LayerNormEps), a)
	i := l.ffnIn.forward(a)
	i = consume(m.activation(i), i)
	o := consume(l.ffnOut.forward(i), i)
	o = m.dropout(o, cfg.HiddenDropoutProb, ctx.train)
	o = o.MustAdd(a, true)
	a.MustDrop()
	return consume(m.layerNorm(o, l.outLN, cfg.LayerNormEps), o)
}

// feature reduces [B,S,H] to [B,H]: the first token, or the attention-mask-
// aware mean or max.
func (m *Model) feature(h *ts.Tensor, ctx *fwdCtx) *ts.Tensor {
	switch m.Config.Pooling {
	case models.PoolMean:
		mk := ctx.maskFloat.MustUnsqueeze(-1, false) // [B,S,1]
		sum := h.MustMul(mk, false).MustSumDimIntlist([]int64{1}, false, gotch.Float, true)
		cnt := mk.MustSumDimIntlist([]int64{1}, false, gotch.Float, true).MustClampMin(ts.FloatScalar(1e-9), true)
		mean := sum.MustDiv(cnt, true)
		cnt.MustDrop()
		return mean
	case models.PoolMax:
		mk := ctx.maskFloat.MustEq(ts.FloatScalar(0), false).MustUnsqueeze(-1, true)
		filled := h.MustMaskedFill(mk, ts.FloatScalar(maxPoolFill), false)
		mk.MustDrop()
		return filled.MustAmax([]int64{1}, false, true)
	}
	return h.MustSelect(1, 0, false)
}

// head runs the classification head of the architecture on the hidden states.
func (m *Model) head(h *ts.Tensor, ctx *fwdCtx) (pooled, logits *ts.Tensor) {
	if m.deb != nil {
		return m.debertaHead(h, ctx)
	}
	cfg := m.Config
	p := cfg.ClassifierDropoutProb()
	f := m.feature(h, ctx)
	switch cfg.ModelType {
	case models.TypeBERT:
		d := consume(m.pooler.forward(f), f)
		pooled = d.MustTanh(true)
		x := m.dropout(pooled.MustShallowClone(), p, ctx.train)
		logits = consume(m.headOut.forward(x), x)
	case models.TypeRoBERTa, models.TypeELECTRA:
		pooled = f
		x := m.dropout(f.MustShallowClone(), p, ctx.train)
		x = consume(m.headDense.forward(x), x)
		if cfg.ModelType == models.TypeELECTRA {
			// HF's ElectraClassificationHead uses get_activation("gelu")
			// (erf) whatever hidden_act says.
			x = x.MustGelu("none", true)
		} else {
			x = x.MustTanh(true)
		}
		x = m.dropout(x, p, ctx.train)
		logits = consume(m.headOut.forward(x), x)
	case models.TypeDistilBERT:
		pooled = f
		x := m.headDense.forward(f)
		x = x.MustRelu(true)
		x = m.dropout(x, p, ctx.train)
		logits = consume(m.headOut.forward(x), x)
	}
	return pooled, logits
}
