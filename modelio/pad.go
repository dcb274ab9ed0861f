package modelio

import "fmt"

// Batch is a model input, row-major [Batch, Seq]: what the graph's
// input_ids, attention_mask and token_type_ids take. TokenTypeIDs is nil
// when the rows carried no token types.
type Batch struct {
	Batch, Seq                            int
	InputIDs, AttentionMask, TokenTypeIDs []int64
}

// Token is the integer type token rows may come in.
type Token interface{ ~int | ~int32 | ~int64 }

// Pad lays token rows out as one batch padded to its longest row: padID
// after each row's ids, attention 1 on real tokens and 0 on padding, token
// type 0 on padding. typeIDs is nil (no token types: TokenTypeIDs stays nil)
// or has one entry per row, each nil (all type 0) or as long as its row.
func Pad[T Token](ids, typeIDs [][]T, padID int64) (Batch, error) {
	if typeIDs != nil && len(typeIDs) != len(ids) {
		return Batch{}, fmt.Errorf("pad: %d rows of ids but %d rows of token types", len(ids), len(typeIDs))
	}
	seq := 0
	for _, r := range ids {
		seq = max(seq, len(r))
	}
	n := len(ids)
	b := Batch{Batch: n, Seq: seq, InputIDs: make([]int64, n*seq), AttentionMask: make([]int64, n*seq)}
	if typeIDs != nil {
		b.TokenTypeIDs = make([]int64, n*seq)
	}
	for i, r := range ids {
		row, mask := b.InputIDs[i*seq:(i+1)*seq], b.AttentionMask[i*seq:(i+1)*seq]
		for j, id := range r {
			row[j], mask[j] = int64(id), 1
		}
		for j := len(r); j < seq; j++ {
			row[j] = padID
		}
		if typeIDs == nil || typeIDs[i] == nil {
			continue
		}
		if len(typeIDs[i]) != len(r) {
			return Batch{}, fmt.Errorf("pad: row %d has %d ids but %d token types", i, len(r), len(typeIDs[i]))
		}
		types := b.TokenTypeIDs[i*seq:]
		for j, t := range typeIDs[i] {
			types[j] = int64(t)
		}
	}
	return b, nil
}

// TokenTypesOrZeros returns TokenTypeIDs, or zeros of the batch's shape
// when the rows had none (for a graph that takes token_type_ids anyway).
func (b Batch) TokenTypesOrZeros() []int64 {
	if b.TokenTypeIDs != nil {
		return b.TokenTypeIDs
	}
	return make([]int64, b.Batch*b.Seq)
}

// Shape is the batch's [Batch, Seq] as the graph's dimensions.
func (b Batch) Shape() []int64 { return []int64{int64(b.Batch), int64(b.Seq)} }
