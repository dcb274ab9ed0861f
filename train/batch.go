package train

import (
	"math/rand/v2"
	"sort"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// EpochBatches returns the micro-batches (indices into data) of one epoch.
// The order depends only on (seed, epoch), which is what makes resuming at a
// batch index exact. groupByLength sorts within mega-batches of 50 batches
// (HF's LengthGroupedSampler idea) so padding stays small while the order
// stays random.
func EpochBatches(data []dataset.Encoded, batchSize int, seed uint64, epoch int, shuffle, groupByLength bool) [][]int {
	idx := make([]int, len(data))
	for i := range idx {
		idx[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, uint64(epoch)+0x9e3779b97f4a7c15))
	if shuffle {
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	}
	if groupByLength {
		mega := 50 * batchSize
		for s := 0; s < len(idx); s += mega {
			chunk := idx[s:min(s+mega, len(idx))]
			sort.SliceStable(chunk, func(a, b int) bool { return len(data[chunk[a]].IDs) > len(data[chunk[b]].IDs) })
		}
	}
	var batches [][]int
	for s := 0; s < len(idx); s += batchSize {
		batches = append(batches, idx[s:min(s+batchSize, len(idx))])
	}
	if groupByLength && shuffle {
		rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	}
	return batches
}

// Batch holds the tensors of one micro-batch, padded to its longest row:
// the model's inputs (IDs, Mask, Types), checked on the Go side before the
// tensors were made, and the labels.
type Batch struct {
	*mtorch.Inputs
	Labels *ts.Tensor // int64 [B] or float [B, T]
	N      int
}

// Drop frees the batch's tensors.
func (b *Batch) Drop() {
	if b.Inputs != nil {
		b.Inputs.Drop()
	}
	if b.Labels != nil {
		b.Labels.MustDrop()
	}
}

// MakeBatch pads rows dynamically (to the longest in the batch) and checks
// them against the model's config (mtorch.NewInputs), so the forward on the
// batch (Model.ForwardInputs) reads nothing back from the device.
func MakeBatch(data []dataset.Encoded, rows []int, padID int, task string, cfg *models.Config, dev gotch.Device) (*Batch, error) {
	n := len(rows)
	ids, types := make([][]int, n), make([][]int, n)
	for i, r := range rows {
		ids[i], types[i] = data[r].IDs, data[r].TypeIDs
	}
	padded, err := modelio.Pad(ids, types, int64(padID))
	if err != nil {
		return nil, err
	}
	b := &Batch{N: n}
	if b.Inputs, err = mtorch.NewInputs(cfg, padded, dev); err != nil {
		return nil, err
	}
	switch {
	case len(data[rows[0]].Targets) == 0 && task != dataset.SingleLabel:
		// unlabelled rows (prediction): no label tensor
	case task == dataset.SingleLabel:
		lab := make([]int64, n)
		for i, r := range rows {
			lab[i] = int64(data[r].Label)
		}
		b.Labels, err = ts.OfSlice(lab)
	default:
		width := len(data[rows[0]].Targets)
		tg := make([]float32, 0, n*width)
		for _, r := range rows {
			tg = append(tg, data[r].Targets...)
		}
		var t *ts.Tensor
		if t, err = ts.OfSlice(tg); err == nil {
			b.Labels = t.MustView([]int64{int64(n), int64(width)}, true)
		}
	}
	if err != nil {
		b.Drop()
		return nil, err
	}
	if dev != gotch.CPU && b.Labels != nil {
		b.Labels = b.Labels.MustTo(dev, true)
	}
	return b, nil
}
