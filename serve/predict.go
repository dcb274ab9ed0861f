package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// predictRequest is TEI's /predict body plus top_k.
type predictRequest struct {
	Inputs              json.RawMessage `json:"inputs"`
	RawScores           bool            `json:"raw_scores"`
	Truncate            *bool           `json:"truncate"`
	TruncationDirection string          `json:"truncation_direction"`
	TopK                *int            `json:"top_k"`
}

// decodeBody unmarshals the JSON body: syntax errors are 400, values of the
// wrong type 422.
func decodeBody(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return newErr(http.StatusBadRequest, ErrMalformed, "empty body: want a JSON object")
	}
	err := json.Unmarshal(body, dst)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return newErr(http.StatusBadRequest, ErrMalformed, "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: got JSON %s, want %s", field, te.Value, te.Type)
	}
	// Truncated documents come back as a plain error ("unexpected end of
	// JSON input"): also a syntax problem.
	return newErr(http.StatusBadRequest, ErrMalformed, "malformed JSON: %v", err)
}

// parseInputs reads TEI's `inputs`: a string; a pair ["a", "b"] (["a"] is a
// single text); a batch [[a], [a, b], …]; {"text", "text_pair"} objects,
// alone or in a batch; and, beyond TEI, plain strings mixed into a batch and
// lists of three or more strings (a batch of texts). batched says whether
// the response is a list of lists.
func parseInputs(raw json.RawMessage) (in []TextInput, batched bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, false, newErr(http.StatusUnprocessableEntity, ErrEmpty, "`inputs` is missing")
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&v); err != nil {
		return nil, false, newErr(http.StatusBadRequest, ErrMalformed, "inputs: %v", err)
	}
	bad := func(where string) error {
		return newErr(http.StatusUnprocessableEntity, ErrValidation,
			`%s: want a string, a pair ["text", "text_pair"], {"text": …, "text_pair": …}, or a list of these`, where)
	}
	one := func(v any, where string) (TextInput, error) {
		switch x := v.(type) {
		case string:
			return TextInput{Text: x}, nil
		case []any:
			if len(x) < 1 || len(x) > 2 {
				return TextInput{}, newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: a sequence is [text] or [text, text_pair], got %d elements", where, len(x))
			}
			a, ok := x[0].(string)
			if !ok {
				return TextInput{}, bad(where + "[0]")
			}
			if len(x) == 1 {
				return TextInput{Text: a}, nil
			}
			b, ok := x[1].(string)
			if !ok {
				return TextInput{}, bad(where + "[1]")
			}
			return TextInput{Text: a, Pair: b, IsPair: true}, nil
		case map[string]any:
			t, ok := x["text"].(string)
			if !ok {
				return TextInput{}, newErr(http.StatusUnprocessableEntity, ErrValidation, `%s: object needs a string "text"`, where)
			}
			for k := range x {
				if k != "text" && k != "text_pair" {
					return TextInput{}, newErr(http.StatusUnprocessableEntity, ErrValidation, `%s: unknown key %q (want "text", "text_pair")`, where, k)
				}
			}
			p, has := x["text_pair"]
			if !has || p == nil {
				return TextInput{Text: t}, nil
			}
			ps, ok := p.(string)
			if !ok {
				return TextInput{}, newErr(http.StatusUnprocessableEntity, ErrValidation, `%s: "text_pair" must be a string`, where)
			}
			return TextInput{Text: t, Pair: ps, IsPair: true}, nil
		}
		return TextInput{}, bad(where)
	}
	switch x := v.(type) {
	case string, map[string]any:
		t, err := one(x, "inputs")
		return []TextInput{t}, false, err
	case []any:
		if len(x) == 0 {
			return nil, false, newErr(http.StatusUnprocessableEntity, ErrEmpty, "`inputs` is an empty list")
		}
		allStrings := true
		for _, e := range x {
			if _, ok := e.(string); !ok {
				allStrings = false
				break
			}
		}
		if allStrings && len(x) <= 2 {
			t, err := one(x, "inputs") // TEI: ["a"] is a text, ["a", "b"] a pair
			return []TextInput{t}, false, err
		}
		out := make([]TextInput, len(x))
		for i, e := range x {
			if out[i], err = one(e, fmt.Sprintf("inputs[%d]", i)); err != nil {
				return nil, true, err
			}
		}
		return out, true, nil
	}
	return nil, false, bad("inputs")
}

// checkLimits applies the per-request limits (Infer.CheckLimits).
func (s *Server) checkLimits(in []TextInput) error { return s.core.CheckLimits(in) }

func truncateLeft(dir string) (bool, error) {
	switch strings.ToLower(dir) {
	case "", "right":
		return false, nil
	case "left":
		return true, nil
	}
	return false, newErr(http.StatusUnprocessableEntity, ErrValidation, "truncation_direction %q: want \"left\" or \"right\"", dir)
}

// infer runs in through the inference core within the request's timeout
// and records its timing; it returns one row of logits per input.
func (s *Server) infer(c *fiber.Ctx, in []TextInput, truncate, left bool) ([][]float32, error) {
	t := c.Locals(timingKey).(*timing)
	ctx, cancel := context.WithDeadline(context.Background(), t.start.Add(s.cfg.RequestTimeout))
	defer cancel()
	out, err := s.core.Predict(ctx, in, PredictOptions{Truncate: truncate, TruncateLeft: left, Gone: clientGone(c)})
	if out != nil {
		t.tokenization, t.queue, t.inference = out.Tokenization, out.Queue, out.Inference
		s.m.tokenization.Observe(out.Tokenization.Seconds())
	}
	if err != nil {
		if ae := classify(err); ae.Status == http.StatusTooManyRequests {
			reason := "queue_full"
			if errors.As(err, new(*apiError)) {
				reason = "estimated_wait"
			}
			s.m.rejected.WithLabelValues(reason).Inc()
		}
		return nil, err
	}
	return out.Logits, nil
}

func (s *Server) predict(c *fiber.Ctx) error {
	if err := s.admit(c); err != nil {
		return err
	}
	var req predictRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	in, batched, err := parseInputs(req.Inputs)
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
	topK := 0
	if req.TopK != nil {
		if *req.TopK < 1 {
			return newErr(http.StatusUnprocessableEntity, ErrValidation, "top_k %d: must be at least 1", *req.TopK)
		}
		topK = *req.TopK
	}
	truncate := s.cfg.AutoTruncate
	if req.Truncate != nil {
		truncate = *req.Truncate
	}
	rows, err := s.infer(c, in, truncate, left)
	if err != nil {
		return err
	}
	out := make([][]Prediction, len(rows))
	for i, r := range rows {
		out[i] = s.model.Scores(r, req.RawScores, topK)
	}
	if !batched {
		return c.JSON(out[0])
	}
	return c.JSON(out)
}

// tokenizeRequest is TEI's /tokenize body.
type tokenizeRequest struct {
	Inputs              json.RawMessage `json:"inputs"`
	AddSpecialTokens    *bool           `json:"add_special_tokens"`
	Truncate            *bool           `json:"truncate"`
	TruncationDirection string          `json:"truncation_direction"`
}

// simpleToken is TEI's token description: start/stop are character
// offsets into the text the token came from, null for special tokens.
type simpleToken struct {
	ID      int    `json:"id"`
	Text    string `json:"text"`
	Special bool   `json:"special"`
	Start   *int   `json:"start"`
	Stop    *int   `json:"stop"`
}

func (s *Server) tokenize(c *fiber.Ctx) error {
	if err := s.admit(c); err != nil {
		return err
	}
	var req tokenizeRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	in, _, err := parseInputs(req.Inputs)
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
	t.tokenization = time.Since(start)
	if err != nil {
		return newErr(http.StatusUnprocessableEntity, ErrTokenizer, "tokenizer: %v", err)
	}
	out := make([][]simpleToken, len(encs))
	for i, e := range encs {
		out[i] = describeTokens(in[i], e)
	}
	return c.JSON(out)
}

// describeTokens pairs every token with the piece of text it covers. In a
// pair, tokens after the first special token that follows ordinary tokens
// belong to the second text (true of BERT's and RoBERTa's templates).
func describeTokens(in TextInput, e Encoding) []simpleToken {
	texts := [2][]rune{[]rune(in.Text), []rune(in.Pair)}
	seq, seenWord := 0, false
	out := make([]simpleToken, len(e.IDs))
	for j, id := range e.IDs {
		special := j < len(e.SpecialTokensMask) && e.SpecialTokensMask[j] == 1
		tok := simpleToken{ID: id, Special: special}
		if j < len(e.Tokens) {
			tok.Text = e.Tokens[j]
		}
		if special {
			if seenWord && in.IsPair {
				seq = 1
			}
			out[j] = tok
			continue
		}
		seenWord = true
		if j < len(e.Offsets) {
			a, b := e.Offsets[j][0], e.Offsets[j][1]
			if r := texts[seq]; a >= 0 && a <= b && b <= len(r) {
				tok.Text = string(r[a:b])
				tok.Start, tok.Stop = &a, &b
			}
		}
		out[j] = tok
	}
	return out
}

// decodeRequest is TEI's /decode body: ids is a list or a list of lists.
type decodeRequest struct {
	IDs               json.RawMessage `json:"ids"`
	SkipSpecialTokens *bool           `json:"skip_special_tokens"`
}

func (s *Server) decode(c *fiber.Ctx) error {
	if err := s.admit(c); err != nil {
		return err
	}
	var req decodeRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	var one []int
	var many [][]int
	batched := false
	if err := json.Unmarshal(req.IDs, &one); err != nil {
		if err := json.Unmarshal(req.IDs, &many); err != nil {
			return newErr(http.StatusUnprocessableEntity, ErrValidation, "ids: want a list of token ids or a list of lists")
		}
		batched = true
	} else {
		many = [][]int{one}
	}
	if len(many) == 0 || (len(many) == 1 && len(many[0]) == 0 && !batched) {
		return newErr(http.StatusUnprocessableEntity, ErrEmpty, "ids is empty")
	}
	if len(many) > s.cfg.MaxInputsPerRequest {
		return newErr(http.StatusRequestEntityTooLarge, ErrTooLarge, "%d id lists, the limit is %d", len(many), s.cfg.MaxInputsPerRequest)
	}
	vocab := s.tok.VocabSize()
	skip := req.SkipSpecialTokens == nil || *req.SkipSpecialTokens
	out := make([]string, len(many))
	for i, ids := range many {
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
	if !batched {
		return c.JSON(out[0])
	}
	return c.JSON(out)
}
