package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning-rate multiplier for an optimiser step. The
// formulas are HF transformers' get_{constant,linear,cosine}_schedule_with_warmup,
// so a run here and a run there with the same settings see the same rates.
type Schedule struct {
	Kind        string // "constant", "linear" or "cosine"
	WarmupSteps int
	TotalSteps  int
}

// NewSchedule validates kind and resolves the warmup, given either as steps
// or as a ratio of the total (a ratio wins when both are set, as in HF).
func NewSchedule(kind string, totalSteps, warmupSteps int, warmupRatio float64) (Schedule, error) {
	switch kind {
	case "constant", "linear", "cosine":
	default:
		return Schedule{}, fmt.Errorf("lr schedule %q: want constant, linear or cosine", kind)
	}
	if totalSteps <= 0 {
		return Schedule{}, fmt.Errorf("lr schedule: total steps must be positive, got %d", totalSteps)
	}
	if warmupRatio < 0 || warmupRatio > 1 {
		return Schedule{}, fmt.Errorf("warmup ratio %v: want a value in [0, 1]", warmupRatio)
	}
	if warmupSteps < 0 {
		return Schedule{}, fmt.Errorf("warmup steps %d: must not be negative", warmupSteps)
	}
	if warmupRatio > 0 {
		warmupSteps = int(math.Ceil(warmupRatio * float64(totalSteps)))
	}
	return Schedule{Kind: kind, WarmupSteps: warmupSteps, TotalSteps: totalSteps}, nil
}

// Factor is the multiplier applied to the base learning rate at optimiser
// step `step` (0-based: the first update uses Factor(0)).
func (s Schedule) Factor(step int) float64 {
	if step < s.WarmupSteps {
		return float64(step) / float64(max(1, s.WarmupSteps))
	}
	switch s.Kind {
	case "linear":
		return math.Max(0, float64(s.TotalSteps-step)/float64(max(1, s.TotalSteps-s.WarmupSteps)))
	case "cosine":
		progress := float64(step-s.WarmupSteps) / float64(max(1, s.TotalSteps-s.WarmupSteps))
		return math.Max(0, 0.5*(1+math.Cos(math.Pi*progress)))
	default:
		return 1
	}
}
