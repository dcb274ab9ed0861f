package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/tokenizers"
)

// tokenizerCmd is `kiln tokenizer`; the trainers add `train` to it from
// tokenizer_train.go.
var tokenizerCmd = &cobra.Command{
	Use:   "tokenizer",
	Short: "Encode, decode and inspect HuggingFace-compatible tokenizers (pure Go)",
	Long: `kiln tokenizer runs tokenizer.json files (WordPiece, BPE, byte-level BPE, Unigram,
WordLevel) exactly as HuggingFace tokenizers does, with no Python or Rust.

--tokenizer takes a tokenizer.json, or a directory holding tokenizer.json or a BERT vocab.txt.`,
}

func init() {
	tokenizerCmd.AddCommand(newTokenizerEncodeCmd(), newTokenizerDecodeCmd(), newTokenizerInspectCmd())
	addCommand(tokenizerCmd)
}

// loadTokenizer opens a tokenizer.json, a vocab.txt or a model directory
// (tokenizers.Load). cased overrides tokenizer_config.json's do_lower_case
// for a vocab.txt.
func loadTokenizer(path string, cased bool) (*tokenizers.Tokenizer, error) {
	if path == "" {
		return nil, fmt.Errorf("--tokenizer: a tokenizer.json (or a directory holding one) is required")
	}
	if cased {
		vocab := path
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			if _, err := os.Stat(filepath.Join(path, tokenizers.TokenizerFile)); err == nil {
				return tokenizers.LoadDir(path) // --cased concerns vocab.txt only
			}
			vocab = filepath.Join(path, tokenizers.VocabFile)
		}
		if strings.HasSuffix(vocab, ".txt") {
			return tokenizers.FromVocabTxt(vocab, false)
		}
	}
	tok, err := tokenizers.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--tokenizer: %w", err)
	}
	return tok, nil
}

// openInput returns the named file or stdin.
func openInput(cmd *cobra.Command, args []string) (io.ReadCloser, string, error) {
	if len(args) == 0 || args[0] == "-" {
		return io.NopCloser(cmd.InOrStdin()), "stdin", nil
	}
	f, err := os.Open(args[0])
	if err != nil {
		return nil, "", err
	}
	return f, args[0], nil
}

func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	// Long documents are single lines; allow up to 64 MB.
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	return sc
}

type encodingJSON struct {
	IDs               []int          `json:"ids"`
	TypeIDs           []int          `json:"type_ids"`
	Tokens            []string       `json:"tokens"`
	Offsets           [][2]int       `json:"offsets"`
	AttentionMask     []int          `json:"attention_mask"`
	SpecialTokensMask []int          `json:"special_tokens_mask"`
	WordIDs           []int          `json:"word_ids"`
	Overflowing       []encodingJSON `json:"overflowing,omitempty"`
}

func toEncodingJSON(e *tokenizers.Encoding) encodingJSON {
	out := encodingJSON{IDs: e.IDs, TypeIDs: e.TypeIDs, Tokens: e.Tokens, Offsets: e.Offsets,
		AttentionMask: e.AttentionMask, SpecialTokensMask: e.SpecialTokensMask, WordIDs: e.WordIDs}
	for _, o := range e.Overflowing {
		out.Overflowing = append(out.Overflowing, toEncodingJSON(o))
	}
	return out
}

func newTokenizerEncodeCmd() *cobra.Command {
	var (
		tokPath, truncStrategy, truncDir, padDir, padToken string
		pair, asJSON, noSpecial, cased, showTokens         bool
		maxLen, stride, padLen, padMultiple, padID         int
		pad                                                string
	)
	cmd := &cobra.Command{
		Use:   "encode --tokenizer PATH [FILE]",
		Short: "Encode text lines (a file or stdin) to token ids",
		Long: `encode reads one text per line from FILE (or stdin) and writes one line per input:
the ids separated by spaces, or with --json an object with ids, type_ids, tokens, offsets
(character offsets), attention_mask, special_tokens_mask, word_ids (-1 = none) and overflowing.
With --pair each line is "text<TAB>pair". Lines are encoded in parallel, each on its own:
padding in the tokenizer file pads a line to its own length (or the file's fixed length),
never to its neighbours'; --pad longest pads every line to the longest of the whole input.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tk, err := loadTokenizer(tokPath, cased)
			if err != nil {
				return err
			}
			if maxLen > 0 {
				tk = tk.WithTruncation(&tokenizers.Truncation{MaxLength: maxLen, Stride: stride, Strategy: truncStrategy, Direction: truncDir})
			}
			switch pad {
			case "":
			case "longest", "fixed":
				tk = tk.WithPadding(&tokenizers.Padding{Strategy: pad, Length: padLen, PadToMultipleOf: padMultiple,
					PadID: padID, PadToken: padToken, Direction: padDir})
			default:
				return fmt.Errorf("--pad %q: want longest or fixed", pad)
			}
			in, name, err := openInput(cmd, args)
			if err != nil {
				return err
			}
			defer in.Close()
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
			defer w.Flush()
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			sc := newLineScanner(in)
			const batch = 512
			var items []tokenizers.Input
			line := 0
			flush := func() error {
				if len(items) == 0 {
					return nil
				}
				// Only --pad longest pads lines to each other; otherwise each
				// line is encoded on its own, whatever the file's padding says,
				// so a line's output does not depend on its neighbours.
				encode := tk.EncodeEach
				if pad == "longest" {
					encode = tk.EncodeBatch
				}
				encs, err := encode(items, !noSpecial)
				if err != nil {
					return fmt.Errorf("%s near line %d: %w", name, line, err)
				}
				for _, e := range encs {
					switch {
					case asJSON:
						if err := enc.Encode(toEncodingJSON(e)); err != nil {
							return err
						}
					case showTokens:
						w.WriteString(strings.Join(e.Tokens, " "))
						w.WriteByte('\n')
					default:
						for i, id := range e.IDs {
							if i > 0 {
								w.WriteByte(' ')
							}
							w.WriteString(strconv.Itoa(id))
						}
						w.WriteByte('\n')
					}
				}
				items = items[:0]
				return nil
			}
			for sc.Scan() {
				line++
				text := sc.Text()
				it := tokenizers.Input{Text: text}
				if pair {
					a, b, ok := strings.Cut(text, "\t")
					if !ok {
						return fmt.Errorf("%s line %d: --pair wants \"text<TAB>pair\"", name, line)
					}
					it = tokenizers.Input{Text: a, Pair: b, IsPair: true}
				}
				items = append(items, it)
				if len(items) == batch && pad != "longest" {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("%s line %d: %w", name, line+1, err)
			}
			return flush()
		},
	}
	f := cmd.Flags()
	f.StringVarP(&tokPath, "tokenizer", "t", "", "tokenizer.json, or a directory with tokenizer.json or vocab.txt")
	f.BoolVar(&pair, "pair", false, `each line is "text<TAB>pair"`)
	f.BoolVar(&asJSON, "json", false, "write one JSON encoding per line")
	f.BoolVar(&showTokens, "tokens", false, "write the token strings instead of ids")
	f.BoolVar(&noSpecial, "no-special-tokens", false, "do not add the post-processor's special tokens")
	f.BoolVar(&cased, "cased", false, "with a vocab.txt: do not lowercase (default: tokenizer_config.json's do_lower_case, else lowercase)")
	f.IntVar(&maxLen, "max-length", 0, "truncate to this many tokens (0 = no truncation)")
	f.IntVar(&stride, "stride", 0, "overlap of the overflowing windows when truncating")
	f.StringVar(&truncStrategy, "truncation-strategy", "longest_first", "longest_first, only_first or only_second")
	f.StringVar(&truncDir, "truncation-direction", "right", "right or left")
	f.StringVar(&pad, "pad", "", "pad to the longest of the whole input (longest) or to --pad-length (fixed)")
	f.IntVar(&padLen, "pad-length", 0, "length for --pad fixed")
	f.IntVar(&padMultiple, "pad-to-multiple-of", 0, "round the padded length up to a multiple")
	f.IntVar(&padID, "pad-id", 0, "id of the padding token")
	f.StringVar(&padToken, "pad-token", "[PAD]", "padding token")
	f.StringVar(&padDir, "pad-direction", "right", "right or left")
	return cmd
}

// parseIDs accepts "1 2 3", "1,2,3" or a JSON array.
func parseIDs(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var ids []int
		if err := json.Unmarshal([]byte(s), &ids); err != nil {
			return nil, err
		}
		return ids, nil
	}
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	ids := make([]int, 0, len(fields))
	for _, f := range fields {
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an id", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func newTokenizerDecodeCmd() *cobra.Command {
	var (
		tokPath     string
		skip, cased bool
	)
	cmd := &cobra.Command{
		Use:   "decode --tokenizer PATH [FILE]",
		Short: "Decode id lines (\"1 2 3\", \"1,2,3\" or [1,2,3]) back to text",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tk, err := loadTokenizer(tokPath, cased)
			if err != nil {
				return err
			}
			in, name, err := openInput(cmd, args)
			if err != nil {
				return err
			}
			defer in.Close()
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			sc := newLineScanner(in)
			line := 0
			for sc.Scan() {
				line++
				ids, err := parseIDs(sc.Text())
				if err != nil {
					return fmt.Errorf("%s line %d: %w", name, line, err)
				}
				text, err := tk.Decode(ids, skip)
				if err != nil {
					return fmt.Errorf("%s line %d: %w", name, line, err)
				}
				w.WriteString(text)
				w.WriteByte('\n')
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("%s line %d: %w", name, line+1, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&tokPath, "tokenizer", "t", "", "tokenizer.json, or a directory with tokenizer.json or vocab.txt")
	cmd.Flags().BoolVar(&skip, "skip-special-tokens", false, "leave special tokens out")
	cmd.Flags().BoolVar(&cased, "cased", false, "with a vocab.txt: do not lowercase (default: tokenizer_config.json's do_lower_case, else lowercase)")
	return cmd
}

func newTokenizerInspectCmd() *cobra.Command {
	var (
		asJSON, cased bool
	)
	cmd := &cobra.Command{
		Use:   "inspect PATH",
		Short: "Show a tokenizer's model, pipeline, vocabulary size and added tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tk, err := loadTokenizer(args[0], cased)
			if err != nil {
				return err
			}
			s := tk.Summary()
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(s)
			}
			fmt.Fprintf(out, "model:          %s (vocab %d, %d with added tokens)\n", s.Model, s.VocabSize, s.VocabSizeWithAdded)
			fmt.Fprintf(out, "normalizer:     %s\n", s.Normalizer)
			fmt.Fprintf(out, "pre-tokenizer:  %s\n", s.PreTokenizer)
			fmt.Fprintf(out, "post-processor: %s\n", s.PostProcessor)
			fmt.Fprintf(out, "decoder:        %s\n", s.Decoder)
			if s.Truncation != nil {
				fmt.Fprintf(out, "truncation:     max %d, stride %d, %s, %s\n", s.Truncation.MaxLength, s.Truncation.Stride, s.Truncation.Strategy, s.Truncation.Direction)
			}
			if s.Padding != nil {
				fmt.Fprintf(out, "padding:        %s (length %d, multiple of %d), id %d %q, %s\n", s.Padding.Strategy, s.Padding.Length, s.Padding.PadToMultipleOf, s.Padding.PadID, s.Padding.PadToken, s.Padding.Direction)
			}
			fmt.Fprintf(out, "added tokens:   %d\n", len(s.AddedTokens))
			for _, a := range s.AddedTokens {
				var flags []string
				for _, f := range []struct {
					on   bool
					name string
				}{{a.Special, "special"}, {a.Normalized, "normalized"}, {a.LStrip, "lstrip"}, {a.RStrip, "rstrip"}, {a.SingleWord, "single_word"}} {
					if f.on {
						flags = append(flags, f.name)
					}
				}
				fmt.Fprintf(out, "  %6d  %q  %s\n", a.ID, a.Content, strings.Join(flags, ","))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&cased, "cased", false, "with a vocab.txt: do not lowercase (default: tokenizer_config.json's do_lower_case, else lowercase)")
	return cmd
}
