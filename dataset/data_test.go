package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/testenv"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadDataset(t *testing.T) {
	tests := []struct {
		name, file, body string
		opt              ReadOptions
		task             string
		labels           []string
		n, skipped       int
		wantErr          string
	}{
		{name: "csv names", file: "a.csv", body: "text,label\nfine day,positive\n\"a, b\",negative\n",
			task: SingleLabel, labels: []string{"negative", "positive"}, n: 2},
		{name: "csv zero-based ints keep ids", file: "a.csv", body: "text,label\nx,0\ny,2\n",
			task: SingleLabel, labels: []string{"0", "1", "2"}, n: 2},
		{name: "csv floats are regression", file: "a.csv", body: "text,label\nx,0.5\ny,2\n", task: Regression, n: 2},
		{name: "tsv pairs", file: "a.tsv", body: "text\ttext_pair\tlabel\nq\ta\tyes\n", task: SingleLabel, labels: []string{"yes"}, n: 1},
		{name: "jsonl multi-label", file: "a.jsonl", body: `{"text":"x","label":["a","b"]}` + "\n\n" + `{"text":"y","label":["b"]}` + "\n",
			task: MultiLabel, labels: []string{"a", "b"}, n: 2},
		{name: "custom columns", file: "a.csv", body: "sentence,y\nx,1\n", opt: ReadOptions{TextColumn: "sentence", LabelColumn: "y"},
			task: SingleLabel, labels: []string{"1"}, n: 1},
		{name: "missing label names the line", file: "a.csv", body: "text,label\nx,a\ny\n", wantErr: "a.csv:3: 1 fields"},
		{name: "unknown label with fixed mapping", file: "a.csv", body: "text,label\nx,a\ny,c\n", opt: ReadOptions{Labels: []string{"a", "b"}},
			wantErr: `a.csv:3: unknown label "c"`},
		{name: "invalid utf-8", file: "a.csv", body: "text,label\n\xff\xfe,a\n", wantErr: "a.csv:2: text is not valid UTF-8"},
		{name: "bad json line", file: "a.jsonl", body: `{"text":"x","label":1}` + "\n{oops\n", wantErr: "a.jsonl:2: invalid JSON"},
		{name: "skip bad rows", file: "a.csv", body: "text,label\nx,a\ny\n,b\nz,b\n", opt: ReadOptions{SkipBadRows: true},
			task: SingleLabel, labels: []string{"a", "b"}, n: 2, skipped: 2},
		{name: "no label column", file: "a.csv", body: "text,y\nx,1\n", wantErr: `no "label" column`},
		// A stray quote made csv.Reader fail and FieldPos panic (issue 16.3).
		{name: "stray quote names the line", file: "a.csv", body: "text,label\nfine,a\nbad \"quote,b\nz,b\n",
			wantErr: `a.csv:3: bare " in non-quoted-field`},
		{name: "stray quote skipped", file: "a.csv", body: "text,label\nfine,a\nbad \"quote,b\nz,b\n", opt: ReadOptions{SkipBadRows: true},
			task: SingleLabel, labels: []string{"a", "b"}, n: 2, skipped: 1},
		{name: "unterminated quote swallows the rest", file: "a.csv", body: "text,label\nfine,a\n\"open,b\nz,b\n", opt: ReadOptions{SkipBadRows: true},
			task: SingleLabel, labels: []string{"a"}, n: 1, skipped: 1},
		{name: "unterminated quote names its line", file: "a.csv", body: "text,label\nfine,a\n\"open,b\nz,b\n",
			wantErr: `a.csv:3: extraneous or missing " in quoted-field`},
		{name: "empty csv names the file", file: "empty.csv", body: "", wantErr: "empty.csv: empty file"},
		{name: "empty jsonl names the file", file: "empty.jsonl", body: "\n", wantErr: "empty.jsonl: no usable rows"},
		{name: "header only names the file", file: "h.tsv", body: "text\tlabel\n", wantErr: "h.tsv: no usable rows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := ReadDataset(writeFile(t, tc.file, tc.body), tc.opt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ds.Task != tc.task || len(ds.Examples) != tc.n || ds.Skipped != tc.skipped {
				t.Fatalf("task=%s n=%d skipped=%d", ds.Task, len(ds.Examples), ds.Skipped)
			}
			if strings.Join(ds.Labels, ",") != strings.Join(tc.labels, ",") {
				t.Errorf("labels = %v, want %v", ds.Labels, tc.labels)
			}
		})
	}
	var re *RowError
	_, err := ReadDataset(writeFile(t, "b.csv", "text,label\nx\n"), ReadOptions{})
	if !errors.As(err, &re) || re.Line != 2 {
		t.Errorf("want a RowError at line 2, got %v", err)
	}
}

func TestStratifiedSplitAndKFold(t *testing.T) {
	ds, err := ReadDataset(testenv.Testdata("data/sst2/dev.csv"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	count := func(d *Dataset) []int {
		c := make([]int, len(d.Labels))
		for _, ex := range d.Examples {
			c[ex.Label]++
		}
		return c
	}
	all := count(ds)
	tr, va, err := ds.StratifiedSplit(0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Skipped != ds.Skipped {
		t.Errorf("split reports %d skipped rows, the file %d", tr.Skipped, ds.Skipped)
	}
	vc := count(va)
	for c := range all {
		want := float64(all[c]) * 0.2
		if d := float64(vc[c]) - want; d > 1 || d < -1 {
			t.Errorf("class %d: %d in validation, want ≈ %.1f", c, vc[c], want)
		}
	}
	if len(tr.Examples)+len(va.Examples) != len(ds.Examples) {
		t.Error("split lost rows")
	}
	// Same seed, same split.
	_, va2, _ := ds.StratifiedSplit(0.2, 1)
	if va2.Examples[0].Line != va.Examples[0].Line {
		t.Error("split is not reproducible")
	}

	folds, err := ds.StratifiedKFold(5, 7)
	if err != nil {
		t.Fatal(err)
	}
	for f := range 5 {
		_, v := ds.Fold(folds, f)
		c := count(v)
		for k := range all {
			want := float64(all[k]) / 5
			if d := float64(c[k]) - want; d > 1 || d < -1 {
				t.Errorf("fold %d class %d: %d, want ≈ %.1f", f, k, c[k], want)
			}
		}
	}
}

// The training split reports the rows skipped reading its file: the
// trainer logs skipped=N after --valid-split (issue 16.8).
func TestSplitKeepsSkipped(t *testing.T) {
	var b strings.Builder
	b.WriteString("text,label\n")
	for i := range 20 {
		fmt.Fprintf(&b, "row %d,%d\n", i, i%2)
	}
	b.WriteString("bad \"row,1\n\xff,0\n")
	ds, err := ReadDataset(writeFile(t, "a.csv", b.String()), ReadOptions{SkipBadRows: true})
	if err != nil {
		t.Fatal(err)
	}
	tr, va, err := ds.StratifiedSplit(0.25, 1)
	if err != nil {
		t.Fatal(err)
	}
	folds, _ := ds.StratifiedKFold(2, 1)
	ftr, _ := ds.Fold(folds, 0)
	for name, got := range map[string]int{"file": ds.Skipped, "train split": tr.Skipped, "valid split": va.Skipped, "fold": ftr.Skipped} {
		if got != 2 {
			t.Errorf("%s: skipped %d, want 2", name, got)
		}
	}
}
