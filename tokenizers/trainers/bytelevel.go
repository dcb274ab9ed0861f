package trainers

// ByteLevelAlphabet returns the 256 characters GPT-2's byte-level
// pre-tokenizer maps bytes to (HF's ByteLevel.alphabet()): printable bytes
// stand for themselves, the others are shifted to U+0100 onwards. A
// byte-level BPE trainer seeds its alphabet with them so that every byte has
// a token even when the corpus lacks it.
func ByteLevelAlphabet() []rune {
	out := make([]rune, 0, 256)
	n := 0
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			out = append(out, rune(b))
			continue
		}
		out = append(out, rune(256+n))
		n++
	}
	return out
}
