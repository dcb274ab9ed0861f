package export

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/kiln-ml/kiln/export/onnxpb"
	"github.com/kiln-ml/kiln/internal/atomicfile"
	"github.com/kiln-ml/kiln/models"
	"github.com/kiln-ml/kiln/tokenizers"
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
		err := atomicfile.Write(filepath.Join(dir, ExternalDataFile), func(w io.Writer) error {
			var off int64
			loc := onnxpb.TensorProto_EXTERNAL
			for _, t := range m.Graph.Initializer {
				if len(t.RawData) < externalMin {
					continue
				}
				// ONNX Runtime maps external data; keep offsets page-aligned-friendly.
				if pad := (64 - off%64) % 64; pad > 0 {
					if _, err := w.Write(make([]byte, pad)); err != nil {
						return err
					}
					off += pad
				}
				if _, err := w.Write(t.RawData); err != nil {
					return err
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
			return nil
		})
		if err != nil {
			return nil, err
		}
		files = append(files, ExternalDataFile)
	}
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ModelFile, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ModelFile), data); err != nil {
		return nil, err
	}
	return files, nil
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
	return atomicfile.SyncDir(filepath.Dir(filepath.Clean(outDir)))
}

// writeTokenizer puts the tokenizer file set (tokenizers.SaveDir) into
// dir: tokenizer.json from the source (built from vocab.txt for checkpoints
// that predate it), the small config files copied when present and
// otherwise derived as transformers' save_pretrained would write them.
func writeTokenizer(src, dir string, cfg *models.Config) ([]string, string, error) {
	how := "copied " + filepath.Join(src, TokenizerFile)
	if _, err := os.Stat(filepath.Join(src, TokenizerFile)); errors.Is(err, os.ErrNotExist) {
		if cfg.ModelType == models.TypeRoBERTa {
			return nil, "", fmt.Errorf("%s: roberta needs tokenizer.json (building one from vocab.json/merges.txt is not supported)", src)
		}
		how = "built from vocab.txt"
	}
	tok, err := tokenizers.LoadDir(src)
	if err != nil {
		return nil, "", err
	}
	class := map[string]string{
		models.TypeBERT: "BertTokenizer", models.TypeRoBERTa: "RobertaTokenizer",
		models.TypeDistilBERT: "DistilBertTokenizer", models.TypeELECTRA: "ElectraTokenizer",
		models.TypeDeBERTaV2: "DebertaV2Tokenizer",
	}[cfg.ModelType]
	files, err := tokenizers.SaveDir(dir, tok, tokenizers.SaveOptions{From: src, TokenizerClass: class, ModelMaxLength: cfg.MaxSequenceLength()})
	if err != nil {
		return nil, "", err
	}
	return files, how, nil
}
