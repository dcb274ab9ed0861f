package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenizerTrainCmd(t *testing.T) {
	corpus := filepath.Join("..", "..", "tokenizers", "trainers", "testdata", "wiki300k.txt")
	for _, tc := range []struct {
		name    string
		args    []string
		files   []string
		wantErr string
	}{
		{"wordpiece", []string{"--model", "wordpiece", "--vocab-size", "800", "--no-progress"},
			[]string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"}, ""},
		{"bpe custom specials", []string{"--model", "bpe", "--vocab-size", "500", "--special-tokens", "[UNK],[CLS],[SEP]", "--min-frequency", "3", "--no-progress"},
			[]string{"tokenizer.json"}, ""},
		{"unknown model", []string{"--model", "sentencepiece"}, nil, "unknown model kind"},
		{"missing out", []string{"--model", "bpe", "--out", ""}, nil, "--out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			cmd := newTokenizerTrainCmd()
			var stdout, stderr bytes.Buffer
			cmd.SetOut(&stdout)
			cmd.SetErr(&stderr)
			cmd.SetArgs(append([]string{"--out", out}, append(tc.args, corpus)...))
			err := cmd.ExecuteContext(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			if !strings.Contains(stdout.String(), "trained ") {
				t.Errorf("no summary: %q", stdout.String())
			}
			for _, f := range tc.files {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Error(err)
				}
			}
			var doc struct {
				AddedTokens []struct {
					ID      int    `json:"id"`
					Content string `json:"content"`
				} `json:"added_tokens"`
			}
			data, err := os.ReadFile(filepath.Join(out, "tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			for i, at := range doc.AddedTokens {
				if at.ID != i {
					t.Errorf("special token %q has id %d, want %d", at.Content, at.ID, i)
				}
			}
		})
	}
}
