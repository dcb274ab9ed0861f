package torch

import (
	"errors"
	"slices"
	"testing"

	"github.com/kiln-ml/kiln/models"
)

// TestPlaceLabels: how the data's labels meet a checkpoint's head.
func TestPlaceLabels(t *testing.T) {
	cases := []struct {
		name     string
		head     []string // id2label of the checkpoint (nil: none in config.json)
		labels   []string
		match    bool
		wantRows []int
		wantHead []string
		wantErr  bool
	}{
		{"names keep the head's order", []string{"positive", "negative"}, []string{"negative", "positive"}, true, []int{1, 0}, []string{"positive", "negative"}, false},
		{"subset of the head", []string{"a", "b", "c"}, []string{"c"}, true, []int{2}, []string{"a", "b", "c"}, false},
		{"integers are class ids", []string{"positive", "negative"}, []string{"0", "1"}, true, []int{0, 1}, []string{"positive", "negative"}, false},
		{"label the head lacks", []string{"positive", "negative"}, []string{"negative", "neutral"}, true, nil, nil, true},
		{"placeholders take the data's names", []string{"LABEL_0", "LABEL_1"}, []string{"neg", "pos"}, true, []int{0, 1}, []string{"neg", "pos"}, false},
		{"placeholders, integer labels", []string{"LABEL_0", "LABEL_1", "LABEL_2"}, []string{"2", "0"}, true, []int{2, 0}, []string{"0", "LABEL_1", "2"}, false},
		{"no id2label at all", nil, []string{"0", "1"}, true, []int{0, 1}, []string{"0", "1"}, false},
		{"without matching the labels replace the head's", []string{"positive", "negative"}, []string{"negative", "positive"}, false, []int{0, 1}, []string{"negative", "positive"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := models.DefaultConfig(models.TypeBERT)
			cfg.ID2Label, cfg.Label2ID = nil, nil
			if tc.head != nil {
				cfg.SetLabels(tc.head)
			}
			rows, err := placeLabels(cfg, tc.labels, tc.match)
			if tc.wantErr {
				if !errors.Is(err, ErrHeadLabels) {
					t.Fatalf("err = %v, want ErrHeadLabels", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rows, tc.wantRows) {
				t.Errorf("rows = %v, want %v", rows, tc.wantRows)
			}
			var head []string
			for i := 0; i < cfg.NumLabels(); i++ {
				head = append(head, cfg.ID2Label[i])
				if cfg.Label2ID[cfg.ID2Label[i]] != i {
					t.Errorf("label2id[%q] = %d, want %d", cfg.ID2Label[i], cfg.Label2ID[cfg.ID2Label[i]], i)
				}
			}
			if !slices.Equal(head, tc.wantHead) {
				t.Errorf("id2label = %v, want %v", head, tc.wantHead)
			}
		})
	}
}
