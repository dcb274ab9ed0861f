package tokenizers

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// metaspacePre is HF's Metaspace pre-tokenizer: spaces become the
// replacement rune (▁), which is prepended per prepend_scheme, and pieces
// are split before each replacement rune.
type metaspacePre struct {
	replacement rune
	repStr      string
	scheme      string // always | first | never
	split       bool
}

// parseMetaspace reads both the current layout (prepend_scheme, split)
// and the legacy one (add_prefix_space, str_rep), as HF does.
func parseMetaspace(path string, raw json.RawMessage) (*metaspacePre, error) {
	var m struct {
		Replacement    *string `json:"replacement"`
		AddPrefixSpace *bool   `json:"add_prefix_space"`
		PrependScheme  *string `json:"prepend_scheme"`
		Split          *bool   `json:"split"`
	}
	if err := decodeStrict(path, raw, &m); err != nil {
		return nil, err
	}
	if m.Replacement == nil {
		return nil, fmt.Errorf("%s.replacement: missing", path)
	}
	if utf8.RuneCountInString(*m.Replacement) != 1 {
		return nil, fmt.Errorf("%s.replacement: want exactly one character, got %q", path, *m.Replacement)
	}
	r, _ := utf8.DecodeRuneInString(*m.Replacement)
	mp := &metaspacePre{replacement: r, repStr: *m.Replacement, scheme: "always", split: true}
	if m.PrependScheme != nil {
		switch *m.PrependScheme {
		case "always", "first", "never":
			mp.scheme = *m.PrependScheme
		default:
			return nil, fmt.Errorf("%s.prepend_scheme: unknown %q (want always, first or never)", path, *m.PrependScheme)
		}
	}
	if m.AddPrefixSpace != nil && !*m.AddPrefixSpace {
		if mp.scheme != "never" {
			return nil, fmt.Errorf("%s: add_prefix_space does not match declared prepend_scheme", path)
		}
		mp.scheme = "never"
	}
	if m.Split != nil {
		mp.split = *m.Split
	}
	return mp, nil
}

func (m *metaspacePre) preTokenize(splits []split) ([]split, error) {
	var ev []matchEvent
	isSpace := func(r rune) bool { return r == ' ' }
	isRep := func(r rune) bool { return r == m.replacement }
	return eachSplit(splits, func(dst []nstr, n nstr) ([]nstr, error) {
		ev = runeMatches(ev[:0], n.s, isSpace)
		n.replaceMatches(ev, m.repStr)
		startsWith := len(n.s) > 0 && func() bool { r, _ := utf8.DecodeRuneInString(n.s); return r == m.replacement }()
		switch m.scheme {
		case "always":
			if !startsWith {
				n.prepend(m.repStr)
			}
		case "first":
			if !startsWith && n.base == 0 {
				n.prepend(m.repStr)
			}
		}
		if !m.split {
			return append(dst, n), nil
		}
		ev = runeMatches(ev[:0], n.s, isRep)
		return n.splitBy(dst, ev, SplitMergedWithNext), nil
	})
}
