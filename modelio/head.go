package modelio

import (
	"fmt"
	"math"
	"sort"

	"github.com/kiln-ml/kiln/models"
)

// Score functions, chosen from config.json as HF's text-classification
// pipeline chooses them.
const (
	FuncSoftmax = "softmax" // single-label, two or more labels
	FuncSigmoid = "sigmoid" // multi-label, or one logit trained with BCE
	FuncNone    = "none"    // regression: the value itself
)

// Head says how to read a classifier's logits: the label of each logit
// position and the score function.
type Head struct {
	Labels   []string // index = logit position
	Function string   // FuncSoftmax, FuncSigmoid or FuncNone
}

// HeadOf reads the labels (id2label, LABEL_i where it has a gap) and the
// score function from a model config. A config without labels is refused:
// there is nothing to score.
func HeadOf(cfg *models.Config) (Head, error) {
	n := cfg.NumLabels()
	if n <= 0 {
		return Head{}, fmt.Errorf("no labels (id2label/num_labels): not a classifier")
	}
	h := Head{Labels: make([]string, n)}
	for i := range h.Labels {
		if l, ok := cfg.ID2Label[i]; ok {
			h.Labels[i] = l
		} else {
			h.Labels[i] = fmt.Sprintf("LABEL_%d", i)
		}
	}
	switch {
	case cfg.ProblemType == models.ProblemRegression:
		h.Function = FuncNone
	case cfg.ProblemType == models.ProblemMultiLabel || n == 1:
		h.Function = FuncSigmoid
	default:
		h.Function = FuncSoftmax
	}
	return h, nil
}

// CheckLogits refuses a model whose logits do not match the labels: scores
// would be attached to the wrong names, or to none.
func (h Head) CheckLogits(numLogits int) error {
	if numLogits != len(h.Labels) {
		return fmt.Errorf("the model outputs %d logits but config.json names %d labels (id2label/num_labels): fix config.json or re-export the model", numLogits, len(h.Labels))
	}
	return nil
}

// Values applies the score function to one row of logits (raw keeps the
// logits), in label order.
func (h Head) Values(logits []float32, raw bool) []float64 {
	s := make([]float64, len(logits))
	for i, v := range logits {
		s[i] = float64(v)
	}
	if !raw {
		switch h.Function {
		case FuncSoftmax:
			softmax(s)
		case FuncSigmoid:
			for i, v := range s {
				s[i] = 1 / (1 + math.Exp(-v))
			}
		}
	}
	return s
}

// Label is one label's score.
type Label struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

// Ranked turns one row of scores (from Values) into labels sorted by
// descending score; topK > 0 keeps that many.
func (h Head) Ranked(scores []float64, topK int) []Label {
	out := make([]Label, len(scores))
	for i, v := range scores {
		label := fmt.Sprintf("LABEL_%d", i)
		if i < len(h.Labels) {
			label = h.Labels[i]
		}
		out[i] = Label{Label: label, Score: v}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	if topK > 0 && topK < len(out) {
		out = out[:topK]
	}
	return out
}

// softmax in place, shifted by the maximum so large logits do not overflow.
func softmax(v []float64) {
	if len(v) == 0 {
		return
	}
	mx := v[0]
	for _, x := range v {
		mx = math.Max(mx, x)
	}
	sum := 0.0
	for i, x := range v {
		v[i] = math.Exp(x - mx)
		sum += v[i]
	}
	for i := range v {
		v[i] /= sum
	}
}
