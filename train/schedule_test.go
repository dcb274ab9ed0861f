package train

import (
	"math"
	"testing"
)

// Expected factors are those of transformers' schedule functions, e.g.
// get_linear_schedule_with_warmup(opt, 2, 10).lr_lambda(step).
func TestScheduleFactor(t *testing.T) {
	tests := []struct {
		kind          string
		total, warmup int
		ratio         float64
		steps         []int
		want          []float64
	}{
		{"constant", 10, 0, 0, []int{0, 5, 9}, []float64{1, 1, 1}},
		{"constant", 10, 4, 0, []int{0, 2, 4, 9}, []float64{0, 0.5, 1, 1}},
		{"linear", 10, 2, 0, []int{0, 1, 2, 6, 10, 12}, []float64{0, 0.5, 1, 0.5, 0, 0}},
		{"linear", 10, 0, 0.2, []int{1, 2}, []float64{0.5, 1}},
		{"cosine", 10, 2, 0, []int{2, 6, 10}, []float64{1, 0.5, 0}},
		{"cosine", 9, 0, 0, []int{0, 3}, []float64{1, 0.75}},
	}
	for _, tc := range tests {
		s, err := NewSchedule(tc.kind, tc.total, tc.warmup, tc.ratio)
		if err != nil {
			t.Fatal(err)
		}
		for i, step := range tc.steps {
			if got := s.Factor(step); math.Abs(got-tc.want[i]) > 1e-12 {
				t.Errorf("%s total=%d warmup=%d ratio=%v: Factor(%d) = %v, want %v", tc.kind, tc.total, tc.warmup, tc.ratio, step, got, tc.want[i])
			}
		}
	}
}

func TestScheduleErrors(t *testing.T) {
	tests := []struct {
		kind          string
		total, warmup int
		ratio         float64
	}{
		{"step", 10, 0, 0}, {"linear", 0, 0, 0}, {"linear", 10, -1, 0}, {"cosine", 10, 0, 1.5},
	}
	for _, tc := range tests {
		if _, err := NewSchedule(tc.kind, tc.total, tc.warmup, tc.ratio); err == nil {
			t.Errorf("NewSchedule(%q, %d, %d, %v): want error", tc.kind, tc.total, tc.warmup, tc.ratio)
		}
	}
}
