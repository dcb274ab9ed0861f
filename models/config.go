// Package models holds what kiln knows about BERT-family checkpoints without
// libtorch: the HuggingFace config.json (read, validate, write), the
// safetensors and pytorch_model.bin formats, and the HF parameter names of
// every supported architecture. The libtorch encoders live in models/torch.
package models

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/kiln-ml/kiln/internal/atomicfile"
)

// Supported model types (config.json "model_type").
const (
	TypeBERT       = "bert"
	TypeRoBERTa    = "roberta"
	TypeDistilBERT = "distilbert"
	TypeELECTRA    = "electra"
	// TypeDeBERTaV2 is in deberta.go.
)

// Pooling strategies (kiln extension "pooling" in config.json). "cls" is
// what HF's ForSequenceClassification heads do; "mean" and "max" replace
// the selection of the first token by an attention-mask-aware reduction and
// keep every head parameter (and its HF name) unchanged.
const (
	PoolCLS  = "cls"
	PoolMean = "mean"
	PoolMax  = "max"
)

// Problem types as HF names them.
const (
	ProblemSingleLabel = "single_label_classification"
	ProblemMultiLabel  = "multi_label_classification"
	ProblemRegression  = "regression"
)

// Config is a HuggingFace config.json for a BERT-family encoder, normalised
// to BERT's field names whatever the model type (DistilBERT's dim, n_layers,
// … are mapped on load and back on save).
type Config struct {
	ModelType                 string
	HiddenSize                int
	NumHiddenLayers           int
	NumAttentionHeads         int
	IntermediateSize          int
	MaxPositionEmbeddings     int
	TypeVocabSize             int
	VocabSize                 int
	PadTokenID                int
	EmbeddingSize             int // ELECTRA, DeBERTa: width of the embeddings, projected to HiddenSize when different
	HiddenAct                 string
	LayerNormEps              float64
	HiddenDropoutProb         float64
	AttentionProbsDropoutProb float64
	ClassifierDropout         *float64 // nil: HiddenDropoutProb (DistilBERT: seq_classif_dropout)
	InitializerRange          float64
	ID2Label                  map[int]string
	Label2ID                  map[string]int
	ProblemType               string
	Architectures             []string
	Pooling                   string // kiln extension: cls (default) | mean | max

	// SinusoidalPosEmbds is DistilBERT's fixed sinusoidal position table.
	SinusoidalPosEmbds bool

	// Deberta holds the deberta-v2 fields (zero for the other types).
	Deberta DebertaOptions

	// Extra keeps every key kiln does not interpret (transformers_version,
	// bos_token_id, …) so that a load/save round trip loses nothing.
	Extra map[string]json.RawMessage
}

// keys each model type uses for the normalised fields. DistilBERT has its own.
var bertKeys = map[string]string{
	"hidden_size": "hidden_size", "num_hidden_layers": "num_hidden_layers",
	"num_attention_heads": "num_attention_heads", "intermediate_size": "intermediate_size",
	"hidden_act": "hidden_act", "hidden_dropout_prob": "hidden_dropout_prob",
	"attention_probs_dropout_prob": "attention_probs_dropout_prob",
}

var distilKeys = map[string]string{
	"hidden_size": "dim", "num_hidden_layers": "n_layers",
	"num_attention_heads": "n_heads", "intermediate_size": "hidden_dim",
	"hidden_act": "activation", "hidden_dropout_prob": "dropout",
	"attention_probs_dropout_prob": "attention_dropout",
}

// interpreted lists every key Config consumes (either spelling); all others go to Extra.
var interpreted = map[string]bool{
	"model_type": true, "max_position_embeddings": true, "type_vocab_size": true,
	"vocab_size": true, "pad_token_id": true, "embedding_size": true, "layer_norm_eps": true,
	"classifier_dropout": true, "seq_classif_dropout": true, "initializer_range": true,
	"id2label": true, "label2id": true, "problem_type": true, "architectures": true,
	"pooling": true, "sinusoidal_pos_embds": true, "num_labels": true,
}

func init() {
	for k, v := range bertKeys {
		interpreted[k] = true
		interpreted[v] = true
	}
	for _, v := range distilKeys {
		interpreted[v] = true
	}
}

// DefaultConfig returns BERT-base-like defaults for modelType (HF's own
// defaults for each config class), to be overridden by the caller.
func DefaultConfig(modelType string) *Config {
	c := &Config{
		ModelType: modelType, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
		IntermediateSize: 3072, MaxPositionEmbeddings: 512, TypeVocabSize: 2, VocabSize: 30522,
		HiddenAct: "gelu", LayerNormEps: 1e-12, HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1,
		InitializerRange: 0.02, Pooling: PoolCLS,
	}
	switch modelType {
	case TypeRoBERTa:
		c.VocabSize, c.MaxPositionEmbeddings, c.TypeVocabSize, c.PadTokenID, c.LayerNormEps = 50265, 514, 1, 1, 1e-5
	case TypeDistilBERT:
		c.TypeVocabSize = 0
		d := 0.2
		c.ClassifierDropout = &d
	case TypeELECTRA:
		c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize, c.EmbeddingSize = 256, 12, 4, 1024, 128
	case TypeDeBERTaV2:
		defaultDeberta(c)
	}
	c.SetNumLabels(2)
	return c
}

// LoadConfig reads a config.json (a file, or a directory holding one).
func LoadConfig(path string) (*Config, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes config.json bytes. It checks types, not values: call
// Validate before building a model.
func ParseConfig(data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config.json is not a JSON object: %w", err)
	}
	var mt string
	if err := getField(raw, "model_type", &mt); err != nil {
		return nil, err
	}
	if mt == "" {
		return nil, fmt.Errorf(`config.json: "model_type" is missing (want one of bert, roberta, distilbert, electra, deberta-v2)`)
	}
	c := DefaultConfig(mt)
	keys := bertKeys
	if mt == TypeDistilBERT {
		keys = distilKeys
	}
	fields := []struct {
		key string
		dst any
	}{
		{keys["hidden_size"], &c.HiddenSize}, {keys["num_hidden_layers"], &c.NumHiddenLayers},
		{keys["num_attention_heads"], &c.NumAttentionHeads}, {keys["intermediate_size"], &c.IntermediateSize},
		{keys["hidden_act"], &c.HiddenAct}, {keys["hidden_dropout_prob"], &c.HiddenDropoutProb},
		{keys["attention_probs_dropout_prob"], &c.AttentionProbsDropoutProb},
		{"max_position_embeddings", &c.MaxPositionEmbeddings}, {"type_vocab_size", &c.TypeVocabSize},
		{"vocab_size", &c.VocabSize}, {"pad_token_id", &c.PadTokenID}, {"embedding_size", &c.EmbeddingSize},
		{"layer_norm_eps", &c.LayerNormEps}, {"initializer_range", &c.InitializerRange},
		{"problem_type", &c.ProblemType}, {"architectures", &c.Architectures}, {"pooling", &c.Pooling},
		{"sinusoidal_pos_embds", &c.SinusoidalPosEmbds},
	}
	for _, f := range fields {
		if err := getField(raw, f.key, f.dst); err != nil {
			return nil, err
		}
	}
	dropKey := "classifier_dropout"
	switch mt {
	case TypeDistilBERT:
		dropKey = "seq_classif_dropout"
	case TypeDeBERTaV2:
		dropKey = "cls_dropout"
	}
	if v, ok := raw[dropKey]; ok && string(v) != "null" {
		var d float64
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, fmt.Errorf("config.json field %q: %w", dropKey, err)
		}
		c.ClassifierDropout = &d
	}
	if mt == TypeDistilBERT {
		c.LayerNormEps = 1e-12 // fixed in HF's DistilBERT, not configurable
		c.TypeVocabSize = 0
	}
	if (mt == TypeELECTRA || mt == TypeDeBERTaV2) && c.EmbeddingSize == 0 {
		c.EmbeddingSize = c.HiddenSize
	}
	if mt == TypeDeBERTaV2 {
		if err := parseDeberta(raw, c); err != nil {
			return nil, err
		}
	}
	if mt != TypeELECTRA && mt != TypeDeBERTaV2 {
		c.EmbeddingSize = 0 // same as hidden_size
	}
	var id2label map[string]string
	if err := getField(raw, "id2label", &id2label); err != nil {
		return nil, err
	}
	if id2label != nil {
		c.ID2Label = make(map[int]string, len(id2label))
		for k, v := range id2label {
			i, err := strconv.Atoi(k)
			if err != nil {
				return nil, fmt.Errorf("config.json id2label key %q is not an integer: %w", k, err)
			}
			c.ID2Label[i] = v
		}
	}
	if _, has := raw["label2id"]; has {
		c.Label2ID = nil
		if err := getField(raw, "label2id", &c.Label2ID); err != nil {
			return nil, err
		}
	} else {
		c.Label2ID = make(map[string]int, len(c.ID2Label))
		for i, n := range c.ID2Label {
			c.Label2ID[n] = i
		}
	}
	if id2label == nil {
		// HF writes id2label for every config; num_labels alone appears in hand-written ones.
		n := 2
		if err := getField(raw, "num_labels", &n); err != nil {
			return nil, err
		}
		c.SetNumLabels(n)
	}
	c.Extra = map[string]json.RawMessage{}
	for k, v := range raw {
		if !interpreted[k] && !(mt == TypeDeBERTaV2 && debertaKeys[k]) {
			c.Extra[k] = v
		}
	}
	return c, nil
}

func getField(raw map[string]json.RawMessage, key string, dst any) error {
	v, ok := raw[key]
	if !ok || string(v) == "null" {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("config.json field %q: %w", key, err)
	}
	return nil
}

// NumLabels is the number of logits the classification head produces.
func (c *Config) NumLabels() int {
	if len(c.ID2Label) == 0 {
		return 2
	}
	return len(c.ID2Label)
}

// SetNumLabels replaces the label maps with HF's defaults LABEL_0…LABEL_{n-1}.
func (c *Config) SetNumLabels(n int) {
	c.ID2Label = make(map[int]string, n)
	c.Label2ID = make(map[string]int, n)
	for i := 0; i < n; i++ {
		name := "LABEL_" + strconv.Itoa(i)
		c.ID2Label[i] = name
		c.Label2ID[name] = i
	}
}

// SetLabels names the labels in order.
func (c *Config) SetLabels(names []string) {
	c.ID2Label = make(map[int]string, len(names))
	c.Label2ID = make(map[string]int, len(names))
	for i, n := range names {
		c.ID2Label[i] = n
		c.Label2ID[n] = i
	}
}

// ClassifierDropoutProb is the dropout before the classifier as HF computes it.
func (c *Config) ClassifierDropoutProb() float64 {
	if c.ClassifierDropout != nil {
		return *c.ClassifierDropout
	}
	return c.HiddenDropoutProb
}

// MaxSequenceLength is the longest input, special tokens included, the
// position embeddings allow: RoBERTa's positions start after padding_idx.
func (c *Config) MaxSequenceLength() int {
	if c.ModelType == TypeRoBERTa {
		return c.MaxPositionEmbeddings - (c.PadTokenID + 1)
	}
	return c.MaxPositionEmbeddings
}

// EmbeddingWidth is EmbeddingSize, or HiddenSize when unset (0).
func (c *Config) EmbeddingWidth() int {
	if c.EmbeddingSize == 0 {
		return c.HiddenSize
	}
	return c.EmbeddingSize
}

// SupportedActivations are the hidden_act values the encoders implement.
var SupportedActivations = []string{"gelu", "gelu_new", "gelu_pytorch_tanh", "relu"}

// Validate refuses, by name, anything the encoders do not implement.
func (c *Config) Validate() error {
	switch c.ModelType {
	case TypeBERT, TypeRoBERTa, TypeDistilBERT, TypeELECTRA:
	case TypeDeBERTaV2:
		if err := validateDeberta(c); err != nil {
			return err
		}
	default:
		return fmt.Errorf("config: model_type %q is not supported (supported: bert, roberta, distilbert, electra, deberta-v2)", c.ModelType)
	}
	ok := false
	for _, a := range SupportedActivations {
		ok = ok || a == c.HiddenAct
	}
	if !ok {
		return fmt.Errorf("config: hidden_act %q is not supported (supported: %v)", c.HiddenAct, SupportedActivations)
	}
	if v, has := c.Extra["position_embedding_type"]; has {
		var s string
		if err := json.Unmarshal(v, &s); err != nil || s != "absolute" {
			return fmt.Errorf("config: position_embedding_type %s is not supported (only \"absolute\")", v)
		}
	}
	if v, has := c.Extra["is_decoder"]; has && string(v) == "true" {
		return fmt.Errorf("config: is_decoder=true is not supported (encoders only)")
	}
	if v, has := c.Extra["add_cross_attention"]; has && string(v) == "true" {
		return fmt.Errorf("config: add_cross_attention=true is not supported (encoders only)")
	}
	switch c.Pooling {
	case PoolCLS, PoolMean, PoolMax:
	default:
		return fmt.Errorf("config: pooling %q is not supported (supported: cls, mean, max)", c.Pooling)
	}
	switch c.ProblemType {
	case "", ProblemSingleLabel, ProblemMultiLabel, ProblemRegression:
	default:
		return fmt.Errorf("config: problem_type %q is not supported", c.ProblemType)
	}
	positive := []struct {
		name string
		v    int
	}{
		{"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"intermediate_size", c.IntermediateSize},
		{"max_position_embeddings", c.MaxPositionEmbeddings}, {"vocab_size", c.VocabSize},
		{"embedding_size", c.EmbeddingWidth()},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return fmt.Errorf("config: %s must be positive, got %d", p.name, p.v)
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("config: hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.ModelType != TypeDistilBERT && c.ModelType != TypeDeBERTaV2 && c.TypeVocabSize <= 0 {
		return fmt.Errorf("config: type_vocab_size must be positive, got %d", c.TypeVocabSize)
	}
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		return fmt.Errorf("config: pad_token_id %d is outside the vocabulary (vocab_size %d)", c.PadTokenID, c.VocabSize)
	}
	if c.ModelType == TypeRoBERTa && c.MaxPositionEmbeddings <= c.PadTokenID+1 {
		return fmt.Errorf("config: roberta max_position_embeddings %d leaves no positions past pad_token_id %d", c.MaxPositionEmbeddings, c.PadTokenID)
	}
	if c.ModelType != TypeELECTRA && c.ModelType != TypeDeBERTaV2 && c.EmbeddingWidth() != c.HiddenSize {
		return fmt.Errorf("config: embedding_size %d != hidden_size %d is only supported for electra and deberta-v2", c.EmbeddingSize, c.HiddenSize)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"hidden_dropout_prob", c.HiddenDropoutProb}, {"attention_probs_dropout_prob", c.AttentionProbsDropoutProb}, {"classifier_dropout", c.ClassifierDropoutProb()}} {
		if p.v < 0 || p.v >= 1 {
			return fmt.Errorf("config: %s must be in [0, 1), got %g", p.name, p.v)
		}
	}
	if c.LayerNormEps <= 0 {
		return fmt.Errorf("config: layer_norm_eps must be positive, got %g", c.LayerNormEps)
	}
	if n := c.NumLabels(); n < 1 {
		return fmt.Errorf("config: need at least one label, got %d", n)
	}
	for i := 0; i < len(c.ID2Label); i++ {
		if _, ok := c.ID2Label[i]; !ok {
			return fmt.Errorf("config: id2label has no entry for id %d (ids must be 0..%d)", i, c.NumLabels()-1)
		}
	}
	return nil
}

// MarshalJSON writes the HF layout for the model type: HF's from_pretrained
// reads it back unchanged.
func (c *Config) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	for k, v := range c.Extra {
		out[k] = v
	}
	keys := bertKeys
	if c.ModelType == TypeDistilBERT {
		keys = distilKeys
	}
	out["model_type"] = c.ModelType
	out[keys["hidden_size"]] = c.HiddenSize
	out[keys["num_hidden_layers"]] = c.NumHiddenLayers
	out[keys["num_attention_heads"]] = c.NumAttentionHeads
	out[keys["intermediate_size"]] = c.IntermediateSize
	out[keys["hidden_act"]] = c.HiddenAct
	out[keys["hidden_dropout_prob"]] = c.HiddenDropoutProb
	out[keys["attention_probs_dropout_prob"]] = c.AttentionProbsDropoutProb
	out["max_position_embeddings"] = c.MaxPositionEmbeddings
	out["vocab_size"] = c.VocabSize
	out["pad_token_id"] = c.PadTokenID
	out["initializer_range"] = c.InitializerRange
	switch c.ModelType {
	case TypeDistilBERT:
		out["sinusoidal_pos_embds"] = c.SinusoidalPosEmbds
		out["seq_classif_dropout"] = c.ClassifierDropoutProb()
	default:
		out["type_vocab_size"] = c.TypeVocabSize
		out["layer_norm_eps"] = c.LayerNormEps
		out["classifier_dropout"] = c.ClassifierDropout // null is HF's "use hidden_dropout_prob"
	}
	if c.ModelType == TypeELECTRA {
		out["embedding_size"] = c.EmbeddingWidth()
	}
	if c.ModelType == TypeDeBERTaV2 {
		marshalDeberta(c, out)
		delete(out, "classifier_dropout") // deberta's is cls_dropout
	}
	if c.ProblemType != "" {
		out["problem_type"] = c.ProblemType
	}
	if len(c.Architectures) > 0 {
		out["architectures"] = c.Architectures
	}
	if c.Pooling != "" && c.Pooling != PoolCLS {
		out["pooling"] = c.Pooling
	}
	if am := c.autoMap(); am != nil {
		out["auto_map"] = am
	} else if raw, ok := c.Extra["auto_map"]; ok && staleAutoMap(raw) {
		delete(out, "auto_map")
	}
	id2label := map[string]string{}
	ids := make([]int, 0, len(c.ID2Label))
	for i := range c.ID2Label {
		ids = append(ids, i)
	}
	sort.Ints(ids)
	for _, i := range ids {
		id2label[strconv.Itoa(i)] = c.ID2Label[i]
	}
	out["id2label"] = id2label
	label2id := c.Label2ID
	if label2id == nil {
		label2id = map[string]int{}
		for i, n := range c.ID2Label {
			label2id[n] = i
		}
	}
	out["label2id"] = label2id
	return json.MarshalIndent(out, "", "  ")
}

// Save writes config.json (a path ending in .json, or a directory)
// atomically, and kiln_modeling.py beside it when transformers needs it to
// reproduce the model's pooling (see RemoteCodeFile).
func (c *Config) Save(path string) error {
	if filepath.Ext(path) != ".json" {
		path = filepath.Join(path, "config.json")
	}
	data, err := c.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := c.writeRemoteCode(filepath.Dir(path)); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'))
}
