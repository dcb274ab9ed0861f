package tokenizers

import (
	"unicode/utf8"
)

// span is a byte range [start, end) in the original input.
type span struct{ start, end int }

// nstr is a normalized piece of the input together with, for every byte of
// the normalized text, the byte range of the original input it came from.
// It mirrors HF's NormalizedString, but alignments are absolute offsets into
// the whole original input (HF keeps them relative to the slice and adds an
// `original_shift`); base is that shift, needed where HF uses (0, 0).
type nstr struct {
	s     string
	align []span
	base  int
}

// newNstr wraps original text starting at byte base of the whole input.
func newNstr(s string, base int) nstr {
	al := make([]span, len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		_ = r
		for k := 0; k < size; k++ {
			al[i+k] = span{base + i, base + i + size}
		}
		i += size
	}
	return nstr{s: s, align: al, base: base}
}

// slice returns the sub-piece covering normalized bytes [a, b); both must be
// on rune boundaries. It shares the backing arrays.
func (n nstr) slice(a, b int) nstr {
	base := n.base + a // HF: an empty range converts to itself
	if a < b {
		base = n.align[a].start
	}
	return nstr{s: n.s[a:b], align: n.align[a:b], base: base}
}

// originalRange converts a normalized byte range to an absolute original
// byte range, following HF's convert_offsets + into_encoding rules.
func (n nstr) originalRange(a, b int) (int, int) {
	if a == b {
		return n.base + a, n.base + b
	}
	if a > b || b > len(n.align) {
		return a, b
	}
	return n.align[a].start, n.align[b-1].end
}

// transformer rebuilds a normalized string from (rune, change) events as
// HF's NormalizedString::transform_range does over the whole string:
// change 0 replaces the next original rune, +1 inserts a rune, -k replaces
// the next rune and removes the k following ones.
type transformer struct {
	old    *nstr
	offset int
	buf    []byte
	align  []span
}

func newTransformer(old *nstr, initialRemoved int) *transformer {
	t := &transformer{old: old, buf: make([]byte, 0, len(old.s)+8), align: make([]span, 0, len(old.s)+8)}
	for i := 0; i < initialRemoved && t.offset < len(old.s); i++ {
		_, size := utf8.DecodeRuneInString(old.s[t.offset:])
		t.offset += size
	}
	return t
}

func (t *transformer) emit(r rune, change int) {
	idx := t.offset
	var al span
	if change > 0 {
		if idx < 1 {
			al = span{t.old.base, t.old.base}
		} else {
			al = t.old.align[idx-1]
		}
	} else {
		if idx < len(t.old.align) {
			al = t.old.align[idx]
		} else if idx > 0 {
			al = t.old.align[idx-1]
		}
		if t.offset < len(t.old.s) {
			_, size := utf8.DecodeRuneInString(t.old.s[t.offset:])
			t.offset += size
		}
		for k := 0; k < -change && t.offset < len(t.old.s); k++ {
			_, size := utf8.DecodeRuneInString(t.old.s[t.offset:])
			t.offset += size
		}
	}
	before := len(t.buf)
	t.buf = utf8.AppendRune(t.buf, r)
	for k := before; k < len(t.buf); k++ {
		t.align = append(t.align, al)
	}
}

func (t *transformer) finish() nstr {
	return nstr{s: string(t.buf), align: t.align, base: t.old.base}
}

// mapRunes replaces every rune 1:1 (HF's NormalizedString::map).
func (n *nstr) mapRunes(f func(rune) rune) {
	changed := false
	for _, r := range n.s {
		if f(r) != r {
			changed = true
			break
		}
	}
	if !changed {
		return
	}
	t := newTransformer(n, 0)
	for _, r := range n.s {
		t.emit(f(r), 0)
	}
	*n = t.finish()
}

// filter keeps the runes for which keep is true (HF's filter).
func (n *nstr) filter(keep func(rune) bool) {
	all := true
	for _, r := range n.s {
		if !keep(r) {
			all = false
			break
		}
	}
	if all {
		return
	}
	removed := 0
	removedStart := 0
	var last rune
	haveLast := false
	type ev struct {
		r  rune
		ch int
	}
	evs := make([]ev, 0, len(n.s))
	for _, r := range n.s {
		if keep(r) {
			if haveLast {
				evs = append(evs, ev{last, -removed})
			} else {
				removedStart = removed
			}
			last = r
			haveLast = true
			removed = 0
		} else {
			removed++
		}
	}
	if haveLast {
		evs = append(evs, ev{last, -removed})
	}
	t := newTransformer(n, removedStart)
	for _, e := range evs {
		t.emit(e.r, e.ch)
	}
	*n = t.finish()
}

// expandRunes replaces each rune by zero or more runes: f appends the
// replacement for r to dst; the first replacement rune replaces r, the
// others are insertions (HF's lowercase/uppercase pattern). A rune mapped
// to nothing is not allowed here (use filter).
func (n *nstr) expandRunes(f func(dst []rune, r rune) []rune) {
	t := newTransformer(n, 0)
	var tmp [8]rune
	for _, r := range n.s {
		out := f(tmp[:0], r)
		for i, o := range out {
			ch := 0
			if i > 0 {
				ch = 1
			}
			t.emit(o, ch)
		}
	}
	*n = t.finish()
}

// prepend inserts s before the first rune (HF's prepend: nothing happens on
// an empty string).
func (n *nstr) prepend(s string) {
	if n.s == "" {
		return
	}
	first, size := utf8.DecodeRuneInString(n.s)
	t := &transformer{old: n, buf: make([]byte, 0, len(n.s)+len(s)), align: make([]span, 0, len(n.s)+len(s))}
	i := 0
	for _, r := range s {
		ch := 0
		if i > 0 {
			ch = 1
		}
		t.emit(r, ch)
		i++
	}
	t.emit(first, 1)
	t.buf = append(t.buf, n.s[size:]...)
	t.align = append(t.align, n.align[size:]...)
	*n = t.finish()
}

// append adds s after the last rune.
func (n *nstr) appendStr(s string) {
	if n.s == "" {
		t := newTransformer(n, 0)
		for _, r := range s {
			t.emit(r, 1)
		}
		*n = t.finish()
		return
	}
	_, size := utf8.DecodeLastRuneInString(n.s)
	b := len(n.s) - size
	buf := append([]byte(nil), n.s[:b]...)
	al := append([]span(nil), n.align[:b]...)
	sub := nstr{s: n.s[b:], align: n.align[b:], base: n.base}
	t := &transformer{old: &sub, offset: 0}
	t.buf = buf
	t.align = al
	// Indices inside sub are relative to b; emulate HF's transform_range on
	// the range [b, len) where "previous alignment" is the rune's own.
	last, _ := utf8.DecodeRuneInString(n.s[b:])
	t.emit(last, 0)
	for _, r := range s {
		t.emit(r, 1)
	}
	*n = t.finish()
}

// matchEvent is one piece of a pattern search: a byte range of the
// normalized string and whether it matched.
type matchEvent struct {
	start, end int
	match      bool
}

// SplitBehavior says what happens to the delimiter when splitting.
type SplitBehavior int

const (
	SplitRemoved SplitBehavior = iota
	SplitIsolated
	SplitMergedWithPrevious
	SplitMergedWithNext
	SplitContiguous
)

var splitBehaviorNames = []string{"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"}

func (b SplitBehavior) String() string { return splitBehaviorNames[b] }

func parseSplitBehavior(s string) (SplitBehavior, bool) {
	for i, n := range splitBehaviorNames {
		if n == s {
			return SplitBehavior(i), true
		}
	}
	return 0, false
}

// runeMatches is HF's Pattern impl for a char predicate: every matching
// rune is its own match.
func runeMatches(dst []matchEvent, s string, pred func(rune) bool) []matchEvent {
	if s == "" {
		return append(dst, matchEvent{0, 0, false})
	}
	last := 0
	for i, r := range s {
		if pred(r) {
			if last < i {
				dst = append(dst, matchEvent{last, i, false})
			}
			size := utf8.RuneLen(r)
			if r == utf8.RuneError {
				_, size = utf8.DecodeRuneInString(s[i:])
			}
			dst = append(dst, matchEvent{i, i + size, true})
			last = i + size
		}
	}
	if last < len(s) {
		dst = append(dst, matchEvent{last, len(s), false})
	}
	return dst
}

// applyBehavior turns raw match events into the ranges to keep, as HF's
// NormalizedString::split does. The returned events have match=true for
// ranges that must be removed.
func applyBehavior(ev []matchEvent, b SplitBehavior) []matchEvent {
	switch b {
	case SplitIsolated:
		for i := range ev {
			ev[i].match = false
		}
		return ev
	case SplitRemoved:
		return ev
	case SplitContiguous:
		out := ev[:0]
		prev := false
		for _, e := range ev {
			m := e.match
			if m == prev && len(out) > 0 {
				out[len(out)-1].end = e.end
			} else {
				out = append(out, matchEvent{e.start, e.end, false})
			}
			prev = m
		}
		return out
	case SplitMergedWithPrevious:
		out := ev[:0]
		prev := false
		for _, e := range ev {
			m := e.match
			if m && !prev && len(out) > 0 {
				out[len(out)-1].end = e.end
			} else {
				out = append(out, matchEvent{e.start, e.end, false})
			}
			prev = m
		}
		return out
	case SplitMergedWithNext:
		// Walk backwards, then reverse.
		out := make([]matchEvent, 0, len(ev))
		prev := false
		for i := len(ev) - 1; i >= 0; i-- {
			e := ev[i]
			if e.match && !prev && len(out) > 0 {
				out[len(out)-1].start = e.start
			} else {
				out = append(out, matchEvent{e.start, e.end, false})
			}
			prev = e.match
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	return ev
}

// splitBy appends to dst the non-empty pieces of n after splitting with the
// match events and behavior. Empty pieces are dropped, as HF's
// PreTokenizedString::split does.
func (n nstr) splitBy(dst []nstr, ev []matchEvent, b SplitBehavior) []nstr {
	for _, e := range applyBehavior(ev, b) {
		if e.match || e.start == e.end {
			continue
		}
		dst = append(dst, n.slice(e.start, e.end))
	}
	return dst
}

// lrstrip removes leading/trailing whitespace (HF's lrstrip).
func (n *nstr) lrstrip(left, right bool) {
	runes := []rune(n.s)
	lead, trail := 0, 0
	if left {
		for lead < len(runes) && isWhitespace(runes[lead]) {
			lead++
		}
	}
	if right {
		for trail < len(runes)-lead && isWhitespace(runes[len(runes)-1-trail]) {
			trail++
		}
	}
	if lead == 0 && trail == 0 {
		return
	}
	t := newTransformer(n, lead)
	count := len(runes)
	for i, r := range runes {
		if i < lead || i >= count-trail {
			continue
		}
		// HF compares the rune index with the byte length here; this only
		// matters for the last kept rune on ASCII text, reproduced as is.
		if i == len(n.s)-trail-1 {
			t.emit(r, -trail)
		} else {
			t.emit(r, 0)
		}
	}
	*n = t.finish()
}
