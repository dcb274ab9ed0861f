// Package tokenizers is a pure-Go implementation of HuggingFace tokenizers:
// it loads tokenizer.json files, encodes (ids, type ids, tokens, offsets,
// masks, overflowing pieces; truncation and padding), decodes and saves
// them, producing the same output as HF's Rust library.
//
// The pipeline is HF's: added tokens are split out first, the rest is
// normalized, pre-tokenized into words, each word is cut by the model, and
// the post-processor adds special tokens. Every step keeps, for each byte
// of the normalized text, the byte range of the original text it came from,
// so that offsets point into the caller's text.
//
// Invalid UTF-8 in the input is replaced before anything else: each maximal
// invalid subsequence becomes one U+FFFD (as Python's
// bytes.decode("utf-8", "replace") and Rust's from_utf8_lossy do), and
// offsets refer to that repaired text.
package tokenizers

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// token is one model output: an id and a byte range of the piece it was
// cut from.
type token struct {
	id         int
	value      string
	start, end int
}

// split is one piece of the input during pre-tokenization; tokens is set
// when the piece was already recognised (added tokens).
type split struct {
	n         nstr
	tokens    []token
	hasTokens bool
}

type normalizer interface {
	normalize(n *nstr) error
}

type preTokenizer interface {
	// preTokenize splits every piece without tokens further.
	preTokenize(splits []split) ([]split, error)
}

type model interface {
	tokenize(s string, dst []token) ([]token, error)
	tokenToID(tok string) (int, bool)
	idToToken(id int) (string, bool)
	vocabSize() int
}

type postProcessor interface {
	addedTokens(isPair bool) int
	processEncodings(encs []*Encoding, addSpecial bool) ([]*Encoding, error)
}

type decoder interface {
	decodeChain(tokens []string) ([]string, error)
}

// pipeline is the immutable part of a Tokenizer shared by its copies.
type pipeline struct {
	normalizer normalizer
	pre        preTokenizer
	model      model
	post       postProcessor
	decoder    decoder
	added      *addedVocab
}

// Tokenizer encodes and decodes text. It is safe for concurrent use; the
// With* methods return cheap copies sharing the pipeline.
type Tokenizer struct {
	p     *pipeline
	raw   *rawParts
	trunc *Truncation
	pad   *Padding
}

// WithTruncation returns a copy using tr (nil disables truncation).
func (t *Tokenizer) WithTruncation(tr *Truncation) *Tokenizer {
	c := *t
	if tr != nil {
		cp := *tr
		if cp.Strategy == "" {
			cp.Strategy = "longest_first"
		}
		if cp.Direction == "" {
			cp.Direction = "right"
		}
		c.trunc = &cp
	} else {
		c.trunc = nil
	}
	return &c
}

// WithPadding returns a copy using p (nil disables padding).
func (t *Tokenizer) WithPadding(p *Padding) *Tokenizer {
	c := *t
	if p != nil {
		cp := *p
		if cp.Strategy == "" {
			cp.Strategy = "longest"
		}
		if cp.Direction == "" {
			cp.Direction = "right"
		}
		c.pad = &cp
	} else {
		c.pad = nil
	}
	return &c
}

// Truncation returns a copy of the truncation settings (nil = none).
func (t *Tokenizer) Truncation() *Truncation {
	if t.trunc == nil {
		return nil
	}
	c := *t.trunc
	return &c
}

// Padding returns a copy of the padding settings (nil = none).
func (t *Tokenizer) Padding() *Padding {
	if t.pad == nil {
		return nil
	}
	c := *t.pad
	return &c
}

// TokenToID looks a token up in the added tokens, then the model vocabulary.
func (t *Tokenizer) TokenToID(tok string) (int, bool) {
	if id, ok := t.p.added.byContent[tok]; ok {
		return id, true
	}
	if t.p.model == nil {
		return 0, false
	}
	return t.p.model.tokenToID(tok)
}

// IDToToken looks an id up in the added tokens, then the model vocabulary.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	if s, ok := t.p.added.tokenFor(id); ok {
		return s, true
	}
	if t.p.model == nil {
		return "", false
	}
	return t.p.model.idToToken(id)
}

// VocabSize is the model vocabulary size, plus the added tokens that are
// not part of it when withAddedTokens is set (HF's get_vocab_size).
func (t *Tokenizer) VocabSize(withAddedTokens bool) int {
	n := 0
	if t.p.model != nil {
		n = t.p.model.vocabSize()
	}
	if !withAddedTokens {
		return n
	}
	for id := range t.p.added.byID {
		if t.p.model == nil {
			n++
			continue
		}
		if _, ok := t.p.model.idToToken(id); !ok {
			n++
		}
	}
	return n
}

// AddedToken is an entry of tokenizer.json's added_tokens.
type AddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// AddedTokens returns the added tokens ordered by id.
func (t *Tokenizer) AddedTokens() []AddedToken { return t.p.added.sorted() }

func sanitize(text string) string {
	if utf8.ValidString(text) {
		return text
	}
	return lossyUTF8([]byte(text))
}

// splitsFor runs added-token extraction, normalization and pre-tokenization.
func (p *pipeline) splitsFor(text string) ([]split, error) {
	splits, err := p.added.extractAndNormalize(p.normalizer, text)
	if err != nil {
		return nil, err
	}
	if p.pre != nil {
		splits, err = p.pre.preTokenize(splits)
		if err != nil {
			return nil, err
		}
	}
	return splits, nil
}

// PreTokenize returns the normalized, pre-tokenized pieces of text, as HF's
// trainers see them (added tokens are kept as their own pieces).
func (t *Tokenizer) PreTokenize(text string) ([]string, error) {
	text = sanitize(text)
	splits, err := t.p.splitsFor(text)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(splits))
	for _, s := range splits {
		out = append(out, s.n.s)
	}
	return out, nil
}

// encodeSeq encodes one sequence without post-processing.
func (p *pipeline) encodeSeq(text string, typeID int) (*Encoding, error) {
	if p.model == nil {
		return nil, errors.New("tokenizer has no model: it can only pre-tokenize")
	}
	splits, err := p.splitsFor(text)
	if err != nil {
		return nil, err
	}
	var buf []token
	total := 0
	for i := range splits {
		s := &splits[i]
		if s.hasTokens {
			total += len(s.tokens)
			continue
		}
		start := len(buf)
		buf, err = p.model.tokenize(s.n.s, buf)
		if err != nil {
			return nil, err
		}
		s.tokens = buf[start:len(buf):len(buf)]
		s.hasTokens = true
		total += len(s.tokens)
	}
	enc := &Encoding{
		IDs:               make([]int, 0, total),
		TypeIDs:           make([]int, 0, total),
		AttentionMask:     make([]int, 0, total),
		SpecialTokensMask: make([]int, 0, total),
		Tokens:            make([]string, 0, total),
		Offsets:           make([][2]int, 0, total),
		WordIDs:           make([]int, 0, total),
	}
	conv := newCharConverter(text)
	for wi, s := range splits {
		for _, tk := range s.tokens {
			a, b := s.n.originalRange(tk.start, tk.end)
			a, b = conv.convert(a, b)
			enc.IDs = append(enc.IDs, tk.id)
			enc.TypeIDs = append(enc.TypeIDs, typeID)
			enc.AttentionMask = append(enc.AttentionMask, 1)
			enc.SpecialTokensMask = append(enc.SpecialTokensMask, 0)
			enc.Tokens = append(enc.Tokens, tk.value)
			enc.Offsets = append(enc.Offsets, [2]int{a, b})
			enc.WordIDs = append(enc.WordIDs, wi)
		}
	}
	return enc, nil
}

// charConverter maps byte offsets of the original text to rune offsets
// (HF's BytesToCharOffsetConverter, including its edge cases).
type charConverter struct {
	ascii bool
	n     int
	idx   []int32
}

func newCharConverter(s string) charConverter {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	c := charConverter{ascii: ascii, n: len(s)}
	if ascii {
		return c
	}
	c.idx = make([]int32, len(s))
	ci := int32(0)
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		for k := 0; k < size; k++ {
			c.idx[i+k] = ci
		}
		ci++
		i += size
	}
	return c
}

func (c charConverter) convert(a, b int) (int, int) {
	if a < 0 || a >= c.n {
		return a, b
	}
	if c.ascii {
		if b > c.n {
			if b-1 < c.n {
				return a, b
			}
			return a, a + 2
		}
		return a, b
	}
	s := int(c.idx[a])
	if b >= 0 && b < c.n {
		return s, int(c.idx[b])
	}
	if b-1 >= 0 && b-1 < c.n {
		return s, int(c.idx[b-1]) + 1
	}
	return s, s + 2
}

// Encode encodes one text.
func (t *Tokenizer) Encode(text string, addSpecialTokens bool) (*Encoding, error) {
	enc, err := t.p.encodeSeq(sanitize(text), 0)
	if err != nil {
		return nil, err
	}
	return t.postProcess(enc, nil, addSpecialTokens)
}

// EncodePair encodes a pair of texts (e.g. question and context).
func (t *Tokenizer) EncodePair(a, b string, addSpecialTokens bool) (*Encoding, error) {
	ea, err := t.p.encodeSeq(sanitize(a), 0)
	if err != nil {
		return nil, err
	}
	eb, err := t.p.encodeSeq(sanitize(b), 1)
	if err != nil {
		return nil, err
	}
	return t.postProcess(ea, eb, addSpecialTokens)
}

// Input is one item of a batch.
type Input struct {
	Text, Pair string
	IsPair     bool
}

// EncodeBatch encodes the inputs in parallel on all cores, then pads the
// batch if padding is configured.
func (t *Tokenizer) EncodeBatch(in []Input, addSpecialTokens bool) ([]*Encoding, error) {
	noPad := *t
	noPad.pad = nil
	if t.pad != nil && t.pad.Strategy == "fixed" {
		noPad.pad = t.pad
	}
	out, err := noPad.EncodeEach(in, addSpecialTokens)
	if err != nil {
		return nil, err
	}
	if t.pad != nil {
		padEncodings(out, t.pad)
	}
	return out, nil
}

// EncodeEach encodes the inputs in parallel on all cores, each on its own
// as Encode does: "longest" padding pads an input to its own length (and
// multiple), never to its neighbours'.
func (t *Tokenizer) EncodeEach(in []Input, addSpecialTokens bool) ([]*Encoding, error) {
	out := make([]*Encoding, len(in))
	errs := make([]error, len(in))
	workers := min(runtime.GOMAXPROCS(0), len(in))
	encodeOne := func(i int) {
		if in[i].IsPair {
			out[i], errs[i] = t.EncodePair(in[i].Text, in[i].Pair, addSpecialTokens)
		} else {
			out[i], errs[i] = t.Encode(in[i].Text, addSpecialTokens)
		}
	}
	if workers <= 1 {
		for i := range in {
			encodeOne(i)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(in) {
						return
					}
					encodeOne(i)
				}
			}()
		}
		wg.Wait()
	}
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("batch item %d: %w", i, err)
		}
	}
	return out, nil
}

// postProcess is HF's TokenizerImpl::post_process: truncate, add special
// tokens, pad.
func (t *Tokenizer) postProcess(enc, pair *Encoding, addSpecial bool) (*Encoding, error) {
	if t.trunc != nil {
		if err := t.trunc.validate(); err != nil {
			return nil, err
		}
	}
	if t.pad != nil {
		if err := t.pad.validate(); err != nil {
			return nil, err
		}
	}
	if tr := t.trunc; tr != nil {
		maxLen := tr.MaxLength
		if addSpecial && t.p.post != nil {
			if n := t.p.post.addedTokens(pair != nil); n > 0 {
				maxLen -= n
				if maxLen < 0 {
					return nil, fmt.Errorf("truncation: max_length %d is smaller than the %d special tokens added", tr.MaxLength, n)
				}
			}
		}
		if err := truncateEncodings(enc, pair, tr, maxLen); err != nil {
			return nil, err
		}
	}
	var final *Encoding
	if t.p.post != nil {
		encs := []*Encoding{enc}
		if pair != nil {
			encs = append(encs, pair)
		}
		for i, e := range encs {
			e.setTypeIDs(i)
		}
		res, err := t.p.post.processEncodings(encs, addSpecial)
		if err != nil {
			return nil, err
		}
		final = mergeEncodings(res, false)
	} else if pair != nil {
		final = mergeEncodings([]*Encoding{enc, pair}, false)
	} else {
		final = enc
	}
	if t.pad != nil {
		padEncodings([]*Encoding{final}, t.pad)
	}
	return final, nil
}

// Decode turns ids back into text.
func (t *Tokenizer) Decode(ids []int, skipSpecialTokens bool) (string, error) {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		var tok string
		if s, ok := t.p.added.tokenFor(id); ok {
			tok = s
		} else if t.p.model != nil {
			s, ok := t.p.model.idToToken(id)
			if !ok {
				continue
			}
			tok = s
		} else {
			continue
		}
		if skipSpecialTokens && t.p.added.special[tok] {
			continue
		}
		toks = append(toks, tok)
	}
	if t.p.decoder == nil {
		return strings.Join(toks, " "), nil
	}
	parts, err := t.p.decoder.decodeChain(toks)
	if err != nil {
		return "", err
	}
	return strings.Join(parts, ""), nil
}
