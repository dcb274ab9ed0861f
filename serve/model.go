package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/kiln-ml/kiln/models"
)

// Files of an exported model directory (kiln export writes them).
const (
	ModelFile           = "model.onnx"
	ConfigFile          = "config.json"
	TokenizerFile       = "tokenizer.json"
	TokenizerConfigFile = "tokenizer_config.json"
)

// Score functions, chosen from the config as HF's text-classification
// pipeline chooses them.
const (
	FuncSoftmax = "softmax" // single-label, two or more labels
	FuncSigmoid = "sigmoid" // multi-label, or one logit trained with BCE
	FuncNone    = "none"    // regression: the value itself
)

// ModelInfo is what serve reads from an export directory besides the graph.
type ModelInfo struct {
	Dir         string
	Name        string
	ModelType   string
	ProblemType string
	Labels      []string // index = logit position
	Function    string   // FuncSoftmax, FuncSigmoid or FuncNone
	MaxLength   int      // tokens per sequence, special tokens included
	PadID       int
}

// LoadModelInfo reads config.json (and tokenizer_config.json for the
// tokenizer's own length limit) from an export directory.
func LoadModelInfo(dir string) (*ModelInfo, error) {
	cfgPath := filepath.Join(dir, ConfigFile)
	cfg, err := models.LoadConfig(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	for _, f := range []string{ModelFile, TokenizerFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("model %s: %w (serve needs a directory written by `kiln export`)", dir, err)
		}
	}
	n := cfg.NumLabels()
	if n <= 0 {
		return nil, fmt.Errorf("%s: no labels (id2label/num_labels): serve needs a classifier", cfgPath)
	}
	m := &ModelInfo{
		Dir: dir, Name: filepath.Base(filepath.Clean(dir)), ModelType: cfg.ModelType,
		ProblemType: cfg.ProblemType, Labels: make([]string, n), PadID: cfg.PadTokenID,
	}
	for i := range m.Labels {
		if l, ok := cfg.ID2Label[i]; ok {
			m.Labels[i] = l
		} else {
			m.Labels[i] = fmt.Sprintf("LABEL_%d", i)
		}
	}
	switch {
	case cfg.ProblemType == models.ProblemRegression:
		m.Function = FuncNone
	case cfg.ProblemType == models.ProblemMultiLabel || n == 1:
		m.Function = FuncSigmoid
	default:
		m.Function = FuncSoftmax
	}
	// Position embeddings bound the length; RoBERTa's ids start after the
	// padding index, which costs it two positions.
	m.MaxLength = cfg.MaxPositionEmbeddings
	if cfg.ModelType == models.TypeRoBERTa {
		m.MaxLength -= 2
	}
	if tl, ok, err := tokenizerMaxLength(filepath.Join(dir, TokenizerConfigFile)); err != nil {
		return nil, err
	} else if ok && (m.MaxLength <= 0 || tl < m.MaxLength) {
		m.MaxLength = tl
	}
	if m.MaxLength <= 0 {
		return nil, fmt.Errorf("%s: max_position_embeddings %d gives no usable sequence length", cfgPath, cfg.MaxPositionEmbeddings)
	}
	return m, nil
}

// tokenizerMaxLength reads model_max_length; transformers writes a huge
// sentinel (1e30) when it is unset, which counts as absent.
func tokenizerMaxLength(path string) (int, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	var tc struct {
		ModelMaxLength *float64 `json:"model_max_length"`
	}
	if err := json.Unmarshal(data, &tc); err != nil {
		return 0, false, fmt.Errorf("%s: %w", path, err)
	}
	if tc.ModelMaxLength == nil || *tc.ModelMaxLength <= 0 || *tc.ModelMaxLength > 1<<20 {
		return 0, false, nil
	}
	return int(*tc.ModelMaxLength), true, nil
}

// Prediction is one label's score, as text-embeddings-inference writes it.
type Prediction struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

// Scores turns one row of logits into predictions sorted by descending
// score. raw keeps the logits; topK > 0 keeps that many.
func (m *ModelInfo) Scores(logits []float32, raw bool, topK int) []Prediction {
	s := m.Values(logits, raw)
	out := make([]Prediction, len(s))
	for i, v := range s {
		label := fmt.Sprintf("LABEL_%d", i)
		if i < len(m.Labels) {
			label = m.Labels[i]
		}
		out[i] = Prediction{Label: label, Score: v}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	if topK > 0 && topK < len(out) {
		out = out[:topK]
	}
	return out
}

// Values applies the score function to one row of logits (raw keeps them),
// in label order.
func (m *ModelInfo) Values(logits []float32, raw bool) []float64 {
	s := make([]float64, len(logits))
	for i, v := range logits {
		s[i] = float64(v)
	}
	if !raw {
		switch m.Function {
		case FuncSoftmax:
			softmax(s)
		case FuncSigmoid:
			for i, v := range s {
				s[i] = 1 / (1 + math.Exp(-v))
			}
		}
	}
	return s
}

// softmax in place, shifted by the maximum so large logits do not overflow.
func softmax(v []float64) {
	if len(v) == 0 {
		return
	}
	mx := v[0]
	for _, x := range v {
		mx = math.Max(mx, x)
	}
	sum := 0.0
	for i, x := range v {
		v[i] = math.Exp(x - mx)
		sum += v[i]
	}
	for i := range v {
		v[i] /= sum
	}
}
