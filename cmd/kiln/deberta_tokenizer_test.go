package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/tokenizers"
)

// TestTokenizerTrainDebertaV3Style: `kiln tokenizer train --model unigram
// --base <a DeBERTa-v3 tokenizer.json>` trains a new Unigram vocabulary
// inside DeBERTa-v3's pipeline (Strip + Precompiled + Replace normalizers,
// Metaspace, [CLS] A [SEP] B [SEP] with [PAD]=0, [CLS]=1, [SEP]=2,
// [UNK]=3): transformers' DebertaV2TokenizerFast loads the result and
// encodes texts and pairs to the same ids and token types as kiln.
func TestTokenizerTrainDebertaV3Style(t *testing.T) {
	py := testenv.Python(t)
	essays := testenv.Testdata("data/ai_essays_mix/train.csv")
	base := t.TempDir()
	script := filepath.Join("..", "..", "tokenizers", "testdata", "deberta_v3_tokenizer.py")
	if b, err := exec.Command(py, script, essays, base, "2000").CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	f, err := os.Open(essays)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var lines, texts []string
	for i, r := range rows[1:] {
		for _, l := range strings.Split(r[0], "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		if i < 12 {
			texts = append(texts, r[0])
		}
	}
	texts = append(texts, "  Spaces   everywhere\tand “quotes” …  ", "ＦＵＬＬＷＩＤＴＨ ①", "")
	dir := t.TempDir()
	corpus := filepath.Join(dir, "essays.txt")
	if err := os.WriteFile(corpus, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tok")
	cmd := newTokenizerTrainCmd()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"--model", "unigram", "--vocab-size", "2000", "--base", filepath.Join(base, "tokenizer.json"),
		"--special-tokens", "[PAD],[CLS],[SEP],[UNK],[MASK]", "--unk-token", "[UNK]", "--no-progress", "--out", out, corpus})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	tok, err := tokenizers.FromFile(filepath.Join(out, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range []string{"[PAD]", "[CLS]", "[SEP]", "[UNK]"} {
		if got, ok := tok.IDToToken(id); !ok || got != want {
			t.Errorf("id %d is %q, want %q (DeBERTa-v3's layout)", id, got, want)
		}
	}

	// HF's encodings of the same inputs through DebertaV2TokenizerFast.
	in := filepath.Join(dir, "texts.json")
	data, _ := json.Marshal(map[string]any{"texts": texts, "pair": []string{texts[0], texts[1]}})
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	const hf = `import json, sys
from transformers import DebertaV2TokenizerFast
tok = DebertaV2TokenizerFast(tokenizer_file=sys.argv[1])
job = json.load(open(sys.argv[2]))
enc = [tok(x) for x in job["texts"]] + [tok(*job["pair"])]
print(json.dumps([{"ids": e["input_ids"], "types": e["token_type_ids"]} for e in enc]))`
	b, err := exec.Command(py, "-c", hf, filepath.Join(out, "tokenizer.json"), in).Output()
	if err != nil {
		t.Fatalf("DebertaV2TokenizerFast: %v", err)
	}
	var want []struct{ IDs, Types []int }
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(texts)+1 {
		t.Fatalf("%d HF encodings for %d inputs", len(want), len(texts)+1)
	}
	for i := range want {
		var enc *tokenizers.Encoding
		if i < len(texts) {
			enc, err = tok.Encode(texts[i], true)
		} else {
			enc, err = tok.EncodePair(texts[0], texts[1], true)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(enc.IDs, want[i].IDs) || !slices.Equal(enc.TypeIDs, want[i].Types) {
			t.Errorf("input %d: kiln %v / %v, DebertaV2TokenizerFast %v / %v", i, head(enc.IDs), head(enc.TypeIDs), head(want[i].IDs), head(want[i].Types))
		}
	}
	if n := len(want[0].IDs); n < 100 || want[0].IDs[0] != 1 || want[0].IDs[n-1] != 2 {
		t.Errorf("an essay encodes to %d ids starting %v: want [CLS]=1 … [SEP]=2", n, head(want[0].IDs))
	}
}

func head(v []int) []int { return v[:min(len(v), 12)] }
