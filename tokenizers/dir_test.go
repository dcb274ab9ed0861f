package tokenizers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// tinyVocab is a BERT WordPiece vocabulary with both cases of one word, so
// that lowercasing shows in the ids.
const tinyVocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nHello\nworld\n,\n"

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// One vocab.txt rule: do_lower_case from tokenizer_config.json, true by
// default (BertTokenizer's default).
func TestLoadDirVocabLowercase(t *testing.T) {
	cases := []struct {
		name    string
		config  string // "" = no tokenizer_config.json
		wantIDs []int  // "Hello, world"
	}{
		{"no config lowercases", "", []int{2, 5, 8, 7, 3}},
		{"do_lower_case true", `{"do_lower_case": true}`, []int{2, 5, 8, 7, 3}},
		{"do_lower_case false keeps case", `{"do_lower_case": false}`, []int{2, 6, 8, 7, 3}},
		{"config without the key lowercases", `{"model_max_length": 64}`, []int{2, 5, 8, 7, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{VocabFile: tinyVocab}
			if tc.config != "" {
				files[ConfigFile] = tc.config
			}
			dir := writeDir(t, files)
			for _, load := range []func() (*Tokenizer, error){
				func() (*Tokenizer, error) { return LoadDir(dir) },
				func() (*Tokenizer, error) { return Load(dir) },
				func() (*Tokenizer, error) { return Load(filepath.Join(dir, VocabFile)) },
			} {
				tok, err := load()
				if err != nil {
					t.Fatal(err)
				}
				e, err := tok.Encode("Hello, world", true)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(e.IDs, tc.wantIDs) {
					t.Errorf("ids %v, want %v", e.IDs, tc.wantIDs)
				}
			}
		})
	}
}

func TestLoadDirErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"empty directory", nil, "neither tokenizer.json nor vocab.txt"},
		{"bad config", map[string]string{VocabFile: tinyVocab, ConfigFile: "{"}, ConfigFile},
		{"bad tokenizer.json", map[string]string{TokenizerFile: "not json"}, TokenizerFile},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadDir(writeDir(t, tc.files))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// SaveDir writes a directory LoadDir reads back to the same pipeline, with
// the small files derived when the source lacks them and copied when it has
// them.
func TestSaveDir(t *testing.T) {
	bert := testenv.Testdata("tokenizers/bert-base-uncased")
	roberta := testenv.Testdata("tokenizers/roberta-base")
	vocabSrc := writeDir(t, map[string]string{VocabFile: tinyVocab, ConfigFile: `{"do_lower_case": false, "tokenizer_class": "BertTokenizer"}`})
	cases := []struct {
		name       string
		src        string
		opt        SaveOptions
		wantFiles  []string
		wantConfig map[string]any // keys checked in tokenizer_config.json
		wantRoles  map[string]string
	}{
		{"bert tokenizer.json, derived files", bert,
			SaveOptions{TokenizerClass: "BertTokenizerFast", ModelMaxLength: 512},
			[]string{TokenizerFile, ConfigFile, SpecialTokensFile, VocabFile},
			map[string]any{"tokenizer_class": "BertTokenizerFast", "model_max_length": 512.0, "do_lower_case": true, "cls_token": "[CLS]"},
			map[string]string{"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]"}},
		{"roberta, explicit roles", roberta,
			SaveOptions{SpecialTokens: map[string]string{"pad_token": "<pad>"}},
			[]string{TokenizerFile, ConfigFile, SpecialTokensFile},
			map[string]any{"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>"},
			map[string]string{"pad_token": "<pad>"}},
		{"vocab.txt source, files copied", vocabSrc,
			SaveOptions{From: vocabSrc, TokenizerClass: "ignored"},
			[]string{TokenizerFile, ConfigFile, SpecialTokensFile, VocabFile},
			map[string]any{"tokenizer_class": "BertTokenizer", "do_lower_case": false},
			map[string]string{"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]"}},
	}
	texts := []string{"Hello, world", "Héllo wörld, it's <s> 100% done!", ""}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, err := LoadDir(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "model")
			files, err := SaveDir(out, src, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(files, tc.wantFiles) {
				t.Errorf("files %v, want %v", files, tc.wantFiles)
			}
			for _, f := range files {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Error(err)
				}
			}
			back, err := LoadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			sameIDs(t, "after save", src, back, texts)
			var cfg map[string]any
			readJSON(t, filepath.Join(out, ConfigFile), &cfg)
			for k, v := range tc.wantConfig {
				if cfg[k] != v {
					t.Errorf("tokenizer_config.json %s = %v, want %v", k, cfg[k], v)
				}
			}
			var roles map[string]string
			readJSON(t, filepath.Join(out, SpecialTokensFile), &roles)
			for k, v := range tc.wantRoles {
				if roles[k] != v {
					t.Errorf("special_tokens_map.json %s = %q, want %q", k, roles[k], v)
				}
			}
			if slices.Contains(files, VocabFile) {
				// A vocab.txt written for a WordPiece model is the model's
				// vocabulary in id order: loading it alone gives the same ids.
				lower := cfg["do_lower_case"] != false
				v, err := FromVocabTxt(filepath.Join(out, VocabFile), lower)
				if err != nil {
					t.Fatal(err)
				}
				sameIDs(t, "from the saved vocab.txt", src, v, texts)
			}
		})
	}
}

// sameIDs checks that got encodes every text as want does.
func sameIDs(t *testing.T, what string, want, got *Tokenizer, texts []string) {
	t.Helper()
	for _, text := range texts {
		a, err := want.Encode(text, true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := got.Encode(text, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.IDs, b.IDs) {
			t.Errorf("%q: ids %s %v, want %v", text, what, b.IDs, a.IDs)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
