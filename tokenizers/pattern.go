package tokenizers

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

func decodeRune(s string, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// patternJSON is HF's {"String": "..."} | {"Regex": "..."}.
type patternJSON struct {
	String *string `json:"String,omitempty"`
	Regex  *string `json:"Regex,omitempty"`
}

func (p patternJSON) MarshalJSON() ([]byte, error) {
	if p.Regex != nil {
		return json.Marshal(map[string]string{"Regex": *p.Regex})
	}
	s := ""
	if p.String != nil {
		s = *p.String
	}
	return json.Marshal(map[string]string{"String": s})
}

// patternMatcher finds all non-overlapping matches of a literal or regex.
type patternMatcher struct {
	literal string
	isLit   bool
	re      *regexp.Regexp
	re2     *regexp2.Regexp
}

// regexTimeout bounds backtracking regexes (only used for patterns RE2
// cannot express, e.g. lookarounds).
const regexTimeout = 10 * time.Second

func compilePattern(p patternJSON) (patternMatcher, error) {
	switch {
	case p.Regex != nil:
		src := *p.Regex
		if tr, ok := translateToRE2(src); ok {
			if re, err := regexp.Compile(tr); err == nil {
				return patternMatcher{re: re}, nil
			}
		}
		re2, err := regexp2.Compile(src, regexp2.RE2|regexp2.Unicode)
		if err != nil {
			re2, err = regexp2.Compile(src, regexp2.None)
			if err != nil {
				return patternMatcher{}, fmt.Errorf("pattern.Regex %q: %w", src, err)
			}
		}
		re2.MatchTimeout = regexTimeout
		return patternMatcher{re2: re2}, nil
	case p.String != nil:
		return patternMatcher{literal: *p.String, isLit: true}, nil
	}
	return patternMatcher{}, errors.New("pattern: want {\"String\": ...} or {\"Regex\": ...}")
}

// translateToRE2 rewrites the Perl classes \s \d \w (Unicode-aware in
// Oniguruma, which HF uses for Split and Replace, ASCII-only in Go's RE2)
// into Oniguruma's Unicode classes: \w = L|M|Nd|Nl|Pc plus the Latin-1
// numbers (Oniguruma's Latin-1 ctype table marks ² ³ ¹ ¼ ½ ¾ as word
// characters, but not other No runes such as ①; checked against HF),
// \d = Nd, \s = White_Space.
// Patterns with lookarounds or backreferences are left to regexp2.
func translateToRE2(src string) (string, bool) {
	if strings.Contains(src, "(?=") || strings.Contains(src, "(?!") || strings.Contains(src, "(?<=") || strings.Contains(src, "(?<!") {
		return "", false
	}
	const (
		sIn = `\t\n\x{0B}\f\r\x{85}\p{Z}`
		dIn = `\p{Nd}`
		wIn = `\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{B2}\x{B3}\x{B9}\x{BC}-\x{BE}`
	)
	var b strings.Builder
	inClass := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\\' && i+1 < len(src) {
			n := src[i+1]
			switch n {
			case 's', 'd', 'w':
				in := map[byte]string{'s': sIn, 'd': dIn, 'w': wIn}[n]
				if inClass {
					b.WriteString(in)
				} else {
					b.WriteString("[" + in + "]")
				}
				i++
				continue
			case 'S', 'D', 'W':
				if inClass {
					return "", false
				}
				in := map[byte]string{'S': sIn, 'D': dIn, 'W': wIn}[n]
				b.WriteString("[^" + in + "]")
				i++
				continue
			case '1', '2', '3', '4', '5', '6', '7', '8', '9', 'k', 'G', 'K':
				return "", false
			}
			b.WriteByte(c)
			b.WriteByte(n)
			i++
			continue
		}
		if c == '[' && !inClass {
			inClass = true
			b.WriteByte(c)
			// A ']' right after '[' or '[^' is literal.
			if i+1 < len(src) && src[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(src) && src[i+1] == ']' {
				b.WriteString(`\]`)
				i++
			}
			continue
		}
		if c == ']' && inClass {
			inClass = false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// find appends the match events for s: matches and the gaps between them
// (HF's Pattern::find_matches).
func (p *patternMatcher) find(dst []matchEvent, s string) ([]matchEvent, error) {
	if s == "" {
		return append(dst, matchEvent{0, 0, false}), nil
	}
	prev := 0
	add := func(a, b int) {
		if prev != a {
			dst = append(dst, matchEvent{prev, a, false})
		}
		dst = append(dst, matchEvent{a, b, true})
		prev = b
	}
	switch {
	case p.isLit:
		if p.literal == "" {
			return append(dst, matchEvent{0, utf8.RuneCountInString(s), false}), nil
		}
		for i := 0; i <= len(s); {
			k := strings.Index(s[i:], p.literal)
			if k < 0 {
				break
			}
			add(i+k, i+k+len(p.literal))
			i += k + len(p.literal)
		}
	case p.re != nil:
		for _, m := range p.re.FindAllStringIndex(s, -1) {
			add(m[0], m[1])
		}
	case p.re2 != nil:
		// regexp2 reports rune indexes; matches only move forward, so a
		// cursor converts them in linear time overall.
		cur := runeCursor{s: s}
		m, err := p.re2.FindStringMatch(s)
		for ; m != nil && err == nil; m, err = p.re2.FindNextMatch(m) {
			a := cur.byteAt(m.Index)
			b := cur.byteAt(m.Index + m.Length)
			add(a, b)
		}
		if err != nil {
			return nil, err
		}
	}
	if prev != len(s) {
		dst = append(dst, matchEvent{prev, len(s), false})
	}
	return dst, nil
}

type runeCursor struct {
	s      string
	ri, bi int
}

func (c *runeCursor) byteAt(ri int) int {
	if ri < c.ri {
		c.ri, c.bi = 0, 0
	}
	for c.ri < ri && c.bi < len(c.s) {
		_, size := decodeRune(c.s, c.bi)
		c.bi += size
		c.ri++
	}
	return c.bi
}
