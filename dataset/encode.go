package dataset

import "fmt"

// Encoded is one tokenised example.
type Encoded struct {
	IDs, TypeIDs []int
	Label        int
	Targets      []float32
}

// EncodeDataset tokenises every example once, before training.
func EncodeDataset(ds *Dataset, enc TextEncoder, maxLen int) ([]Encoded, error) {
	out := make([]Encoded, len(ds.Examples))
	for i, ex := range ds.Examples {
		ids, types, err := enc.Encode(ex.Text, ex.Pair, ex.HasPair, maxLen)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", ds.File, ex.Line, err)
		}
		out[i] = Encoded{IDs: ids, TypeIDs: types, Label: ex.Label, Targets: ex.Targets}
	}
	return out, nil
}
