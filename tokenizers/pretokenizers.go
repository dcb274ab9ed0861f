package tokenizers

import (
	"fmt"
	"unicode"
)

// eachSplit applies f to every piece without tokens and keeps the
// non-empty results (HF's PreTokenizedString::split).
func eachSplit(splits []split, f func(dst []nstr, n nstr) ([]nstr, error)) ([]split, error) {
	out := make([]split, 0, len(splits)*2)
	var tmp []nstr
	var err error
	for _, s := range splits {
		if s.hasTokens {
			out = append(out, s)
			continue
		}
		tmp, err = f(tmp[:0], s.n)
		if err != nil {
			return nil, err
		}
		for _, p := range tmp {
			if p.s != "" {
				out = append(out, split{n: p})
			}
		}
	}
	return out, nil
}

// splitRunes splits each piece where pred holds, with behavior b.
func splitRunes(splits []split, pred func(rune) bool, b SplitBehavior) ([]split, error) {
	var ev []matchEvent
	return eachSplit(splits, func(dst []nstr, n nstr) ([]nstr, error) {
		ev = runeMatches(ev[:0], n.s, pred)
		return n.splitBy(dst, ev, b), nil
	})
}

func isASCIIPunct(r rune) bool {
	return (r >= '!' && r <= '/') || (r >= ':' && r <= '@') || (r >= '[' && r <= '`') || (r >= '{' && r <= '~')
}

func isBertPunc(r rune) bool { return isASCIIPunct(r) || unicode.IsPunct(r) }

// isNumeric is Rust's char::is_numeric (Nd, Nl, No).
func isNumeric(r rune) bool {
	if r >= '0' && r <= '9' {
		return true
	}
	if r < 0x80 {
		return false
	}
	return unicode.IsNumber(r)
}

// isRegexWord is the Rust regex class \w: Alphabetic, marks, decimal
// digits, connector punctuation and joiners.
func isRegexWord(r rune) bool {
	if r < 0x80 {
		return r == '_' || (r >= '0' && r <= '9') || (r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) ||
		unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Nl, r) ||
		unicode.Is(unicode.Other_Alphabetic, r) || unicode.Is(unicode.Join_Control, r)
}

type bertPreTokenizer struct {
	Type string `json:"type"`
}

func (bertPreTokenizer) preTokenize(splits []split) ([]split, error) {
	var ev []matchEvent
	return eachSplit(splits, func(dst []nstr, n nstr) ([]nstr, error) {
		// Whitespace removed, then punctuation isolated, in one pass over
		// each whitespace-separated word.
		ev = runeMatches(ev[:0], n.s, isWhitespace)
		var ev2 []matchEvent
		for _, e := range ev {
			if e.match || e.start == e.end {
				continue
			}
			w := n.slice(e.start, e.end)
			ev2 = runeMatches(ev2[:0], w.s, isBertPunc)
			dst = w.splitBy(dst, ev2, SplitIsolated)
		}
		return dst, nil
	})
}

type whitespacePreTokenizer struct {
	Type string `json:"type"`
}

// preTokenize keeps the runs matched by \w+|[^\w\s]+ (HF's Whitespace).
func (whitespacePreTokenizer) preTokenize(splits []split) ([]split, error) {
	return eachSplit(splits, func(dst []nstr, n nstr) ([]nstr, error) {
		s := n.s
		i := 0
		for i < len(s) {
			r, size := decodeRune(s, i)
			if isWhitespace(r) {
				i += size
				continue
			}
			word := isRegexWord(r)
			j := i + size
			for j < len(s) {
				r2, sz := decodeRune(s, j)
				if isWhitespace(r2) || isRegexWord(r2) != word {
					break
				}
				j += sz
			}
			dst = append(dst, n.slice(i, j))
			i = j
		}
		return dst, nil
	})
}

type whitespaceSplitPreTokenizer struct {
	Type string `json:"type"`
}

func (whitespaceSplitPreTokenizer) preTokenize(splits []split) ([]split, error) {
	return splitRunes(splits, isWhitespace, SplitRemoved)
}

type punctuationPreTokenizer struct {
	Type     string        `json:"type"`
	Behavior SplitBehavior `json:"behavior"`
}

func (p *punctuationPreTokenizer) preTokenize(splits []split) ([]split, error) {
	return splitRunes(splits, isBertPunc, p.Behavior)
}

type digitsPreTokenizer struct {
	Type             string `json:"type"`
	IndividualDigits bool   `json:"individual_digits"`
}

func (d *digitsPreTokenizer) preTokenize(splits []split) ([]split, error) {
	if d.IndividualDigits {
		return splitRunes(splits, isNumeric, SplitIsolated)
	}
	return splitRunes(splits, isNumeric, SplitContiguous)
}

type charDelimiterSplit struct {
	Type      string `json:"type"`
	Delimiter string `json:"delimiter"`
	delim     rune
}

func (c *charDelimiterSplit) preTokenize(splits []split) ([]split, error) {
	d := c.delim
	return splitRunes(splits, func(r rune) bool { return r == d }, SplitRemoved)
}

// splitPreTokenizer is HF's Split: a literal or regex pattern, a
// behavior, and invert.
type splitPreTokenizer struct {
	Type     string         `json:"type"`
	Pattern  patternJSON    `json:"pattern"`
	Behavior SplitBehavior  `json:"behavior"`
	Invert   bool           `json:"invert"`
	re       patternMatcher `json:"-"`
}

func (s *splitPreTokenizer) preTokenize(splits []split) ([]split, error) {
	var ev []matchEvent
	return eachSplit(splits, func(dst []nstr, n nstr) ([]nstr, error) {
		var err error
		ev, err = s.re.find(ev[:0], n.s)
		if err != nil {
			return nil, fmt.Errorf("Split pre-tokenizer: %w", err)
		}
		if s.Invert {
			for i := range ev {
				ev[i].match = !ev[i].match
			}
		}
		return n.splitBy(dst, ev, s.Behavior), nil
	})
}

type sequencePreTokenizer struct {
	Type          string         `json:"type"`
	PreTokenizers []preTokenizer `json:"-"`
}

func (s *sequencePreTokenizer) preTokenize(splits []split) ([]split, error) {
	var err error
	for _, p := range s.PreTokenizers {
		splits, err = p.preTokenize(splits)
		if err != nil {
			return nil, err
		}
	}
	return splits, nil
}
