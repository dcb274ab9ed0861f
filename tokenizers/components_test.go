package tokenizers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// variant returns base with top-level fields replaced (nil values become
// JSON null) and, for "model.*" keys, model fields replaced.
func variant(t testing.TB, base string, patch map[string]any) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range patch {
		if len(k) > 6 && k[:6] == "model." {
			m["model"].(map[string]any)[k[6:]] = v
			continue
		}
		m[k] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

type obj = map[string]any

func tmplPiece(kind, id string, typeID int) obj {
	return obj{kind: obj{"id": id, "type_id": typeID}}
}

// TestParityComponents runs every supported component against HF on the
// corpus, each inside a small pipeline built around a real or trained model.
func TestParityComponents(t *testing.T) {
	texts, pairs := loadCorpus(t)
	short := pairs[:8]
	bert := realTokenizerJSON(t, "bert-base-uncased")
	roberta := realTokenizerJSON(t, "roberta-base")
	t5 := realTokenizerJSON(t, "t5-small")
	var t5doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(t5), &t5doc); err != nil {
		t.Fatal(err)
	}
	var precompiled any
	if err := json.Unmarshal(t5doc["normalizer"], &precompiled); err != nil {
		t.Fatal(err)
	}
	bertNorm := obj{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true}
	ws := obj{"type": "Whitespace"}
	wsSplit := obj{"type": "WhitespaceSplit"}
	seqN := func(ns ...any) obj { return obj{"type": "Sequence", "normalizers": ns} }
	seqP := func(ps ...any) obj { return obj{"type": "Sequence", "pretokenizers": ps} }
	seqD := func(ds ...any) obj { return obj{"type": "Sequence", "decoders": ds} }
	punct := func(b string) obj { return obj{"type": "Punctuation", "behavior": b} }
	splitRe := func(re, b string, inv bool) obj {
		return obj{"type": "Split", "pattern": obj{"Regex": re}, "behavior": b, "invert": inv}
	}
	metaspace := func(scheme string, split bool) obj {
		return obj{"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": split}
	}
	gpt2 := `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	added := func(content string, special, lstrip, rstrip, single, normalized bool) obj {
		return obj{"id": 0, "content": content, "special": special, "lstrip": lstrip, "rstrip": rstrip, "single_word": single, "normalized": normalized}
	}
	var bertAdded []any
	{
		var d map[string]any
		if err := json.Unmarshal([]byte(bert), &d); err != nil {
			t.Fatal(err)
		}
		bertAdded = d["added_tokens"].([]any)
	}
	bertTemplate := obj{"type": "TemplateProcessing",
		"single": []any{tmplPiece("SpecialToken", "[X]", 0), tmplPiece("Sequence", "A", 0), tmplPiece("SpecialToken", "[SEP]", 0)},
		"pair":   []any{tmplPiece("Sequence", "A", 0), tmplPiece("SpecialToken", "[X]", 1), tmplPiece("Sequence", "B", 1), tmplPiece("SpecialToken", "[SEP]", 2)},
		"special_tokens": obj{
			"[X]":   obj{"id": "[X]", "ids": []int{101, 1031, 102}, "tokens": []string{"[CLS]", "x", "[SEP]"}},
			"[SEP]": obj{"id": "[SEP]", "ids": []int{102}, "tokens": []string{"[SEP]"}},
		}}
	robertaTemplate := obj{"type": "TemplateProcessing",
		"single": []any{tmplPiece("SpecialToken", "<s>", 0), tmplPiece("Sequence", "A", 0), tmplPiece("SpecialToken", "</s>", 0)},
		"pair":   []any{tmplPiece("SpecialToken", "<s>", 0), tmplPiece("Sequence", "A", 0), tmplPiece("SpecialToken", "</s>", 0), tmplPiece("Sequence", "B", 1), tmplPiece("SpecialToken", "</s>", 1)},
		"special_tokens": obj{
			"<s>":  obj{"id": "<s>", "ids": []int{0}, "tokens": []string{"<s>"}},
			"</s>": obj{"id": "</s>", "ids": []int{2}, "tokens": []string{"</s>"}},
		}}
	llamaDecoder := seqD(
		obj{"type": "Replace", "pattern": obj{"String": "▁"}, "content": " "},
		obj{"type": "ByteFallback"}, obj{"type": "Fuse"},
		obj{"type": "Strip", "content": " ", "start": 1, "stop": 0})

	type c struct {
		name  string
		base  string
		patch map[string]any
	}
	cases := []c{
		// Normalizers (WordPiece model of bert-base-uncased).
		{"norm/NFC", bert, obj{"normalizer": obj{"type": "NFC"}, "pre_tokenizer": ws}},
		{"norm/NFD", bert, obj{"normalizer": obj{"type": "NFD"}, "pre_tokenizer": ws}},
		{"norm/NFKC", bert, obj{"normalizer": obj{"type": "NFKC"}, "pre_tokenizer": ws}},
		{"norm/NFKD", bert, obj{"normalizer": obj{"type": "NFKD"}, "pre_tokenizer": ws}},
		{"norm/Lowercase", bert, obj{"normalizer": obj{"type": "Lowercase"}, "pre_tokenizer": ws}},
		{"norm/NFD+StripAccents+Lowercase", bert, obj{"normalizer": seqN(obj{"type": "NFD"}, obj{"type": "StripAccents"}, obj{"type": "Lowercase"}), "pre_tokenizer": ws}},
		{"norm/Strip-both", bert, obj{"normalizer": seqN(obj{"type": "Strip", "strip_left": true, "strip_right": true}, obj{"type": "Lowercase"}), "pre_tokenizer": punct("Isolated")}},
		{"norm/Strip-left", bert, obj{"normalizer": obj{"type": "Strip", "strip_left": true, "strip_right": false}, "pre_tokenizer": wsSplit}},
		{"norm/Replace", bert, obj{"normalizer": seqN(
			obj{"type": "Replace", "pattern": obj{"String": "''"}, "content": "\""},
			obj{"type": "Replace", "pattern": obj{"Regex": `\s+`}, "content": " "},
			obj{"type": "Replace", "pattern": obj{"Regex": `[0-9]`}, "content": "#"},
			obj{"type": "Lowercase"}), "pre_tokenizer": ws}},
		{"norm/Bert-cased-no-chinese", bert, obj{"normalizer": obj{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": false, "strip_accents": false, "lowercase": false}}},
		{"norm/Bert-strip-accents-no-lower", bert, obj{"normalizer": obj{"type": "BertNormalizer", "clean_text": false, "handle_chinese_chars": true, "strip_accents": true, "lowercase": false}}},
		{"norm/Precompiled", bert, obj{"normalizer": seqN(precompiled, obj{"type": "Lowercase"}), "pre_tokenizer": wsSplit}},
		{"norm/Prepend", fixture(t, "unigram"), obj{"normalizer": seqN(obj{"type": "Replace", "pattern": obj{"String": " "}, "content": "▁"}, obj{"type": "Prepend", "prepend": "▁"}), "pre_tokenizer": nil,
			"decoder": seqD(obj{"type": "Replace", "pattern": obj{"String": "▁"}, "content": " "}, obj{"type": "Strip", "content": " ", "start": 1, "stop": 0})}},
		// Pre-tokenizers.
		{"pre/Whitespace", bert, obj{"normalizer": bertNorm, "pre_tokenizer": ws}},
		{"pre/WhitespaceSplit", bert, obj{"pre_tokenizer": wsSplit}},
		{"pre/Punctuation-Removed", bert, obj{"pre_tokenizer": seqP(wsSplit, punct("Removed"))}},
		{"pre/Punctuation-Isolated", bert, obj{"pre_tokenizer": seqP(wsSplit, punct("Isolated"))}},
		{"pre/Punctuation-MergedWithPrevious", bert, obj{"pre_tokenizer": seqP(wsSplit, punct("MergedWithPrevious"))}},
		{"pre/Punctuation-MergedWithNext", bert, obj{"pre_tokenizer": seqP(wsSplit, punct("MergedWithNext"))}},
		{"pre/Punctuation-Contiguous", bert, obj{"pre_tokenizer": seqP(wsSplit, punct("Contiguous"))}},
		{"pre/Digits-individual", bert, obj{"pre_tokenizer": seqP(wsSplit, obj{"type": "Digits", "individual_digits": true})}},
		{"pre/Digits-contiguous", bert, obj{"pre_tokenizer": seqP(ws, obj{"type": "Digits", "individual_digits": false})}},
		{"pre/Split-gpt2-lookahead", bert, obj{"pre_tokenizer": splitRe(gpt2, "Isolated", false)}},
		{"pre/Split-string-removed", bert, obj{"pre_tokenizer": obj{"type": "Split", "pattern": obj{"String": " "}, "behavior": "Removed", "invert": false}}},
		{"pre/Split-regex-invert-merged-prev", bert, obj{"pre_tokenizer": splitRe(`\w+`, "MergedWithPrevious", true)}},
		{"pre/Split-regex-contiguous", bert, obj{"pre_tokenizer": seqP(wsSplit, splitRe(`[,.\d]`, "Contiguous", false))}},
		{"pre/Split-regex-merged-next", bert, obj{"pre_tokenizer": splitRe(`\s`, "MergedWithNext", false)}},
		{"pre/CharDelimiterSplit", bert, obj{"pre_tokenizer": obj{"type": "CharDelimiterSplit", "delimiter": "e"}}},
		{"pre/Metaspace-first-nosplit", fixture(t, "unigram"), obj{"pre_tokenizer": metaspace("first", false), "decoder": obj{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}}},
		{"pre/Metaspace-never", fixture(t, "unigram"), obj{"pre_tokenizer": metaspace("never", true), "decoder": obj{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": true}}},
		{"pre/Metaspace-always-ws", fixture(t, "unigram"), obj{"pre_tokenizer": seqP(ws, metaspace("always", true))}},
		{"pre/ByteLevel-prefix-noregex", roberta, obj{"pre_tokenizer": obj{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": false}}},
		{"pre/ByteLevel-prefix", roberta, obj{"pre_tokenizer": obj{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
			"post_processor": obj{"type": "RobertaProcessing", "sep": []any{"</s>", 2}, "cls": []any{"<s>", 0}, "trim_offsets": true, "add_prefix_space": true}}},
		// Models.
		{"model/BPE-suffix-prefix", fixture(t, "bpe_suffix"), obj{"decoder": obj{"type": "BPEDecoder", "suffix": "</w>"}}},
		{"model/BPE-byte-fallback", fixture(t, "bpe_bytefallback"), obj{"decoder": llamaDecoder}},
		{"model/BPE-ignore-merges", roberta, obj{"model.ignore_merges": true}},
		{"model/Unigram", fixture(t, "unigram"), obj{"decoder": obj{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}}},
		{"model/Unigram-byte-fallback", fixture(t, "unigram_bytefallback"), obj{"decoder": llamaDecoder}},
		{"model/WordLevel", fixture(t, "wordlevel"), obj{"post_processor": obj{"type": "BertProcessing", "sep": []any{"[PAD]", 1}, "cls": []any{"[UNK]", 0}}}},
		{"model/WordPiece-max-chars", bert, obj{"model.max_input_chars_per_word": 8}},
		// Post-processors.
		{"post/BertProcessing", bert, obj{"post_processor": obj{"type": "BertProcessing", "sep": []any{"[SEP]", 102}, "cls": []any{"[CLS]", 101}}}},
		{"post/Template-multi", bert, obj{"post_processor": bertTemplate}},
		{"post/Roberta-no-trim", roberta, obj{"post_processor": obj{"type": "RobertaProcessing", "sep": []any{"</s>", 2}, "cls": []any{"<s>", 0}, "trim_offsets": false, "add_prefix_space": false}}},
		{"post/Sequence-ByteLevel-Template", roberta, obj{"post_processor": obj{"type": "Sequence", "processors": []any{
			obj{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}, robertaTemplate}}}},
		{"post/ByteLevel-untrimmed", roberta, obj{"post_processor": obj{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true}}},
		// Decoders.
		{"dec/WordPiece-no-cleanup", bert, obj{"decoder": obj{"type": "WordPiece", "prefix": "##", "cleanup": false}}},
		{"dec/Fuse-Strip-Replace", bert, obj{"decoder": seqD(obj{"type": "Replace", "pattern": obj{"Regex": "#+"}, "content": ""}, obj{"type": "Strip", "content": "[", "start": 2, "stop": 0}, obj{"type": "Fuse"})}},
		{"dec/none", bert, obj{"decoder": nil}},
		// Added tokens with every flag.
		{"added/flags", bert, obj{"added_tokens": append(append([]any{}, bertAdded...),
			added("<mask>", true, true, false, false, false),
			added("hello world", false, false, false, true, true),
			added("XYZ", false, false, true, false, false),
			added("ÜNÏ", true, false, false, false, true),
			added("[X]", true, true, true, true, false))}},
		{"added/roberta-mask", roberta, obj{"added_tokens": []any{
			obj{"id": 0, "content": "<s>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": true},
			obj{"id": 2, "content": "</s>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": true},
			obj{"id": 50264, "content": "<mask>", "special": true, "lstrip": true, "rstrip": false, "single_word": false, "normalized": false}}}},
	}
	var jobs []parityJob
	for _, cs := range cases {
		js := variant(t, cs.base, cs.patch)
		jobs = append(jobs, parityJob{Name: cs.name, JSON: js, AddSpecial: true, Texts: texts, Pairs: short})
	}
	checkParity(t, jobs)
}
