package dataset

import (
	"math"
	"testing"
)

// Expected values computed with scikit-learn 1.3 (accuracy_score,
// f1_score(average="macro"), roc_auc_score) and numpy.corrcoef.
func TestClassificationMetrics(t *testing.T) {
	tests := []struct {
		name      string
		pred, lab []int
		k         int
		acc, f1   float64
	}{
		{"perfect", []int{0, 1, 2}, []int{0, 1, 2}, 3, 1, 1},
		{"all wrong binary", []int{1, 0}, []int{0, 1}, 2, 0, 0},
		{"mixed", []int{0, 0, 1, 1, 2, 2}, []int{0, 1, 1, 1, 2, 0}, 3, 4.0 / 6, (0.5 + 0.8 + 2.0/3) / 3},
		{"absent class ignored", []int{0, 1, 1}, []int{0, 1, 0}, 5, 2.0 / 3, (2.0/3 + 2.0/3) / 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Accuracy(tc.pred, tc.lab); math.Abs(got-tc.acc) > 1e-12 {
				t.Errorf("accuracy = %v, want %v", got, tc.acc)
			}
			if got := MacroF1(tc.pred, tc.lab, tc.k); math.Abs(got-tc.f1) > 1e-12 {
				t.Errorf("macro-F1 = %v, want %v", got, tc.f1)
			}
		})
	}
}

func TestROCAUC(t *testing.T) {
	tests := []struct {
		name    string
		score   []float64
		label   []int
		want    float64
		wantErr bool
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []int{0, 0, 1, 1}, 1, false},
		{"inverted", []float64{0.9, 0.8, 0.2, 0.1}, []int{0, 0, 1, 1}, 0, false},
		{"sklearn example", []float64{0.1, 0.4, 0.35, 0.8}, []int{0, 0, 1, 1}, 0.75, false},
		{"ties count half", []float64{0.5, 0.5, 0.5, 0.5}, []int{0, 1, 0, 1}, 0.5, false},
		{"one class", []float64{0.1, 0.2}, []int{1, 1}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ROCAUC(tc.score, tc.label)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tc.wantErr && math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("auc = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRegressionMetrics(t *testing.T) {
	p := []float64{1, 2, 3, 4}
	y := []float64{1.5, 2, 2.5, 5}
	if got, want := MSE(p, y), (0.25+0+0.25+1)/4; math.Abs(got-want) > 1e-12 {
		t.Errorf("mse = %v, want %v", got, want)
	}
	// numpy.corrcoef([1,2,3,4],[1.5,2,2.5,5])[0,1]
	if got, want := Pearson(p, y), 0.9135002783911397; math.Abs(got-want) > 1e-12 {
		t.Errorf("pearson = %v, want %v", got, want)
	}
	if got := Pearson([]float64{1, 1}, []float64{1, 2}); !math.IsNaN(got) {
		t.Errorf("constant input: pearson = %v, want NaN", got)
	}
}
