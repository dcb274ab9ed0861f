package train

import "fmt"

// LossScaler is the dynamic loss-scaling state machine of PyTorch's
// torch.cuda.amp.GradScaler, kept free of tensors so it can be tested on any
// machine: the loop multiplies the loss by Scale(), unscales the gradients by
// 1/Scale(), checks them for inf/NaN, and calls Update with the result. A step
// with non-finite gradients is skipped and the scale backs off; after
// GrowthInterval clean steps in a row it grows.
type LossScaler struct {
	Enabled        bool    `json:"enabled"`
	ScaleValue     float64 `json:"scale"`
	GrowthFactor   float64 `json:"growth_factor"`
	BackoffFactor  float64 `json:"backoff_factor"`
	GrowthInterval int     `json:"growth_interval"`
	GrowthTracker  int     `json:"growth_tracker"`
	SkippedSteps   int     `json:"skipped_steps"`
}

// NewLossScaler returns GradScaler's defaults: scale 2^16, growth ×2 every
// 2000 clean steps, backoff ×0.5. A disabled scaler has scale 1 and never
// skips, which is what bf16 and fp32 training use.
func NewLossScaler(enabled bool) *LossScaler {
	s := &LossScaler{Enabled: enabled, ScaleValue: 1, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 2000}
	if enabled {
		s.ScaleValue = 65536
	}
	return s
}

// Scale is the factor the loss is multiplied by before backward.
func (s *LossScaler) Scale() float64 { return s.ScaleValue }

// Update records whether the unscaled gradients held inf/NaN and reports
// whether the optimiser step should be taken.
func (s *LossScaler) Update(foundNonFinite bool) (takeStep bool) {
	if !s.Enabled {
		return !foundNonFinite
	}
	if foundNonFinite {
		s.ScaleValue *= s.BackoffFactor
		s.GrowthTracker = 0
		s.SkippedSteps++
		return false
	}
	s.GrowthTracker++
	if s.GrowthTracker >= s.GrowthInterval {
		s.ScaleValue *= s.GrowthFactor
		s.GrowthTracker = 0
	}
	return true
}

// Validate checks a scaler restored from a checkpoint.
func (s *LossScaler) Validate() error {
	if s.ScaleValue <= 0 || s.GrowthFactor <= 1 || s.BackoffFactor <= 0 || s.BackoffFactor >= 1 || s.GrowthInterval <= 0 {
		return fmt.Errorf("loss scaler state invalid: %+v", *s)
	}
	return nil
}
