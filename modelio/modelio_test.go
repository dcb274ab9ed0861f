package modelio

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/models"
)

func TestPad(t *testing.T) {
	for _, tc := range []struct {
		name               string
		ids, types         [][]int
		wantIDs, wantMask  []int64
		wantTypes          []int64 // nil: no token types
		wantBatch, wantSeq int
		wantErr            string
	}{
		{name: "ragged rows pad right with the pad id",
			ids: [][]int{{101, 7, 102}, {101, 102}, {5}}, types: [][]int{{0, 1, 1}, {0, 0}, nil},
			wantIDs: []int64{101, 7, 102, 101, 102, 9, 5, 9, 9}, wantMask: []int64{1, 1, 1, 1, 1, 0, 1, 0, 0},
			wantTypes: []int64{0, 1, 1, 0, 0, 0, 0, 0, 0}, wantBatch: 3, wantSeq: 3},
		{name: "no token types",
			ids: [][]int{{1, 2}, {3}}, wantIDs: []int64{1, 2, 3, 9}, wantMask: []int64{1, 1, 1, 0}, wantBatch: 2, wantSeq: 2},
		{name: "empty batch", ids: [][]int{}, wantIDs: []int64{}, wantMask: []int64{}},
		{name: "types of the wrong length", ids: [][]int{{1, 2}}, types: [][]int{{0}}, wantErr: "row 0 has 2 ids but 1 token types"},
		{name: "types for too few rows", ids: [][]int{{1}, {2}}, types: [][]int{{0}}, wantErr: "2 rows of ids but 1 rows of token types"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Pad(tc.ids, tc.types, 9)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Batch != tc.wantBatch || b.Seq != tc.wantSeq || !slices.Equal(b.InputIDs, tc.wantIDs) ||
				!slices.Equal(b.AttentionMask, tc.wantMask) || !slices.Equal(b.TokenTypeIDs, tc.wantTypes) ||
				(tc.wantTypes == nil) != (b.TokenTypeIDs == nil) {
				t.Errorf("got %+v", b)
			}
			if z := b.TokenTypesOrZeros(); len(z) != b.Batch*b.Seq {
				t.Errorf("TokenTypesOrZeros has %d values for %d×%d", len(z), b.Batch, b.Seq)
			}
		})
	}
	// int64 rows (the serving batcher's) pad the same way as int rows.
	b, err := Pad([][]int64{{4, 5}, {6}}, [][]int64{{0, 1}, {0}}, 0)
	if err != nil || !slices.Equal(b.InputIDs, []int64{4, 5, 6, 0}) || !slices.Equal(b.TokenTypeIDs, []int64{0, 1, 0, 0}) {
		t.Errorf("int64 rows: %+v, %v", b, err)
	}
}

func TestHeadOf(t *testing.T) {
	cfg := func(problem string, labels ...string) *models.Config {
		c := models.DefaultConfig(models.TypeBERT)
		c.SetLabels(labels)
		c.ProblemType = problem
		return c
	}
	for _, tc := range []struct {
		name   string
		cfg    *models.Config
		labels []string
		fn     string
	}{
		{"single label", cfg(models.ProblemSingleLabel, "neg", "pos"), []string{"neg", "pos"}, FuncSoftmax},
		{"unset problem type, two labels", cfg("", "neg", "pos"), []string{"neg", "pos"}, FuncSoftmax},
		{"one logit", cfg("", "yes"), []string{"yes"}, FuncSigmoid},
		{"multi-label", cfg(models.ProblemMultiLabel, "x", "y", "z"), []string{"x", "y", "z"}, FuncSigmoid},
		{"regression", cfg(models.ProblemRegression, "score"), []string{"score"}, FuncNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := HeadOf(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h.Labels, tc.labels) || h.Function != tc.fn {
				t.Errorf("got %+v, want %v %s", h, tc.labels, tc.fn)
			}
		})
	}
}

// A model whose logits do not match its labels must be refused: scores
// would go to the wrong names (more labels) or to none (fewer).
func TestCheckLogits(t *testing.T) {
	h := Head{Labels: []string{"a", "b", "c"}, Function: FuncSoftmax}
	for _, tc := range []struct {
		logits int
		ok     bool
	}{{3, true}, {2, false}, {4, false}, {1, false}} {
		if err := h.CheckLogits(tc.logits); (err == nil) != tc.ok {
			t.Errorf("%d logits for 3 labels: err = %v", tc.logits, err)
		}
	}
}

func TestScores(t *testing.T) {
	h3 := func(fn string) Head { return Head{Labels: []string{"a", "b", "c"}, Function: fn} }
	for _, tc := range []struct {
		name   string
		h      Head
		logits []float32
		raw    bool
		topK   int
		want   []Label
	}{
		{"softmax", h3(FuncSoftmax), []float32{0, math.Float32frombits(0x3f317218), 0}, false, 0, // ln 2
			[]Label{{"b", 0.5}, {"a", 0.25}, {"c", 0.25}}},
		{"softmax large logits do not overflow", h3(FuncSoftmax), []float32{1000, 1000, 0}, false, 2,
			[]Label{{"a", 0.5}, {"b", 0.5}}},
		{"sigmoid", h3(FuncSigmoid), []float32{0, 100, -100}, false, 0,
			[]Label{{"b", 1}, {"a", 0.5}, {"c", 0}}},
		{"raw", h3(FuncSoftmax), []float32{-1, 2, 0.5}, true, 0,
			[]Label{{"b", 2}, {"c", 0.5}, {"a", -1}}},
		{"regression", Head{Labels: []string{"score"}, Function: FuncNone}, []float32{3.25}, false, 0,
			[]Label{{"score", 3.25}}},
		{"top_k beyond labels", h3(FuncSigmoid), []float32{0, 0, 0}, false, 10,
			[]Label{{"a", 0.5}, {"b", 0.5}, {"c", 0.5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.h.Ranked(tc.h.Values(tc.logits, tc.raw), tc.topK)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Label != tc.want[i].Label || math.Abs(got[i].Score-tc.want[i].Score) > 1e-6 {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
