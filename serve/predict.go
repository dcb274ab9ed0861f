package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/kiln-ml/kiln/serve/backend"
)

// predictRequest is TEI's /predict body plus top_k.
type predictRequest struct {
	Inputs              json.RawMessage `json:"inputs"`
	RawScores           bool            `json:"raw_scores"`
	Truncate            *bool           `json:"truncate"`
	TruncationDirection string          `json:"truncation_direction"`
	TopK                *int            `json:"top_k"`
}

// checkLimits applies the per-request limits: 413 Validation for too many
// inputs (as TEI), 413 PayloadTooLarge for too long a text, 400 Empty for
// empty texts.
func (s *Server) checkLimits(in []TextInput) error {
	if len(in) > s.cfg.MaxInputsPerRequest {
		return newErr(http.StatusRequestEntityTooLarge, ErrValidation, "batch size %d > maximum allowed batch size %d (--max-client-batch-size)", len(in), s.cfg.MaxInputsPerRequest)
	}
	for i, x := range in {
		if x.Text == "" || (x.IsPair && x.Pair == "") {
			return newErr(http.StatusBadRequest, ErrEmpty, "input %d: text is empty", i)
		}
		if n := utf8.RuneCountInString(x.Text) + utf8.RuneCountInString(x.Pair); n > s.cfg.MaxTextChars {
			return newErr(http.StatusRequestEntityTooLarge, ErrTooLarge, "input %d: %d characters, the limit is %d (--max-text-chars)", i, n, s.cfg.MaxTextChars)
		}
		if !utf8.ValidString(x.Text) || !utf8.ValidString(x.Pair) {
			return newErr(http.StatusUnprocessableEntity, ErrValidation, "input %d: text is not valid UTF-8", i)
		}
	}
	return nil
}

func truncateLeft(dir string) (bool, error) {
	switch strings.ToLower(dir) {
	case "", "right":
		return false, nil
	case "left":
		return true, nil
	}
	return false, newErr(http.StatusUnprocessableEntity, ErrValidation, "truncation_direction %q: want \"left\" or \"right\"", dir)
}

// encode tokenises in (recording the time) and enforces the length limit.
func (s *Server) encode(t *timing, in []TextInput, truncate, left, special bool) ([]Encoding, error) {
	start := time.Now()
	opt := EncodeOptions{AddSpecialTokens: special, TruncateLeft: left}
	if truncate {
		opt.MaxLength = s.maxLen
	}
	encs, err := s.tok.Encode(in, opt)
	d := time.Since(start)
	t.tokenization += d
	s.m.tokenization.Observe(d.Seconds())
	if err != nil {
		return nil, newErr(http.StatusUnprocessableEntity, ErrTokenizer, "tokenizer: %v", err)
	}
	s.m.observeInputLengths(encs)
	for i, e := range encs {
		if !truncate && len(e.IDs) > s.maxLen {
			return nil, newErr(http.StatusUnprocessableEntity, ErrValidation,
				"input %d has %d tokens, the model takes at most %d (send \"truncate\": true to cut it)", i, len(e.IDs), s.maxLen)
		}
	}
	return encs, nil
}

// infer tokenises, queues and waits; it returns one row of logits per input.
func (s *Server) infer(c *fiber.Ctx, in []TextInput, truncate, left bool) ([][]float32, error) {
	t := c.Locals(timingKey).(*timing)
	encs, err := s.encode(t, in, truncate, left, true)
	if err != nil {
		return nil, err
	}
	seqs := make([]backend.Input, len(encs))
	for i, e := range encs {
		if len(e.IDs) == 0 {
			return nil, newErr(http.StatusBadRequest, ErrEmpty, "input %d has no tokens", i)
		}
		ids, types := make([]int64, len(e.IDs)), make([]int64, len(e.IDs))
		for j, id := range e.IDs {
			ids[j] = int64(id)
		}
		for j := range min(len(e.TypeIDs), len(types)) {
			types[j] = int64(e.TypeIDs[j])
		}
		seqs[i] = backend.Input{IDs: ids, TypeIDs: types}
	}
	ctx, cancel := context.WithDeadline(context.Background(), t.start.Add(s.cfg.RequestTimeout))
	defer cancel()
	res, err := s.batch.Submit(ctx, seqs, clientGone(c))
	if err != nil {
		if ae := classify(err); ae.Status == http.StatusTooManyRequests {
			s.m.rejected.WithLabelValues("queue_full").Inc()
		}
		return nil, err
	}
	t.queue, t.inference = res.Queue, res.Inference
	return res.Rows, nil
}

func (s *Server) predict(c *fiber.Ctx) error {
	release, err := s.admit()
	if err != nil {
		return err
	}
	defer release()
	var req predictRequest
	body, err := s.body(c)
	if err != nil {
		return err
	}
	if err := decodeBody(body, &req); err != nil {
		return err
	}
	in, batched, err := parseInputs(req.Inputs)
	if err != nil {
		return err
	}
	markBatched(c, batched)
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
