package modelio

import "github.com/kiln-ml/kiln/tokenizers"

// Files of an export directory (and, for the config and tokenizer files, of
// a checkpoint directory). The tokenizer file set is the tokenizers
// package's (tokenizers.LoadDir/SaveDir).
const (
	ModelFile           = "model.onnx"
	ExternalDataFile    = "model.onnx_data" // weights past protobuf's 2 GiB limit
	ConfigFile          = "config.json"
	TokenizerFile       = tokenizers.TokenizerFile
	TokenizerConfigFile = tokenizers.ConfigFile
	SpecialTokensFile   = tokenizers.SpecialTokensFile
)

// Graph inputs (int64, [batch_size, sequence_length]) and their dynamic
// axis names, as HF Optimum writes them.
const (
	InputIDs      = "input_ids"
	AttentionMask = "attention_mask"
	TokenTypeIDs  = "token_type_ids" // absent from graphs of models without token types
	AxisBatch     = "batch_size"
	AxisSequence  = "sequence_length"
)

// Graph outputs (float32), as Optimum names them for
// ORTModelForSequenceClassification and ORTModelForFeatureExtraction.
const (
	OutputLogits          = "logits" // [batch_size, num_labels]
	OutputLastHiddenState = "last_hidden_state"
	// OutputPooled is the sentence embedding: the configured pooling (first
	// token, masked mean or masked max) of last_hidden_state, before any
	// head layer.
	OutputPooled = "pooled"
)
