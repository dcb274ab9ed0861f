package tokenizers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// vocab is a token↔id table.
type vocab struct {
	ids    map[string]int
	tokens []string // by id; "" with present[id]=false for holes
	has    []bool
}

func newVocab(m map[string]int) (*vocab, error) {
	v := &vocab{ids: m}
	mx := -1
	for _, id := range m {
		if id < 0 {
			return nil, fmt.Errorf("vocab: negative id %d", id)
		}
		mx = max(mx, id)
	}
	v.tokens = make([]string, mx+1)
	v.has = make([]bool, mx+1)
	for t, id := range m {
		v.tokens[id] = t
		v.has[id] = true
	}
	return v, nil
}

func (v *vocab) tokenToID(t string) (int, bool) {
	id, ok := v.ids[t]
	return id, ok
}

func (v *vocab) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(v.tokens) || !v.has[id] {
		return "", false
	}
	return v.tokens[id], true
}

func (v *vocab) vocabSize() int { return len(v.ids) }

// wordPiece is HF's WordPiece model: greedy longest-match-first.
type wordPiece struct {
	*vocab
	UnkToken                string
	ContinuingSubwordPrefix string
	MaxInputCharsPerWord    int
	// cont maps a continuation piece without its prefix to its id, so the
	// hot loop needs no string concatenation.
	cont   map[string]int
	maxLen int // longest vocabulary entry in bytes
}

func newWordPiece(v *vocab, unk, prefix string, maxChars int) *wordPiece {
	w := &wordPiece{vocab: v, UnkToken: unk, ContinuingSubwordPrefix: prefix, MaxInputCharsPerWord: maxChars, cont: map[string]int{}}
	for t, id := range v.ids {
		w.maxLen = max(w.maxLen, len(t))
		if strings.HasPrefix(t, prefix) {
			w.cont[t[len(prefix):]] = id
		}
	}
	return w
}

func (w *wordPiece) unk(s string, dst []token) ([]token, error) {
	id, ok := w.ids[w.UnkToken]
	if !ok {
		return nil, fmt.Errorf("WordPiece: unk_token %q is not in the vocabulary", w.UnkToken)
	}
	return append(dst, token{id: id, value: w.UnkToken, start: 0, end: len(s)}), nil
}

func (w *wordPiece) tokenize(s string, dst []token) ([]token, error) {
	if utf8.RuneCountInString(s) > w.MaxInputCharsPerWord {
		return w.unk(s, dst)
	}
	start0 := len(dst)
	start := 0
	for start < len(s) {
		end := min(len(s), start+w.maxLen)
		// Back off to a rune boundary.
		for end > start && end < len(s) && !utf8.RuneStart(s[end]) {
			end--
		}
		found := false
		for start < end {
			var id int
			var ok bool
			if start == 0 {
				id, ok = w.ids[s[:end]]
			} else {
				id, ok = w.cont[s[start:end]]
			}
			if ok {
				dst = append(dst, token{id: id, value: w.tokens[id], start: start, end: end})
				found = true
				break
			}
			_, size := utf8.DecodeLastRuneInString(s[start:end])
			end -= size
		}
		if !found {
			return w.unk(s, dst[:start0])
		}
		start = end
	}
	return dst, nil
}

// wordLevel is HF's WordLevel model: one id per word.
type wordLevel struct {
	*vocab
	UnkToken string
}

func (w *wordLevel) tokenize(s string, dst []token) ([]token, error) {
	if id, ok := w.ids[s]; ok {
		return append(dst, token{id: id, value: w.tokens[id], start: 0, end: len(s)}), nil
	}
	if id, ok := w.ids[w.UnkToken]; ok {
		return append(dst, token{id: id, value: w.UnkToken, start: 0, end: len(s)}), nil
	}
	return nil, fmt.Errorf("WordLevel: unk_token %q is not in the vocabulary", w.UnkToken)
}

// FromVocabTxt builds the BERT WordPiece pipeline (BertNormalizer,
// BertPreTokenizer, WordPiece with "##", [CLS] $A [SEP] / [CLS] $A [SEP] $B
// [SEP], WordPiece decoder) around a vocab.txt, one token per line, as
// transformers' BertTokenizerFast does. [PAD] [UNK] [CLS] [SEP] [MASK],
// when present, become special added tokens.
func FromVocabTxt(path string, lowercase bool) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vocab.txt: %w", err)
	}
	defer f.Close()
	m := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		// transformers keeps the last id of a duplicated line.
		m[strings.TrimRight(sc.Text(), "\r")] = line
		line++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", path, line+1, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: empty vocabulary", path)
	}
	for _, need := range []string{"[UNK]", "[CLS]", "[SEP]"} {
		if _, ok := m[need]; !ok {
			return nil, fmt.Errorf("%s: token %s missing (needed by the BERT pipeline)", path, need)
		}
	}
	var added []AddedToken
	for _, s := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		if id, ok := m[s]; ok {
			added = append(added, AddedToken{ID: id, Content: s, Special: true})
		}
	}
	sort.Slice(added, func(i, j int) bool { return added[i].ID < added[j].ID })
	cls, sep := m["[CLS]"], m["[SEP]"]
	special := func(id string, typeID int) map[string]any {
		return map[string]any{"SpecialToken": map[string]any{"id": id, "type_id": typeID}}
	}
	seq := func(id string, typeID int) map[string]any {
		return map[string]any{"Sequence": map[string]any{"id": id, "type_id": typeID}}
	}
	doc := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": added,
		"normalizer": map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
			"strip_accents": nil, "lowercase": lowercase},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{special("[CLS]", 0), seq("A", 0), special("[SEP]", 0)},
			"pair":   []any{special("[CLS]", 0), seq("A", 0), special("[SEP]", 0), seq("B", 1), special("[SEP]", 1)},
			"special_tokens": map[string]any{
				"[CLS]": map[string]any{"id": "[CLS]", "ids": []int{cls}, "tokens": []string{"[CLS]"}},
				"[SEP]": map[string]any{"id": "[SEP]", "ids": []int{sep}, "tokens": []string{"[SEP]"}},
			},
		},
		"decoder": map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": orderedVocab(m)},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := FromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// orderedVocab marshals a vocabulary as a JSON object ordered by id, as HF
// writes it.
type orderedVocab map[string]int

func (v orderedVocab) MarshalJSON() ([]byte, error) {
	type kv struct {
		k string
		v int
	}
	all := make([]kv, 0, len(v))
	for k, id := range v {
		all = append(all, kv{k, id})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range all {
		if i > 0 {
			b.WriteByte(',')
		}
		ks, err := json.Marshal(e.k)
		if err != nil {
			return nil, err
		}
		b.Write(ks)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.v))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
