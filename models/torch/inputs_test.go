package torch

import (
	"math"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/models"
)

// NewInputs refuses what Forward refuses, with the same messages, from the
// Go slices alone; ForwardInputs on what it accepts computes what Forward
// computes on the same values, and refuses inputs checked against a config
// with a larger vocabulary.
func TestNewInputs(t *testing.T) {
	cfg := smallConfig(models.TypeBERT) // vocab 101, 64 positions, 2 token types
	long := make([]int64, 65)
	for _, tc := range []struct {
		name string
		b    modelio.Batch
		want string // "" = accepted
	}{
		{"ok", modelio.Batch{Batch: 2, Seq: 2, InputIDs: []int64{1, 100, 5, 0}, AttentionMask: []int64{1, 1, 1, 0}, TokenTypeIDs: []int64{0, 1, 0, 0}}, ""},
		{"no mask or types", modelio.Batch{Batch: 1, Seq: 2, InputIDs: []int64{1, 2}}, ""},
		{"empty", modelio.Batch{Batch: 0, Seq: 2}, "must be [batch, seq] and non-empty"},
		{"no ids", modelio.Batch{Batch: 1, Seq: 2}, "input_ids is nil"},
		{"id past vocab", modelio.Batch{Batch: 1, Seq: 2, InputIDs: []int64{1, 101}}, "input_ids values must be in [0, 101)"},
		{"negative id", modelio.Batch{Batch: 1, Seq: 2, InputIDs: []int64{-1, 3}}, "input_ids values"},
		{"too long", modelio.Batch{Batch: 1, Seq: 65, InputIDs: long}, "exceeds the model's 64 positions"},
		{"short mask", modelio.Batch{Batch: 1, Seq: 2, InputIDs: []int64{1, 2}, AttentionMask: []int64{1}}, "attention_mask has 1 values, want 1×2"},
		{"mask values", modelio.Batch{Batch: 1, Seq: 2, InputIDs: []int64{1, 2}, AttentionMask: []int64{1, 2}}, "attention_mask values"},
		{"token type", modelio.Batch{Batch: 1, Seq: 2, InputIDs: []int64{1, 2}, TokenTypeIDs: []int64{0, 2}}, "token_type_ids values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := NewInputs(cfg, tc.b, gotch.CPU)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in.Drop()
		})
	}
	// DistilBERT has no token types: out-of-range ones are ignored, as Forward ignores them.
	if in, err := NewInputs(smallConfig(models.TypeDistilBERT), modelio.Batch{Batch: 1, Seq: 2, InputIDs: []int64{1, 2}, TokenTypeIDs: []int64{7, 7}}, gotch.CPU); err != nil {
		t.Errorf("distilbert: %v", err)
	} else if in.Types != nil {
		t.Error("distilbert: token type tensor made for a model without token types")
	} else {
		in.Drop()
	}

	m, ids, mask := modelAndBatch(t, cfg, 1, 3, 7)
	b := modelio.Batch{Batch: 3, Seq: 7, InputIDs: ids.Int64Values(), AttentionMask: mask.Int64Values()}
	in, err := NewInputs(cfg, b, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Drop()
	want, err := m.Forward(ids, mask, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Drop()
	got, err := m.ForwardInputs(in, false)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Drop()
	w, _, _ := Float32Values(want.Logits)
	g, _, _ := Float32Values(got.Logits)
	for i := range w {
		if math.Abs(float64(w[i]-g[i])) > 0 { // same ops on the same values: bit for bit
			t.Fatalf("logit %d: ForwardInputs %v, Forward %v", i, g[i], w[i])
		}
	}
	bigger := smallConfig(models.TypeBERT)
	bigger.VocabSize = 202
	other, err := NewInputs(bigger, b, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Drop()
	if _, err := m.ForwardInputs(other, false); err == nil || !strings.Contains(err.Error(), "another config") {
		t.Errorf("inputs checked against a larger vocabulary: error %v", err)
	}
}
