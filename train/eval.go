package train

import (
	"fmt"
	"math"
	"runtime"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/dataset"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

// Scores turns logits into what a user (and the server) sees: softmax
// probabilities for single-label, sigmoid for multi-label, the raw value
// for regression.
func Scores(logits *ts.Tensor, task string) ([][]float64, error) {
	var p *ts.Tensor
	switch task {
	case dataset.MultiLabel:
		p = logits.MustSigmoid(false)
	case dataset.Regression:
		p = logits.MustShallowClone()
	default:
		p = logits.MustSoftmax(-1, gotch.Float, false)
	}
	defer p.MustDrop()
	vals, shape, err := mtorch.Float32Values(p)
	if err != nil {
		return nil, err
	}
	if len(shape) != 2 {
		return nil, fmt.Errorf("logits shape %v: want [batch, labels]", shape)
	}
	out := make([][]float64, shape[0])
	w := int(shape[1])
	for i := range out {
		out[i] = make([]float64, w)
		for j := 0; j < w; j++ {
			out[i][j] = float64(vals[i*w+j])
		}
	}
	return out, nil
}

// Predict runs the model in eval mode over data and returns per-row scores.
func Predict(model *mtorch.Model, data []dataset.Encoded, batchSize, padID int, task string, dev gotch.Device) ([][]float64, error) {
	return predictShard(model, data, batchSize, padID, task, dev, 0, 1)
}

// predictShard is Predict over every world-th batch from the rank-th (a
// data-parallel rank's share of an evaluation); the other batches' rows
// are left nil. Each batch is the one Predict forms, so its scores are
// bit for bit those of one process.
func predictShard(model *mtorch.Model, data []dataset.Encoded, batchSize, padID int, task string, dev gotch.Device, rank, world int) ([][]float64, error) {
	runtime.LockOSThread() // grad mode is per OS thread
	defer runtime.UnlockOSThread()
	all := make([][]float64, 0, len(data))
	var ferr error
	ts.NoGrad(func() {
		for s := 0; s < len(data); s += batchSize {
			if (s/batchSize)%world != rank {
				all = append(all, make([][]float64, min(batchSize, len(data)-s))...)
				continue
			}
			rows := make([]int, 0, batchSize)
			for i := s; i < min(s+batchSize, len(data)); i++ {
				rows = append(rows, i)
			}
			b, err := MakeBatch(data, rows, padID, task, model.Config, dev)
			if err != nil {
				ferr = err
				return
			}
			out, err := model.ForwardInputs(b.Inputs, false)
			b.Drop()
			if err != nil {
				ferr = err
				return
			}
			sc, err := Scores(out.Logits, task)
			out.Drop()
			if err != nil {
				ferr = err
				return
			}
			all = append(all, sc...)
		}
	})
	return all, ferr
}

// Evaluate computes the task's metrics on data: accuracy, macro-F1 and
// ROC-AUC (binary) for single-label; per-label accuracy and macro-F1 for
// multi-label; MSE and Pearson for regression. "loss" is always included.
func Evaluate(model *mtorch.Model, data []dataset.Encoded, batchSize, padID int, task string, numLabels int, dev gotch.Device) (map[string]float64, error) {
	sc, err := Predict(model, data, batchSize, padID, task, dev)
	if err != nil {
		return nil, err
	}
	return ScoreMetrics(sc, data, task, numLabels), nil
}

// ScoreMetrics computes Evaluate's metrics from per-row scores (as Predict
// returns them) against the labels in data.
func ScoreMetrics(sc [][]float64, data []dataset.Encoded, task string, numLabels int) map[string]float64 {
	m := map[string]float64{}
	var loss float64
	switch task {
	case dataset.Regression:
		pred := make([]float64, len(sc))
		tgt := make([]float64, len(sc))
		for i := range sc {
			pred[i], tgt[i] = sc[i][0], float64(data[i].Targets[0])
		}
		m["mse"] = dataset.MSE(pred, tgt)
		m["pearson"] = dataset.Pearson(pred, tgt)
		loss = m["mse"]
	case dataset.MultiLabel:
		var correct, total int
		var f1 float64
		for j := 0; j < numLabels; j++ {
			pred := make([]int, len(sc))
			lab := make([]int, len(sc))
			for i := range sc {
				if sc[i][j] > 0.5 {
					pred[i] = 1
				}
				if data[i].Targets[j] > 0.5 {
					lab[i] = 1
				}
				if pred[i] == lab[i] {
					correct++
				}
				total++
				p := math.Min(math.Max(sc[i][j], 1e-12), 1-1e-12)
				y := float64(data[i].Targets[j])
				loss -= y*math.Log(p) + (1-y)*math.Log(1-p)
			}
			f1 += dataset.MacroF1(pred, lab, 2)
		}
		m["accuracy"] = float64(correct) / float64(total)
		m["macro_f1"] = f1 / float64(numLabels)
		loss /= float64(total)
	default:
		pred := make([]int, len(sc))
		lab := make([]int, len(sc))
		pos := make([]float64, len(sc))
		for i, row := range sc {
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			pred[i], lab[i] = best, data[i].Label
			loss -= math.Log(math.Max(row[lab[i]], 1e-12))
			if len(row) == 2 {
				pos[i] = row[1]
			}
		}
		loss /= float64(len(sc))
		m["accuracy"] = dataset.Accuracy(pred, lab)
		m["macro_f1"] = dataset.MacroF1(pred, lab, numLabels)
		if numLabels == 2 {
			if auc, err := dataset.ROCAUC(pos, lab); err == nil {
				m["roc_auc"] = auc
			}
		}
	}
	m["loss"] = loss
	return m
}

// PredictLogits runs the model in eval mode over data and returns the raw
// float32 logits per row (kiln predict applies the server's score
// functions to them, so both report the same numbers).
func PredictLogits(model *mtorch.Model, data []dataset.Encoded, batchSize, padID int, dev gotch.Device) ([][]float32, error) {
	runtime.LockOSThread() // grad mode is per OS thread
	defer runtime.UnlockOSThread()
	var all [][]float32
	var ferr error
	ts.NoGrad(func() {
		for s := 0; s < len(data); s += batchSize {
			rows := make([]int, 0, batchSize)
			for i := s; i < min(s+batchSize, len(data)); i++ {
				rows = append(rows, i)
			}
			// The task only shapes the label tensor, which unlabelled
			// rows do not have.
			b, err := MakeBatch(data, rows, padID, dataset.Regression, model.Config, dev)
			if err != nil {
				ferr = err
				return
			}
			out, err := model.ForwardInputs(b.Inputs, false)
			b.Drop()
			if err != nil {
				ferr = err
				return
			}
			vals, shape, err := mtorch.Float32Values(out.Logits)
			out.Drop()
			if err != nil {
				ferr = err
				return
			}
			if len(shape) != 2 {
				ferr = fmt.Errorf("logits shape %v: want [batch, labels]", shape)
				return
			}
			w := int(shape[1])
			for i := 0; i < int(shape[0]); i++ {
				all = append(all, vals[i*w:(i+1)*w:(i+1)*w])
			}
		}
	})
	return all, ferr
}
