package main

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadTextRows: no file content makes predict's row reader panic
// (issue 16.3: a stray quote used to panic the CSV reader through
// FieldPos); every row it returns has a non-empty text and a line number.
func FuzzReadTextRows(f *testing.F) {
	for _, seed := range []string{
		"text,text_pair\na,b\n",
		"text\n\"a stray \"quote\n",
		"text\n\"unterminated\n",
		"text,label\n\"x\",1,extra\nshort\n",
		`{"text": "a", "text_pair": null}` + "\n{bad json\n" + `{"text": 3}`,
		"\ufefftext\tlabel\nx\"y\t1\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		dir := t.TempDir()
		for _, name := range []string{"in.csv", "in.tsv", "in.jsonl"} {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, skip := range []bool{false, true} {
				rows, _, err := readTextRows(path, rowOptions{TextColumn: "text", PairColumn: "text_pair", SkipBadRows: skip})
				if err != nil {
					continue
				}
				for _, r := range rows {
					if r.Text == "" || r.Line < 1 {
						t.Errorf("%s: row %+v", name, r)
					}
				}
			}
		}
	})
}
