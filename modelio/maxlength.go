package modelio

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiln-ml/kiln/models"
)

// MaxLength is the most tokens a sequence of the model in dir may have,
// special tokens included: models.Config.MaxSequenceLength (RoBERTa's
// position ids start after the padding index), or the
// tokenizer's own model_max_length in dir/tokenizer_config.json when that is
// smaller.
func MaxLength(dir string, cfg *models.Config) (int, error) {
	n := cfg.MaxSequenceLength()
	if tl, ok, err := tokenizerMaxLength(filepath.Join(dir, TokenizerConfigFile)); err != nil {
		return 0, err
	} else if ok && (n <= 0 || tl < n) {
		n = tl
	}
	if n <= 0 {
		return 0, fmt.Errorf("%s: max_position_embeddings %d gives no usable sequence length", filepath.Join(dir, ConfigFile), cfg.MaxPositionEmbeddings)
	}
	return n, nil
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
