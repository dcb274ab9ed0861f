package tokenizers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kiln-ml/kiln/internal/atomicfile"
)

// The tokenizer file set of a model directory, as transformers'
// save_pretrained writes it. tokenizer.json carries the whole pipeline; the
// others let transformers pick the tokenizer class, its length limit and
// special tokens, and build the slow (Python) tokenizers.
const (
	TokenizerFile     = "tokenizer.json"
	ConfigFile        = "tokenizer_config.json"
	SpecialTokensFile = "special_tokens_map.json"
	VocabFile         = "vocab.txt"
)

// slowVocabFiles travel with a tokenizer so transformers can also build the
// slow tokenizer classes (BertTokenizer, RobertaTokenizer) from the directory.
var slowVocabFiles = []string{VocabFile, "vocab.json", "merges.txt"}

// Load opens a tokenizer by path: a directory (LoadDir), a vocab.txt
// (LoadVocab) or a tokenizer.json.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	switch {
	case st.IsDir():
		return LoadDir(path)
	case strings.HasSuffix(path, ".txt"):
		return LoadVocab(path)
	default:
		return FromFile(path)
	}
}

// LoadDir loads a model directory's tokenizer as transformers' AutoTokenizer
// does: tokenizer.json when present, otherwise a BERT WordPiece pipeline
// around vocab.txt (LoadVocab).
func LoadDir(dir string) (*Tokenizer, error) {
	p := filepath.Join(dir, TokenizerFile)
	if _, err := os.Stat(p); err == nil {
		return FromFile(p)
	}
	v := filepath.Join(dir, VocabFile)
	if _, err := os.Stat(v); err == nil {
		return LoadVocab(v)
	}
	return nil, fmt.Errorf("%s has neither %s nor %s: point at a model directory saved by transformers or kiln", dir, TokenizerFile, VocabFile)
}

// LoadVocab builds the BERT WordPiece pipeline around a vocab.txt, as
// transformers' BertTokenizerFast converter does. It lowercases as the
// tokenizer_config.json next to it says (do_lower_case), and by default, as
// BertTokenizer does, when there is none.
func LoadVocab(path string) (*Tokenizer, error) {
	lower, err := doLowerCase(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return FromVocabTxt(path, lower)
}

func doLowerCase(dir string) (bool, error) {
	p := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", p, err)
	}
	var tc struct {
		DoLowerCase *bool `json:"do_lower_case"`
	}
	if err := json.Unmarshal(data, &tc); err != nil {
		return false, fmt.Errorf("%s: %w", p, err)
	}
	return tc.DoLowerCase == nil || *tc.DoLowerCase, nil
}

// SaveOptions completes the file set SaveDir writes.
type SaveOptions struct {
	// From is the directory the tokenizer came from: its
	// tokenizer_config.json, special_tokens_map.json and slow-tokenizer
	// vocabularies (vocab.txt, vocab.json, merges.txt) are copied when
	// present. "" = derive everything.
	From string
	// For a derived tokenizer_config.json: the transformers class
	// ("" = PreTrainedTokenizerFast) and model_max_length (0 = left out).
	TokenizerClass string
	ModelMaxLength int
	// SpecialTokens maps transformers' roles (cls_token, pad_token, …) to
	// tokens; nil = guessed from the usual spellings of the special added
	// tokens ([CLS], <s>, …).
	SpecialTokens map[string]string
}

// SaveDir writes t's file set into dir, each file atomically, and returns
// the names written: tokenizer.json; tokenizer_config.json and
// special_tokens_map.json copied from opt.From or derived from t; the slow
// vocabularies from opt.From, and a vocab.txt derived from a WordPiece
// model when opt.From has none (transformers' BertTokenizerFast writes one).
func SaveDir(dir string, t *Tokenizer, opt SaveOptions) ([]string, error) {
	data, err := t.ToJSON()
	if err != nil {
		return nil, fmt.Errorf("save tokenizer in %s: %w", dir, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, TokenizerFile), data); err != nil {
		return nil, err
	}
	files := []string{TokenizerFile}
	special := opt.SpecialTokens
	if special == nil {
		special = guessRoles(t)
	}
	derive := map[string]func() ([]byte, error){
		ConfigFile:        func() ([]byte, error) { return marshalHF(deriveConfig(t, opt, special)) },
		SpecialTokensFile: func() ([]byte, error) { return marshalHF(special) },
	}
	for _, name := range []string{ConfigFile, SpecialTokensFile} {
		if err := copyOr(opt.From, dir, name, derive[name]); err != nil {
			return nil, err
		}
		files = append(files, name)
	}
	var haveVocab bool
	for _, name := range slowVocabFiles {
		if opt.From == "" || !exists(filepath.Join(opt.From, name)) {
			continue
		}
		if err := atomicfile.Copy(filepath.Join(opt.From, name), filepath.Join(dir, name)); err != nil {
			return nil, err
		}
		haveVocab = haveVocab || name == VocabFile
		files = append(files, name)
	}
	if _, ok := t.p.model.(*wordPiece); ok && !haveVocab {
		if err := atomicfile.WriteFile(filepath.Join(dir, VocabFile), wordPieceVocab(t)); err != nil {
			return nil, err
		}
		files = append(files, VocabFile)
	}
	return files, nil
}

// copyOr copies from/name into dir, or writes what make returns when from
// has no such file.
func copyOr(from, dir, name string, make func() ([]byte, error)) error {
	if from != "" && exists(filepath.Join(from, name)) {
		return atomicfile.Copy(filepath.Join(from, name), filepath.Join(dir, name))
	}
	b, err := make()
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, name), b)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// marshalHF writes JSON as transformers does: indented, "<s>" unescaped.
func marshalHF(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// guessRoles maps the special added tokens to transformers' roles by their
// conventional spellings (BERT's [CLS]…, RoBERTa's <s>…).
func guessRoles(t *Tokenizer) map[string]string {
	roles := map[string][]string{
		"[CLS]": {"cls_token"}, "[SEP]": {"sep_token"}, "[PAD]": {"pad_token"},
		"[UNK]": {"unk_token"}, "[MASK]": {"mask_token"},
		"<s>": {"bos_token", "cls_token"}, "</s>": {"eos_token", "sep_token"},
		"<pad>": {"pad_token"}, "<unk>": {"unk_token"}, "<mask>": {"mask_token"},
	}
	out := map[string]string{}
	for _, a := range t.AddedTokens() {
		if !a.Special {
			continue
		}
		for _, r := range roles[a.Content] {
			if _, taken := out[r]; !taken {
				out[r] = a.Content
			}
		}
	}
	return out
}

// deriveConfig is a tokenizer_config.json for a tokenizer that came without
// one: the class, the length limit, lowercasing, special tokens and the
// added-token table newer transformers versions write.
func deriveConfig(t *Tokenizer, opt SaveOptions, special map[string]string) map[string]any {
	class := opt.TokenizerClass
	if class == "" {
		class = "PreTrainedTokenizerFast"
	}
	cfg := map[string]any{"tokenizer_class": class, "clean_up_tokenization_spaces": true}
	if opt.ModelMaxLength > 0 {
		cfg["model_max_length"] = opt.ModelMaxLength
	}
	if t.raw != nil && !isNull(t.raw.normalizer) {
		var n struct {
			Type      string `json:"type"`
			Lowercase *bool  `json:"lowercase"`
		}
		if json.Unmarshal(t.raw.normalizer, &n) == nil && n.Type == "BertNormalizer" && n.Lowercase != nil {
			cfg["do_lower_case"] = *n.Lowercase
		}
	}
	decoder := map[string]any{}
	for _, a := range t.AddedTokens() {
		decoder[strconv.Itoa(a.ID)] = map[string]any{"content": a.Content, "lstrip": a.LStrip, "normalized": a.Normalized,
			"rstrip": a.RStrip, "single_word": a.SingleWord, "special": a.Special}
	}
	cfg["added_tokens_decoder"] = decoder
	for role, tok := range special {
		cfg[role] = tok
	}
	return cfg
}

// wordPieceVocab is vocab.txt: one token per line in id order.
func wordPieceVocab(t *Tokenizer) []byte {
	var b bytes.Buffer
	for id := range t.VocabSize(false) {
		tok, _ := t.IDToToken(id)
		b.WriteString(tok)
		b.WriteByte('\n')
	}
	return b.Bytes()
}
