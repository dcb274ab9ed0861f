package dataset

import (
	"errors"
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
