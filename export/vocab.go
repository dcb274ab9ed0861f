package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-ml/kiln/models"
)

// tokenizerFromVocab builds the tokenizer.json that transformers'
// BertTokenizerFast converter writes for a WordPiece vocab.txt (BERT,
// DistilBERT, ELECTRA checkpoints that predate tokenizer.json). Lowercasing
// follows tokenizer_config.json's do_lower_case when present (default true,
// as BertTokenizer's).
func tokenizerFromVocab(src string, cfg *models.Config) ([]byte, error) {
	vocabPath := filepath.Join(src, "vocab.txt")
	f, err := os.Open(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("%s has no tokenizer.json and no vocab.txt to build one from: %w", src, err)
	}
	defer f.Close()
	if cfg.ModelType == models.TypeRoBERTa {
		return nil, fmt.Errorf("%s: roberta needs tokenizer.json (building one from vocab.json/merges.txt is not supported)", src)
	}
	vocab := map[string]int{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for line := 1; sc.Scan(); line++ {
		tok := strings.TrimRight(sc.Text(), "\r")
		if _, dup := vocab[tok]; dup {
			return nil, fmt.Errorf("%s:%d: duplicate token %q", vocabPath, line, tok)
		}
		vocab[tok] = len(order)
		order = append(order, tok)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", vocabPath, err)
	}
	for _, need := range []string{"[CLS]", "[SEP]", "[UNK]", "[PAD]"} {
		if _, ok := vocab[need]; !ok {
			return nil, fmt.Errorf("%s: no %s token: not a BERT WordPiece vocabulary", vocabPath, need)
		}
	}
	lower := true
	if data, err := os.ReadFile(filepath.Join(src, TokenizerConfig)); err == nil {
		var tc struct {
			DoLowerCase *bool `json:"do_lower_case"`
		}
		if err := json.Unmarshal(data, &tc); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(src, TokenizerConfig), err)
		}
		if tc.DoLowerCase != nil {
			lower = *tc.DoLowerCase
		}
	}

	type added struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	var specials []added
	for _, tok := range order {
		switch tok {
		case "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]":
			specials = append(specials, added{ID: vocab[tok], Content: tok, Special: true})
		}
	}
	cls, sep := vocab["[CLS]"], vocab["[SEP]"]
	piece := func(id string, typeID int) map[string]any {
		return map[string]any{"SpecialToken": map[string]any{"id": id, "type_id": typeID}}
	}
	seq := func(id string, typeID int) map[string]any {
		return map[string]any{"Sequence": map[string]any{"id": id, "type_id": typeID}}
	}
	// Ordered vocab: encoding/json sorts map keys, which changes nothing for
	// readers (ids are explicit) but keep the file stable.
	var vb bytes.Buffer
	vb.WriteByte('{')
	for i, tok := range order {
		if i > 0 {
			vb.WriteByte(',')
		}
		k, _ := json.Marshal(tok)
		vb.Write(k)
		fmt.Fprintf(&vb, ":%d", i)
	}
	vb.WriteByte('}')
	doc := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": specials,
		"normalizer": map[string]any{
			"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
			"strip_accents": nil, "lowercase": lower,
		},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{piece("[CLS]", 0), seq("A", 0), piece("[SEP]", 0)},
			"pair":   []any{piece("[CLS]", 0), seq("A", 0), piece("[SEP]", 0), seq("B", 1), piece("[SEP]", 1)},
			"special_tokens": map[string]any{
				"[CLS]": map[string]any{"id": "[CLS]", "ids": []int{cls}, "tokens": []string{"[CLS]"}},
				"[SEP]": map[string]any{"id": "[SEP]", "ids": []int{sep}, "tokens": []string{"[SEP]"}},
			},
		},
		"decoder": map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{
			"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": json.RawMessage(vb.Bytes()),
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}
