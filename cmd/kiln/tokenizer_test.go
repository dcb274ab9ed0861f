package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/tokenizers"
)

func runTokenizerCmd(t *testing.T, build func() *cobra.Command, stdin string, args ...string) string {
	t.Helper()
	cmd := build()
	var out bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

func TestTokenizerCLI(t *testing.T) {
	bert := testenv.Testdata(filepath.Join("tokenizers", "bert-base-uncased"))
	roberta := testenv.Testdata(filepath.Join("tokenizers", "roberta-base", "tokenizer.json"))
	cases := []struct {
		name  string
		build func() *cobra.Command
		stdin string
		args  []string
		want  string
	}{
		{"encode-ids", newTokenizerEncodeCmd, "Hello, World!\n", []string{"-t", bert}, "101 7592 1010 2088 999 102\n"},
		{"encode-tokens-no-special", newTokenizerEncodeCmd, "Héllo wörld\n", []string{"-t", bert, "--tokens", "--no-special-tokens"}, "hello world\n"},
		{"encode-pair-truncate", newTokenizerEncodeCmd, "a b c d e\tf g h i j\n", []string{"-t", bert, "--tokens", "--pair", "--max-length", "7"}, "[CLS] a b [SEP] f g [SEP]\n"},
		{"encode-pad", newTokenizerEncodeCmd, "a\na b c\n", []string{"-t", bert, "--pad", "longest", "--pad-to-multiple-of", "4"}, "101 1037 102 0 0 0 0 0\n101 1037 1038 1039 102 0 0 0\n"},
		{"decode", newTokenizerDecodeCmd, "101 7592 1010 2088 999 102\n[0, 31414, 2]\n", []string{"-t", bert, "--skip-special-tokens"}, "hello, world!\n"},
		{"decode-roberta", newTokenizerDecodeCmd, "0,31414,6,232,328,2\n", []string{"-t", roberta, "--skip-special-tokens"}, "Hello, world!\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runTokenizerCmd(t, c.build, c.stdin, c.args...)
			if !strings.HasPrefix(got, c.want) {
				t.Fatalf("got %q, want prefix %q", got, c.want)
			}
		})
	}
	t.Run("encode-json", func(t *testing.T) {
		got := runTokenizerCmd(t, newTokenizerEncodeCmd, "日本 ok\n", "-t", bert, "--json")
		var e struct {
			Tokens  []string `json:"tokens"`
			Offsets [][2]int `json:"offsets"`
		}
		if err := json.Unmarshal([]byte(got), &e); err != nil {
			t.Fatal(err)
		}
		if strings.Join(e.Tokens, " ") != "[CLS] 日 本 ok [SEP]" || e.Offsets[2] != [2]int{1, 2} || e.Offsets[3] != [2]int{3, 5} {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("inspect", func(t *testing.T) {
		got := runTokenizerCmd(t, newTokenizerInspectCmd, "", roberta)
		for _, want := range []string{"model:          BPE (vocab 50265", "pre-tokenizer:  ByteLevel", "post-processor: RobertaProcessing", `"<mask>"`} {
			if !strings.Contains(got, want) {
				t.Errorf("inspect output lacks %q:\n%s", want, got)
			}
		}
	})
	t.Run("missing-tokenizer", func(t *testing.T) {
		cmd := newTokenizerEncodeCmd()
		cmd.SetArgs([]string{})
		cmd.SetIn(strings.NewReader("x\n"))
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--tokenizer") {
			t.Fatalf("want a --tokenizer error, got %v", err)
		}
	})
}

// A tokenizer.json's own padding applies to each line alone: a line's ids
// never depend on the lines around it. Only --pad longest pads lines to
// each other.
func TestTokenizerEncodeLinesIndependent(t *testing.T) {
	bert, err := tokenizers.FromFile(testenv.Testdata("tokenizers/bert-base-uncased/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	withPad := func(p *tokenizers.Padding) string {
		path := filepath.Join(t.TempDir(), "tokenizer.json")
		if err := bert.WithPadding(p).Save(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	longest := withPad(&tokenizers.Padding{Strategy: "longest", PadToken: "[PAD]"})
	multiple := withPad(&tokenizers.Padding{Strategy: "longest", PadToMultipleOf: 4, PadToken: "[PAD]"})
	fixed := withPad(&tokenizers.Padding{Strategy: "fixed", Length: 6, PadToken: "[PAD]"})
	const in = "a\na b c\n"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"file pads to longest: each line alone", []string{"-t", longest}, "101 1037 102\n101 1037 1038 1039 102\n"},
		{"file pads to a multiple: each line alone", []string{"-t", multiple}, "101 1037 102 0\n101 1037 1038 1039 102 0 0 0\n"},
		{"file pads to a fixed length", []string{"-t", fixed}, "101 1037 102 0 0 0\n101 1037 1038 1039 102 0\n"},
		{"--pad longest pads lines to each other", []string{"-t", longest, "--pad", "longest"}, "101 1037 102 0 0\n101 1037 1038 1039 102\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runTokenizerCmd(t, newTokenizerEncodeCmd, in, c.args...)
			if got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			// The second line alone encodes as it did next to the first.
			if c.args[len(c.args)-1] != "longest" {
				alone := runTokenizerCmd(t, newTokenizerEncodeCmd, "a b c\n", c.args...)
				if !strings.HasSuffix(got, alone) {
					t.Fatalf("line alone %q, in a file %q", alone, got)
				}
			}
		})
	}
}

// A directory with only vocab.txt lowercases as its tokenizer_config.json
// says; --cased overrides it.
func TestTokenizerVocabDir(t *testing.T) {
	vocab := "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nHello\n"
	cases := []struct {
		name, config string
		args         []string
		want         string
	}{
		{"no config lowercases", "", nil, "2 5 3\n"},
		{"do_lower_case false", `{"do_lower_case": false}`, nil, "2 6 3\n"},
		{"--cased", "", []string{"--cased"}, "2 6 3\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "vocab.txt"), []byte(vocab), 0o644)
			if c.config != "" {
				os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(c.config), 0o644)
			}
			got := runTokenizerCmd(t, newTokenizerEncodeCmd, "Hello\n", append([]string{"-t", dir}, c.args...)...)
			if got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}
