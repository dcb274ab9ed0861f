package trainers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/tokenizers"
)

// TestSavedTokenizerLoadsInHF trains every kind on HF's word counts, saves
// the directory and has HF `tokenizers` and `transformers` load it. For the
// kinds whose training is exact (byte-level BPE, Whitespace BPE) the saved
// tokenizer must encode every test line exactly as the HF-trained one; for
// all kinds `transformers` must agree with `tokenizers` on our files.
func TestSavedTokenizerLoadsInHF(t *testing.T) {
	py := testenv.Python(t)
	for _, tc := range []struct {
		kind  string
		hf    hfConfig
		exact bool
	}{
		{KindByteLevelBPE, hfConfig{Kind: "bytelevel", Files: []string{wikiFile, mixedFile}, VocabSize: 1200, MinFrequency: 2,
			SpecialTokens: []string{"<s>", "<pad>", "</s>", "<unk>", "<mask>"}}, true},
		{KindBPE, hfConfig{Kind: "bpe", Files: []string{wikiFile, mixedFile}, VocabSize: 1200,
			SpecialTokens: []string{"[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"}}, true},
		{KindWordPiece, hfConfig{Kind: "wordpiece", Files: []string{wikiFile, mixedFile}, VocabSize: 1200,
			SpecialTokens: []string{"[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"}}, false},
		{KindUnigram, hfConfig{Kind: "unigram", Files: []string{wikiFile, mixedFile}, VocabSize: 1200,
			SpecialTokens: []string{"<unk>", "<pad>", "<s>", "</s>"}, UnkToken: ptr("<unk>")}, false},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			hf := runHF(t, tc.hf)
			opts := Options{Kind: tc.kind, VocabSize: tc.hf.VocabSize, SpecialTokens: tc.hf.SpecialTokens}
			res, err := TrainWordCounts(context.Background(), hf.WordCounts, opts)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := res.Save(dir); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Error(err)
				}
			}
			if tc.kind == KindWordPiece {
				vt, err := os.ReadFile(filepath.Join(dir, "vocab.txt"))
				if err != nil {
					t.Fatal(err)
				}
				if got := bytes.Count(vt, []byte("\n")); got != len(res.Vocab) {
					t.Errorf("vocab.txt has %d lines, vocab %d", got, len(res.Vocab))
				}
			}
			ref := filepath.Join(dir, "..", "hf-reference.json")
			if err := os.WriteFile(ref, []byte(hf.Tokenizers[0].Raw), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "enc.json")
			text, _ := filepath.Abs(mixedFile)
			cmd := exec.Command(py, filepath.Join("testdata", "hf_load.py"), dir, text, out, ref)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("HF could not load our files: %v\n%s", err, b)
			}
			var enc struct {
				VocabSize    int     `json:"vocab_size"`
				Tokenizers   [][]int `json:"tokenizers"`
				Transformers [][]int `json:"transformers"`
				Reference    [][]int `json:"reference"`
				Plain        [][]int `json:"plain"`
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &enc); err != nil {
				t.Fatal(err)
			}
			if enc.VocabSize != len(res.Vocab) {
				t.Errorf("HF vocab size %d, ours %d", enc.VocabSize, len(res.Vocab))
			}
			if !reflect.DeepEqual(enc.Tokenizers, enc.Transformers) {
				t.Errorf("transformers and tokenizers disagree on our files")
			}
			if tc.exact && !reflect.DeepEqual(enc.Plain, enc.Reference) {
				t.Errorf("our tokenizer encodes differently from the HF-trained one")
			}

			// The runtime package loads it, and load → save → load is stable.
			tok, err := tokenizers.FromJSON(res.JSON)
			if err != nil {
				t.Fatalf("runtime FromJSON: %v", err)
			}
			again, err := tok.ToJSON()
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if err := json.Unmarshal(res.JSON, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("load → save changed tokenizer.json")
			}
		})
	}
}

// TestCountWordsMatchesHF checks kiln's streaming, parallel word counting
// through the runtime pipeline against the counts HF's trainer sees.
func TestCountWordsMatchesHF(t *testing.T) {
	for _, tc := range []struct {
		kind string
		hf   string
	}{
		{KindWordPiece, "wordpiece"},
		{KindBPE, "bpe"},
		{KindByteLevelBPE, "bytelevel"},
		{KindUnigram, "unigram"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			hf := runHF(t, hfConfig{Kind: tc.hf, Files: []string{wikiFile, mixedFile}, CountOnly: true})
			pipe, err := pipelineFor(Options{Kind: tc.kind})
			if err != nil {
				t.Fatal(err)
			}
			wc, err := CountWords(context.Background(), []string{wikiFile, mixedFile}, pipe.PreTokenize, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			diff := 0
			for w, c := range hf.WordCounts {
				if wc[w] != c {
					if diff < 5 {
						t.Errorf("word %q: kiln %d, HF %d", w, wc[w], c)
					}
					diff++
				}
			}
			if len(wc) != len(hf.WordCounts) || diff > 0 {
				t.Errorf("%d distinct words (HF %d), %d counts differ", len(wc), len(hf.WordCounts), diff)
			}
		})
	}
}

func TestCountWordsErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("fine line\nbad \xff byte\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	split := func(s string) ([]string, error) { return []string{s}, nil }
	for _, tc := range []struct {
		name  string
		files []string
	}{
		{"no files", nil},
		{"missing file", []string{filepath.Join(dir, "nope.txt")}},
		{"directory", []string{dir}},
		{"invalid utf-8", []string{bad}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CountWords(context.Background(), tc.files, split, 2, nil); err == nil {
				t.Fatal("no error")
			}
		})
	}
	// Lines keep their "\n", a last line without one is counted as is.
	ok := filepath.Join(dir, "ok.txt")
	if err := os.WriteFile(ok, []byte("a\nb\na\nc"), 0o644); err != nil {
		t.Fatal(err)
	}
	wc, err := CountWords(context.Background(), []string{ok}, split, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"a\n": 2, "b\n": 1, "c": 1}
	if !reflect.DeepEqual(wc, want) {
		t.Errorf("counts %v, want %v", wc, want)
	}
}

// TestPostProcessorIDs: the post-processor's special-token ids follow the
// trained vocabulary; a preset's post-processor whose tokens were left out
// is dropped, a user's (--base) is an error.
func TestPostProcessorIDs(t *testing.T) {
	wc := map[string]uint64{"hello": 3, "world": 2}
	post := func(t *testing.T, res *Result) map[string]any {
		t.Helper()
		var doc map[string]any
		if err := json.Unmarshal(res.JSON, &doc); err != nil {
			t.Fatal(err)
		}
		p, _ := doc["post_processor"].(map[string]any)
		return p
	}
	res, err := TrainWordCounts(context.Background(), wc, Options{Kind: KindWordPiece, VocabSize: 50, SpecialTokens: []string{"[PAD]", "[UNK]", "[SEP]", "[CLS]"}})
	if err != nil {
		t.Fatal(err)
	}
	st := post(t, res)["special_tokens"].(map[string]any)
	for tok, want := range map[string]float64{"[CLS]": 3, "[SEP]": 2} {
		ids := st[tok].(map[string]any)["ids"].([]any)
		if len(ids) != 1 || ids[0].(float64) != want {
			t.Errorf("%s ids %v, want [%v]", tok, ids, want)
		}
	}
	res, err = TrainWordCounts(context.Background(), wc, Options{Kind: KindByteLevelBPE, VocabSize: 300, SpecialTokens: []string{"<pad>", "</s>", "<s>"}})
	if err != nil {
		t.Fatal(err)
	}
	p := post(t, res)
	if fmt.Sprint(p["cls"], p["sep"]) != "[<s> 2] [</s> 1]" {
		t.Errorf("roberta cls/sep %v %v", p["cls"], p["sep"])
	}
	res, err = TrainWordCounts(context.Background(), wc, Options{Kind: KindBPE, VocabSize: 50, SpecialTokens: []string{"[UNK]"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := post(t, res); p != nil {
		t.Errorf("preset post-processor kept without [CLS]/[SEP]: %v", p)
	}
	base := []byte(`{"normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":` + templateBERT("<cls>", "<sep>") + `,"decoder":null}`)
	if _, err := TrainWordCounts(context.Background(), wc, Options{Kind: KindBPE, VocabSize: 50, Base: base, SpecialTokens: []string{"[UNK]"}}); err == nil {
		t.Error("a --base post-processor naming missing tokens must be an error")
	}
	if _, err := TrainWordCounts(context.Background(), wc, Options{Kind: KindBPE, VocabSize: 50, SpecialTokens: []string{"a", "a"}}); err == nil {
		t.Error("duplicate special tokens must be an error")
	}
	if _, err := TrainWordCounts(context.Background(), wc, Options{Kind: "sentencepiece"}); err == nil {
		t.Error("unknown kind must be an error")
	}
}
