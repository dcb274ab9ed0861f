package export

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/kiln-ml/kiln/export/onnxpb"
	"github.com/kiln-ml/kiln/models"
)

// initBytes is the total raw size of the graph's initialisers.
func initBytes(g *onnxpb.GraphProto) int64 {
	var n int64
	for _, t := range g.Initializer {
		n += int64(len(t.RawData))
	}
	return n
}

// externalMin: initialisers smaller than this stay inside model.onnx even
// with external data (shape constants, scalars), as onnx's own converter does.
const externalMin = 1024

// writeModel writes model.onnx (and model.onnx_data when external) into dir
// and returns the file names written.
func writeModel(m *onnxpb.ModelProto, dir string, external bool) ([]string, error) {
	files := []string{ModelFile}
	if external {
		path := filepath.Join(dir, ExternalDataFile)
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		var off int64
		loc := onnxpb.TensorProto_EXTERNAL
		for _, t := range m.Graph.Initializer {
			if len(t.RawData) < externalMin {
				continue
			}
			// ONNX Runtime maps external data; keep offsets page-aligned-friendly.
			if pad := (64 - off%64) % 64; pad > 0 {
				if _, err := w.Write(make([]byte, pad)); err != nil {
					f.Close()
					return nil, fmt.Errorf("write %s: %w", path, err)
				}
				off += pad
			}
			if _, err := w.Write(t.RawData); err != nil {
				f.Close()
				return nil, fmt.Errorf("write %s: %w", path, err)
			}
			t.ExternalData = []*onnxpb.StringStringEntryProto{
				{Key: strPtr("location"), Value: strPtr(ExternalDataFile)},
				{Key: strPtr("offset"), Value: strPtr(strconv.FormatInt(off, 10))},
				{Key: strPtr("length"), Value: strPtr(strconv.Itoa(len(t.RawData)))},
			}
			t.DataLocation = &loc
			off += int64(len(t.RawData))
			t.RawData = nil
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("close %s: %w", path, err)
		}
		files = append(files, ExternalDataFile)
	}
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ModelFile, err)
	}
	if err := writeFileSync(filepath.Join(dir, ModelFile), data); err != nil {
		return nil, err
	}
	return files, nil
}

// writeFileSync writes and fsyncs a file inside the (not yet visible)
// temporary export directory; atomicity comes from renaming the directory.
func writeFileSync(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("sync %s: %w", dst, err)
	}
	return out.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// commitDir renames the finished temporary directory to outDir. An
// existing outDir (allowed only with force) is first moved aside, then
// deleted once the new one is in place, so outDir is at every moment either
// the old complete export or the new one.
func commitDir(tmp, outDir string, force bool) error {
	var old string
	if _, err := os.Stat(outDir); err == nil {
		if !force {
			return fmt.Errorf("%s: %w", outDir, ErrExists)
		}
		old = tmp + ".old"
		if err := os.Rename(outDir, old); err != nil {
			return fmt.Errorf("move existing %s aside: %w", outDir, err)
		}
	}
	if err := os.Rename(tmp, outDir); err != nil {
		if old != "" {
			os.Rename(old, outDir) // put the previous export back
		}
		return fmt.Errorf("rename %s to %s: %w", tmp, outDir, err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("remove previous export %s: %w", old, err)
		}
	}
	return syncDir(filepath.Dir(filepath.Clean(outDir)))
}

// writeTokenizer puts tokenizer.json, tokenizer_config.json and
// special_tokens_map.json into dir. tokenizer.json is copied from the
// source; the two small files are copied when present and otherwise derived
// from tokenizer.json, as transformers' save_pretrained would write them.
func writeTokenizer(src, dir string, cfg *models.Config) ([]string, string, error) {
	tokPath := filepath.Join(src, TokenizerFile)
	data, err := os.ReadFile(tokPath)
	if errors.Is(err, os.ErrNotExist) {
		data, err = tokenizerFromVocab(src, cfg)
		if err != nil {
			return nil, "", err
		}
		if err := writeFileSync(filepath.Join(dir, TokenizerFile), data); err != nil {
			return nil, "", err
		}
		return finishTokenizer(src, dir, cfg, data, "built from vocab.txt")
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", tokPath, err)
	}
	if err := writeFileSync(filepath.Join(dir, TokenizerFile), data); err != nil {
		return nil, "", err
	}
	return finishTokenizer(src, dir, cfg, data, "copied "+tokPath)
}

func finishTokenizer(src, dir string, cfg *models.Config, tokJSON []byte, how string) ([]string, string, error) {
	files := []string{TokenizerFile}
	var tj tokenizerJSON
	if err := json.Unmarshal(tokJSON, &tj); err != nil {
		return nil, "", fmt.Errorf("%s: %w", filepath.Join(src, TokenizerFile), err)
	}
	special := tj.specialTokens()
	for _, f := range []struct {
		name string
		make func() any
	}{
		{TokenizerConfig, func() any { return tokenizerConfig(cfg, &tj, special) }},
		{SpecialTokensFile, func() any { return special }},
	} {
		srcFile := filepath.Join(src, f.name)
		if _, err := os.Stat(srcFile); err == nil {
			if err := copyFile(srcFile, filepath.Join(dir, f.name)); err != nil {
				return nil, "", err
			}
		} else {
			out, err := json.MarshalIndent(f.make(), "", "  ")
			if err != nil {
				return nil, "", fmt.Errorf("encode %s: %w", f.name, err)
			}
			if err := writeFileSync(filepath.Join(dir, f.name), append(out, '\n')); err != nil {
				return nil, "", err
			}
		}
		files = append(files, f.name)
	}
	// Slow-tokenizer vocabularies travel along so that transformers can
	// also build the Python tokenizer classes from the directory.
	for _, extra := range []string{"vocab.txt", "vocab.json", "merges.txt"} {
		p := filepath.Join(src, extra)
		if _, err := os.Stat(p); err == nil {
			if err := copyFile(p, filepath.Join(dir, extra)); err != nil {
				return nil, "", err
			}
			files = append(files, extra)
		}
	}
	return files, how, nil
}

// tokenizerJSON is the part of tokenizer.json the config files derive from.
type tokenizerJSON struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer *struct {
		Type      string `json:"type"`
		Lowercase *bool  `json:"lowercase"`
	} `json:"normalizer"`
	Model struct {
		Type string `json:"type"`
	} `json:"model"`
}

// specialTokens maps the special added tokens to transformers' roles by
// their conventional spellings (BERT's [CLS]…, RoBERTa's <s>…).
func (tj *tokenizerJSON) specialTokens() map[string]string {
	roles := map[string][]string{
		"[CLS]": {"cls_token"}, "[SEP]": {"sep_token"}, "[PAD]": {"pad_token"},
		"[UNK]": {"unk_token"}, "[MASK]": {"mask_token"},
		"<s>": {"bos_token", "cls_token"}, "</s>": {"eos_token", "sep_token"},
		"<pad>": {"pad_token"}, "<unk>": {"unk_token"}, "<mask>": {"mask_token"},
	}
	out := map[string]string{}
	for _, t := range tj.AddedTokens {
		if !t.Special {
			continue
		}
		for _, r := range roles[t.Content] {
			if _, taken := out[r]; !taken {
				out[r] = t.Content
			}
		}
	}
	return out
}

// tokenizerConfig is a minimal tokenizer_config.json: the class
// transformers should instantiate, the length limit and special tokens.
func tokenizerConfig(cfg *models.Config, tj *tokenizerJSON, special map[string]string) map[string]any {
	class := map[string]string{
		models.TypeBERT: "BertTokenizer", models.TypeRoBERTa: "RobertaTokenizer",
		models.TypeDistilBERT: "DistilBertTokenizer", models.TypeELECTRA: "ElectraTokenizer",
		models.TypeDeBERTaV2: "DebertaV2Tokenizer",
	}[cfg.ModelType]
	maxLen := cfg.MaxPositionEmbeddings
	if cfg.ModelType == models.TypeRoBERTa {
		maxLen -= cfg.PadTokenID + 1 // positions start after padding_idx
	}
	out := map[string]any{
		"tokenizer_class":              class,
		"model_max_length":             maxLen,
		"clean_up_tokenization_spaces": true,
	}
	if tj.Normalizer != nil && strings.EqualFold(tj.Normalizer.Type, "BertNormalizer") && tj.Normalizer.Lowercase != nil {
		out["do_lower_case"] = *tj.Normalizer.Lowercase
	}
	for k, v := range special {
		out[k] = v
	}
	return out
}
