package tokenizers

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// isWhitespace is Rust's char::is_whitespace (Unicode White_Space).
func isWhitespace(r rune) bool { return unicode.IsSpace(r) }

// isOther is Unicode general category C (Cc, Cf, Co, Cs, Cn).
func isOther(r rune) bool {
	if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) {
		return true
	}
	// Cn: not assigned to any category.
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// bertNormalizer is HF's BertNormalizer.
type bertNormalizer struct {
	Type               string `json:"type"`
	CleanText          bool   `json:"clean_text"`
	HandleChineseChars bool   `json:"handle_chinese_chars"`
	StripAccents       *bool  `json:"strip_accents"`
	Lowercase          bool   `json:"lowercase"`
}

func (b *bertNormalizer) normalize(n *nstr) error {
	if b.CleanText {
		n.filter(func(r rune) bool {
			if r == 0 || r == 0xFFFD {
				return false
			}
			if r == '\t' || r == '\n' || r == '\r' {
				return true
			}
			return !isOther(r)
		})
		n.mapRunes(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' || isWhitespace(r) {
				return ' '
			}
			return r
		})
	}
	if b.HandleChineseChars {
		has := false
		for _, r := range n.s {
			if r >= 0x3400 && isChineseChar(r) {
				has = true
				break
			}
		}
		if has {
			n.expandRunes(func(dst []rune, r rune) []rune {
				if isChineseChar(r) {
					return append(dst, ' ', r, ' ')
				}
				return append(dst, r)
			})
		}
	}
	strip := b.Lowercase
	if b.StripAccents != nil {
		strip = *b.StripAccents
	}
	if strip {
		nfx(n, norm.NFD)
		n.filter(func(r rune) bool { return !unicode.Is(unicode.Mn, r) })
	}
	if b.Lowercase {
		lowercase(n)
	}
	return nil
}

// lowercase is Rust's char::to_lowercase applied per rune: only U+0130
// lowercases to two runes.
func lowercase(n *nstr) {
	ascii := true
	upper := false
	for i := 0; i < len(n.s); i++ {
		c := n.s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if c >= 'A' && c <= 'Z' {
			upper = true
		}
	}
	if ascii {
		if !upper {
			return
		}
		// Same byte length: alignments are unchanged.
		n.s = strings.ToLower(n.s)
		return
	}
	n.expandRunes(func(dst []rune, r rune) []rune {
		if r == 0x130 {
			return append(dst, 'i', 0x307)
		}
		return append(dst, unicode.ToLower(r))
	})
}

// nfx applies a Unicode normalization form with HF's alignment rules
// (unicode-normalization-alignments): a decomposed rune's first part
// replaces it and the others are insertions; composing k runes into one
// removes k-1.
func nfx(n *nstr, form norm.Form) {
	if form.IsNormalString(n.s) {
		return
	}
	decomp := norm.NFD
	if form == norm.NFKC || form == norm.NFKD {
		decomp = norm.NFKD
	}
	compose := form == norm.NFC || form == norm.NFKC
	t := newTransformer(n, 0)
	var it norm.Iter
	it.InitString(form, n.s)
	type dch struct {
		r   rune
		ch  int
		ccc uint8
	}
	var ds []dch
	pos := 0
	var acc []byte
	for !it.Done() {
		// Iter may return one segment's output over several calls; the
		// input position only advances with the segment's last piece.
		acc = append(acc, it.Next()...)
		end := it.Pos()
		if end == pos && !it.Done() {
			continue
		}
		out := acc
		acc = acc[:0:0]
		in := n.s[pos:end]
		pos = end
		if string(out) == in {
			for _, r := range in {
				t.emit(r, 0)
			}
			continue
		}
		// Decompose rune by rune, then canonically reorder marks; the
		// change flags travel with the runes.
		ds = ds[:0]
		for _, r := range in {
			d := decomp.String(string(r))
			i := 0
			for _, x := range d {
				ch := 0
				if i > 0 {
					ch = 1
				}
				ds = append(ds, dch{x, ch, decomp.PropertiesString(string(x)).CCC()})
				i++
			}
		}
		for i := 0; i < len(ds); {
			if ds[i].ccc == 0 {
				i++
				continue
			}
			j := i
			for j < len(ds) && ds[j].ccc != 0 {
				j++
			}
			seg := ds[i:j]
			sort.SliceStable(seg, func(a, b int) bool { return seg[a].ccc < seg[b].ccc })
			i = j
		}
		if !compose {
			for _, d := range ds {
				t.emit(d.r, d.ch)
			}
			continue
		}
		// Each composed output rune consumes the decomposed runes it is
		// made of (its own decomposition, in order).
		used := make([]bool, len(ds))
		next := 0
		for _, o := range string(out) {
			for next < len(ds) && used[next] {
				next++
			}
			parts := []rune(decomp.String(string(o)))
			sum := 0
			k := 0
			start := next
			for _, p := range parts {
				for q := start; q < len(ds); q++ {
					if !used[q] && ds[q].r == p {
						used[q] = true
						sum += ds[q].ch
						k++
						break
					}
				}
			}
			if k == 0 {
				t.emit(o, 1)
				continue
			}
			t.emit(o, sum-(k-1))
		}
	}
	*n = t.finish()
}

var (
	nfcForm  = norm.NFC
	nfdForm  = norm.NFD
	nfkcForm = norm.NFKC
	nfkdForm = norm.NFKD
)

type unicodeNormalizer struct {
	Type string `json:"type"`
	form norm.Form
}

func (u *unicodeNormalizer) normalize(n *nstr) error {
	nfx(n, u.form)
	return nil
}

type lowercaseNormalizer struct {
	Type string `json:"type"`
}

func (l *lowercaseNormalizer) normalize(n *nstr) error {
	lowercase(n)
	return nil
}

type stripAccentsNormalizer struct {
	Type string `json:"type"`
}

func (s *stripAccentsNormalizer) normalize(n *nstr) error {
	n.filter(func(r rune) bool { return !unicode.IsMark(r) })
	return nil
}

type stripNormalizer struct {
	Type       string `json:"type"`
	StripLeft  bool   `json:"strip_left"`
	StripRight bool   `json:"strip_right"`
}

func (s *stripNormalizer) normalize(n *nstr) error {
	n.lrstrip(s.StripLeft, s.StripRight)
	return nil
}

type prependNormalizer struct {
	Type    string `json:"type"`
	Prepend string `json:"prepend"`
}

func (p *prependNormalizer) normalize(n *nstr) error {
	if n.s != "" {
		n.prepend(p.Prepend)
	}
	return nil
}

// replaceNormalizer is HF's Replace: every match of the pattern (a literal
// string or a regex) is replaced by content.
type replaceNormalizer struct {
	Type    string         `json:"type"`
	Pattern patternJSON    `json:"pattern"`
	Content string         `json:"content"`
	re      patternMatcher `json:"-"`
}

func (r *replaceNormalizer) normalize(n *nstr) error {
	ev, err := r.re.find(nil, n.s)
	if err != nil {
		return fmt.Errorf("Replace normalizer: %w", err)
	}
	n.replaceMatches(ev, r.Content)
	return nil
}

// replaceMatches replaces each matched range with content (HF's
// NormalizedString::replace).
func (n *nstr) replaceMatches(ev []matchEvent, content string) {
	any := false
	for _, e := range ev {
		if e.match {
			any = true
			break
		}
	}
	if !any {
		return
	}
	buf := make([]byte, 0, len(n.s))
	al := make([]span, 0, len(n.s))
	last := 0
	for _, e := range ev {
		if !e.match {
			continue
		}
		buf = append(buf, n.s[last:e.start]...)
		al = append(al, n.align[last:e.start]...)
		// Inserted runes take the alignment of the byte before the
		// position after the removed text.
		idx := e.end
		var a span
		if idx < 1 {
			a = span{n.base, n.base}
		} else {
			a = n.align[idx-1]
		}
		for _, c := range content {
			before := len(buf)
			buf = utf8.AppendRune(buf, c)
			for k := before; k < len(buf); k++ {
				al = append(al, a)
			}
		}
		last = e.end
	}
	buf = append(buf, n.s[last:]...)
	al = append(al, n.align[last:]...)
	n.s = string(buf)
	n.align = al
}

type sequenceNormalizer struct {
	Type        string       `json:"type"`
	Normalizers []normalizer `json:"-"`
}

func (s *sequenceNormalizer) normalize(n *nstr) error {
	for _, x := range s.Normalizers {
		if err := x.normalize(n); err != nil {
			return err
		}
	}
	return nil
}
