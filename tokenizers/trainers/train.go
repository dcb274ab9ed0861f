package trainers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ml/kiln/tokenizers"
)

// Model kinds.
const (
	KindWordPiece    = "wordpiece"
	KindBPE          = "bpe"
	KindByteLevelBPE = "bytelevel-bpe"
	KindUnigram      = "unigram"
)

// Kinds lists the trainable model kinds.
var Kinds = []string{KindWordPiece, KindBPE, KindByteLevelBPE, KindUnigram}

// preset is a base pipeline (HF serialisation of each component) and the
// defaults that go with it.
type preset struct {
	normalizer, preTokenizer, decoder string
	// post is a post-processor template; special token ids are filled in
	// after training (see fixPostProcessor).
	post          string
	specialTokens []string
	unkToken      string
	minFrequency  uint64
	byteAlphabet  bool
	prefix        string
	// roles maps transformers' special-token names to tokens.
	roles map[string]string
	class string
}

var presets = map[string]preset{
	// BERT: lowercasing BertNormalizer, BertPreTokenizer, [CLS] A [SEP] (B [SEP]).
	KindWordPiece: {
		normalizer:    `{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true}`,
		preTokenizer:  `{"type":"BertPreTokenizer"}`,
		post:          templateBERT("[CLS]", "[SEP]"),
		decoder:       `{"type":"WordPiece","prefix":"##","cleanup":true}`,
		specialTokens: []string{"[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"},
		unkToken:      "[UNK]",
		prefix:        "##",
		roles:         map[string]string{"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"},
		class:         "BertTokenizerFast",
	},
	// HF quicktour BPE: Whitespace pre-tokenizer, [UNK] for unseen characters.
	KindBPE: {
		preTokenizer:  `{"type":"Whitespace"}`,
		post:          templateBERT("[CLS]", "[SEP]"),
		specialTokens: []string{"[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"},
		unkToken:      "[UNK]",
		roles:         map[string]string{"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"},
		class:         "PreTrainedTokenizerFast",
	},
	// RoBERTa / GPT-2: byte-level pre-tokenizer, all 256 byte characters in
	// the alphabet, <s> A </s> (</s> B </s>); min_frequency 2 as HF's
	// ByteLevelBPETokenizer.train.
	KindByteLevelBPE: {
		preTokenizer:  `{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}`,
		post:          `{"type":"RobertaProcessing","sep":["</s>",-1],"cls":["<s>",-1],"trim_offsets":true,"add_prefix_space":false}`,
		decoder:       `{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}`,
		specialTokens: []string{"<s>", "<pad>", "</s>", "<unk>", "<mask>"},
		minFrequency:  2,
		byteAlphabet:  true,
		roles:         map[string]string{"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"},
		class:         "PreTrainedTokenizerFast",
	},
	// SentencePiece style: NFKC, Metaspace (▁ before every word).
	KindUnigram: {
		normalizer:    `{"type":"NFKC"}`,
		preTokenizer:  `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`,
		decoder:       `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`,
		specialTokens: []string{"<unk>", "<pad>", "<s>", "</s>"},
		unkToken:      "<unk>",
		roles:         map[string]string{"unk_token": "<unk>", "pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>"},
		class:         "PreTrainedTokenizerFast",
	},
}

func templateBERT(cls, sep string) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return `{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":` + q(cls) + `,"type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":` + q(sep) + `,"type_id":0}}],` +
		`"pair":[{"SpecialToken":{"id":` + q(cls) + `,"type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":` + q(sep) + `,"type_id":0}},{"Sequence":{"id":"B","type_id":1}},{"SpecialToken":{"id":` + q(sep) + `,"type_id":1}}],` +
		`"special_tokens":{` + q(cls) + `:{"id":` + q(cls) + `,"ids":[-1],"tokens":[` + q(cls) + `]},` + q(sep) + `:{"id":` + q(sep) + `,"ids":[-1],"tokens":[` + q(sep) + `]}}}`
}

// Options configure Train. Zero values take HF's defaults (or the preset's).
type Options struct {
	Kind  string   // wordpiece | bpe | bytelevel-bpe | unigram
	Files []string // training text, one sequence per line
	// Base, if set, is a tokenizer.json whose normalizer, pre-tokenizer,
	// post-processor and decoder replace the preset's (its model is ignored).
	Base []byte

	VocabSize     int
	MinFrequency  *uint64
	SpecialTokens []string // nil: the preset's; order fixes the first ids
	LimitAlphabet int
	// InitialAlphabet characters are always in the vocabulary.
	InitialAlphabet []rune
	// ContinuingSubwordPrefix / EndOfWordSuffix: nil keeps the preset's.
	ContinuingSubwordPrefix *string
	EndOfWordSuffix         *string
	MaxTokenLength          int
	// Unigram.
	ShrinkingFactor float64
	NSubIterations  int
	MaxPieceLength  int
	UnkToken        *string

	Workers  int       // word counting goroutines; 0 = GOMAXPROCS
	Progress io.Writer // progress bars, nil for none
	Logger   *slog.Logger
}

// Result is a trained tokenizer.
type Result struct {
	Kind          string
	JSON          []byte // tokenizer.json
	Vocab         []string
	SpecialTokens []string
	Words         int // distinct pre-tokenized words seen
	CountTime     time.Duration
	TrainTime     time.Duration
	roles         map[string]string
	class         string
}

// Train counts words in the files through the base pipeline and trains the
// chosen model.
func Train(ctx context.Context, opts Options) (*Result, error) {
	pipe, err := pipelineFor(opts)
	if err != nil {
		return nil, err
	}
	log := logger(opts)
	t0 := time.Now()
	wc, err := CountWords(ctx, opts.Files, pipe.PreTokenize, opts.Workers, opts.Progress)
	if err != nil {
		return nil, err
	}
	countTime := time.Since(t0)
	log.Info("counted words", "distinct", len(wc), "seconds", countTime.Seconds())
	t1 := time.Now()
	res, err := TrainWordCounts(ctx, wc, opts)
	if err != nil {
		return nil, err
	}
	res.CountTime, res.TrainTime = countTime, time.Since(t1)
	log.Info("trained", "kind", res.Kind, "vocab", len(res.Vocab), "seconds", res.TrainTime.Seconds())
	return res, nil
}

func logger(opts Options) *slog.Logger {
	if opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return opts.Logger
}

// missingTokenError: a post-processor names a token the vocabulary lacks.
type missingTokenError struct{ path, token string }

func (e *missingTokenError) Error() string {
	return fmt.Sprintf("%s: token %q is not in the trained vocabulary (add it to the special tokens)", e.path, e.token)
}

// basePipeline returns the four pipeline components of opts as raw JSON.
func basePipeline(opts Options) (p preset, parts map[string]json.RawMessage, err error) {
	p, ok := presets[opts.Kind]
	if !ok {
		return p, nil, fmt.Errorf("unknown model kind %q (want one of %s)", opts.Kind, strings.Join(Kinds, ", "))
	}
	parts = map[string]json.RawMessage{
		"normalizer":     rawOrNull(p.normalizer),
		"pre_tokenizer":  rawOrNull(p.preTokenizer),
		"post_processor": rawOrNull(p.post),
		"decoder":        rawOrNull(p.decoder),
	}
	if opts.Base != nil {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(opts.Base, &doc); err != nil {
			return p, nil, fmt.Errorf("base tokenizer.json: %w", err)
		}
		for k := range parts {
			v, ok := doc[k]
			if !ok {
				v = json.RawMessage("null")
			}
			parts[k] = v
		}
	}
	return p, parts, nil
}

func rawOrNull(s string) json.RawMessage {
	if s == "" {
		return json.RawMessage("null")
	}
	return json.RawMessage(s)
}

// pipelineFor loads the base pipeline (model null) with the runtime
// package, for PreTokenize.
func pipelineFor(opts Options) (*tokenizers.Tokenizer, error) {
	_, parts, err := basePipeline(opts)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(`{"version":"1.0","truncation":null,"padding":null,"added_tokens":[]`)
	for _, k := range []string{"normalizer", "pre_tokenizer"} {
		buf.WriteString(`,"` + k + `":`)
		buf.Write(parts[k])
	}
	buf.WriteString(`,"post_processor":null,"decoder":null,"model":null}`)
	t, err := tokenizers.FromJSON(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("base pipeline: %w", err)
	}
	return t, nil
}

// TrainWordCounts trains on word counts already produced by the base
// pipeline and assembles tokenizer.json.
func TrainWordCounts(ctx context.Context, wc map[string]uint64, opts Options) (*Result, error) {
	p, parts, err := basePipeline(opts)
	if err != nil {
		return nil, err
	}
	special := opts.SpecialTokens
	if special == nil {
		special = p.specialTokens
	}
	for i, s := range special {
		if s == "" {
			return nil, fmt.Errorf("special_tokens[%d]: empty token", i)
		}
		if slices.Index(special, s) != i {
			return nil, fmt.Errorf("special_tokens[%d]: %q is listed twice", i, s)
		}
	}
	res := &Result{Kind: opts.Kind, SpecialTokens: special, Words: len(wc), roles: rolesFor(p.roles, special), class: p.class}
	var model []byte
	switch opts.Kind {
	case KindWordPiece, KindBPE, KindByteLevelBPE:
		cfg := BPEConfig{VocabSize: opts.VocabSize, MinFrequency: p.minFrequency, SpecialTokens: special,
			LimitAlphabet: opts.LimitAlphabet, InitialAlphabet: opts.InitialAlphabet,
			ContinuingSubwordPrefix: p.prefix, MaxTokenLength: opts.MaxTokenLength, Progress: opts.Progress}
		if cfg.VocabSize == 0 {
			cfg.VocabSize = 30000
		}
		if opts.MinFrequency != nil {
			cfg.MinFrequency = *opts.MinFrequency
		}
		if p.byteAlphabet {
			cfg.InitialAlphabet = append(ByteLevelAlphabet(), cfg.InitialAlphabet...)
		}
		if opts.ContinuingSubwordPrefix != nil {
			cfg.ContinuingSubwordPrefix = *opts.ContinuingSubwordPrefix
		}
		if opts.EndOfWordSuffix != nil {
			cfg.EndOfWordSuffix = *opts.EndOfWordSuffix
		}
		if opts.Kind == KindWordPiece && cfg.ContinuingSubwordPrefix == "" {
			return nil, errors.New("wordpiece: continuing_subword_prefix must not be empty")
		}
		m, err := TrainBPE(ctx, wc, cfg)
		if err != nil {
			return nil, err
		}
		res.Vocab = m.Vocab
		unk := p.unkToken
		if opts.UnkToken != nil {
			unk = *opts.UnkToken
		}
		if unk != "" && !slices.Contains(m.Vocab, unk) {
			if opts.Kind == KindWordPiece {
				return nil, fmt.Errorf("wordpiece: unk_token %q must be one of the special tokens", unk)
			}
			unk = "" // a BPE without its unknown token drops unseen characters
		}
		if opts.Kind == KindWordPiece {
			model = wordPieceJSON(m, unk)
		} else {
			model = bpeJSON(m, unk)
		}
	case KindUnigram:
		cfg := UnigramConfig{VocabSize: opts.VocabSize, NSubIterations: opts.NSubIterations,
			ShrinkingFactor: opts.ShrinkingFactor, SpecialTokens: special, InitialAlphabet: opts.InitialAlphabet,
			UnkToken: p.unkToken, MaxPieceLength: opts.MaxPieceLength, Progress: opts.Progress}
		if opts.UnkToken != nil {
			cfg.UnkToken = *opts.UnkToken
		}
		m, err := TrainUnigram(ctx, wc, cfg)
		if err != nil {
			return nil, err
		}
		res.Vocab = m.Pieces
		if cfg.UnkToken != "" && !slices.Contains(special, cfg.UnkToken) {
			res.SpecialTokens = append([]string{cfg.UnkToken}, special...)
		}
		model = unigramJSON(m)
	}
	ids := map[string]int{}
	for i, t := range res.Vocab {
		if _, ok := ids[t]; !ok {
			ids[t] = i
		}
	}
	post, err := fixPostProcessor(parts["post_processor"], ids)
	var missing *missingTokenError
	if errors.As(err, &missing) && opts.Base == nil {
		// The preset's post-processor needs tokens the caller left out of
		// the special tokens: train without one rather than fail.
		logger(opts).Warn("dropping the preset's post-processor", "reason", err)
		post, err = json.RawMessage("null"), nil
	}
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(`{"version":"1.0","truncation":null,"padding":null,"added_tokens":[`)
	for i, s := range res.SpecialTokens {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"id":%d,"content":%s,"single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}`, ids[s], jsonString(s))
	}
	buf.WriteString(`],"normalizer":`)
	buf.Write(parts["normalizer"])
	buf.WriteString(`,"pre_tokenizer":`)
	buf.Write(parts["pre_tokenizer"])
	buf.WriteString(`,"post_processor":`)
	buf.Write(post)
	buf.WriteString(`,"decoder":`)
	buf.Write(parts["decoder"])
	buf.WriteString(`,"model":`)
	buf.Write(model)
	buf.WriteString(`}`)
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("assembling tokenizer.json: %w", err)
	}
	out.WriteByte('\n')
	res.JSON = out.Bytes()
	return res, nil
}

// rolesFor keeps the preset's role names for the special tokens present and
// guesses roles for a user's own list from the usual spellings.
func rolesFor(preset map[string]string, special []string) map[string]string {
	out := map[string]string{}
	for role, tok := range preset {
		if slices.Contains(special, tok) {
			out[role] = tok
		}
	}
	guess := map[string]string{"[UNK]": "unk_token", "<unk>": "unk_token", "[PAD]": "pad_token", "<pad>": "pad_token",
		"[CLS]": "cls_token", "[SEP]": "sep_token", "[MASK]": "mask_token", "<mask>": "mask_token",
		"<s>": "bos_token", "</s>": "eos_token"}
	for _, tok := range special {
		if role, ok := guess[tok]; ok {
			if _, taken := out[role]; !taken {
				out[role] = tok
			}
		}
	}
	return out
}

// jsonString encodes s as HF does: no HTML escaping of <, >, &.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func nullOr(s string) string {
	if s == "" {
		return "null"
	}
	return jsonString(s)
}

// vocabJSON writes {"token": id, ...} in id order, as HF does.
func vocabJSON(buf *bytes.Buffer, vocab []string) {
	buf.WriteByte('{')
	for i, t := range vocab {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(jsonString(t))
		buf.WriteByte(':')
		buf.WriteString(strconv.Itoa(i))
	}
	buf.WriteByte('}')
}

func wordPieceJSON(m *BPEModel, unk string) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"type":"WordPiece","unk_token":%s,"continuing_subword_prefix":%s,"max_input_chars_per_word":100,"vocab":`,
		jsonString(unk), jsonString(m.ContinuingSubwordPrefix))
	vocabJSON(&buf, m.Vocab)
	buf.WriteByte('}')
	return buf.Bytes()
}

// bpeJSON writes merges as "a b" strings, which every HF version reads
// (pairs arrays only from 0.20), unless a token holds a space.
func bpeJSON(m *BPEModel, unk string) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"type":"BPE","dropout":null,"unk_token":%s,"continuing_subword_prefix":%s,"end_of_word_suffix":%s,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,"vocab":`,
		nullOr(unk), nullOr(m.ContinuingSubwordPrefix), nullOr(m.EndOfWordSuffix))
	vocabJSON(&buf, m.Vocab)
	pairs := false
	for _, mg := range m.Merges {
		if strings.Contains(mg[0], " ") || strings.Contains(mg[1], " ") {
			pairs = true
			break
		}
	}
	buf.WriteString(`,"merges":[`)
	for i, mg := range m.Merges {
		if i > 0 {
			buf.WriteByte(',')
		}
		if pairs {
			buf.WriteString("[" + jsonString(mg[0]) + "," + jsonString(mg[1]) + "]")
		} else {
			buf.WriteString(jsonString(mg[0] + " " + mg[1]))
		}
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

func unigramJSON(m *UnigramModel) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"type":"Unigram","unk_id":`)
	if m.UnkID >= 0 {
		buf.WriteString(strconv.Itoa(m.UnkID))
	} else {
		buf.WriteString("null")
	}
	buf.WriteString(`,"vocab":[`)
	for i, p := range m.Pieces {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("[" + jsonString(p) + "," + formatScore(m.Scores[i]) + "]")
	}
	buf.WriteString(`],"byte_fallback":false}`)
	return buf.Bytes()
}

// formatScore writes a float as serde_json does (shortest round-trip, with
// ".0" on whole numbers).
func formatScore(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") { // n: NaN/Inf cannot occur here
		s += ".0"
	}
	return s
}

// fixPostProcessor sets the ids of the special tokens a post-processor
// names (TemplateProcessing, BertProcessing, RobertaProcessing, Sequence)
// to their trained ids.
func fixPostProcessor(raw json.RawMessage, ids map[string]int) (json.RawMessage, error) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return raw, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	if err := fixPost(v, ids, "post_processor"); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

func fixPost(v any, ids map[string]int, path string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: want an object", path)
	}
	switch obj["type"] {
	case "TemplateProcessing":
		sts, _ := obj["special_tokens"].(map[string]any)
		for name, st := range sts {
			m, ok := st.(map[string]any)
			if !ok {
				return fmt.Errorf("%s.special_tokens.%s: want an object", path, name)
			}
			toks, _ := m["tokens"].([]any)
			newIDs := make([]any, len(toks))
			for i, t := range toks {
				s, _ := t.(string)
				id, ok := ids[s]
				if !ok {
					return &missingTokenError{path + ".special_tokens." + name, s}
				}
				newIDs[i] = id
			}
			m["ids"] = newIDs
		}
	case "BertProcessing", "RobertaProcessing":
		for _, k := range []string{"sep", "cls"} {
			pair, _ := obj[k].([]any)
			if len(pair) != 2 {
				return fmt.Errorf("%s.%s: want [token, id]", path, k)
			}
			s, _ := pair[0].(string)
			id, ok := ids[s]
			if !ok {
				return &missingTokenError{path + "." + k, s}
			}
			pair[1] = id
		}
	case "Sequence":
		procs, _ := obj["processors"].([]any)
		for i, p := range procs {
			if err := fixPost(p, ids, fmt.Sprintf("%s.processors[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Save writes the tokenizer file set into dir (tokenizers.SaveDir):
// tokenizer.json, tokenizer_config.json, special_tokens_map.json and, for
// WordPiece, vocab.txt, each atomically.
func (r *Result) Save(dir string) error {
	tok, err := tokenizers.FromJSON(r.JSON)
	if err != nil {
		return fmt.Errorf("save tokenizer: %w", err)
	}
	_, err = tokenizers.SaveDir(dir, tok, tokenizers.SaveOptions{TokenizerClass: r.class, ModelMaxLength: 512, SpecialTokens: r.roles})
	return err
}
