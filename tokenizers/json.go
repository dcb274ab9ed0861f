package tokenizers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/kiln-ml/kiln/internal/atomicfile"
)

// UnsupportedError reports a component kiln does not implement.
type UnsupportedError struct {
	Path, Kind, Type string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s: unsupported %s type %q", e.Path, e.Kind, e.Type)
}

// document is tokenizer.json. The components are kept as raw JSON so that
// Save writes back exactly what was loaded (HF's own serialisation), with
// truncation, padding and added tokens regenerated from the live settings.
type document struct {
	Version       string          `json:"version"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []AddedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

// FromFile loads a tokenizer.json.
func FromFile(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := FromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// jsonErr names the field and, for syntax errors, the byte offset.
func jsonErr(path string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: invalid JSON at byte %d: %w", path, se.Offset, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := te.Field
		if f != "" {
			f = "." + f
		}
		return fmt.Errorf("%s%s: want %s, got JSON %s", path, f, te.Type, te.Value)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// FromJSON parses tokenizer.json content. "model" may be null, giving a
// pipeline that can only PreTokenize.
func FromJSON(data []byte) (*Tokenizer, error) {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, jsonErr("tokenizer.json", err)
	}
	if doc.Version != "" && doc.Version != "1.0" {
		return nil, fmt.Errorf("version: unknown tokenizer version %q", doc.Version)
	}
	p := &pipeline{added: newAddedVocab()}
	raw := &rawParts{normalizer: doc.Normalizer, pre: doc.PreTokenizer, post: doc.PostProcessor, decoder: doc.Decoder, model: doc.Model}
	var err error
	if !isNull(doc.Normalizer) {
		if p.normalizer, err = parseNormalizer("normalizer", doc.Normalizer); err != nil {
			return nil, err
		}
	}
	if !isNull(doc.PreTokenizer) {
		if p.pre, err = parsePreTokenizer("pre_tokenizer", doc.PreTokenizer); err != nil {
			return nil, err
		}
	}
	if !isNull(doc.Model) {
		if p.model, err = parseModel("model", doc.Model); err != nil {
			return nil, err
		}
	}
	if !isNull(doc.PostProcessor) {
		if p.post, err = parsePostProcessor("post_processor", doc.PostProcessor); err != nil {
			return nil, err
		}
	}
	if !isNull(doc.Decoder) {
		if p.decoder, err = parseDecoder("decoder", doc.Decoder); err != nil {
			return nil, err
		}
	}
	for i, at := range doc.AddedTokens {
		if at.Content == "" {
			return nil, fmt.Errorf("added_tokens[%d].content: empty", i)
		}
	}
	if err := p.added.add(doc.AddedTokens, p.model, p.normalizer); err != nil {
		return nil, fmt.Errorf("added_tokens: %w", err)
	}
	t := &Tokenizer{p: p, raw: raw}
	if !isNull(doc.Truncation) {
		tr, err := parseTruncation(doc.Truncation)
		if err != nil {
			return nil, err
		}
		t = t.WithTruncation(tr)
	}
	if !isNull(doc.Padding) {
		pd, err := parsePadding(doc.Padding)
		if err != nil {
			return nil, err
		}
		t = t.WithPadding(pd)
	}
	return t, nil
}

type rawParts struct {
	normalizer, pre, post, decoder, model json.RawMessage
}

// typeOf reads the "type" field of a component.
func typeOf(path string, raw json.RawMessage) (string, error) {
	var head struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", jsonErr(path, err)
	}
	if head.Type == nil {
		return "", nil
	}
	return *head.Type, nil
}

func decodeStrict(path string, raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return jsonErr(path, err)
	}
	return nil
}

func parseNormalizer(path string, raw json.RawMessage) (normalizer, error) {
	typ, err := typeOf(path, raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "BertNormalizer":
		b := &bertNormalizer{CleanText: true, HandleChineseChars: true, Lowercase: true}
		return b, decodeStrict(path, raw, b)
	case "NFC":
		return &unicodeNormalizer{Type: typ, form: nfcForm}, nil
	case "NFD":
		return &unicodeNormalizer{Type: typ, form: nfdForm}, nil
	case "NFKC":
		return &unicodeNormalizer{Type: typ, form: nfkcForm}, nil
	case "NFKD":
		return &unicodeNormalizer{Type: typ, form: nfkdForm}, nil
	case "Lowercase":
		return &lowercaseNormalizer{Type: typ}, nil
	case "StripAccents":
		return &stripAccentsNormalizer{Type: typ}, nil
	case "Strip":
		s := &stripNormalizer{}
		return s, decodeStrict(path, raw, s)
	case "Prepend":
		p := &prependNormalizer{}
		if err := decodeStrict(path, raw, p); err != nil {
			return nil, err
		}
		return p, nil
	case "Replace":
		r := &replaceNormalizer{}
		if err := decodeStrict(path, raw, r); err != nil {
			return nil, err
		}
		if r.re, err = compilePattern(r.Pattern); err != nil {
			return nil, fmt.Errorf("%s.%w", path, err)
		}
		return r, nil
	case "Precompiled":
		var pc struct {
			Map *string `json:"precompiled_charsmap"`
		}
		if err := decodeStrict(path, raw, &pc); err != nil {
			return nil, err
		}
		if pc.Map == nil {
			return nil, fmt.Errorf("%s.precompiled_charsmap: missing", path)
		}
		n, err := newPrecompiled(*pc.Map)
		if err != nil {
			return nil, fmt.Errorf("%s.precompiled_charsmap: %w", path, err)
		}
		return n, nil
	case "Sequence":
		var seq struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := decodeStrict(path, raw, &seq); err != nil {
			return nil, err
		}
		s := &sequenceNormalizer{Type: typ}
		for i, r := range seq.Normalizers {
			n, err := parseNormalizer(fmt.Sprintf("%s.normalizers[%d]", path, i), r)
			if err != nil {
				return nil, err
			}
			s.Normalizers = append(s.Normalizers, n)
		}
		return s, nil
	case "":
		return nil, fmt.Errorf("%s.type: missing", path)
	}
	return nil, &UnsupportedError{Path: path, Kind: "normalizer", Type: typ}
}

func parseBehavior(path string, raw json.RawMessage, def SplitBehavior) (SplitBehavior, error) {
	var b struct {
		Behavior *string `json:"behavior"`
	}
	if err := decodeStrict(path, raw, &b); err != nil {
		return 0, err
	}
	if b.Behavior == nil {
		return def, nil
	}
	v, ok := parseSplitBehavior(*b.Behavior)
	if !ok {
		return 0, fmt.Errorf("%s.behavior: unknown split behavior %q", path, *b.Behavior)
	}
	return v, nil
}

func parsePreTokenizer(path string, raw json.RawMessage) (preTokenizer, error) {
	typ, err := typeOf(path, raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "BertPreTokenizer":
		return bertPreTokenizer{Type: typ}, nil
	case "Whitespace":
		return whitespacePreTokenizer{Type: typ}, nil
	case "WhitespaceSplit":
		return whitespaceSplitPreTokenizer{Type: typ}, nil
	case "Punctuation":
		b, err := parseBehavior(path, raw, SplitIsolated)
		if err != nil {
			return nil, err
		}
		return &punctuationPreTokenizer{Type: typ, Behavior: b}, nil
	case "Digits":
		d := &digitsPreTokenizer{}
		return d, decodeStrict(path, raw, d)
	case "CharDelimiterSplit":
		c := &charDelimiterSplit{}
		if err := decodeStrict(path, raw, c); err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(c.Delimiter) != 1 {
			return nil, fmt.Errorf("%s.delimiter: want exactly one character, got %q", path, c.Delimiter)
		}
		c.delim, _ = utf8.DecodeRuneInString(c.Delimiter)
		return c, nil
	case "Split":
		var s struct {
			Pattern  *patternJSON `json:"pattern"`
			Behavior *string      `json:"behavior"`
			Invert   bool         `json:"invert"`
		}
		if err := decodeStrict(path, raw, &s); err != nil {
			return nil, err
		}
		if s.Pattern == nil {
			return nil, fmt.Errorf("%s.pattern: missing", path)
		}
		if s.Behavior == nil {
			return nil, fmt.Errorf("%s.behavior: missing", path)
		}
		b, ok := parseSplitBehavior(*s.Behavior)
		if !ok {
			return nil, fmt.Errorf("%s.behavior: unknown split behavior %q", path, *s.Behavior)
		}
		re, err := compilePattern(*s.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", path, err)
		}
		return &splitPreTokenizer{Type: typ, Pattern: *s.Pattern, Behavior: b, Invert: s.Invert, re: re}, nil
	case "ByteLevel":
		var b struct {
			AddPrefixSpace *bool `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := decodeStrict(path, raw, &b); err != nil {
			return nil, err
		}
		bl := &byteLevelPre{addPrefixSpace: true, useRegex: true}
		if b.AddPrefixSpace != nil {
			bl.addPrefixSpace = *b.AddPrefixSpace
		}
		if b.UseRegex != nil {
			bl.useRegex = *b.UseRegex
		}
		return bl, nil
	case "Metaspace":
		return parseMetaspace(path, raw)
	case "Sequence":
		var seq struct {
			PreTokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := decodeStrict(path, raw, &seq); err != nil {
			return nil, err
		}
		s := &sequencePreTokenizer{Type: typ}
		for i, r := range seq.PreTokenizers {
			p, err := parsePreTokenizer(fmt.Sprintf("%s.pretokenizers[%d]", path, i), r)
			if err != nil {
				return nil, err
			}
			s.PreTokenizers = append(s.PreTokenizers, p)
		}
		return s, nil
	case "":
		return nil, fmt.Errorf("%s.type: missing", path)
	}
	return nil, &UnsupportedError{Path: path, Kind: "pre-tokenizer", Type: typ}
}

func parseModel(path string, raw json.RawMessage) (model, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, jsonErr(path, err)
	}
	typ := ""
	if t, ok := fields["type"]; ok {
		if err := json.Unmarshal(t, &typ); err != nil {
			return nil, jsonErr(path+".type", err)
		}
	} else {
		// Older files have no "type": infer it from the fields, as HF's
		// untagged fallback does.
		v := bytes.TrimSpace(fields["vocab"])
		switch {
		case fields["merges"] != nil:
			typ = "BPE"
		case len(v) > 0 && v[0] == '[':
			typ = "Unigram"
		case fields["continuing_subword_prefix"] != nil || fields["max_input_chars_per_word"] != nil:
			typ = "WordPiece"
		case fields["vocab"] != nil:
			typ = "WordLevel"
		default:
			return nil, fmt.Errorf("%s: no \"type\" and no recognisable fields (vocab, merges)", path)
		}
	}
	switch typ {
	case "WordPiece":
		var w struct {
			Vocab                   map[string]int `json:"vocab"`
			UnkToken                *string        `json:"unk_token"`
			ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
			MaxInputCharsPerWord    *int           `json:"max_input_chars_per_word"`
		}
		if err := decodeStrict(path, raw, &w); err != nil {
			return nil, err
		}
		if w.Vocab == nil {
			return nil, fmt.Errorf("%s.vocab: missing", path)
		}
		unk, prefix, maxc := "[UNK]", "##", 100
		if w.UnkToken != nil {
			unk = *w.UnkToken
		}
		if w.ContinuingSubwordPrefix != nil {
			prefix = *w.ContinuingSubwordPrefix
		}
		if w.MaxInputCharsPerWord != nil {
			maxc = *w.MaxInputCharsPerWord
		}
		v, err := newVocab(w.Vocab)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", path, err)
		}
		return newWordPiece(v, unk, prefix, maxc), nil
	case "WordLevel":
		var w struct {
			Vocab    map[string]int `json:"vocab"`
			UnkToken string         `json:"unk_token"`
		}
		if err := decodeStrict(path, raw, &w); err != nil {
			return nil, err
		}
		if w.Vocab == nil {
			return nil, fmt.Errorf("%s.vocab: missing", path)
		}
		v, err := newVocab(w.Vocab)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", path, err)
		}
		return &wordLevel{vocab: v, UnkToken: w.UnkToken}, nil
	case "BPE":
		return parseBPE(path, raw)
	case "Unigram":
		return parseUnigram(path, raw)
	}
	return nil, &UnsupportedError{Path: path, Kind: "model", Type: typ}
}

func parsePostProcessor(path string, raw json.RawMessage) (postProcessor, error) {
	typ, err := typeOf(path, raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "TemplateProcessing":
		var t struct {
			Single []map[string]struct {
				ID     string `json:"id"`
				TypeID int    `json:"type_id"`
			} `json:"single"`
			Pair []map[string]struct {
				ID     string `json:"id"`
				TypeID int    `json:"type_id"`
			} `json:"pair"`
			SpecialTokens map[string]templateSpecial `json:"special_tokens"`
		}
		if err := decodeStrict(path, raw, &t); err != nil {
			return nil, err
		}
		conv := func(name string, in []map[string]struct {
			ID     string `json:"id"`
			TypeID int    `json:"type_id"`
		}) ([]templatePiece, error) {
			var out []templatePiece
			for i, m := range in {
				for k, v := range m {
					switch k {
					case "Sequence":
						if v.ID != "A" && v.ID != "B" {
							return nil, fmt.Errorf("%s.%s[%d].Sequence.id: want A or B, got %q", path, name, i, v.ID)
						}
						out = append(out, templatePiece{seq: v.ID, typeID: v.TypeID})
					case "SpecialToken":
						out = append(out, templatePiece{special: v.ID, typeID: v.TypeID})
					default:
						return nil, fmt.Errorf("%s.%s[%d]: unknown piece %q (want Sequence or SpecialToken)", path, name, i, k)
					}
				}
			}
			return out, nil
		}
		single, err := conv("single", t.Single)
		if err != nil {
			return nil, err
		}
		pair, err := conv("pair", t.Pair)
		if err != nil {
			return nil, err
		}
		tp, err := newTemplateProcessing(single, pair, t.SpecialTokens)
		if err != nil {
			return nil, err
		}
		return tp, nil
	case "BertProcessing", "RobertaProcessing":
		var b struct {
			Sep            []json.RawMessage `json:"sep"`
			Cls            []json.RawMessage `json:"cls"`
			TrimOffsets    *bool             `json:"trim_offsets"`
			AddPrefixSpace *bool             `json:"add_prefix_space"`
		}
		if err := decodeStrict(path, raw, &b); err != nil {
			return nil, err
		}
		pairOf := func(name string, v []json.RawMessage) (string, int, error) {
			if len(v) != 2 {
				return "", 0, fmt.Errorf("%s.%s: want [token, id]", path, name)
			}
			var s string
			var id int
			if err := json.Unmarshal(v[0], &s); err != nil {
				return "", 0, jsonErr(path+"."+name+"[0]", err)
			}
			if err := json.Unmarshal(v[1], &id); err != nil {
				return "", 0, jsonErr(path+"."+name+"[1]", err)
			}
			return s, id, nil
		}
		sep, sepID, err := pairOf("sep", b.Sep)
		if err != nil {
			return nil, err
		}
		cls, clsID, err := pairOf("cls", b.Cls)
		if err != nil {
			return nil, err
		}
		if typ == "BertProcessing" {
			return &bertProcessing{sep: sep, sepID: sepID, cls: cls, clsID: clsID}, nil
		}
		r := &robertaProcessing{sep: sep, sepID: sepID, cls: cls, clsID: clsID, trimOffsets: true, addPrefixSpace: true}
		if b.TrimOffsets != nil {
			r.trimOffsets = *b.TrimOffsets
		}
		if b.AddPrefixSpace != nil {
			r.addPrefixSpace = *b.AddPrefixSpace
		}
		return r, nil
	case "ByteLevel":
		var b struct {
			AddPrefixSpace *bool `json:"add_prefix_space"`
			TrimOffsets    *bool `json:"trim_offsets"`
		}
		if err := decodeStrict(path, raw, &b); err != nil {
			return nil, err
		}
		bl := &byteLevelProcessing{addPrefixSpace: true, trimOffsets: true}
		if b.AddPrefixSpace != nil {
			bl.addPrefixSpace = *b.AddPrefixSpace
		}
		if b.TrimOffsets != nil {
			bl.trimOffsets = *b.TrimOffsets
		}
		return bl, nil
	case "Sequence":
		var seq struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := decodeStrict(path, raw, &seq); err != nil {
			return nil, err
		}
		s := &sequenceProcessing{}
		for i, r := range seq.Processors {
			p, err := parsePostProcessor(fmt.Sprintf("%s.processors[%d]", path, i), r)
			if err != nil {
				return nil, err
			}
			s.procs = append(s.procs, p)
		}
		return s, nil
	case "":
		return nil, fmt.Errorf("%s.type: missing", path)
	}
	return nil, &UnsupportedError{Path: path, Kind: "post-processor", Type: typ}
}

func parseDecoder(path string, raw json.RawMessage) (decoder, error) {
	typ, err := typeOf(path, raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "WordPiece":
		w := &wordPieceDecoder{Prefix: "##", Cleanup: true}
		return w, decodeStrict(path, raw, w)
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "Metaspace":
		m, err := parseMetaspace(path, raw)
		if err != nil {
			return nil, err
		}
		return &metaspaceDecoder{replacement: m.replacement, prependNever: m.scheme == "never"}, nil
	case "BPEDecoder":
		b := &bpeDecoder{Suffix: "</w>"}
		return b, decodeStrict(path, raw, b)
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		s := &stripDecoder{}
		if err := decodeStrict(path, raw, s); err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(s.Content) != 1 {
			return nil, fmt.Errorf("%s.content: want exactly one character, got %q", path, s.Content)
		}
		s.content, _ = utf8.DecodeRuneInString(s.Content)
		if s.Start < 0 || s.Stop < 0 {
			return nil, fmt.Errorf("%s: start and stop must be >= 0", path)
		}
		return s, nil
	case "Replace":
		var r struct {
			Pattern *patternJSON `json:"pattern"`
			Content string       `json:"content"`
		}
		if err := decodeStrict(path, raw, &r); err != nil {
			return nil, err
		}
		if r.Pattern == nil {
			return nil, fmt.Errorf("%s.pattern: missing", path)
		}
		re, err := compilePattern(*r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", path, err)
		}
		return &replaceDecoder{Pattern: *r.Pattern, Content: r.Content, re: re}, nil
	case "Sequence":
		var seq struct {
			Decoders []json.RawMessage `json:"decoders"`
		}
		if err := decodeStrict(path, raw, &seq); err != nil {
			return nil, err
		}
		s := &sequenceDecoder{}
		for i, r := range seq.Decoders {
			d, err := parseDecoder(fmt.Sprintf("%s.decoders[%d]", path, i), r)
			if err != nil {
				return nil, err
			}
			s.decoders = append(s.decoders, d)
		}
		return s, nil
	case "":
		return nil, fmt.Errorf("%s.type: missing", path)
	}
	return nil, &UnsupportedError{Path: path, Kind: "decoder", Type: typ}
}

func parseTruncation(raw json.RawMessage) (*Truncation, error) {
	var t struct {
		Direction string `json:"direction"`
		MaxLength int    `json:"max_length"`
		Strategy  string `json:"strategy"`
		Stride    int    `json:"stride"`
	}
	if err := decodeStrict("truncation", raw, &t); err != nil {
		return nil, err
	}
	tr := &Truncation{MaxLength: t.MaxLength, Stride: t.Stride}
	switch t.Strategy {
	case "LongestFirst", "":
		tr.Strategy = "longest_first"
	case "OnlyFirst":
		tr.Strategy = "only_first"
	case "OnlySecond":
		tr.Strategy = "only_second"
	default:
		return nil, fmt.Errorf("truncation.strategy: unknown %q", t.Strategy)
	}
	switch t.Direction {
	case "Right", "":
		tr.Direction = "right"
	case "Left":
		tr.Direction = "left"
	default:
		return nil, fmt.Errorf("truncation.direction: unknown %q", t.Direction)
	}
	return tr, nil
}

func parsePadding(raw json.RawMessage) (*Padding, error) {
	var p struct {
		Strategy        json.RawMessage `json:"strategy"`
		Direction       string          `json:"direction"`
		PadToMultipleOf *int            `json:"pad_to_multiple_of"`
		PadID           int             `json:"pad_id"`
		PadTypeID       int             `json:"pad_type_id"`
		PadToken        string          `json:"pad_token"`
	}
	if err := decodeStrict("padding", raw, &p); err != nil {
		return nil, err
	}
	pd := &Padding{PadID: p.PadID, PadTypeID: p.PadTypeID, PadToken: p.PadToken}
	if p.PadToMultipleOf != nil {
		pd.PadToMultipleOf = *p.PadToMultipleOf
	}
	var s string
	if err := json.Unmarshal(p.Strategy, &s); err == nil {
		if s != "BatchLongest" {
			return nil, fmt.Errorf("padding.strategy: unknown %q", s)
		}
		pd.Strategy = "longest"
	} else {
		var f struct {
			Fixed *int `json:"Fixed"`
		}
		if err := json.Unmarshal(p.Strategy, &f); err != nil || f.Fixed == nil {
			return nil, fmt.Errorf("padding.strategy: want \"BatchLongest\" or {\"Fixed\": n}")
		}
		pd.Strategy = "fixed"
		pd.Length = *f.Fixed
	}
	switch p.Direction {
	case "Right", "":
		pd.Direction = "right"
	case "Left":
		pd.Direction = "left"
	default:
		return nil, fmt.Errorf("padding.direction: unknown %q", p.Direction)
	}
	return pd, nil
}

func truncationJSON(tr *Truncation) any {
	if tr == nil {
		return nil
	}
	strat := map[string]string{"longest_first": "LongestFirst", "only_first": "OnlyFirst", "only_second": "OnlySecond"}[tr.Strategy]
	dir := "Right"
	if tr.Direction == "left" {
		dir = "Left"
	}
	return struct {
		Direction string `json:"direction"`
		MaxLength int    `json:"max_length"`
		Strategy  string `json:"strategy"`
		Stride    int    `json:"stride"`
	}{dir, tr.MaxLength, strat, tr.Stride}
}

func paddingJSON(p *Padding) any {
	if p == nil {
		return nil
	}
	var strat any = "BatchLongest"
	if p.Strategy == "fixed" {
		strat = map[string]int{"Fixed": p.Length}
	}
	dir := "Right"
	if p.Direction == "left" {
		dir = "Left"
	}
	var mult *int
	if p.PadToMultipleOf > 0 {
		m := p.PadToMultipleOf
		mult = &m
	}
	return struct {
		Strategy        any    `json:"strategy"`
		Direction       string `json:"direction"`
		PadToMultipleOf *int   `json:"pad_to_multiple_of"`
		PadID           int    `json:"pad_id"`
		PadTypeID       int    `json:"pad_type_id"`
		PadToken        string `json:"pad_token"`
	}{strat, dir, mult, p.PadID, p.PadTypeID, p.PadToken}
}

func orNull(r json.RawMessage) json.RawMessage {
	if isNull(r) {
		return json.RawMessage("null")
	}
	return r
}

// ToJSON serialises the tokenizer in HF's tokenizer.json layout (2-space
// indentation, HF's key order).
func (t *Tokenizer) ToJSON() ([]byte, error) {
	if t.raw == nil {
		return nil, errors.New("tokenizer: no serialised form available")
	}
	added := t.p.added.sorted()
	if added == nil {
		added = []AddedToken{}
	}
	tj, err := json.Marshal(truncationJSON(t.trunc))
	if err != nil {
		return nil, err
	}
	pj, err := json.Marshal(paddingJSON(t.pad))
	if err != nil {
		return nil, err
	}
	// Keep "<s>" readable: HF writes added tokens without HTML escaping.
	var ab bytes.Buffer
	enc := json.NewEncoder(&ab)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(added); err != nil {
		return nil, err
	}
	aj := bytes.TrimSpace(ab.Bytes())
	var buf bytes.Buffer
	buf.WriteString(`{"version":"1.0","truncation":`)
	buf.Write(tj)
	buf.WriteString(`,"padding":`)
	buf.Write(pj)
	buf.WriteString(`,"added_tokens":`)
	buf.Write(aj)
	for _, kv := range []struct {
		k string
		v json.RawMessage
	}{{"normalizer", t.raw.normalizer}, {"pre_tokenizer", t.raw.pre}, {"post_processor", t.raw.post}, {"decoder", t.raw.decoder}, {"model", t.raw.model}} {
		buf.WriteString(`,"` + kv.k + `":`)
		buf.Write(orNull(kv.v))
	}
	buf.WriteString("}")
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("tokenizer: serialising: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// Save writes tokenizer.json atomically (temp file, fsync, rename).
func (t *Tokenizer) Save(path string) error {
	data, err := t.ToJSON()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data)
}

// Summary names the components of a tokenizer, for `kiln tokenizer
// inspect` and logs.
type Summary struct {
	Model, Normalizer, PreTokenizer, PostProcessor, Decoder string
	VocabSize, VocabSizeWithAdded                           int
	AddedTokens                                             []AddedToken
	Truncation                                              *Truncation
	Padding                                                 *Padding
}

// Summary describes the pipeline; Sequence components list their parts.
func (t *Tokenizer) Summary() Summary {
	s := Summary{VocabSize: t.VocabSize(false), VocabSizeWithAdded: t.VocabSize(true),
		AddedTokens: t.AddedTokens(), Truncation: t.Truncation(), Padding: t.Padding()}
	if t.raw != nil {
		s.Normalizer = describeRaw(t.raw.normalizer)
		s.PreTokenizer = describeRaw(t.raw.pre)
		s.PostProcessor = describeRaw(t.raw.post)
		s.Decoder = describeRaw(t.raw.decoder)
	}
	switch t.p.model.(type) {
	case *wordPiece:
		s.Model = "WordPiece"
	case *bpe:
		s.Model = "BPE"
	case *unigram:
		s.Model = "Unigram"
	case *wordLevel:
		s.Model = "WordLevel"
	default:
		s.Model = "none"
	}
	return s
}

func describeRaw(raw json.RawMessage) string {
	if isNull(raw) {
		return "none"
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "?"
	}
	var typ string
	_ = json.Unmarshal(m["type"], &typ)
	for _, key := range []string{"normalizers", "pretokenizers", "processors", "decoders"} {
		if sub, ok := m[key]; ok {
			var parts []json.RawMessage
			if json.Unmarshal(sub, &parts) == nil {
				names := make([]string, len(parts))
				for i, p := range parts {
					names[i] = describeRaw(p)
				}
				return typ + "[" + strings.Join(names, ", ") + "]"
			}
		}
	}
	return typ
}
