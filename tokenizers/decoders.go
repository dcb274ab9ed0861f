package tokenizers

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// lossyUTF8 decodes b replacing each maximal invalid subsequence with
// U+FFFD, as Rust's String::from_utf8_lossy and Python's
// bytes.decode(errors="replace") do.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			sb.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			sb.Write(b[i : i+size])
			i += size
			continue
		}
		// Invalid: consume the longest prefix that could start a valid
		// sequence (the "maximal subpart").
		n := 1
		lo, hi := byte(0x80), byte(0xBF)
		need := 0
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
			need = 2
		case c == 0xED:
			need, hi = 2, 0x9F
		case c == 0xF0:
			need, lo = 3, 0x90
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		case c == 0xF4:
			need, hi = 3, 0x8F
		}
		for k := 0; k < need && i+n < len(b); k++ {
			x := b[i+n]
			if x < lo || x > hi {
				break
			}
			lo, hi = 0x80, 0xBF
			n++
		}
		sb.WriteString("\uFFFD")
		i += n
	}
	return sb.String()
}

type wordPieceDecoder struct {
	Type    string `json:"type"`
	Prefix  string `json:"prefix"`
	Cleanup bool   `json:"cleanup"`
}

var cleanupReplacer = []struct{ from, to string }{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
	{" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}

// cleanupTokenization is HF's decoders::wordpiece::cleanup.
func cleanupTokenization(s string) string {
	for _, r := range cleanupReplacer {
		if strings.Contains(s, r.from) {
			s = strings.ReplaceAll(s, r.from, r.to)
		}
	}
	return s
}

func (w *wordPieceDecoder) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		if i != 0 {
			if strings.HasPrefix(t, w.Prefix) {
				t = strings.Replace(t, w.Prefix, "", 1)
			} else {
				t = " " + t
			}
		}
		if w.Cleanup {
			t = cleanupTokenization(t)
		}
		out[i] = t
	}
	return out, nil
}

type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(toks []string) ([]string, error) {
	var b []byte
	for _, t := range toks {
		start := len(b)
		ok := true
		for _, r := range t {
			c, found := charToByte(r)
			if !found {
				ok = false
				break
			}
			b = append(b, c)
		}
		if !ok {
			b = append(b[:start], t...)
		}
	}
	return []string{lossyUTF8(b)}, nil
}

type metaspaceDecoder struct {
	replacement  rune
	prependNever bool
}

func (m *metaspaceDecoder) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		var sb strings.Builder
		for _, r := range t {
			if r == m.replacement {
				if i == 0 && !m.prependNever {
					continue
				}
				sb.WriteByte(' ')
			} else {
				sb.WriteRune(r)
			}
		}
		out[i] = sb.String()
	}
	return out, nil
}

type bpeDecoder struct {
	Type   string `json:"type"`
	Suffix string `json:"suffix"`
}

func (b *bpeDecoder) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		rep := " "
		if i == len(toks)-1 {
			rep = ""
		}
		if b.Suffix == "" {
			out[i] = t
		} else {
			out[i] = strings.ReplaceAll(t, b.Suffix, rep)
		}
	}
	return out, nil
}

type byteFallbackDecoder struct {
	Type string `json:"type"`
}

func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(t[3:5]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v*16 + d
	}
	return v, true
}

func (byteFallbackDecoder) decodeChain(toks []string) ([]string, error) {
	out := make([]string, 0, len(toks))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range toks {
		if b, ok := parseByteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out, nil
}

type fuseDecoder struct {
	Type string `json:"type"`
}

func (fuseDecoder) decodeChain(toks []string) ([]string, error) {
	return []string{strings.Join(toks, "")}, nil
}

type stripDecoder struct {
	Type    string `json:"type"`
	Content string `json:"content"`
	Start   int    `json:"start"`
	Stop    int    `json:"stop"`
	content rune
}

func (s *stripDecoder) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		rs := []rune(t)
		startCut := 0
		for k := 0; k < s.Start && k < len(rs); k++ {
			if rs[k] != s.content {
				break
			}
			startCut = k + 1
		}
		stopCut := len(rs)
		for k := 0; k < s.Stop; k++ {
			idx := len(rs) - k - 1
			// HF would index out of range here; we stop instead.
			if idx < startCut || rs[idx] != s.content {
				break
			}
			stopCut = idx
		}
		out[i] = string(rs[startCut:stopCut])
	}
	return out, nil
}

type replaceDecoder struct {
	Pattern patternJSON
	Content string
	re      patternMatcher
}

func (r *replaceDecoder) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	var ev []matchEvent
	for i, t := range toks {
		var err error
		ev, err = r.re.find(ev[:0], t)
		if err != nil {
			return nil, fmt.Errorf("Replace decoder: %w", err)
		}
		var sb strings.Builder
		for _, e := range ev {
			if e.match {
				sb.WriteString(r.Content)
			} else if e.end <= len(t) {
				sb.WriteString(t[e.start:e.end])
			}
		}
		out[i] = sb.String()
	}
	return out, nil
}

type sequenceDecoder struct {
	decoders []decoder
}

func (s *sequenceDecoder) decodeChain(toks []string) ([]string, error) {
	var err error
	for _, d := range s.decoders {
		toks, err = d.decodeChain(toks)
		if err != nil {
			return nil, err
		}
	}
	return toks, nil
}
