package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/tokenizers/trainers"
)

func init() { tokenizerCmd.AddCommand(newTokenizerTrainCmd()) }

// newTokenizerTrainCmd builds `kiln tokenizer train`: a thin front over
// tokenizers/trainers with HF's trainer knobs as flags.
func newTokenizerTrainCmd() *cobra.Command {
	var (
		kind, out, base, special, initial, prefix, suffix, unk string
		vocabSize, limitAlphabet, maxTokenLen, threads         int
		minFreq                                                uint64
		shrinking                                              float64
		subIters, maxPiece                                     int
		noProgress                                             bool
	)
	cmd := &cobra.Command{
		Use:   "train [flags] FILE...",
		Short: "Train a WordPiece, BPE, byte-level BPE or Unigram tokenizer on text files",
		Long: `Train a tokenizer on plain-text files (one sequence per line) the way HuggingFace
tokenizers' trainers do, and write tokenizer.json, tokenizer_config.json,
special_tokens_map.json (and vocab.txt for WordPiece) into --out.

Models and their base pipelines (--base replaces the pipeline with a tokenizer.json's):
  wordpiece      BERT: lowercasing BertNormalizer, BertPreTokenizer, [CLS] A [SEP], "##" subwords
  bpe            Whitespace pre-tokenizer, [UNK] for unseen characters
  bytelevel-bpe  RoBERTa/GPT-2 byte-level BPE, <s> A </s>, min-frequency 2 by default
  unigram        SentencePiece style: NFKC, Metaspace (▁), <unk>

Example:
  kiln tokenizer train --model wordpiece --vocab-size 30000 --out tok/ corpus.txt`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := trainers.Options{Kind: kind, Files: args, VocabSize: vocabSize, LimitAlphabet: limitAlphabet,
				InitialAlphabet: []rune(initial), MaxTokenLength: maxTokenLen, ShrinkingFactor: shrinking,
				NSubIterations: subIters, MaxPieceLength: maxPiece, Workers: threads,
				Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))}
			if out == "" {
				return fmt.Errorf("--out: an output directory is required")
			}
			if cmd.Flags().Changed("min-frequency") {
				opts.MinFrequency = &minFreq
			}
			if cmd.Flags().Changed("special-tokens") {
				opts.SpecialTokens = []string{}
				for _, s := range strings.Split(special, ",") {
					if s = strings.TrimSpace(s); s != "" {
						opts.SpecialTokens = append(opts.SpecialTokens, s)
					}
				}
			}
			if cmd.Flags().Changed("continuing-subword-prefix") {
				opts.ContinuingSubwordPrefix = &prefix
			}
			if cmd.Flags().Changed("end-of-word-suffix") {
				opts.EndOfWordSuffix = &suffix
			}
			if cmd.Flags().Changed("unk-token") {
				opts.UnkToken = &unk
			}
			if base != "" {
				data, err := os.ReadFile(base)
				if err != nil {
					return fmt.Errorf("--base: %w", err)
				}
				opts.Base = data
			}
			if !noProgress {
				opts.Progress = cmd.ErrOrStderr()
			} else {
				opts.Progress = nil
			}
			res, err := trainers.Train(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if err := res.Save(out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "trained %s: %d tokens (%d special) from %d distinct words in %.2fs (counting %.2fs, training %.2fs)\n",
				res.Kind, len(res.Vocab), len(res.SpecialTokens), res.Words,
				(res.CountTime + res.TrainTime).Seconds(), res.CountTime.Seconds(), res.TrainTime.Seconds())
			fmt.Fprintf(w, "wrote %s\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "model", trainers.KindWordPiece, "model to train: "+strings.Join(trainers.Kinds, ", "))
	f.StringVarP(&out, "out", "o", "", "output directory (created if missing)")
	f.StringVar(&base, "base", "", "tokenizer.json whose normalizer, pre-tokenizer, post-processor and decoder to use")
	f.IntVar(&vocabSize, "vocab-size", 0, "vocabulary size including special tokens (default 30000; Unigram 8000)")
	f.Uint64Var(&minFreq, "min-frequency", 0, "minimum pair frequency for a merge (BPE/WordPiece; default 0, bytelevel-bpe 2)")
	f.StringVar(&special, "special-tokens", "", "comma-separated special tokens; their order fixes ids 0, 1, … (default per model)")
	f.IntVar(&limitAlphabet, "limit-alphabet", 0, "keep at most this many characters (0 = no limit)")
	f.StringVar(&initial, "initial-alphabet", "", "characters always included in the alphabet")
	f.StringVar(&prefix, "continuing-subword-prefix", "", `prefix of non-initial subwords (WordPiece default "##")`)
	f.StringVar(&suffix, "end-of-word-suffix", "", `suffix of word-final subwords (e.g. "</w>")`)
	f.IntVar(&maxTokenLen, "max-token-length", 0, "longest merged token in characters (0 = no limit)")
	f.Float64Var(&shrinking, "shrinking-factor", 0, "Unigram: share of pieces kept per pruning (default 0.75)")
	f.IntVar(&subIters, "n-sub-iterations", 0, "Unigram: EM steps between prunings (default 2)")
	f.IntVar(&maxPiece, "max-piece-length", 0, "Unigram: longest piece in characters (default 16)")
	f.StringVar(&unk, "unk-token", "", "unknown token (default per model)")
	f.IntVar(&threads, "threads", 0, "word counting goroutines (0 = all cores)")
	f.BoolVar(&noProgress, "no-progress", false, "hide the progress bars")
	return cmd
}
