package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Init kinds of a parameter, following HF's _init_weights.
const (
	InitNormal     = "normal"     // N(0, initializer_range)
	InitZeros      = "zeros"      // biases
	InitOnes       = "ones"       // LayerNorm weights
	InitSinusoidal = "sinusoidal" // DistilBERT's fixed position table
)

// ParamSpec names one parameter of a ForSequenceClassification model.
type ParamSpec struct {
	Name  string
	Shape []int64
	Init  string
	// PaddingIdx >= 0 marks an embedding whose row PaddingIdx is zero at
	// init and receives no gradient (nn.Embedding(padding_idx=…)).
	PaddingIdx int
}

// BasePrefix is the attribute under which HF's ForSequenceClassification
// models keep the encoder: "bert.", "roberta.", "distilbert.", "electra.",
// "deberta.".
func BasePrefix(modelType string) string {
	if modelType == TypeDeBERTaV2 {
		return "deberta."
	}
	return modelType + "."
}

// LayerPrefix is the name prefix of encoder layer i (with BasePrefix).
func LayerPrefix(modelType string, i int) string {
	if modelType == TypeDistilBERT {
		return BasePrefix(modelType) + "transformer.layer." + strconv.Itoa(i) + "."
	}
	return BasePrefix(modelType) + "encoder.layer." + strconv.Itoa(i) + "."
}

// LayerParamNames maps kiln's role names for the parts of one encoder layer
// to the HF suffixes of each architecture (BERT, RoBERTa and ELECTRA share
// theirs). Each role has a .weight and a .bias.
var LayerParamNames = map[string]map[string]string{
	TypeBERT: {
		"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
		"attn_out": "attention.output.dense", "attn_ln": "attention.output.LayerNorm",
		"ffn_in": "intermediate.dense", "ffn_out": "output.dense", "out_ln": "output.LayerNorm",
	},
	TypeDistilBERT: {
		"query": "attention.q_lin", "key": "attention.k_lin", "value": "attention.v_lin",
		"attn_out": "attention.out_lin", "attn_ln": "sa_layer_norm",
		"ffn_in": "ffn.lin1", "ffn_out": "ffn.lin2", "out_ln": "output_layer_norm",
	},
}

func init() {
	LayerParamNames[TypeDeBERTaV2] = map[string]string{
		"query": "attention.self.query_proj", "key": "attention.self.key_proj", "value": "attention.self.value_proj",
		"attn_out": "attention.output.dense", "attn_ln": "attention.output.LayerNorm",
		"ffn_in": "intermediate.dense", "ffn_out": "output.dense", "out_ln": "output.LayerNorm",
		// only with relative_attention and without share_att_key:
		"pos_key": "attention.self.pos_key_proj", "pos_query": "attention.self.pos_query_proj",
	}
	LayerParamNames[TypeRoBERTa] = LayerParamNames[TypeBERT]
	LayerParamNames[TypeELECTRA] = LayerParamNames[TypeBERT]
}

// ParamSpecs lists every parameter of the model kiln builds for cfg, in a
// stable order, under the names HF's <Arch>ForSequenceClassification uses.
func ParamSpecs(cfg *Config) []ParamSpec {
	var ps []ParamSpec
	add := func(name, init string, shape ...int64) {
		ps = append(ps, ParamSpec{Name: name, Shape: shape, Init: init, PaddingIdx: -1})
	}
	linear := func(name string, out, in int) {
		add(name+".weight", InitNormal, int64(out), int64(in))
		add(name+".bias", InitZeros, int64(out))
	}
	norm := func(name string, n int) {
		add(name+".weight", InitOnes, int64(n))
		add(name+".bias", InitZeros, int64(n))
	}
	H, E, mt := cfg.HiddenSize, cfg.EmbeddingWidth(), cfg.ModelType
	if mt == TypeDeBERTaV2 {
		return debertaParamSpecs(cfg)
	}
	base := BasePrefix(mt)
	emb := base + "embeddings."
	ps = append(ps, ParamSpec{Name: emb + "word_embeddings.weight", Shape: []int64{int64(cfg.VocabSize), int64(E)}, Init: InitNormal, PaddingIdx: cfg.PadTokenID})
	posInit, posPad := InitNormal, -1
	if mt == TypeRoBERTa {
		posPad = cfg.PadTokenID
	}
	if mt == TypeDistilBERT && cfg.SinusoidalPosEmbds {
		posInit = InitSinusoidal
	}
	ps = append(ps, ParamSpec{Name: emb + "position_embeddings.weight", Shape: []int64{int64(cfg.MaxPositionEmbeddings), int64(E)}, Init: posInit, PaddingIdx: posPad})
	if mt != TypeDistilBERT {
		add(emb+"token_type_embeddings.weight", InitNormal, int64(cfg.TypeVocabSize), int64(E))
	}
	norm(emb+"LayerNorm", E)
	if mt == TypeELECTRA && E != H {
		linear(base+"embeddings_project", H, E)
	}
	names := LayerParamNames[mt]
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		lp := LayerPrefix(mt, i)
		linear(lp+names["query"], H, H)
		linear(lp+names["key"], H, H)
		linear(lp+names["value"], H, H)
		linear(lp+names["attn_out"], H, H)
		norm(lp+names["attn_ln"], H)
		linear(lp+names["ffn_in"], cfg.IntermediateSize, H)
		linear(lp+names["ffn_out"], H, cfg.IntermediateSize)
		norm(lp+names["out_ln"], H)
	}
	N := cfg.NumLabels()
	switch mt {
	case TypeBERT:
		linear(base+"pooler.dense", H, H)
		linear("classifier", N, H)
	case TypeRoBERTa, TypeELECTRA:
		linear("classifier.dense", H, H)
		linear("classifier.out_proj", N, H)
	case TypeDistilBERT:
		linear("pre_classifier", H, H)
		linear("classifier", N, H)
	}
	return ps
}

// IsHeadParam reports whether name belongs to the classification head
// (the part a base checkpoint lacks and a fresh fine-tune initialises).
func IsHeadParam(modelType, name string) bool {
	return !strings.HasPrefix(name, BasePrefix(modelType)) || (modelType == TypeBERT && strings.HasPrefix(name, "bert.pooler."))
}

// ignoredKeys are buffers HF itself drops on load (not parameters).
func isBufferKey(name string) bool {
	return strings.HasSuffix(name, "embeddings.position_ids") || strings.HasSuffix(name, "embeddings.token_type_ids")
}

// pretrainingHeads are prefixes of pre-training heads (MLM, NSP, ELECTRA
// discriminator, pooler of a RoBERTa/ELECTRA base) that a sequence
// classifier drops; their presence is announced, never an error.
var pretrainingHeads = []string{
	"cls.", "lm_head.", "vocab_transform.", "vocab_layer_norm.", "vocab_projector.",
	"discriminator_predictions.", "generator_predictions.", "generator_lm_head.",
	"roberta.pooler.", "electra.pooler.", "qa_outputs.",
	// DeBERTa-v3 pre-training checkpoints: the MLM and replaced-token-detection heads.
	"lm_predictions.", "mask_predictions.",
	// HF's _keys_to_ignore_on_load_unexpected when position_biased_input is false.
	"deberta.embeddings.position_embeddings.",
}

// KeyReport classifies the keys of a checkpoint against a model.
type KeyReport struct {
	Missing    []string // model parameters the checkpoint lacks
	Unexpected []string // checkpoint tensors the model has no place for
	Dropped    []string // pre-training heads and buffers, dropped as HF does
	Renamed    int      // keys renamed (added base prefix, gamma/beta → weight/bias)
}

// MissingOnlyHead reports whether every missing key is a head parameter,
// the normal situation when fine-tuning from a base checkpoint.
func (r *KeyReport) MissingOnlyHead(modelType string) bool {
	for _, k := range r.Missing {
		if !IsHeadParam(modelType, k) {
			return false
		}
	}
	return true
}

// NormalizeStateDict maps a checkpoint's keys to kiln's (HF ForSequenceClassification)
// names: base-model checkpoints (no "bert." prefix) get the prefix, old
// LayerNorm.gamma/beta become weight/bias, buffers and pre-training heads
// are dropped. It returns the renamed dict and the key report against cfg.
func NormalizeStateDict(cfg *Config, sd StateDict) (StateDict, *KeyReport) {
	rep := &KeyReport{}
	specs := ParamSpecs(cfg)
	want := make(map[string]bool, len(specs))
	for _, s := range specs {
		want[s.Name] = true
	}
	base := BasePrefix(cfg.ModelType)
	out := make(StateDict, len(sd))
	for _, k := range sd.Names() {
		name := k
		if strings.HasSuffix(name, ".gamma") {
			name = strings.TrimSuffix(name, ".gamma") + ".weight"
		} else if strings.HasSuffix(name, ".beta") {
			name = strings.TrimSuffix(name, ".beta") + ".bias"
		}
		if !want[name] && want[base+name] {
			name = base + name
		}
		if isBufferKey(name) {
			rep.Dropped = append(rep.Dropped, k)
			continue
		}
		if !want[name] {
			dropped := false
			for _, p := range pretrainingHeads {
				if strings.HasPrefix(name, p) || strings.HasPrefix(base+name, p) {
					dropped = true
				}
			}
			if dropped {
				rep.Dropped = append(rep.Dropped, k)
			} else {
				rep.Unexpected = append(rep.Unexpected, k)
			}
			continue
		}
		if name != k {
			rep.Renamed++
		}
		out[name] = sd[k]
	}
	for _, s := range specs {
		if _, ok := out[s.Name]; !ok {
			rep.Missing = append(rep.Missing, s.Name)
		}
	}
	return out, rep
}

// LoadStateDict reads dir/model.safetensors, else dir/pytorch_model.bin.
// Sharded checkpoints (model.safetensors.index.json) are refused by name.
func LoadStateDict(dir string) (StateDict, error) {
	st := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(st); err == nil {
		sd, _, err := ReadSafetensors(st)
		return sd, err
	}
	bin := filepath.Join(dir, "pytorch_model.bin")
	if _, err := os.Stat(bin); err == nil {
		return ReadPytorchBin(bin)
	}
	for _, idx := range []string{"model.safetensors.index.json", "pytorch_model.bin.index.json"} {
		if _, err := os.Stat(filepath.Join(dir, idx)); err == nil {
			return nil, fmt.Errorf("%s: sharded checkpoints are not supported", filepath.Join(dir, idx))
		}
	}
	return nil, fmt.Errorf("%s: no model.safetensors or pytorch_model.bin", dir)
}

// InitStateDict draws a fresh model for cfg as HF's _init_weights does:
// weights N(0, initializer_range), biases 0, LayerNorm 1/0, the padding row
// of padded embeddings 0, DistilBERT's sinusoidal table if configured.
// dtype is F32, F16 or BF16.
func InitStateDict(cfg *Config, seed uint64, dtype string) (StateDict, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6e))
	std := cfg.InitializerRange
	if std <= 0 {
		std = 0.02
	}
	sd := StateDict{}
	for _, s := range ParamSpecs(cfg) {
		n := int64(1)
		for _, d := range s.Shape {
			n *= d
		}
		v := make([]float32, n)
		switch s.Init {
		case InitNormal:
			for i := range v {
				v[i] = float32(rng.NormFloat64() * std)
			}
		case InitOnes:
			for i := range v {
				v[i] = 1
			}
		case InitSinusoidal:
			sinusoidal(v, int(s.Shape[0]), int(s.Shape[1]))
		}
		if s.PaddingIdx >= 0 && len(s.Shape) == 2 && int64(s.PaddingIdx) < s.Shape[0] {
			w := int(s.Shape[1])
			clear(v[s.PaddingIdx*w : (s.PaddingIdx+1)*w])
		}
		t, err := FromFloat32s(dtype, s.Shape, v)
		if err != nil {
			return nil, fmt.Errorf("init %s: %w", s.Name, err)
		}
		sd[s.Name] = t
	}
	return sd, nil
}

// sinusoidal fills DistilBERT's create_sinusoidal_embeddings table.
func sinusoidal(v []float32, nPos, dim int) {
	for pos := 0; pos < nPos; pos++ {
		for j := 0; j < dim; j++ {
			angle := float64(pos) / math.Pow(10000, float64(2*(j/2))/float64(dim))
			if j%2 == 0 {
				v[pos*dim+j] = float32(math.Sin(angle))
			} else {
				v[pos*dim+j] = float32(math.Cos(angle))
			}
		}
	}
}

// CountParams sums the elements of every tensor in sd, and tallies dtypes.
func CountParams(sd StateDict) (total int64, dtypes map[string]int64) {
	dtypes = map[string]int64{}
	for _, t := range sd {
		n := t.NumElements()
		total += n
		dtypes[t.DType] += n
	}
	return total, dtypes
}

// ArchitectureName is the HF class kiln's model corresponds to, written to
// config.json "architectures" so from_pretrained picks the right head.
func ArchitectureName(modelType string) string {
	switch modelType {
	case TypeBERT:
		return "BertForSequenceClassification"
	case TypeRoBERTa:
		return "RobertaForSequenceClassification"
	case TypeDistilBERT:
		return "DistilBertForSequenceClassification"
	case TypeELECTRA:
		return "ElectraForSequenceClassification"
	case TypeDeBERTaV2:
		return "DebertaV2ForSequenceClassification"
	}
	return ""
}
