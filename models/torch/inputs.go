package torch

import (
	"fmt"
	"math"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/models"
)

// Inputs are one batch's id tensors on a model's device, made by NewInputs
// from Go slices that it checked against the model's config before any
// tensor existed: a forward on them (Model.ForwardInputs) reads nothing
// back from the device. Checking ids that already sit on a GPU costs host
// synchronisations on every forward. The caller frees them with Drop.
type Inputs struct {
	IDs   *ts.Tensor // [B,S] int64
	Mask  *ts.Tensor // [B,S] int64; nil = all ones
	Types *ts.Tensor // [B,S] int64; nil = zeros (and always nil where the model has no token types)
	b, s  int64
	lim   inputLimits
}

// inputLimits is what a config allows in a batch: the id ranges and the
// longest sequence. Inputs remember the limits they were checked against,
// so that a forward on another model's config is refused, not trusted.
type inputLimits struct {
	vocab, typeVocab, maxLen int64
	types                    bool // token type ids reach the embeddings
}

// allows reports whether inputs checked against o are valid under l
// (token types only matter where both use them: nil types are zeros).
func (l inputLimits) allows(o inputLimits) bool {
	return o.vocab <= l.vocab && o.maxLen <= l.maxLen && (!o.types || !l.types || o.typeVocab <= l.typeVocab)
}

func limitsOf(cfg *models.Config) inputLimits {
	l := inputLimits{vocab: int64(cfg.VocabSize), typeVocab: int64(cfg.TypeVocabSize), maxLen: int64(cfg.MaxSequenceLength()), types: true}
	if cfg.ModelType == models.TypeDeBERTaV2 && !cfg.Deberta.PositionBiasedInput {
		l.maxLen = math.MaxInt64 // relative positions only
	}
	// DistilBERT has no token-type embeddings, and HF's DebertaV2Embeddings
	// ignores token types when type_vocab_size is 0: Forward ignores them.
	if cfg.ModelType == models.TypeDistilBERT || (cfg.ModelType == models.TypeDeBERTaV2 && cfg.TypeVocabSize == 0) {
		l.types = false
	}
	return l
}

// check is the one rule for what a forward accepts, on row-major [b, s]
// values: mask and types may be nil (all ones, zeros).
func (l inputLimits) check(b, s int64, ids, mask, types []int64) error {
	if b <= 0 || s <= 0 {
		return fmt.Errorf("forward: input_ids must be [batch, seq] and non-empty, got [%d %d]", b, s)
	}
	if s > l.maxLen {
		return fmt.Errorf("forward: sequence length %d exceeds the model's %d positions", s, l.maxLen)
	}
	for _, in := range []struct {
		name string
		v    []int64
		hi   int64
	}{{"input_ids", ids, l.vocab}, {"attention_mask", mask, 2}, {"token_type_ids", types, l.typeVocab}} {
		if in.v == nil {
			if in.name == "input_ids" {
				return fmt.Errorf("forward: input_ids is nil")
			}
			continue
		}
		if in.name == "token_type_ids" && !l.types {
			continue
		}
		if int64(len(in.v)) != b*s {
			return fmt.Errorf("forward: %s has %d values, want %d×%d", in.name, len(in.v), b, s)
		}
		lo, hi := slices.Min(in.v), slices.Max(in.v)
		if lo < 0 || hi >= in.hi {
			return fmt.Errorf("forward: %s values must be in [0, %d), got [%d, %d]", in.name, in.hi, lo, hi)
		}
	}
	return nil
}

// NewInputs checks a padded batch against cfg (ids within the vocabulary,
// a 0/1 attention mask, token types within type_vocab_size, a length the
// positions allow) and makes its tensors on dev. A nil AttentionMask or
// TokenTypeIDs stays nil.
func NewInputs(cfg *models.Config, batch modelio.Batch, dev gotch.Device) (*Inputs, error) {
	lim := limitsOf(cfg)
	b, s := int64(batch.Batch), int64(batch.Seq)
	if err := lim.check(b, s, batch.InputIDs, batch.AttentionMask, batch.TokenTypeIDs); err != nil {
		return nil, err
	}
	in := &Inputs{b: b, s: s, lim: lim}
	dev = normDevice(dev)
	mk := func(v []int64) (*ts.Tensor, error) {
		if v == nil {
			return nil, nil
		}
		t, err := ts.OfSlice(v)
		if err != nil {
			return nil, err
		}
		t = t.MustView([]int64{b, s}, true)
		if dev != gotch.CPU {
			t = t.MustTo(dev, true)
		}
		return t, nil
	}
	var err error
	if in.IDs, err = mk(batch.InputIDs); err == nil {
		if in.Mask, err = mk(batch.AttentionMask); err == nil && lim.types {
			in.Types, err = mk(batch.TokenTypeIDs)
		}
	}
	if err != nil {
		in.Drop()
		return nil, fmt.Errorf("forward inputs: %w", err)
	}
	return in, nil
}

// Drop frees the tensors.
func (in *Inputs) Drop() {
	for _, t := range []*ts.Tensor{in.IDs, in.Mask, in.Types} {
		if t != nil {
			t.MustDrop()
		}
	}
	in.IDs, in.Mask, in.Types = nil, nil, nil
}

// checkInputs validates tensors handed to Forward: shapes and dtypes from
// their metadata, then the values, read back in one copy (one host
// synchronisation on a GPU; NewInputs needs none).
func (m *Model) checkInputs(inputIDs, attentionMask, tokenTypeIDs *ts.Tensor) (b, s int64, err error) {
	if inputIDs == nil {
		return 0, 0, fmt.Errorf("forward: input_ids is nil")
	}
	shape := inputIDs.MustSize()
	if len(shape) != 2 || shape[0] == 0 || shape[1] == 0 {
		return 0, 0, fmt.Errorf("forward: input_ids must be [batch, seq] and non-empty, got %v", shape)
	}
	b, s = shape[0], shape[1]
	lim := limitsOf(m.Config)
	if !lim.types {
		tokenTypeIDs = nil
	}
	parts := []*ts.Tensor{}
	for _, in := range []struct {
		name string
		t    *ts.Tensor
	}{{"input_ids", inputIDs}, {"attention_mask", attentionMask}, {"token_type_ids", tokenTypeIDs}} {
		if in.t == nil {
			continue
		}
		if in.t.DType() != gotch.Int64 {
			return 0, 0, fmt.Errorf("forward: %s must be int64, got %v", in.name, in.t.DType())
		}
		if sh := in.t.MustSize(); !slices.Equal(sh, shape) {
			return 0, 0, fmt.Errorf("forward: %s has shape %v, input_ids %v", in.name, sh, shape)
		}
		parts = append(parts, in.t)
	}
	if s > lim.maxLen { // before reading anything back
		return 0, 0, fmt.Errorf("forward: sequence length %d exceeds the model's %d positions", s, lim.maxLen)
	}
	all, err := ts.Cat(parts, 0) // [k·B, S]
	if err != nil {
		return 0, 0, fmt.Errorf("forward: reading the input ids (are they on one device?): %s", libtorchMessage(err))
	}
	vals := all.Int64Values(true)
	n := b * s
	var mask, types []int64
	if attentionMask != nil {
		mask = vals[n : 2*n]
	}
	if tokenTypeIDs != nil {
		types = vals[int64(len(vals))-n:]
	}
	return b, s, lim.check(b, s, vals[:n], mask, types)
}
