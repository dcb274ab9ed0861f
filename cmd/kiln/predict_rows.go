package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// textRow is one row to score.
type textRow struct {
	Text, Pair string
	HasPair    bool
	Line       int // 1-based line in the file
}

// rowOptions says how to read the rows to score.
type rowOptions struct {
	TextColumn, PairColumn string
	Format                 string // csv, tsv or jsonl; "" = by extension
	SkipBadRows            bool
}

// readTextRows reads the text (and, where the file has it, pair) column of
// a CSV/TSV file with a header or a JSONL file. A bad row is an error
// naming file:line, or skipped and counted with SkipBadRows.
//
// It is the seam to the plain-Go data package being split out of train
// (issue 14.1): once that lands, this becomes a call to its reader.
func readTextRows(path string, o rowOptions) (rows []textRow, skipped int, err error) {
	format := o.Format
	if format == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			format = "csv"
		case ".tsv", ".tab":
			format = "tsv"
		case ".jsonl", ".ndjson", ".json":
			format = "jsonl"
		default:
			return nil, 0, fmt.Errorf("%s: unknown extension; pass --format csv|tsv|jsonl", path)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	bad := func(line int, err error) error {
		if o.SkipBadRows {
			skipped++
			return nil
		}
		return fmt.Errorf("%s:%d: %w (--skip-bad-rows skips such rows)", path, line, err)
	}
	add := func(line int, text, pair string, hasPair bool) error {
		switch {
		case strings.TrimSpace(text) == "" || (hasPair && strings.TrimSpace(pair) == ""):
			return bad(line, errors.New("empty text"))
		case !utf8.ValidString(text) || !utf8.ValidString(pair):
			return bad(line, errors.New("text is not valid UTF-8"))
		}
		rows = append(rows, textRow{Text: text, Pair: pair, HasPair: hasPair, Line: line})
		return nil
	}
	switch format {
	case "csv", "tsv":
		err = readDelimitedRows(f, format == "tsv", o, bad, add)
	case "jsonl":
		err = readJSONLRows(f, o, bad, add)
	default:
		return nil, 0, fmt.Errorf("--format %q: want csv, tsv or jsonl", format)
	}
	if err != nil {
		return nil, 0, err
	}
	if len(rows) == 0 {
		return nil, skipped, fmt.Errorf("%s: no rows to score", path)
	}
	return rows, skipped, nil
}

func readDelimitedRows(r io.Reader, tabs bool, o rowOptions, bad func(int, error) error, add func(int, string, string, bool) error) error {
	cr := csv.NewReader(bufio.NewReader(r))
	if tabs {
		cr.Comma, cr.LazyQuotes = '\t', true
	}
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("reading the header: %w", err)
	}
	text, pair := -1, -1
	for i, h := range header {
		switch strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) {
		case o.TextColumn:
			text = i
		case o.PairColumn:
			pair = i
		}
	}
	if text < 0 {
		return fmt.Errorf("line 1: no column %q (columns: %s; see --text-column)", o.TextColumn, strings.Join(header, ", "))
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// A parse error knows its line; FieldPos is only valid after a
			// successful Read.
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			if err := bad(line, err); err != nil {
				return err
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rec) <= text || (pair >= 0 && len(rec) <= pair) {
			if err := bad(line, fmt.Errorf("%d fields, the header has %d", len(rec), len(header))); err != nil {
				return err
			}
			continue
		}
		p := ""
		if pair >= 0 {
			p = rec[pair]
		}
		if err := add(line, rec[text], p, pair >= 0); err != nil {
			return err
		}
	}
}

func readJSONLRows(r io.Reader, o rowOptions, bad func(int, error) error, add func(int, string, string, bool) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		var text, pair string
		err := json.Unmarshal(b, &obj)
		if err == nil {
			raw, ok := obj[o.TextColumn]
			if !ok {
				err = fmt.Errorf("no field %q (see --text-column)", o.TextColumn)
			} else if err = json.Unmarshal(raw, &text); err != nil {
				err = fmt.Errorf("field %q is not a string: %w", o.TextColumn, err)
			}
		}
		rawPair, hasPair := obj[o.PairColumn]
		hasPair = hasPair && string(rawPair) != "null"
		if err == nil && hasPair {
			if err = json.Unmarshal(rawPair, &pair); err != nil {
				err = fmt.Errorf("field %q is not a string: %w", o.PairColumn, err)
			}
		}
		if err != nil {
			if err := bad(line, err); err != nil {
				return err
			}
			continue
		}
		if err := add(line, text, pair, hasPair); err != nil {
			return err
		}
	}
	return sc.Err()
}
