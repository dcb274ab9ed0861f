package train

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ReadTexts reads unlabelled rows (text and optional pair) for prediction,
// with the same formats and bad-row handling as ReadDataset. The label
// column is pointed at the text column so the shared readers accept files
// without labels; the value is ignored.
func ReadTexts(path string, opt ReadOptions) (*Dataset, error) {
	opt.defaults()
	opt.LabelColumn = opt.TextColumn
	format := opt.Format
	if format == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			format = "csv"
		case ".tsv", ".tab":
			format = "tsv"
		case ".jsonl", ".ndjson", ".json":
			format = "jsonl"
		default:
			return nil, fmt.Errorf("%s: unknown extension; pass --format csv|tsv|jsonl", path)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ds := &Dataset{File: path}
	bad := func(line int, err error) error {
		if opt.SkipBadRows {
			ds.Skipped++
			return nil
		}
		return &RowError{File: path, Line: line, Err: err}
	}
	var rows []rawRow
	switch format {
	case "csv", "tsv":
		rows, err = readDelimited(f, format, opt, bad)
	case "jsonl":
		rows, err = readJSONL(f, opt, bad)
	default:
		return nil, fmt.Errorf("format %q: want csv, tsv or jsonl", format)
	}
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		ds.Examples = append(ds.Examples, Example{Text: r.text, Pair: r.pair, HasPair: r.hasPair, Line: r.line})
	}
	return ds, nil
}
