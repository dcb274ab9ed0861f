package serve

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/models"
)

// ModelInfo is what serve reads from an export directory besides the graph.
type ModelInfo struct {
	Dir          string
	Name         string
	ModelType    string
	ProblemType  string
	modelio.Head     // labels (index = logit position) and score function
	MaxLength    int // tokens per sequence, special tokens included
	PadID        int
}

// LoadModelInfo reads config.json (and tokenizer_config.json for the
// tokenizer's own length limit) from an export directory, and checks that
// it has a tokenizer.json (model.onnx is checked when the sessions open).
func LoadModelInfo(dir string) (*ModelInfo, error) {
	cfgPath := filepath.Join(dir, modelio.ConfigFile)
	cfg, err := models.LoadConfig(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, modelio.TokenizerFile)); err != nil {
		return nil, fmt.Errorf("model %s: %w (serve needs a directory written by `kiln export`)", dir, err)
	}
	head, err := modelio.HeadOf(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: serve needs a classifier", cfgPath, err)
	}
	m := &ModelInfo{
		Dir: dir, Name: filepath.Base(filepath.Clean(dir)), ModelType: cfg.ModelType,
		ProblemType: cfg.ProblemType, Head: head, PadID: cfg.PadTokenID,
	}
	if m.MaxLength, err = modelio.MaxLength(dir, cfg); err != nil {
		return nil, err
	}
	return m, nil
}

// Prediction is one label's score, as text-embeddings-inference writes it.
type Prediction = modelio.Label

// Scores turns one row of logits into predictions sorted by descending
// score. raw keeps the logits; topK > 0 keeps that many.
func (m *ModelInfo) Scores(logits []float32, raw bool, topK int) []Prediction {
	return m.Ranked(m.Values(logits, raw), topK)
}
