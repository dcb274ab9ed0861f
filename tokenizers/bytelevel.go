package tokenizers

import (
	"unicode"
	"unicode/utf8"
)

// byteChar is GPT-2's reversible byte→rune table (HF's bytes_char):
// printable bytes map to themselves, the others to U+0100 onwards.
var byteChar [256]rune

// byteCharStr holds the UTF-8 form of byteChar, to build strings fast.
var byteCharStr [256]string

var charByte = map[rune]byte{}

func init() {
	n := rune(0)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			byteChar[b] = rune(b)
		} else {
			byteChar[b] = 256 + n
			n++
		}
		byteCharStr[b] = string(byteChar[b])
		charByte[byteChar[b]] = byte(b)
	}
}

func charToByte(r rune) (byte, bool) {
	if r < 0x100 {
		b := byte(r)
		if byteChar[b] == r {
			return b, true
		}
		return 0, false
	}
	b, ok := charByte[r]
	return b, ok
}

// byteLevelPre is HF's ByteLevel pre-tokenizer: optional prefix space,
// the GPT-2 split regex (hand-coded, linear time), then bytes → runes.
type byteLevelPre struct {
	addPrefixSpace, useRegex bool
}

func isL(r rune) bool {
	if r < 0x80 {
		return (r|0x20) >= 'a' && (r|0x20) <= 'z'
	}
	return unicode.IsLetter(r)
}

func isN(r rune) bool {
	if r < 0x80 {
		return r >= '0' && r <= '9'
	}
	return unicode.IsNumber(r)
}

// gpt2Matches appends the matches of
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// in s, as Oniguruma finds them (leftmost-first alternation). Every rune
// belongs to some match, so the matches tile s.
func gpt2Matches(dst []matchEvent, s string) []matchEvent {
	if s == "" {
		return append(dst, matchEvent{0, 0, false})
	}
	i := 0
	for i < len(s) {
		end := gpt2MatchAt(s, i)
		dst = append(dst, matchEvent{i, end, true})
		i = end
	}
	return dst
}

// runWhile returns the end of the run of runes from i satisfying f.
func runWhile(s string, i int, f func(rune) bool) int {
	for i < len(s) {
		r, size := decodeRune(s, i)
		if !f(r) {
			break
		}
		i += size
	}
	return i
}

func isOtherClass(r rune) bool { return !isWhitespace(r) && !isL(r) && !isN(r) }

func gpt2MatchAt(s string, i int) int {
	c := s[i]
	if c == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	// ` ?X+` for the three classes: the optional space is taken when the
	// class follows it.
	for _, class := range [...]func(rune) bool{isL, isN, isOtherClass} {
		j := i
		if c == ' ' {
			j = i + 1
		}
		if j < len(s) {
			r, _ := decodeRune(s, j)
			if class(r) {
				return runWhile(s, j, class)
			}
		}
		if c == ' ' {
			// Without the space: the space itself is not in any class.
			continue
		}
	}
	// \s+(?!\S) then \s+.
	end := runWhile(s, i, isWhitespace)
	if end == len(s) {
		return end
	}
	// Backtrack one rune so that a whitespace rune follows.
	_, last := utf8.DecodeLastRuneInString(s[i:end])
	if end-last > i {
		return end - last
	}
	if end > i {
		return end
	}
	// Unreachable for valid input (every rune is in some class); step
	// one rune to guarantee progress.
	_, size := decodeRune(s, i)
	return i + size
}

func (b *byteLevelPre) preTokenize(splits []split) ([]split, error) {
	var ev []matchEvent
	out, err := eachSplit(splits, func(dst []nstr, n nstr) ([]nstr, error) {
		if b.addPrefixSpace && (len(n.s) == 0 || n.s[0] != ' ') {
			n.prepend(" ")
		}
		if !b.useRegex {
			return append(dst, n), nil
		}
		ev = gpt2Matches(ev[:0], n.s)
		return n.splitBy(dst, ev, SplitIsolated), nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if !out[i].hasTokens {
			byteLevelTransform(&out[i].n)
		}
	}
	return out, nil
}

// byteLevelTransform maps every byte to its GPT-2 rune; the extra bytes of
// a multi-byte rune are insertions aligned with that rune.
func byteLevelTransform(n *nstr) {
	s := n.s
	buf := make([]byte, 0, len(s)*2)
	al := make([]span, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		before := len(buf)
		buf = append(buf, byteCharStr[s[i]]...)
		// The first byte of a rune takes its own alignment; continuation
		// bytes are insertions sharing the previous byte's alignment, which
		// for a rune is the same range.
		a := n.align[i]
		for k := before; k < len(buf); k++ {
			al = append(al, a)
		}
	}
	n.s = string(buf)
	n.align = al
}
