package serve

import (
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// tokenizeRequest is TEI's /tokenize body plus truncation.
type tokenizeRequest struct {
	Inputs              json.RawMessage `json:"inputs"`
	AddSpecialTokens    *bool           `json:"add_special_tokens"`
	Truncate            *bool           `json:"truncate"`
	TruncationDirection string          `json:"truncation_direction"`
}

// simpleToken is TEI's token description: start/stop are byte offsets into
// the text the token came from (the pair's second text for its tokens),
// null for special tokens.
type simpleToken struct {
	ID      int    `json:"id"`
	Text    string `json:"text"`
	Special bool   `json:"special"`
	Start   *int   `json:"start"`
	Stop    *int   `json:"stop"`
}

func (s *Server) tokenize(c *fiber.Ctx) error {
	var req tokenizeRequest
	if _, err := s.openRequest(c, &req, false); err != nil {
		return err
	}
	in, err := parseTokenizeInputs(req.Inputs)
	if err != nil {
		return err
	}
	if err := s.checkLimits(in); err != nil {
		return err
	}
	left, err := truncateLeft(req.TruncationDirection)
	if err != nil {
		return err
	}
	special := req.AddSpecialTokens == nil || *req.AddSpecialTokens
	truncate := req.Truncate != nil && *req.Truncate // show what the tokenizer does unless asked
	t := c.Locals(timingKey).(*timing)
	opt := EncodeOptions{AddSpecialTokens: special, TruncateLeft: left}
	if truncate {
		opt.MaxLength = s.maxLen
	}
	start := time.Now()
	encs, err := s.tok.Encode(in, opt)
	if err != nil {
		return newErr(http.StatusUnprocessableEntity, ErrTokenizer, "tokenizer: %v", err)
	}
	halves, err := s.pairHalves(in)
	if err != nil {
		return err
	}
	t.tokenization = time.Since(start)
	out := make([][]simpleToken, len(encs))
	for i, e := range encs {
		var h [2]Encoding
		if in[i].IsPair {
			h = halves[i]
		}
		out[i] = describeTokens(in[i], e, h, left)
	}
	return c.JSON(out)
}

// pairHalves encodes both texts of every pair alone, without special
// tokens or truncation: describeTokens needs them to tell which tokens of
// the pair came from which text.
func (s *Server) pairHalves(in []TextInput) (map[int][2]Encoding, error) {
	var texts []TextInput
	var idx []int
	for i, x := range in {
		if x.IsPair {
			texts = append(texts, TextInput{Text: x.Text}, TextInput{Text: x.Pair})
			idx = append(idx, i)
		}
	}
	if len(texts) == 0 {
		return nil, nil
	}
	encs, err := s.tok.Encode(texts, EncodeOptions{})
	if err != nil {
		return nil, newErr(http.StatusUnprocessableEntity, ErrTokenizer, "tokenizer: %v", err)
	}
	out := make(map[int][2]Encoding, len(idx))
	for j, i := range idx {
		out[i] = [2]Encoding{encs[2*j], encs[2*j+1]}
	}
	return out, nil
}

// describeTokens pairs every token with the piece of text it covers, with
// byte offsets. For a pair, halves holds each text encoded alone: the
// pair's ordinary tokens are the first text's (a prefix of them, or a
// suffix under left truncation) followed by the second's, so the split is
// the k for which both parts match. Only if none matches (a tokenizer whose
// post-processor rewrites tokens) does it fall back to splitting at the
// first special token after ordinary ones, true of BERT's and RoBERTa's
// templates with special tokens.
func describeTokens(in TextInput, e Encoding, halves [2]Encoding, left bool) []simpleToken {
	var plain []int // positions of ordinary tokens
	for j := range e.IDs {
		if !(j < len(e.SpecialTokensMask) && e.SpecialTokensMask[j] == 1) {
			plain = append(plain, j)
		}
	}
	split := len(plain) // ordinary tokens from the first text
	if in.IsPair {
		split = pairSplit(e, plain, halves, left)
	}
	texts := [2]runeIndex{newRuneIndex(in.Text), newRuneIndex(in.Pair)}
	out := make([]simpleToken, len(e.IDs))
	p, seenWord, fallbackSeq := 0, false, 0
	for j, id := range e.IDs {
		special := j < len(e.SpecialTokensMask) && e.SpecialTokensMask[j] == 1
		tok := simpleToken{ID: id, Special: special}
		if j < len(e.Tokens) {
			tok.Text = e.Tokens[j]
		}
		if special {
			if seenWord && in.IsPair {
				fallbackSeq = 1
			}
			out[j] = tok
			continue
		}
		seenWord = true
		seq := 0
		switch {
		case split >= 0 && p >= split:
			seq = 1
		case split < 0:
			seq = fallbackSeq
		}
		p++
		if j < len(e.Offsets) {
			if a, b, ok := texts[seq].byteRange(e.Offsets[j]); ok {
				tok.Text = texts[seq].text[a:b]
				tok.Start, tok.Stop = &a, &b
			}
		}
		out[j] = tok
	}
	return out
}

// pairSplit returns how many of the pair's ordinary tokens came from the
// first text, or -1 if the halves do not explain them.
func pairSplit(e Encoding, plain []int, halves [2]Encoding, left bool) int {
	n, na, nb := len(plain), len(halves[0].IDs), len(halves[1].IDs)
	same := func(j int, h Encoding, k int) bool {
		return e.IDs[j] == h.IDs[k] && j < len(e.Offsets) && k < len(h.Offsets) && e.Offsets[j] == h.Offsets[k]
	}
	for k := min(n, na); k >= max(0, n-nb); k-- {
		// The kept tokens of each text: a prefix, or a suffix when
		// truncation dropped tokens from the left.
		a0, b0 := 0, 0
		if left {
			a0, b0 = na-k, nb-(n-k)
		}
		ok := true
		for i := 0; i < n && ok; i++ {
			if i < k {
				ok = same(plain[i], halves[0], a0+i)
			} else {
				ok = same(plain[i], halves[1], b0+i-k)
			}
		}
		if ok {
			return k
		}
	}
	return -1
}

// runeIndex maps a text's character offsets to byte offsets: entry k is
// where character k starts (the last entry is len(text)); nil for ASCII,
// where the two agree. Built once per text, so describing n tokens costs
// O(len(text) + n), not O(len(text) × n).
type runeIndex struct {
	text   string
	starts []int
}

func newRuneIndex(text string) runeIndex {
	ascii := true
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return runeIndex{text: text}
	}
	starts := make([]int, 0, len(text)+1)
	for i := range text {
		starts = append(starts, i)
	}
	return runeIndex{text: text, starts: append(starts, len(text))}
}

// byteRange turns a token's character offsets into byte offsets of the text.
func (r runeIndex) byteRange(off [2]int) (int, int, bool) {
	a, b := off[0], off[1]
	if a < 0 || a > b {
		return 0, 0, false
	}
	if r.starts == nil {
		return a, b, b <= len(r.text)
	}
	if b >= len(r.starts) {
		return 0, 0, false
	}
	return r.starts[a], r.starts[b], true
}

// decodeRequest is TEI's /decode body: ids is a list or a list of lists.
type decodeRequest struct {
	IDs               json.RawMessage `json:"ids"`
	SkipSpecialTokens *bool           `json:"skip_special_tokens"`
}

// decode answers, as TEI does, a list of texts: one per id list, also for a
// single list.
func (s *Server) decode(c *fiber.Ctx) error {
	var req decodeRequest
	if _, err := s.openRequest(c, &req, false); err != nil {
		return err
	}
	v, err := decodeValue(req.IDs, "ids")
	if err != nil {
		return err
	}
	var one []int
	var many [][]int
	if json.Unmarshal(req.IDs, &one) == nil {
		many = [][]int{one}
	} else if json.Unmarshal(req.IDs, &many) != nil {
		return newErr(http.StatusUnprocessableEntity, ErrValidation, "ids: want a list of token ids or a list of lists, got %T", v)
	}
	if len(many) == 0 {
		return newErr(http.StatusBadRequest, ErrEmpty, "`ids` cannot be empty")
	}
	if len(many) > s.cfg.MaxInputsPerRequest {
		return newErr(http.StatusRequestEntityTooLarge, ErrValidation, "batch size %d > maximum allowed batch size %d (--max-client-batch-size)", len(many), s.cfg.MaxInputsPerRequest)
	}
	vocab := s.tok.VocabSize()
	skip := req.SkipSpecialTokens == nil || *req.SkipSpecialTokens
	out := make([]string, len(many))
	for i, ids := range many {
		if len(ids) == 0 {
			return newErr(http.StatusBadRequest, ErrEmpty, "ids[%d] is empty", i)
		}
		for j, id := range ids {
			if id < 0 || id >= vocab {
				return newErr(http.StatusUnprocessableEntity, ErrValidation, "ids[%d][%d] = %d is outside the vocabulary (0..%d)", i, j, id, vocab-1)
			}
		}
		text, err := s.tok.Decode(ids, skip)
		if err != nil {
			return newErr(http.StatusUnprocessableEntity, ErrTokenizer, "decode: %v", err)
		}
		out[i] = text
	}
	return c.JSON(out)
}
