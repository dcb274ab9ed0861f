//go:build !notorch

package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
	"github.com/kiln-ml/kiln/train"
)

// predictLibtorch runs a checkpoint directory on libtorch (the model and
// every batch on r.device, parsed as the trainer parses --device), with the
// trainer's tokeniser and the same truncation and score function as the
// ONNX path.
func predictLibtorch(ctx context.Context, r predictRun) (*predictResult, error) {
	cfg, err := models.LoadConfig(filepath.Join(r.modelDir, modelio.ConfigFile))
	if err != nil {
		return nil, err
	}
	head, err := modelio.HeadOf(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.modelDir, err)
	}
	maxLen := r.maxLen
	if limit, err := modelio.MaxLength(r.modelDir, cfg); err != nil {
		return nil, err
	} else if maxLen > limit {
		return nil, fmt.Errorf("--max-length %d exceeds the model's %d positions", maxLen, limit)
	} else if maxLen == 0 {
		maxLen = limit
	}
	enc, err := dataset.LoadTokenizer(r.modelDir)
	if err != nil {
		return nil, err
	}
	data, err := dataset.EncodeDataset(&dataset.Dataset{File: r.modelDir, Examples: r.rows}, enc, maxLen)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dev, fallback, err := train.ResolveDevice(r.device)
	if err != nil {
		return nil, fmt.Errorf("--device: %w", err)
	}
	m, _, err := mtorch.Load(r.modelDir, mtorch.LoadOptions{Device: dev})
	if err != nil {
		return nil, err
	}
	defer m.Free()
	logits, err := train.PredictLogits(m, data, r.batch, enc.PadID(), dev)
	if err != nil {
		return nil, err
	}
	res := &predictResult{head: head, logits: logits, scores: make([][]float64, len(logits)), fallback: fallback}
	for i, l := range logits {
		if err := head.CheckLogits(len(l)); err != nil {
			return nil, fmt.Errorf("%s: %w", r.modelDir, err)
		}
		res.scores[i] = head.Values(l, false)
	}
	return res, nil
}
