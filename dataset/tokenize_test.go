package dataset

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// Training inputs must be HF's: ids and type ids from HF tokenizers
// (build/venv) for real tokenizer files, single texts and pairs, with
// truncation to the max length (longest_first) and the file's own padding
// (MiniLM's tokenizer.json pads to 128) ignored. Exact match.
func TestTokenizerMatchesHF(t *testing.T) {
	py := testenv.Python(t)
	rows := []struct{ text, pair string }{
		{"Hello, world! unaffable", ""},
		{"Café déjà vu — naïve résumé; it's 100% (really) good...", ""},
		{"中文字符 and emoji 🙂 mixed", ""},
		{"  lots   of\twhite space  ", ""},
		{"a very long sentence that will certainly be truncated because it has many many words in it", ""},
		{"the premise is short", "but the hypothesis goes on and on for a good many words, long enough to be cut"},
		{"it 's a charming and often affecting journey .", "unflinchingly bleak and desperate"},
	}
	for _, tc := range []struct{ name, path string }{
		{"bert-base-uncased", testenv.Testdata("tokenizers/bert-base-uncased/tokenizer.json")},
		{"roberta-base", testenv.Testdata("tokenizers/roberta-base/tokenizer.json")},
		{"all-MiniLM-L6-v2 (padding in file)", testenv.RepoRoot() + "/build/pretrained/all-MiniLM-L6-v2/tokenizer.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := LoadTokenizer(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			var in strings.Builder
			for _, r := range rows {
				m := map[string]any{"text": r.text}
				if r.pair != "" {
					m["pair"] = r.pair
				}
				b, _ := json.Marshal(m)
				in.Write(append(b, '\n'))
			}
			cmd := exec.Command(py, "testdata/hf_tokenize.py", tc.path, "16")
			cmd.Stdin = strings.NewReader(in.String())
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("oracle: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			for i, r := range rows {
				var want struct{ IDs, Types []int }
				if err := json.Unmarshal([]byte(lines[i]), &want); err != nil {
					t.Fatal(err)
				}
				ids, types, err := enc.Encode(r.text, r.pair, r.pair != "", 16)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids, want.IDs) || !slices.Equal(types, want.Types) {
					t.Errorf("%q/%q:\n got ids %v types %v\n  HF ids %v types %v", r.text, r.pair, ids, types, want.IDs, want.Types)
				}
			}
		})
	}
}
