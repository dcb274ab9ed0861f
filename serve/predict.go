package serve

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

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
		s.m.observeInputLengths(out.Lengths)
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
	var req predictRequest
	if _, err := s.openRequest(c, &req, false); err != nil {
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
