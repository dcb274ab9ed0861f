package tokenizers

import (
	"fmt"
	"unicode/utf8"
)

// templatePiece is one element of a TemplateProcessing template: either a
// sequence ("A"/"B") or a special token name.
type templatePiece struct {
	seq     string
	special string
	typeID  int
}

type templateSpecial struct {
	ID     string   `json:"id"`
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
}

// templateProcessing is HF's TemplateProcessing.
type templateProcessing struct {
	single, pair   []templatePiece
	specials       map[string]templateSpecial
	specialOrder   []string
	nSingle, nPair int
}

func newTemplateProcessing(single, pair []templatePiece, specials map[string]templateSpecial) (*templateProcessing, error) {
	t := &templateProcessing{single: single, pair: pair, specials: specials}
	count := func(ps []templatePiece, name string) (int, error) {
		n := 0
		for _, p := range ps {
			if p.special == "" {
				continue
			}
			sp, ok := specials[p.special]
			if !ok {
				return 0, fmt.Errorf("post_processor.%s: special token %q is not in special_tokens", name, p.special)
			}
			n += len(sp.IDs)
		}
		return n, nil
	}
	var err error
	if t.nSingle, err = count(single, "single"); err != nil {
		return nil, err
	}
	if t.nPair, err = count(pair, "pair"); err != nil {
		return nil, err
	}
	for name, sp := range specials {
		if len(sp.IDs) != len(sp.Tokens) {
			return nil, fmt.Errorf("post_processor.special_tokens[%q]: %d ids but %d tokens", name, len(sp.IDs), len(sp.Tokens))
		}
	}
	return t, nil
}

func (t *templateProcessing) addedTokens(isPair bool) int {
	if isPair {
		return t.nPair
	}
	return t.nSingle
}

func specialEncoding(ids []int, toks []string, typeID int) *Encoding {
	n := len(ids)
	e := &Encoding{
		IDs:               append([]int(nil), ids...),
		Tokens:            append([]string(nil), toks...),
		TypeIDs:           make([]int, n),
		AttentionMask:     make([]int, n),
		SpecialTokensMask: make([]int, n),
		Offsets:           make([][2]int, n),
		WordIDs:           make([]int, n),
	}
	for i := range n {
		e.TypeIDs[i] = typeID
		e.AttentionMask[i] = 1
		e.SpecialTokensMask[i] = 1
		e.WordIDs[i] = -1
	}
	return e
}

func (t *templateProcessing) processEncodings(encs []*Encoding, addSpecial bool) ([]*Encoding, error) {
	tmpl := t.single
	if len(encs) == 2 {
		tmpl = t.pair
	}
	var out []*Encoding
	var used [2]bool
	for _, p := range tmpl {
		if p.seq != "" {
			i := 0
			if p.seq == "B" {
				i = 1
			}
			if i >= len(encs) {
				return nil, fmt.Errorf("TemplateProcessing: template uses $%s but only %d sequence(s) given", p.seq, len(encs))
			}
			// The encodings are ours to change; copy only when a template
			// uses the same sequence twice.
			e := encs[i]
			if used[i] {
				e = e.clone()
			}
			used[i] = true
			e.setTypeIDs(p.typeID)
			out = append(out, e)
			continue
		}
		if addSpecial {
			sp := t.specials[p.special]
			out = append(out, specialEncoding(sp.IDs, sp.Tokens, p.typeID))
		}
	}
	return out, nil
}

// bertProcessing is HF's BertProcessing: [CLS] A [SEP] (B [SEP]).
type bertProcessing struct {
	sep, cls     string
	sepID, clsID int
}

func (b *bertProcessing) addedTokens(isPair bool) int {
	if isPair {
		return 3
	}
	return 2
}

// specialTok is one special token of Bert/RobertaProcessing.
type specialTok struct {
	token  string
	id     int
	typeID int
}

// wrap surrounds e (and each of its overflowing pieces separately) with
// special tokens, as Bert/RobertaProcessing do. When seqType >= 0 the
// sequence's type ids are overwritten with it.
func wrap(e *Encoding, first *specialTok, last specialTok, seqType int) *Encoding {
	one := func(x *Encoding) *Encoding {
		var parts []*Encoding
		if first != nil {
			parts = append(parts, specialEncoding([]int{first.id}, []string{first.token}, first.typeID))
		}
		c := *x
		c.Overflowing = nil
		if seqType >= 0 {
			c.TypeIDs = make([]int, len(x.TypeIDs))
			for i := range c.TypeIDs {
				c.TypeIDs[i] = seqType
			}
		}
		parts = append(parts, &c, specialEncoding([]int{last.id}, []string{last.token}, last.typeID))
		return mergeEncodings(parts, false)
	}
	res := one(e)
	for _, o := range e.Overflowing {
		res.Overflowing = append(res.Overflowing, one(o))
	}
	return res
}

func (b *bertProcessing) processEncodings(encs []*Encoding, addSpecial bool) ([]*Encoding, error) {
	if !addSpecial {
		return encs, nil
	}
	cls := specialTok{b.cls, b.clsID, 0}
	out := []*Encoding{wrap(encs[0], &cls, specialTok{b.sep, b.sepID, 0}, -1)}
	if len(encs) > 1 {
		out = append(out, wrap(encs[1], nil, specialTok{b.sep, b.sepID, 1}, -1))
	}
	return out, nil
}

// robertaProcessing is HF's RobertaProcessing: <s> A </s> (</s> B </s>),
// all type ids 0, optional offset trimming of byte-level spaces.
type robertaProcessing struct {
	sep, cls       string
	sepID, clsID   int
	trimOffsets    bool
	addPrefixSpace bool
}

func (r *robertaProcessing) addedTokens(isPair bool) int {
	if isPair {
		return 4
	}
	return 2
}

func (r *robertaProcessing) processEncodings(encs []*Encoding, addSpecial bool) ([]*Encoding, error) {
	if r.trimOffsets {
		for _, e := range encs {
			trimByteLevelOffsets(e, r.addPrefixSpace)
			for _, o := range e.Overflowing {
				trimByteLevelOffsets(o, r.addPrefixSpace)
			}
		}
	}
	for _, e := range encs {
		e.setTypeIDs(0)
	}
	if !addSpecial {
		return encs, nil
	}
	cls := specialTok{r.cls, r.clsID, 0}
	sep := specialTok{r.sep, r.sepID, 0}
	out := []*Encoding{wrap(encs[0], &cls, sep, 0)}
	if len(encs) > 1 {
		out = append(out, wrap(encs[1], &sep, sep, 0))
	}
	return out, nil
}

// byteLevelProcessing is the ByteLevel post-processor: offset trimming only.
type byteLevelProcessing struct {
	addPrefixSpace, trimOffsets, useRegex bool
}

func (b *byteLevelProcessing) addedTokens(bool) int { return 0 }

func (b *byteLevelProcessing) processEncodings(encs []*Encoding, addSpecial bool) ([]*Encoding, error) {
	if b.trimOffsets {
		for _, e := range encs {
			trimByteLevelOffsets(e, b.addPrefixSpace)
			for _, o := range e.Overflowing {
				trimByteLevelOffsets(o, b.addPrefixSpace)
			}
		}
	}
	return encs, nil
}

// trimByteLevelOffsets is HF's byte_level::process_offsets: offsets no
// longer cover the leading/trailing spaces ('Ġ') of a token.
func trimByteLevelOffsets(e *Encoding, addPrefixSpace bool) {
	isSp := func(r rune) bool { return r == 'Ġ' || isWhitespace(r) }
	for i, tok := range e.Tokens {
		lead, trail := 0, 0
		for _, r := range tok {
			if !isSp(r) {
				break
			}
			lead++
		}
		for j := len(tok); j > 0; {
			r, size := utf8.DecodeLastRuneInString(tok[:j])
			if !isSp(r) {
				break
			}
			trail++
			j -= size
		}
		if lead == 0 && trail == 0 {
			continue
		}
		off := &e.Offsets[i]
		if lead > 0 {
			isFirst := i == 0 || off[0] == 0
			if isFirst && addPrefixSpace && lead == 1 {
				lead = 0
			}
			off[0] = min(off[0]+lead, off[1])
		}
		if trail > 0 && off[1] >= trail {
			off[1] = max(off[1]-trail, off[0])
		}
	}
}

type sequenceProcessing struct {
	procs []postProcessor
}

func (s *sequenceProcessing) addedTokens(isPair bool) int {
	n := 0
	for _, p := range s.procs {
		n += p.addedTokens(isPair)
	}
	return n
}

func (s *sequenceProcessing) processEncodings(encs []*Encoding, addSpecial bool) ([]*Encoding, error) {
	var err error
	for _, p := range s.procs {
		encs, err = p.processEncodings(encs, addSpecial)
		if err != nil {
			return nil, err
		}
	}
	return encs, nil
}
