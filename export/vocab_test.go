package export

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/atomicfile"
	"github.com/kiln-ml/kiln/tokenizers"
)

// TestTokenizerFromVocab: a checkpoint with only vocab.txt (older BERT
// checkpoints) gets a tokenizer.json that encodes exactly as the real
// bert-base-uncased tokenizer.json does, plus the two config files.
func TestTokenizerFromVocab(t *testing.T) {
	orig := makeTiny(t, "bert", "cls", "gelu")
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ConfigFile, "model.safetensors"} {
		if err := atomicfile.Copy(filepath.Join(orig, f), filepath.Join(src, f)); err != nil {
			t.Fatal(err)
		}
	}
	// vocab.txt from the real tokenizer.json's vocabulary, in id order.
	data, err := os.ReadFile(filepath.Join(orig, TokenizerFile))
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		Model struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		t.Fatal(err)
	}
	toks := make([]string, 0, len(tj.Model.Vocab))
	for tok := range tj.Model.Vocab {
		toks = append(toks, tok)
	}
	sort.Slice(toks, func(i, j int) bool { return tj.Model.Vocab[toks[i]] < tj.Model.Vocab[toks[j]] })
	if err := os.WriteFile(filepath.Join(src, "vocab.txt"), []byte(strings.Join(toks, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "out")
	rep, err := Export(context.Background(), src, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tokenizer != "built from vocab.txt" {
		t.Fatalf("tokenizer: %q", rep.Tokenizer)
	}
	want, err := tokenizers.FromFile(filepath.Join(orig, TokenizerFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tokenizers.FromFile(filepath.Join(out, TokenizerFile))
	if err != nil {
		t.Fatalf("built tokenizer.json does not load: %v", err)
	}
	for _, text := range []string{
		"Hello, World! It's a tokenizer test.",
		"unaffable naïve café — 東京 ümlaut",
		"   spaces\tand\nnewlines   ",
	} {
		a, err := want.Encode(text, true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := got.Encode(text, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.IDs, b.IDs) || !slices.Equal(a.Tokens, b.Tokens) || !slices.Equal(a.TypeIDs, b.TypeIDs) {
			t.Fatalf("%q: built tokenizer gives %v, real one %v", text, b.Tokens, a.Tokens)
		}
	}
	var special map[string]string
	raw, err := os.ReadFile(filepath.Join(out, SpecialTokensFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &special); err != nil {
		t.Fatal(err)
	}
	if special["cls_token"] != "[CLS]" || special["pad_token"] != "[PAD]" || special["mask_token"] != "[MASK]" {
		t.Fatalf("special_tokens_map.json: %v", special)
	}
}
