package serve

// TextInput is one sequence to classify: a text, or a pair of texts.
type TextInput struct {
	Text, Pair string
	IsPair     bool
}

// EncodeOptions says how to tokenise a request.
type EncodeOptions struct {
	AddSpecialTokens bool
	// MaxLength truncates each sequence (pairs: longest_first) to this many
	// tokens; 0 leaves it whole.
	MaxLength int
	// TruncateLeft drops tokens from the start instead of the end.
	TruncateLeft bool
}

// Encoding is one tokenised sequence, unpadded.
type Encoding struct {
	IDs, TypeIDs      []int
	SpecialTokensMask []int
	Tokens            []string
	// Offsets are rune offsets into the text the token came from (the pair's
	// second text for its tokens).
	Offsets [][2]int
}

// Tokenizer is what serve needs from a tokenizer. The tokenizers package
// provides it (see NewTokenizer); the interface keeps the HTTP layer and
// its tests independent of how tokenisation is done.
type Tokenizer interface {
	// Encode tokenises every input; implementations may work in parallel.
	Encode(in []TextInput, opt EncodeOptions) ([]Encoding, error)
	Decode(ids []int, skipSpecialTokens bool) (string, error)
	VocabSize() int
}
