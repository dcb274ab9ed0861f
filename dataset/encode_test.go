package dataset

import (
	"slices"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
)

func TestEncodeDataset(t *testing.T) {
	enc, err := LoadTokenizer(testenv.Testdata("tokenizers/bert-base-uncased"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ReadDataset(writeFile(t, "a.tsv", "text\ttext_pair\tlabel\nHello world\tyes indeed\tb\nA long line of words here\tx\ta\n"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		maxLen  int
		wantIDs [][]int
	}{
		{0, [][]int{{101, 7592, 2088, 102, 2748, 5262, 102}, {101, 1037, 2146, 2240, 1997, 2616, 2182, 102, 1060, 102}}},
		{6, [][]int{{101, 7592, 102, 2748, 5262, 102}, {101, 1037, 2146, 102, 1060, 102}}},
	}
	for _, c := range cases {
		got, err := EncodeDataset(ds, enc, c.maxLen)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range got {
			if !slices.Equal(e.IDs, c.wantIDs[i]) {
				t.Errorf("max %d row %d: ids %v, want %v", c.maxLen, i, e.IDs, c.wantIDs[i])
			}
			if len(e.TypeIDs) != len(e.IDs) || e.TypeIDs[len(e.TypeIDs)-1] != 1 {
				t.Errorf("max %d row %d: type ids %v", c.maxLen, i, e.TypeIDs)
			}
			if e.Label != ds.Examples[i].Label {
				t.Errorf("row %d: label %d, want %d", i, e.Label, ds.Examples[i].Label)
			}
		}
	}
}
