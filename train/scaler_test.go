package train

import "testing"

func TestLossScaler(t *testing.T) {
	tests := []struct {
		name      string
		enabled   bool
		interval  int
		overflow  []bool // per step: did the gradients overflow?
		wantTaken []bool
		wantScale float64
		wantSkip  int
	}{
		{"forced overflow backs off and skips", true, 2000, []bool{true, true, false}, []bool{false, false, true}, 16384, 2},
		{"grows after a clean streak", true, 3, []bool{false, false, false, false}, []bool{true, true, true, true}, 131072, 0},
		{"overflow resets the streak", true, 3, []bool{false, false, true, false, false, false}, []bool{true, true, false, true, true, true}, 65536, 1},
		{"disabled never scales", false, 2000, []bool{false, false}, []bool{true, true}, 1, 0},
		{"disabled still refuses non-finite", false, 2000, []bool{true}, []bool{false}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewLossScaler(tc.enabled)
			s.GrowthInterval = tc.interval
			for i, o := range tc.overflow {
				if got := s.Update(o); got != tc.wantTaken[i] {
					t.Errorf("step %d: take = %v, want %v", i, got, tc.wantTaken[i])
				}
			}
			if s.Scale() != tc.wantScale || s.SkippedSteps != tc.wantSkip {
				t.Errorf("scale = %v skipped = %d, want %v and %d", s.Scale(), s.SkippedSteps, tc.wantScale, tc.wantSkip)
			}
		})
	}
}
