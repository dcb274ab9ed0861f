package dataset

import (
	"bytes"
	"errors"
	"testing"
)

// The readers meet files users wrote by hand: no input may panic. Every
// input is read strictly and with SkipBadRows; a failure must be an error
// (a RowError naming a line ≥ 1 for row problems), and what is read must
// be consistent: labels in range, lines increasing. The seeds run in plain
// `go test`; `go test -fuzz FuzzReadCSV ./dataset` explores further.
func fuzzRead(t *testing.T, format string, data []byte) {
	for _, skip := range []bool{false, true} {
		for _, labelled := range []bool{true, false} {
			opt := ReadOptions{SkipBadRows: skip}
			opt.defaults()
			if !labelled {
				opt.LabelColumn = opt.TextColumn // as ReadTexts reads
			}
			ds, rows, bad, err := parseRows(bytes.NewReader(data), "fuzz."+format, format, opt)
			if err != nil {
				var re *RowError
				if errors.As(err, &re) && (re.Line < 1 || skip) {
					t.Fatalf("row error %v (skip=%v)", err, skip)
				}
				continue
			}
			last := 0
			for _, r := range rows {
				if r.line <= last {
					t.Fatalf("row lines not increasing: %d after %d", r.line, last)
				}
				last = r.line
			}
			if !labelled {
				continue
			}
			if err := ds.interpretLabels(rows, opt, bad); err != nil {
				var re *RowError
				if !errors.As(err, &re) || skip {
					t.Fatalf("interpretLabels: %v (skip=%v)", err, skip)
				}
				continue
			}
			for _, ex := range ds.Examples {
				if ds.Task == SingleLabel && (ex.Label < 0 || ex.Label >= len(ds.Labels)) {
					t.Fatalf("label id %d of %d labels", ex.Label, len(ds.Labels))
				}
				if ds.Task == MultiLabel && len(ex.Targets) != len(ds.Labels) {
					t.Fatalf("%d targets for %d labels", len(ex.Targets), len(ds.Labels))
				}
			}
			if len(ds.Examples) >= 4 {
				ds.StratifiedSplit(0.5, 1) // may refuse an empty side; must not panic
				if folds, err := ds.StratifiedKFold(2, 1); err == nil {
					ds.Fold(folds, 0)
				}
			}
		}
	}
}

var delimitedSeeds = []string{
	"text,label\nfine day,positive\n\"a, b\",negative\n",
	"text,label\nfine,a\nbad \"quote,b\nz,b\n",
	"text,label\nfine,a\n\"open,b\nz,b\n",
	"text,label\nx\n,b\n\xff\xfe,a\n",
	"\ufefftext,text_pair,label\nq,a,1\nq2,a2,0.5\n",
	"text,label\nx,\"[\"\"a\"\", \"\"b\"\"]\"\ny,[\nz,[1, {}]\n",
	"text,label\nx,0\ny,99999\nz,-3\nw,1e308\nv,NaN\n",
	"",
	"text\n",
	"label,text\n\"\"\"\",\"\n",
}

func FuzzReadCSV(f *testing.F) {
	for _, s := range delimitedSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, "csv", data) })
}

func FuzzReadTSV(f *testing.F) {
	for _, s := range delimitedSeeds {
		f.Add(bytes.ReplaceAll([]byte(s), []byte(","), []byte("\t")))
	}
	f.Add([]byte("text\tlabel\nit's \"fine\"\t1\n\"half\t0\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, "tsv", data) })
}

func FuzzReadJSONL(f *testing.F) {
	for _, s := range []string{
		`{"text":"x","label":["a","b"]}` + "\n\n" + `{"text":"y","label":["b"]}` + "\n",
		`{"text":"x","label":1}` + "\n{oops\n",
		`{"text":"x","text_pair":3,"label":1}` + "\n" + `{"text":"","label":null}` + "\n",
		`{"text":"x","label":1.5}` + "\n" + `{"text":"y","label":"a"}` + "\n" + `{"text":"z","label":true}` + "\n",
		`{"text":"x","label":[[1],{"a":2}]}` + "\n" + `[1,2]` + "\n" + `"str"` + "\n" + `null` + "\n",
		`{"text":"\ud800","label":"a"}`,
		"\xff\xfe\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, "jsonl", data) })
}
