package tokenizers

import (
	"errors"
	"fmt"
)

// Encoding is the result of encoding one text or one pair of texts.
type Encoding struct {
	IDs, TypeIDs, AttentionMask, SpecialTokensMask []int
	Tokens                                         []string
	// Offsets are character (rune) offsets into the original text of the
	// sequence the token came from, as HF's Python and Node bindings report.
	Offsets [][2]int
	// WordIDs is the index of the pre-tokenized word per token; -1 for none
	// (special tokens, padding).
	WordIDs     []int
	Overflowing []*Encoding
}

// Len is the number of tokens.
func (e *Encoding) Len() int { return len(e.IDs) }

func (e *Encoding) clone() *Encoding {
	c := &Encoding{
		IDs:               append([]int(nil), e.IDs...),
		TypeIDs:           append([]int(nil), e.TypeIDs...),
		AttentionMask:     append([]int(nil), e.AttentionMask...),
		SpecialTokensMask: append([]int(nil), e.SpecialTokensMask...),
		Tokens:            append([]string(nil), e.Tokens...),
		Offsets:           append([][2]int(nil), e.Offsets...),
		WordIDs:           append([]int(nil), e.WordIDs...),
	}
	for _, o := range e.Overflowing {
		c.Overflowing = append(c.Overflowing, o.clone())
	}
	return c
}

func (e *Encoding) sub(start, stop int) *Encoding {
	return &Encoding{
		IDs:               append([]int(nil), e.IDs[start:stop]...),
		TypeIDs:           append([]int(nil), e.TypeIDs[start:stop]...),
		AttentionMask:     append([]int(nil), e.AttentionMask[start:stop]...),
		SpecialTokensMask: append([]int(nil), e.SpecialTokensMask[start:stop]...),
		Tokens:            append([]string(nil), e.Tokens[start:stop]...),
		Offsets:           append([][2]int(nil), e.Offsets[start:stop]...),
		WordIDs:           append([]int(nil), e.WordIDs[start:stop]...),
	}
}

func (e *Encoding) setTypeIDs(v int) {
	for i := range e.TypeIDs {
		e.TypeIDs[i] = v
	}
}

// truncate keeps maxLen tokens and moves the rest into Overflowing windows
// that overlap by stride tokens (HF's Encoding::truncate).
func (e *Encoding) truncate(maxLen, stride int, left bool) error {
	n := len(e.IDs)
	if maxLen >= n {
		return nil
	}
	if maxLen == 0 {
		o := *e
		*e = Encoding{Overflowing: []*Encoding{&o}}
		return nil
	}
	if stride >= maxLen {
		return fmt.Errorf("truncation: stride %d must be strictly less than the max length %d (after removing the special tokens' room)", stride, maxLen)
	}
	step := maxLen - stride
	type rng struct{ start, stop int }
	var parts []rng
	if !left {
		for start := 0; start < n; start += step {
			stop := min(start+maxLen, n)
			parts = append(parts, rng{start, stop})
			if stop == n {
				break
			}
		}
	} else {
		for s := n - 1; s >= 0; s -= step {
			stop := s + 1
			start := max(stop-maxLen, 0)
			if start < stop {
				parts = append(parts, rng{start, stop})
				if start == 0 {
					break
				}
			}
		}
	}
	first := e.sub(parts[0].start, parts[0].stop)
	for _, p := range parts[1:] {
		first.Overflowing = append(first.Overflowing, e.sub(p.start, p.stop))
	}
	*e = *first
	return nil
}

// mergeWith appends pair to e (HF's Encoding::merge_with), combining the
// overflowing pieces of both.
func (e *Encoding) mergeWith(pair *Encoding, growingOffsets bool) {
	var over []*Encoding
	for _, so := range e.Overflowing {
		n := so.clone()
		n.mergeWith(pair.clone(), growingOffsets)
		over = append(over, n)
		for _, po := range pair.Overflowing {
			n := so.clone()
			n.mergeWith(po.clone(), growingOffsets)
			over = append(over, n)
		}
	}
	for _, po := range pair.Overflowing {
		n := e.clone()
		n.mergeWith(po.clone(), growingOffsets)
		over = append(over, n)
	}
	e.IDs = append(e.IDs, pair.IDs...)
	e.TypeIDs = append(e.TypeIDs, pair.TypeIDs...)
	e.Tokens = append(e.Tokens, pair.Tokens...)
	e.WordIDs = append(e.WordIDs, pair.WordIDs...)
	shift := 0
	if growingOffsets && len(e.Offsets) > 0 {
		shift = e.Offsets[len(e.Offsets)-1][1]
	}
	for _, o := range pair.Offsets {
		e.Offsets = append(e.Offsets, [2]int{o[0] + shift, o[1] + shift})
	}
	e.SpecialTokensMask = append(e.SpecialTokensMask, pair.SpecialTokensMask...)
	e.AttentionMask = append(e.AttentionMask, pair.AttentionMask...)
	e.Overflowing = over
}

func mergeEncodings(encs []*Encoding, growingOffsets bool) *Encoding {
	// Size the result once: this runs for every encoded text.
	n := 0
	for _, e := range encs {
		n += len(e.IDs)
	}
	out := &Encoding{
		IDs:               make([]int, 0, n),
		TypeIDs:           make([]int, 0, n),
		AttentionMask:     make([]int, 0, n),
		SpecialTokensMask: make([]int, 0, n),
		Tokens:            make([]string, 0, n),
		Offsets:           make([][2]int, 0, n),
		WordIDs:           make([]int, 0, n),
	}
	for _, e := range encs {
		out.mergeWith(e, growingOffsets)
	}
	return out
}

// pad pads e (and its overflowing pieces) to target tokens.
func (e *Encoding) pad(target, padID, padTypeID int, padToken string, left bool) {
	for _, o := range e.Overflowing {
		o.pad(target, padID, padTypeID, padToken, left)
	}
	n := len(e.IDs)
	if n >= target {
		return
	}
	k := target - n
	if left {
		e.IDs = prependInts(e.IDs, k, padID)
		e.TypeIDs = prependInts(e.TypeIDs, k, padTypeID)
		e.WordIDs = prependInts(e.WordIDs, k, -1)
		e.AttentionMask = prependInts(e.AttentionMask, k, 0)
		e.SpecialTokensMask = prependInts(e.SpecialTokensMask, k, 1)
		toks := make([]string, k, target)
		for i := range toks {
			toks[i] = padToken
		}
		e.Tokens = append(toks, e.Tokens...)
		offs := make([][2]int, k, target)
		e.Offsets = append(offs, e.Offsets...)
		return
	}
	for i := 0; i < k; i++ {
		e.IDs = append(e.IDs, padID)
		e.TypeIDs = append(e.TypeIDs, padTypeID)
		e.WordIDs = append(e.WordIDs, -1)
		e.AttentionMask = append(e.AttentionMask, 0)
		e.SpecialTokensMask = append(e.SpecialTokensMask, 1)
		e.Tokens = append(e.Tokens, padToken)
		e.Offsets = append(e.Offsets, [2]int{})
	}
}

func prependInts(s []int, k, v int) []int {
	out := make([]int, k, k+len(s))
	for i := range out {
		out[i] = v
	}
	return append(out, s...)
}

// Truncation configures how long inputs are cut.
type Truncation struct {
	MaxLength, Stride int
	Strategy          string // longest_first | only_first | only_second
	Direction         string // right | left
}

// Padding configures how encodings are padded.
type Padding struct {
	Strategy        string // longest | fixed
	Length          int    // for fixed
	PadToMultipleOf int
	PadID           int
	PadTypeID       int
	PadToken        string
	Direction       string // right | left
}

func (tr *Truncation) validate() error {
	switch tr.Strategy {
	case "", "longest_first", "only_first", "only_second":
	default:
		return fmt.Errorf("truncation.strategy %q: want longest_first, only_first or only_second", tr.Strategy)
	}
	switch tr.Direction {
	case "", "right", "left":
	default:
		return fmt.Errorf("truncation.direction %q: want right or left", tr.Direction)
	}
	if tr.MaxLength < 0 || tr.Stride < 0 {
		return fmt.Errorf("truncation: max_length %d and stride %d must be >= 0", tr.MaxLength, tr.Stride)
	}
	return nil
}

func (p *Padding) validate() error {
	switch p.Strategy {
	case "", "longest", "fixed":
	default:
		return fmt.Errorf("padding.strategy %q: want longest or fixed", p.Strategy)
	}
	switch p.Direction {
	case "", "right", "left":
	default:
		return fmt.Errorf("padding.direction %q: want right or left", p.Direction)
	}
	if p.Length < 0 || p.PadToMultipleOf < 0 {
		return fmt.Errorf("padding: length %d and pad_to_multiple_of %d must be >= 0", p.Length, p.PadToMultipleOf)
	}
	return nil
}

var errSequenceTooShort = errors.New("truncation error: sequence to truncate too short to respect the provided max_length")

// truncateEncodings is HF's utils::truncation::truncate_encodings.
func truncateEncodings(enc, pair *Encoding, tr *Truncation, maxLen int) error {
	left := tr.Direction == "left"
	if maxLen == 0 {
		if err := enc.truncate(0, tr.Stride, left); err != nil {
			return err
		}
		if pair != nil {
			return pair.truncate(0, tr.Stride, left)
		}
		return nil
	}
	total := enc.Len()
	if pair != nil {
		total += pair.Len()
	}
	if total <= maxLen {
		return nil
	}
	toRemove := total - maxLen
	switch tr.Strategy {
	case "", "longest_first":
		if pair == nil {
			return enc.truncate(total-toRemove, tr.Stride, left)
		}
		n1, n2 := enc.Len(), pair.Len()
		swap := false
		if n1 > n2 {
			swap = true
			n1, n2 = n2, n1
		}
		if n1 > maxLen {
			n2 = n1
		} else {
			n2 = max(n1, maxLen-n1)
		}
		if n1+n2 > maxLen {
			n1 = maxLen / 2
			n2 = n1 + maxLen%2
		}
		if swap {
			n1, n2 = n2, n1
		}
		if err := enc.truncate(n1, tr.Stride, left); err != nil {
			return err
		}
		return pair.truncate(n2, tr.Stride, left)
	case "only_first", "only_second":
		target := enc
		if tr.Strategy == "only_second" {
			if pair == nil {
				return errors.New("truncation error: second sequence not provided")
			}
			target = pair
		}
		if target.Len() > toRemove {
			return target.truncate(target.Len()-toRemove, tr.Stride, left)
		}
		return errSequenceTooShort
	}
	return fmt.Errorf("truncation.strategy %q unknown", tr.Strategy)
}

// padEncodings pads a batch (HF's pad_encodings).
func padEncodings(encs []*Encoding, p *Padding) {
	if len(encs) == 0 {
		return
	}
	length := p.Length
	if p.Strategy != "fixed" {
		length = 0
		for _, e := range encs {
			length = max(length, e.Len())
		}
	}
	if m := p.PadToMultipleOf; m > 0 && length%m > 0 {
		length += m - length%m
	}
	for _, e := range encs {
		e.pad(length, p.PadID, p.PadTypeID, p.PadToken, p.Direction == "left")
	}
}
