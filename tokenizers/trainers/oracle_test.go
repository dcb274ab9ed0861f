package trainers

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// hfConfig is the oracle's input (see testdata/hf_train.py).
type hfConfig struct {
	Kind                    string   `json:"kind"`
	Files                   []string `json:"files"`
	VocabSize               int      `json:"vocab_size"`
	MinFrequency            uint64   `json:"min_frequency,omitempty"`
	SpecialTokens           []string `json:"special_tokens"`
	LimitAlphabet           *int     `json:"limit_alphabet,omitempty"`
	InitialAlphabet         []string `json:"initial_alphabet,omitempty"`
	ContinuingSubwordPrefix *string  `json:"continuing_subword_prefix,omitempty"`
	EndOfWordSuffix         *string  `json:"end_of_word_suffix,omitempty"`
	ShrinkingFactor         float64  `json:"shrinking_factor,omitempty"`
	NSubIterations          int      `json:"n_sub_iterations,omitempty"`
	MaxPieceLength          int      `json:"max_piece_length,omitempty"`
	UnkToken                *string  `json:"unk_token,omitempty"`
	Runs                    int      `json:"runs"`
	CountOnly               bool     `json:"count_only,omitempty"` // word counts, no training
}

// hfResult is what HF's trainer saw and produced.
type hfResult struct {
	WordCounts map[string]uint64
	Tokenizers []hfTokenizer
	Seconds    []float64
}

// hfTokenizer holds the parts of an HF tokenizer.json the tests compare.
type hfTokenizer struct {
	Raw         string
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Model struct {
		Type   string          `json:"type"`
		Vocab  json.RawMessage `json:"vocab"`
		Merges json.RawMessage `json:"merges"`
		UnkID  *int            `json:"unk_id"`
	} `json:"model"`
}

// vocabByID returns a WordPiece/BPE vocabulary as id → token.
func (h hfTokenizer) vocabByID(t *testing.T) []string {
	t.Helper()
	var m map[string]int
	if err := json.Unmarshal(h.Model.Vocab, &m); err != nil {
		t.Fatalf("HF vocab: %v", err)
	}
	out := make([]string, len(m))
	for tok, id := range m {
		if id < 0 || id >= len(out) || out[id] != "" {
			t.Fatalf("HF vocab: bad or duplicate id %d", id)
		}
		out[id] = tok
	}
	return out
}

// merges accepts both serialisations ("a b" strings before 0.20, pairs after).
func (h hfTokenizer) merges(t *testing.T) [][2]string {
	t.Helper()
	var pairs [][2]string
	if err := json.Unmarshal(h.Model.Merges, &pairs); err == nil {
		return pairs
	}
	pairs = nil
	var strs []string
	if err := json.Unmarshal(h.Model.Merges, &strs); err != nil {
		t.Fatalf("HF merges: %v", err)
	}
	for _, s := range strs {
		a, b, ok := strings.Cut(s, " ")
		if !ok {
			t.Fatalf("HF merge %q has no space", s)
		}
		pairs = append(pairs, [2]string{a, b})
	}
	return pairs
}

// unigramVocab returns the Unigram pieces with their scores.
func (h hfTokenizer) unigramVocab(t *testing.T) ([]string, []float64) {
	t.Helper()
	var raw [][2]json.RawMessage
	if err := json.Unmarshal(h.Model.Vocab, &raw); err != nil {
		t.Fatalf("HF unigram vocab: %v", err)
	}
	toks := make([]string, len(raw))
	scores := make([]float64, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r[0], &toks[i]); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(r[1], &scores[i]); err != nil {
			t.Fatal(err)
		}
	}
	return toks, scores
}

// runHF trains with HF `tokenizers` (build/venv) through testdata/hf_train.py.
func runHF(t *testing.T, cfg hfConfig) hfResult {
	t.Helper()
	py := testenv.Python(t)
	dir := t.TempDir()
	if cfg.Runs == 0 && !cfg.CountOnly {
		cfg.Runs = 1
	}
	for i, f := range cfg.Files {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Files[i] = abs
	}
	in, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath, outPath := filepath.Join(dir, "cfg.json"), filepath.Join(dir, "out.json")
	if err := os.WriteFile(cfgPath, in, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("testdata", "hf_train.py"), cfgPath, outPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hf_train.py: %v\n%s", err, out)
	}
	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		WordCounts map[string]uint64 `json:"word_counts"`
		Tokenizers []string          `json:"tokenizers"`
		Seconds    []float64         `json:"seconds"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("oracle output: %v", err)
	}
	res := hfResult{WordCounts: raw.WordCounts, Seconds: raw.Seconds}
	for _, s := range raw.Tokenizers {
		var h hfTokenizer
		if err := json.Unmarshal([]byte(s), &h); err != nil {
			t.Fatalf("HF tokenizer.json: %v", err)
		}
		h.Raw = s
		res.Tokenizers = append(res.Tokenizers, h)
	}
	return res
}

func ptr[T any](v T) *T { return &v }
