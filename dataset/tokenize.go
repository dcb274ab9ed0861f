package dataset

import (
	"fmt"
	"sync"

	"github.com/kiln-ml/kiln/tokenizers"
)

// TextEncoder turns one example into model inputs.
type TextEncoder interface {
	// Encode returns input ids and token type ids with special tokens,
	// truncated to maxLen (pairs: longest_first, as HF does).
	Encode(text, pair string, hasPair bool, maxLen int) (ids, typeIDs []int, err error)
	PadID() int
}

// HFTokenizer adapts the tokenizers package (any HF tokenizer.json:
// WordPiece, BPE, Unigram) to TextEncoder.
type HFTokenizer struct {
	file  *tokenizers.Tokenizer // as loaded, with the file's own padding and truncation
	tok   *tokenizers.Tokenizer
	padID int
	mu    sync.Mutex
	byLen map[int]*tokenizers.Tokenizer // truncating copies per max length
}

// LoadTokenizer reads a tokenizer as tokenizers.Load does: a
// tokenizer.json, a BERT vocab.txt (lowercasing as the tokenizer_config.json
// next to it says) or a model directory. Padding and truncation stored in
// the file are dropped: training pads each batch to its own longest row and
// truncates to --max-length.
func LoadTokenizer(path string) (*HFTokenizer, error) {
	tok, err := tokenizers.Load(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	h := &HFTokenizer{file: tok, byLen: map[int]*tokenizers.Tokenizer{}}
	// The pad id matters beyond masking: RoBERTa derives position ids
	// from it. Prefer the file's padding settings, then the usual tokens.
	if p := tok.Padding(); p != nil {
		h.padID = p.PadID
	} else {
		for _, s := range []string{"[PAD]", "<pad>", "<PAD>"} {
			if id, ok := tok.TokenToID(s); ok {
				h.padID = id
				break
			}
		}
	}
	h.tok = tok.WithPadding(nil).WithTruncation(nil)
	return h, nil
}

// Tokenizer is the tokenizer as loaded, with the file's own padding and
// truncation settings: what a trained model directory should carry.
func (h *HFTokenizer) Tokenizer() *tokenizers.Tokenizer { return h.file }

// PadID implements TextEncoder.
func (h *HFTokenizer) PadID() int { return h.padID }

// Encode implements TextEncoder: special tokens added, truncated to maxLen
// (0: no limit) with HF's longest_first strategy for pairs.
func (h *HFTokenizer) Encode(text, pair string, hasPair bool, maxLen int) ([]int, []int, error) {
	tok := h.truncating(maxLen)
	var e *tokenizers.Encoding
	var err error
	if hasPair {
		e, err = tok.EncodePair(text, pair, true)
	} else {
		e, err = tok.Encode(text, true)
	}
	if err != nil {
		return nil, nil, err
	}
	return e.IDs, e.TypeIDs, nil
}

func (h *HFTokenizer) truncating(maxLen int) *tokenizers.Tokenizer {
	if maxLen <= 0 {
		return h.tok
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.byLen[maxLen]
	if !ok {
		t = h.tok.WithTruncation(&tokenizers.Truncation{MaxLength: maxLen})
		h.byLen[maxLen] = t
	}
	return t
}
