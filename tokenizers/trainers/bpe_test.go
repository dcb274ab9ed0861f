package trainers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestBPEToy checks the algorithm on HF's own unit-test example (bpe/trainer.rs
// test_train): the expected vocabulary and merges are HF's.
func TestBPEToy(t *testing.T) {
	wc := map[string]uint64{"roses": 1, "are": 2, "red": 1, "voilets": 1, "blue": 1, "BERT": 1,
		"is": 2, "big": 1, "and": 1, "so": 1, "GPT-2": 1}
	m, err := TrainBPE(context.Background(), wc, BPEConfig{VocabSize: 30000, MinFrequency: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-", "2", "B", "E", "G", "P", "R", "T", "a", "b", "d", "e", "g", "i", "l", "n", "o",
		"r", "s", "t", "u", "v", "re", "are", "is"}
	if fmt.Sprint(m.Vocab) != fmt.Sprint(want) {
		t.Errorf("vocab\n got %q\nwant %q", m.Vocab, want)
	}
	wantMerges := [][2]string{{"r", "e"}, {"a", "re"}, {"i", "s"}}
	if fmt.Sprint(m.Merges) != fmt.Sprint(wantMerges) {
		t.Errorf("merges got %q want %q", m.Merges, wantMerges)
	}
}

// TestBPEMaxTokenLength is HF's bpe_test_max_token_length_direct_assert.
func TestBPEMaxTokenLength(t *testing.T) {
	wc := map[string]uint64{"sin": 2, "Sin": 2, "Lon": 2, "Ano": 2, "짧은한": 2, "긴한글": 2, "短字符": 2,
		"长字符": 2, "短い文": 2, "長い文": 2, "so": 2, "GP": 2}
	m, err := TrainBPE(context.Background(), wc, BPEConfig{VocabSize: 30000, MaxTokenLength: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"短": 12, "n": 6, "i": 5, "s": 8, "字符": 23, "長": 14, "긴": 17, "い文": 22,
		"L": 2, "in": 21, "o": 7, "은한": 29, "S": 4, "P": 3, "so": 27, "符": 13, "文": 11, "字": 10,
		"짧": 19, "GP": 25, "글": 16, "G": 1, "An": 24, "长": 15, "A": 0, "Lo": 26, "긴한": 28, "い": 9,
		"한": 20, "은": 18}
	if len(m.Vocab) != len(want) {
		t.Fatalf("vocab size %d, want %d: %q", len(m.Vocab), len(want), m.Vocab)
	}
	for id, tok := range m.Vocab {
		if want[tok] != id {
			t.Errorf("%q: id %d, want %d", tok, id, want[tok])
		}
	}
}

func TestBPEConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  BPEConfig
	}{
		{"zero vocab", BPEConfig{}},
		{"negative limit", BPEConfig{VocabSize: 10, LimitAlphabet: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := TrainBPE(context.Background(), map[string]uint64{"a": 1}, tc.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestProgressBar: show_progress writes bars for each phase to the writer.
func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	wc := map[string]uint64{"hello": 3, "world": 2, "help": 1}
	if _, err := TrainBPE(context.Background(), wc, BPEConfig{VocabSize: 20, Progress: &buf}); err != nil {
		t.Fatal(err)
	}
	if _, err := TrainUnigram(context.Background(), wc, UnigramConfig{VocabSize: 12, Progress: &buf}); err != nil {
		t.Fatal(err)
	}
	for _, phase := range []string{"Tokenize words", "Compute merges", "EM training"} {
		if !strings.Contains(buf.String(), phase) {
			t.Errorf("no %q bar in %q", phase, buf.String())
		}
	}
}

// TestCancel: a cancelled context stops training with its cause.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wc := map[string]uint64{"hello": 3, "world": 2}
	if _, err := TrainBPE(ctx, wc, BPEConfig{VocabSize: 100}); !errors.Is(err, context.Canceled) {
		t.Errorf("bpe: %v, want context.Canceled", err)
	}
	if _, err := TrainUnigram(ctx, wc, UnigramConfig{VocabSize: 100}); !errors.Is(err, context.Canceled) {
		t.Errorf("unigram: %v, want context.Canceled", err)
	}
}

// TestBPELongWord: a 256k-character word (a 1 MB line without spaces) is
// merged in linear time per merge, not quadratic.
func TestBPELongWord(t *testing.T) {
	word := strings.Repeat("abcd", 1<<16)
	start := time.Now()
	m, err := TrainBPE(context.Background(), map[string]uint64{word: 1}, BPEConfig{VocabSize: 12})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(m.Merges[:2]); got != "[[a b] [c d]]" {
		t.Errorf("first merges %s", got)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("took %v", el)
	}
}
