package tokenizers

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func loadReal(t testing.TB, name string) *Tokenizer {
	t.Helper()
	tk, err := FromJSON([]byte(realTokenizerJSON(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tk
}

var realNames = []string{"bert-base-uncased", "roberta-base", "t5-small"}

// TestRoundTrip checks load → save → load gives the same file and the same
// encodings, with truncation and padding carried through.
func TestRoundTrip(t *testing.T) {
	texts, _ := loadCorpus(t)
	for _, name := range realNames {
		t.Run(name, func(t *testing.T) {
			tk := loadReal(t, name).
				WithTruncation(&Truncation{MaxLength: 20, Stride: 2, Strategy: "only_first", Direction: "left"}).
				WithPadding(&Padding{Strategy: "fixed", Length: 24, PadToMultipleOf: 8, PadID: 3, PadToken: "<pad>", Direction: "left"})
			path := filepath.Join(t.TempDir(), "tokenizer.json")
			if err := tk.Save(path); err != nil {
				t.Fatal(err)
			}
			tk2, err := FromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := tk.ToJSON()
			b, _ := tk2.ToJSON()
			if !bytes.Equal(a, b) {
				t.Fatalf("save → load → save differs")
			}
			if !reflect.DeepEqual(tk.Truncation(), tk2.Truncation()) || !reflect.DeepEqual(tk.Padding(), tk2.Padding()) {
				t.Fatalf("settings differ: %+v %+v / %+v %+v", tk.Truncation(), tk2.Truncation(), tk.Padding(), tk2.Padding())
			}
			if tk.VocabSize(true) != tk2.VocabSize(true) {
				t.Fatalf("vocab size %d vs %d", tk.VocabSize(true), tk2.VocabSize(true))
			}
			for _, s := range texts[:50] {
				e1, err1 := tk.Encode(s, true)
				e2, err2 := tk2.Encode(s, true)
				if (err1 == nil) != (err2 == nil) || (err1 == nil && !reflect.DeepEqual(e1, e2)) {
					t.Fatalf("%q encodes differently after the round trip", s)
				}
			}
		})
	}
}

// TestSavedLoadsInHF saves our files and has HF encode with them.
func TestSavedLoadsInHF(t *testing.T) {
	texts, pairs := loadCorpus(t)
	var jobs []parityJob
	for _, name := range realNames {
		data, err := loadReal(t, name).WithTruncation(&Truncation{MaxLength: 64}).ToJSON()
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, parityJob{Name: name + "/saved-by-kiln", JSON: string(data), AddSpecial: true, Texts: texts[:40], Pairs: pairs[:3], Python: true})
	}
	dir := t.TempDir()
	vocab := filepath.Join(dir, "vocab.txt")
	var sb strings.Builder
	for _, tok := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "##s", "cat", "dog", "run", "##ning", ",", ".", "!", "é", "日"} {
		sb.WriteString(tok + "\n")
	}
	if err := os.WriteFile(vocab, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	vt, err := FromVocabTxt(vocab, true)
	if err != nil {
		t.Fatal(err)
	}
	data, err := vt.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	jobs = append(jobs, parityJob{Name: "from-vocab-txt", JSON: string(data), AddSpecial: true,
		Texts: append([]string{"The cats, running dogs! Été 日本", "[MASK] the dog"}, texts[:30]...), Pairs: pairs[:3]})
	checkParity(t, jobs)
}

func TestFromJSONErrors(t *testing.T) {
	bert := realTokenizerJSON(t, "bert-base-uncased")
	cases := []struct {
		name, json, want string
		unsupported      bool
	}{
		{"syntax", `{"version": "1.0", "model": `, "invalid JSON", false},
		{"version", `{"version": "2.0", "model": null}`, `version: unknown tokenizer version "2.0"`, false},
		{"normalizer-type", variant(t, bert, obj{"normalizer": obj{"type": "Nmt"}}), `normalizer: unsupported normalizer type "Nmt"`, true},
		{"nested-pre", variant(t, bert, obj{"pre_tokenizer": obj{"type": "Sequence", "pretokenizers": []any{obj{"type": "Whitespace"}, obj{"type": "UnicodeScripts"}}}}),
			`pre_tokenizer.pretokenizers[1]: unsupported pre-tokenizer type "UnicodeScripts"`, true},
		{"decoder", variant(t, bert, obj{"decoder": obj{"type": "CTC"}}), `decoder: unsupported decoder type "CTC"`, true},
		{"post", variant(t, bert, obj{"post_processor": obj{"type": "Sequence", "processors": []any{obj{"type": "Nope"}}}}), `post_processor.processors[0]: unsupported post-processor type "Nope"`, true},
		{"dropout", variant(t, realTokenizerJSON(t, "roberta-base"), obj{"model.dropout": 0.1}), "model.dropout: unsupported BPE option", true},
		{"vocab-type", variant(t, bert, obj{"model.vocab": []any{1, 2}}), "model.vocab", false},
		{"max-chars-type", variant(t, bert, obj{"model.max_input_chars_per_word": "x"}), "model.max_input_chars_per_word: want int", false},
		{"missing-type", variant(t, bert, obj{"normalizer": obj{"lowercase": true}}), "normalizer.type: missing", false},
		{"split-behavior", variant(t, bert, obj{"pre_tokenizer": obj{"type": "Split", "pattern": obj{"String": "x"}, "behavior": "Sideways", "invert": false}}), `pre_tokenizer.behavior: unknown split behavior "Sideways"`, false},
		{"bad-regex", variant(t, bert, obj{"pre_tokenizer": obj{"type": "Split", "pattern": obj{"Regex": "(("}, "behavior": "Isolated", "invert": false}}), "pre_tokenizer.pattern.Regex", false},
		{"template-missing-special", variant(t, bert, obj{"post_processor": obj{"type": "TemplateProcessing", "single": []any{tmplPiece("SpecialToken", "[Q]", 0)}, "pair": []any{}, "special_tokens": obj{}}}),
			`post_processor.single: special token "[Q]"`, false},
		{"merge-oov", variant(t, realTokenizerJSON(t, "roberta-base"), obj{"model.merges": []any{"zzzq yyyq"}}), `model.merges[0]: token "zzzq"`, false},
		{"precompiled", variant(t, bert, obj{"normalizer": obj{"type": "Precompiled", "precompiled_charsmap": "AAAA"}}), "normalizer.precompiled_charsmap", false},
		{"padding", variant(t, bert, obj{"padding": obj{"strategy": "Whatever"}}), "padding.strategy", false},
		{"truncation", variant(t, bert, obj{"truncation": obj{"strategy": "Middle", "max_length": 3}}), `truncation.strategy: unknown "Middle"`, false},
		{"unigram-unk", variant(t, realTokenizerJSON(t, "t5-small"), obj{"model.unk_id": 999999}), "model.unk_id", false},
		{"metaspace-legacy-conflict", variant(t, realTokenizerJSON(t, "t5-small"), obj{"decoder": obj{"type": "Metaspace", "replacement": "▁", "add_prefix_space": false}}), "add_prefix_space does not match", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromJSON([]byte(c.json))
			if err == nil {
				t.Fatalf("want error containing %q, got none", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			var ue *UnsupportedError
			if errors.As(err, &ue) != c.unsupported {
				t.Fatalf("UnsupportedError = %v, want %v (%v)", !c.unsupported, c.unsupported, err)
			}
		})
	}
}

func TestOldFormatWithoutModelType(t *testing.T) {
	// The three real files have no "type" under "model".
	want := map[string]string{"bert-base-uncased": "*tokenizers.wordPiece", "roberta-base": "*tokenizers.bpe", "t5-small": "*tokenizers.unigram"}
	for name, typ := range want {
		tk := loadReal(t, name)
		if got := reflect.TypeOf(tk.p.model).String(); got != typ {
			t.Errorf("%s: model %s, want %s", name, got, typ)
		}
	}
}

// TestInvalidUTF8 checks invalid bytes become U+FFFD (one per maximal
// invalid subsequence) and never panic.
func TestInvalidUTF8(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a\xffb", "a\uFFFDb"},
		{"a\xff\xfeb", "a\uFFFD\uFFFDb"},
		{"\xf0\x9f\x98", "\uFFFD"},
		{"\xe2\x82x", "\uFFFDx"},
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"ok", "ok"},
	}
	for _, c := range cases {
		if got := sanitize(c.in); got != c.want {
			t.Errorf("sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, name := range realNames {
		tk := loadReal(t, name)
		e, err := tk.Encode("caf\xc3 \xff\xfe d\xe9j\xe0 vu", true)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := tk.Encode("caf\uFFFD \uFFFD\uFFFD d\uFFFDj\uFFFD vu", true)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("%s: invalid UTF-8 not handled as U+FFFD:\n%v\n%v", name, e.Tokens, want.Tokens)
		}
	}
}

// TestLinearTime encodes a 1 MB line (and a 1 MB word) with each real
// tokenizer; a quadratic step would take minutes.
func TestLinearTime(t *testing.T) {
	texts, _ := loadCorpus(t)
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		for _, s := range texts {
			sb.WriteString(s)
			sb.WriteByte(' ')
		}
	}
	line := sb.String()[:1<<20]
	for !utf8.ValidString(line) {
		line = line[:len(line)-1]
	}
	word := strings.Repeat("é", 1<<19)
	spaces := strings.Repeat(" ", 1<<20)
	for _, name := range realNames {
		tk := loadReal(t, name)
		for _, in := range []struct{ what, s string }{{"line", line}, {"word", word}, {"spaces", spaces}} {
			start := time.Now()
			e, err := tk.Encode(in.s, true)
			if err != nil {
				t.Fatalf("%s %s: %v", name, in.what, err)
			}
			d := time.Since(start)
			t.Logf("%s: 1 MB %s → %d tokens in %v", name, in.what, e.Len(), d)
			// Generous bound for a loaded 2-core machine; quadratic
			// behaviour on 1 MB is orders of magnitude slower.
			if d > 20*time.Second {
				t.Errorf("%s: 1 MB %s took %v", name, in.what, d)
			}
		}
	}
}

func TestEncodeBatchMatchesSequential(t *testing.T) {
	texts, pairs := loadCorpus(t)
	tk := loadReal(t, "roberta-base").WithPadding(&Padding{PadID: 1, PadToken: "<pad>"})
	var in []Input
	for _, s := range texts {
		in = append(in, Input{Text: s})
	}
	for _, p := range pairs {
		in = append(in, Input{Text: p[0], Pair: p[1], IsPair: true})
	}
	got, err := tk.EncodeBatch(in, true)
	if err != nil {
		t.Fatal(err)
	}
	longest := 0
	for _, e := range got {
		longest = max(longest, e.Len())
	}
	fixed := tk.WithPadding(&Padding{Strategy: "fixed", Length: longest, PadID: 1, PadToken: "<pad>"})
	for i, x := range in {
		var want *Encoding
		if x.IsPair {
			want, err = fixed.EncodePair(x.Text, x.Pair, true)
		} else {
			want, err = fixed.Encode(x.Text, true)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Fatalf("batch item %d differs from the sequential encoding", i)
		}
	}
}

func TestPreTokenizeAndNullModel(t *testing.T) {
	tk, err := FromJSON([]byte(`{"version":"1.0","added_tokens":[],"normalizer":{"type":"Lowercase"},
		"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,"model":null}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.PreTokenize("Hello, World! It's 42.")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"hello", ",", "world", "!", "it", "'", "s", "42", "."}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PreTokenize = %q, want %q", got, want)
	}
	if _, err := tk.Encode("x", true); err == nil {
		t.Fatal("Encode without a model should fail")
	}
}

func TestTokenLookups(t *testing.T) {
	tk := loadReal(t, "bert-base-uncased")
	cases := []struct {
		tok string
		id  int
	}{{"[PAD]", 0}, {"[UNK]", 100}, {"[CLS]", 101}, {"the", 1996}, {"##s", 2015}}
	for _, c := range cases {
		if id, ok := tk.TokenToID(c.tok); !ok || id != c.id {
			t.Errorf("TokenToID(%q) = %d, %v; want %d", c.tok, id, ok, c.id)
		}
		if tok, ok := tk.IDToToken(c.id); !ok || tok != c.tok {
			t.Errorf("IDToToken(%d) = %q, %v; want %q", c.id, tok, ok, c.tok)
		}
	}
	if _, ok := tk.IDToToken(1 << 30); ok {
		t.Error("IDToToken of an unknown id succeeded")
	}
	if n := tk.VocabSize(true); n != 30522 {
		t.Errorf("VocabSize = %d", n)
	}
}

func TestInvalidSettings(t *testing.T) {
	tk := loadReal(t, "bert-base-uncased")
	cases := []struct {
		name string
		tk   *Tokenizer
		want string
	}{
		{"strategy", tk.WithTruncation(&Truncation{MaxLength: 5, Strategy: "middle"}), "truncation.strategy"},
		{"direction", tk.WithPadding(&Padding{Direction: "up"}), "padding.direction"},
		{"stride", tk.WithTruncation(&Truncation{MaxLength: 5, Stride: 3}), "stride 3 must be strictly less"},
		{"too-small", tk.WithTruncation(&Truncation{MaxLength: 1}), "smaller than the 2 special tokens"},
		{"only-second-single", tk.WithTruncation(&Truncation{MaxLength: 4, Strategy: "only_second"}), "second sequence not provided"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.tk.Encode("a b c d e f g h i j", true)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
