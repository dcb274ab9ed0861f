package train

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/internal/atomicfile"
)

// OOFRow is one line of oof.jsonl: a training row scored by the model of
// the fold that held it out.
type OOFRow struct {
	Line   int       `json:"line"`
	Fold   int       `json:"fold"`
	Label  any       `json:"label"` // class name, list of names, or value
	Pred   any       `json:"prediction"`
	Scores []float64 `json:"scores"` // softmax / sigmoid / value, in label id order
}

// KFoldResult summarises a k-fold run (also written as cv_metrics.json).
type KFoldResult struct {
	Folds []map[string]float64 `json:"folds"` // final evaluation of each fold's model
	Mean  map[string]float64   `json:"mean"`
	Std   map[string]float64   `json:"std"`
	// OOF is every metric over all out-of-fold predictions at once.
	OOF     map[string]float64 `json:"oof"`
	Labels  []string           `json:"labels,omitempty"`
	Elapsed float64            `json:"total_runtime_s"`
}

// RunKFold trains cfg.Folds models by stratified k-fold over cfg.TrainFile:
// fold f trains on the other folds and validates on fold f, in
// OutputDir/fold-f (a complete run directory each). Every training row thus
// gets a prediction from a model that never saw it: OutputDir/oof.jsonl,
// with per-fold and pooled metrics in OutputDir/cv_metrics.json.
// --resume auto resumes each fold from its newest checkpoint; finished
// folds are only re-scored. In a data-parallel job every rank trains every
// fold together (the same fold assignment from the same seed), and rank 0
// alone writes the files; the other ranks return a result without metrics.
func RunKFold(ctx context.Context, cfg Config) (*KFoldResult, error) {
	cfg.Defaults()
	start := time.Now()
	if cfg.ValidFile != "" || cfg.ValidSplit > 0 {
		return nil, fmt.Errorf("--folds %d: each fold validates on its held-out rows; drop --valid/--valid-split", cfg.Folds)
	}
	if cfg.Resume != "" && cfg.Resume != "auto" {
		return nil, fmt.Errorf("--folds with --resume %q: only --resume auto is supported (each fold resumes from its own directory)", cfg.Resume)
	}
	leave, err := joinJob(&cfg)
	if err != nil {
		return nil, err
	}
	defer leave()
	main := cfg.group == nil || cfg.group.Rank() == 0
	ds, err := dataset.ReadDataset(cfg.TrainFile, cfg.Read)
	if err != nil {
		return nil, fmt.Errorf("training data: %w", err)
	}
	assign, err := ds.StratifiedKFold(cfg.Folds, cfg.Seed)
	if err != nil {
		return nil, err
	}
	out := &KFoldResult{Labels: ds.Labels}
	rows := make([]OOFRow, len(ds.Examples))
	scores := make([][]float64, len(ds.Examples))
	for f := 0; f < cfg.Folds; f++ {
		tr, va := ds.Fold(assign, f)
		fc := cfg
		fc.OutputDir = filepath.Join(cfg.OutputDir, fmt.Sprintf("fold-%d", f))
		fc.oof = true
		slog.Info("fold", "fold", f, "of", cfg.Folds, "train", len(tr.Examples), "valid", len(va.Examples))
		res, err := runOn(ctx, fc, tr, va, time.Now())
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", f, err)
		}
		if !main {
			continue
		}
		if len(res.OOF) != len(va.Examples) {
			return nil, fmt.Errorf("fold %d: %d out-of-fold scores for %d rows", f, len(res.OOF), len(va.Examples))
		}
		out.Folds = append(out.Folds, res.Metrics)
		j := 0
		var foldRows []OOFRow
		for i, a := range assign {
			if a != f {
				continue
			}
			scores[i] = res.OOF[j]
			rows[i] = oofRow(ds, i, f, res.OOF[j])
			foldRows = append(foldRows, rows[i])
			j++
		}
		if err := writeJSONL(filepath.Join(fc.OutputDir, "oof.jsonl"), foldRows); err != nil {
			return nil, err
		}
	}
	if !main {
		return out, nil
	}
	if err := writeJSONL(filepath.Join(cfg.OutputDir, "oof.jsonl"), rows); err != nil {
		return nil, err
	}
	labelled := make([]dataset.Encoded, len(ds.Examples))
	for i, ex := range ds.Examples {
		labelled[i] = dataset.Encoded{Label: ex.Label, Targets: ex.Targets}
	}
	out.OOF = ScoreMetrics(scores, labelled, ds.Task, len(ds.Labels))
	out.Mean, out.Std = meanStd(out.Folds)
	out.Elapsed = time.Since(start).Seconds()
	if err := atomicfile.WriteJSON(filepath.Join(cfg.OutputDir, "cv_metrics.json"), out); err != nil {
		return nil, err
	}
	return out, nil
}

// oofRow names the true label and the prediction the way a reader of the
// file wants them: class names, not ids.
func oofRow(ds *dataset.Dataset, i, fold int, sc []float64) OOFRow {
	ex := ds.Examples[i]
	r := OOFRow{Line: ex.Line, Fold: fold, Scores: sc}
	switch ds.Task {
	case dataset.Regression:
		r.Label, r.Pred = ex.Targets[0], sc[0]
	case dataset.MultiLabel:
		var want, got []string
		for j, name := range ds.Labels {
			if ex.Targets[j] > 0.5 {
				want = append(want, name)
			}
			if sc[j] > 0.5 {
				got = append(got, name)
			}
		}
		r.Label, r.Pred = want, got
	default:
		best := 0
		for j, v := range sc {
			if v > sc[best] {
				best = j
			}
		}
		r.Label, r.Pred = ds.Labels[ex.Label], ds.Labels[best]
	}
	return r
}

func meanStd(folds []map[string]float64) (mean, std map[string]float64) {
	mean, std = map[string]float64{}, map[string]float64{}
	var names []string
	for k := range folds[0] {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		var s, s2 float64
		for _, m := range folds {
			s += m[k]
			s2 += m[k] * m[k]
		}
		n := float64(len(folds))
		mean[k] = s / n
		std[k] = math.Sqrt(math.Max(0, s2/n-mean[k]*mean[k]))
	}
	return mean, std
}

func writeJSONL[T any](path string, rows []T) error {
	var sb strings.Builder
	for _, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return atomicfile.WriteFile(path, []byte(sb.String()))
}
