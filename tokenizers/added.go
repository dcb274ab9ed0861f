package tokenizers

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedVocab holds tokenizer.json's added_tokens and finds them in text
// (HF's AddedVocabulary). Tokens with normalized=false are matched on the
// raw text, the others on the normalized text.
type addedVocab struct {
	byID      map[int]AddedToken
	byContent map[string]int
	special   map[string]bool
	// patterns to look for, per pass
	raw, norm matcher
	// normalized form of tokens with normalized=true (when different)
	normCache map[int]string
}

func newAddedVocab() *addedVocab {
	return &addedVocab{byID: map[int]AddedToken{}, byContent: map[string]int{}, special: map[string]bool{}, normCache: map[int]string{}}
}

// tokenFor is the text HF gives back for an added token's id: the
// normalized form for tokens with normalized=true (HF 0.23 behaviour).
func (a *addedVocab) tokenFor(id int) (string, bool) {
	if s, ok := a.normCache[id]; ok {
		return s, true
	}
	t, ok := a.byID[id]
	return t.Content, ok
}

func (a *addedVocab) sorted() []AddedToken {
	out := make([]AddedToken, 0, len(a.byID))
	for _, t := range a.byID {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// add registers tokens as HF's add_tokens does: a token already in the
// model (or added vocabulary) keeps that id, otherwise it gets the next id
// after the model vocabulary.
func (a *addedVocab) add(toks []AddedToken, m model, n normalizer) error {
	vocab := 0
	if m != nil {
		vocab = m.vocabSize()
	}
	next := vocab
	if len(a.byID) > 0 {
		mx := -1
		for id := range a.byID {
			mx = max(mx, id)
		}
		if mx >= vocab || vocab == 0 {
			next = mx + 1
		}
	}
	for _, t := range toks {
		if t.Content == "" {
			continue
		}
		if id, ok := a.byContent[t.Content]; ok {
			old := a.byID[id]
			cmp := t
			cmp.ID = old.ID
			if old == cmp {
				continue
			}
		}
		id, ok := a.byContent[t.Content]
		if !ok && m != nil {
			id, ok = m.tokenToID(t.Content)
		}
		if !ok {
			id = next
			next++
		}
		t.ID = id
		if t.Normalized && n != nil {
			ns := newNstr(t.Content, 0)
			if err := n.normalize(&ns); err != nil {
				return err
			}
			if ns.s != t.Content {
				a.normCache[id] = ns.s
			}
		}
		a.byContent[t.Content] = id
		if t.Special {
			a.special[t.Content] = true
		}
		a.byID[id] = t
	}
	a.refresh()
	return nil
}

func (a *addedVocab) refresh() {
	var raw, norm []matchPattern
	for id, t := range a.byID {
		if t.Normalized {
			p := t.Content
			if c, ok := a.normCache[id]; ok {
				p = c
			}
			norm = append(norm, matchPattern{p, id})
		} else {
			raw = append(raw, matchPattern{t.Content, id})
		}
	}
	a.raw = newMatcher(raw)
	a.norm = newMatcher(norm)
}

type matchPattern struct {
	s  string
	id int
}

// matcher finds leftmost-longest occurrences of a set of strings. Patterns
// are bucketed by first byte, longest first, so each position costs a few
// prefix comparisons.
type matcher struct {
	byFirst [256][]matchPattern
	empty   bool
}

func newMatcher(ps []matchPattern) matcher {
	m := matcher{empty: len(ps) == 0}
	sort.Slice(ps, func(i, j int) bool {
		if len(ps[i].s) != len(ps[j].s) {
			return len(ps[i].s) > len(ps[j].s)
		}
		return ps[i].s < ps[j].s
	})
	for _, p := range ps {
		if p.s == "" {
			continue
		}
		m.byFirst[p.s[0]] = append(m.byFirst[p.s[0]], p)
	}
	return m
}

// find returns the leftmost-longest match at or after from.
func (m *matcher) find(s string, from int) (start, end, id int, ok bool) {
	for i := from; i < len(s); i++ {
		for _, p := range m.byFirst[s[i]] {
			if strings.HasPrefix(s[i:], p.s) {
				return i, i + len(p.s), p.id, true
			}
		}
	}
	return 0, 0, 0, false
}

// isWordRune approximates the regex class \w (Unicode word characters).
func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) ||
		unicode.IsMark(r) || unicode.Is(unicode.Pc, r) || r == 0x200c || r == 0x200d
}

// findMatches is HF's AddedVocabulary::find_matches: pieces of s with the
// id of the added token they are (-1 for plain text).
func (a *addedVocab) findMatches(s string, m *matcher) []matchEvent2 {
	if s == "" {
		return []matchEvent2{{0, 0, -1}}
	}
	if m.empty {
		return []matchEvent2{{0, len(s), -1}}
	}
	var out []matchEvent2
	startOffset := 0
	pos := 0
	for {
		ms, me, id, ok := m.find(s, pos)
		if !ok {
			break
		}
		pos = me
		start, stop := ms, me
		t := a.byID[id]
		if t.SingleWord {
			startSpace := start == 0
			if !startSpace {
				r, _ := utf8.DecodeLastRuneInString(s[:start])
				startSpace = !isWordRune(r)
			}
			stopSpace := stop == len(s)
			if !stopSpace {
				r, _ := utf8.DecodeRuneInString(s[stop:])
				stopSpace = !isWordRune(r)
			}
			if !startSpace || !stopSpace {
				continue
			}
		}
		if t.LStrip {
			ns := start
			for ns > 0 {
				r, size := utf8.DecodeLastRuneInString(s[:ns])
				if !unicode.IsSpace(r) {
					break
				}
				ns -= size
			}
			start = max(ns, startOffset)
		}
		if t.RStrip {
			for stop < len(s) {
				r, size := utf8.DecodeRuneInString(s[stop:])
				if !unicode.IsSpace(r) {
					break
				}
				stop += size
			}
		}
		if startOffset < start {
			out = append(out, matchEvent2{startOffset, start, -1})
		}
		out = append(out, matchEvent2{start, stop, id})
		startOffset = stop
	}
	if startOffset != len(s) {
		out = append(out, matchEvent2{startOffset, len(s), -1})
	}
	return out
}

type matchEvent2 struct {
	start, end int
	id         int
}

// splitWith splits n around added tokens found with m.
func (a *addedVocab) splitWith(dst []split, n nstr, m *matcher) []split {
	for _, e := range a.findMatches(n.s, m) {
		sl := n.slice(e.start, e.end)
		if e.id >= 0 {
			dst = append(dst, split{n: sl, tokens: []token{{id: e.id, value: sl.s, start: 0, end: len(sl.s)}}, hasTokens: true})
		} else {
			dst = append(dst, split{n: sl})
		}
	}
	return dst
}

// extractAndNormalize is HF's extract_and_normalize.
func (a *addedVocab) extractAndNormalize(norm normalizer, text string) ([]split, error) {
	first := a.splitWith(nil, newNstr(text, 0), &a.raw)
	out := make([]split, 0, len(first))
	for _, s := range first {
		if s.hasTokens {
			out = append(out, s)
			continue
		}
		n := s.n
		if norm != nil {
			if err := norm.normalize(&n); err != nil {
				return nil, err
			}
		}
		before := len(out)
		out = a.splitWith(out, n, &a.norm)
		// PreTokenizedString::split drops empty pieces.
		kept := out[:before]
		for _, p := range out[before:] {
			if p.n.s != "" || p.hasTokens {
				kept = append(kept, p)
			}
		}
		out = kept
	}
	return out, nil
}
