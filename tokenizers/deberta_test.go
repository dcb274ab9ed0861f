package tokenizers

import (
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// debertaV3TokenizerJSON trains a SentencePiece Unigram model on the essay
// slice and converts it with transformers' DebertaV2TokenizerFast, as the
// tokenizer.json of microsoft/deberta-v3-* is made (testdata/deberta_v3_tokenizer.py).
func debertaV3TokenizerJSON(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	script := filepath.Join("testdata", "deberta_v3_tokenizer.py")
	essays := testenv.Testdata("data/ai_essays_mix/train.csv")
	if b, err := exec.Command(testenv.Python(t), script, essays, out, "3000").CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	data, err := os.ReadFile(filepath.Join(out, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// essayTexts returns the essays of the slice: long, multi-paragraph, with
// the doubled spaces, tabs and typographic characters that DeBERTa's
// Strip + Precompiled + Replace(" {2,}") normalizers rewrite.
func essayTexts(t *testing.T, n int) []string {
	t.Helper()
	f, err := os.Open(testenv.Testdata("data/ai_essays_mix/train.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows[1:min(n+1, len(rows))] {
		out = append(out, r[0])
	}
	return out
}

// TestParityDebertaV3Tokenizer: kiln encodes and decodes like HF on a
// DeBERTa-v3-style tokenizer.json (ids, tokens, offsets, type ids, word
// ids, special-token masks, decode with and without special tokens),
// single texts and pairs, with and without special tokens, and truncated to
// 512 tokens as the essay recipe runs it.
func TestParityDebertaV3Tokenizer(t *testing.T) {
	js := debertaV3TokenizerJSON(t)
	texts, pairs := loadCorpus(t)
	extra := []string{
		"  leading and trailing spaces  ", "double  spaces and\ttabs\tand\n\nnew lines", "“Smart quotes” — and … ellipses",
		"ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ ①②", "[MASK] in the middle [SEP] of text", "unknownglyphs ꙮ 𓂀 🦜", "",
	}
	essays := essayTexts(t, 40)
	all := append(append(append([]string{}, texts...), extra...), essays...)
	essayPairs := [][2]string{{essays[0], essays[1]}, {essays[2], "a short second segment"}}
	jobs := []parityJob{
		{Name: "deberta-v3/node", JSON: js, AddSpecial: true, Texts: all, Pairs: pairs},
		{Name: "deberta-v3/python", JSON: js, AddSpecial: true, Python: true, Texts: all, Pairs: pairs},
		{Name: "deberta-v3/no-special", JSON: js, AddSpecial: false, Texts: all[:80], Pairs: pairs[:5]},
		{Name: "deberta-v3/trunc-512", AddSpecial: true, Python: true, Texts: essays, Pairs: essayPairs, Batch: true,
			JSON: withSettings(t, js, map[string]any{"direction": "Right", "max_length": 512, "strategy": "LongestFirst", "stride": 0},
				map[string]any{"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": nil, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"})},
	}
	checkParity(t, jobs)
}
