package train

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiln-ml/kiln/dataset"
	"github.com/kiln-ml/kiln/tokenizers"
)

// writeTokenizerFiles puts the tokenizer file set (tokenizers.SaveDir) next
// to the model, so transformers' AutoTokenizer, kiln export and kiln serve
// can load the directory: tokenizer.json as loaded (a vocab.txt becomes
// one), the source's tokenizer_config.json and special_tokens_map.json when
// it has them, else ones derived from the tokenizer.
func writeTokenizerFiles(outDir, tokPath string, enc dataset.TextEncoder, maxPos int) error {
	h, ok := enc.(*dataset.HFTokenizer)
	if !ok {
		return fmt.Errorf("tokenizer %s: %T cannot be saved", tokPath, enc)
	}
	from := tokPath
	if st, err := os.Stat(tokPath); err != nil || !st.IsDir() {
		from = filepath.Dir(tokPath)
	}
	_, err := tokenizers.SaveDir(outDir, h.Tokenizer(), tokenizers.SaveOptions{From: from, ModelMaxLength: maxPos})
	return err
}
