package serve

import (
	"fmt"

	"github.com/kiln-ml/kiln/tokenizers"
)

// hfTokenizer adapts the tokenizers package (HF tokenizer.json pipelines)
// to serve's Tokenizer.
type hfTokenizer struct{ t *tokenizers.Tokenizer }

// LoadTokenizer reads dir's tokenizer file set (tokenizers.LoadDir:
// tokenizer.json, else vocab.txt). Padding configured in the file is
// switched off: the backend pads each batch to its own longest sequence.
func LoadTokenizer(dir string) (Tokenizer, error) {
	t, err := tokenizers.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer in %s: %w", dir, err)
	}
	return NewTokenizer(t), nil
}

// NewTokenizer wraps t (its padding and truncation settings are replaced
// per request).
func NewTokenizer(t *tokenizers.Tokenizer) Tokenizer {
	return hfTokenizer{t: t.WithPadding(nil).WithTruncation(nil)}
}

func (h hfTokenizer) Encode(in []TextInput, opt EncodeOptions) ([]Encoding, error) {
	t := h.t
	if opt.MaxLength > 0 {
		dir := "right"
		if opt.TruncateLeft {
			dir = "left"
		}
		t = t.WithTruncation(&tokenizers.Truncation{MaxLength: opt.MaxLength, Strategy: "longest_first", Direction: dir})
	}
	batch := make([]tokenizers.Input, len(in))
	for i, x := range in {
		batch[i] = tokenizers.Input{Text: x.Text, Pair: x.Pair, IsPair: x.IsPair}
	}
	encs, err := t.EncodeBatch(batch, opt.AddSpecialTokens)
	if err != nil {
		return nil, err
	}
	out := make([]Encoding, len(encs))
	for i, e := range encs {
		out[i] = Encoding{IDs: e.IDs, TypeIDs: e.TypeIDs, SpecialTokensMask: e.SpecialTokensMask, Tokens: e.Tokens, Offsets: e.Offsets}
	}
	return out, nil
}

func (h hfTokenizer) Decode(ids []int, skip bool) (string, error) { return h.t.Decode(ids, skip) }

func (h hfTokenizer) VocabSize() int { return h.t.VocabSize(true) }
