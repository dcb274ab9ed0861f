package dataset

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Task names follow HF's config.json `problem_type`.
const (
	SingleLabel = "single_label_classification"
	MultiLabel  = "multi_label_classification"
	Regression  = "regression"
)

// Example is one labelled row.
type Example struct {
	Text    string
	Pair    string
	HasPair bool
	Label   int       // class id (single-label)
	Targets []float32 // multi-hot (multi-label) or [value] (regression)
	Line    int       // 1-based line in the source file, for error messages
}

// Dataset is a labelled file after parsing and label mapping.
type Dataset struct {
	File     string
	Task     string
	Labels   []string // id → name for classification tasks
	Examples []Example
	Skipped  int // bad rows skipped with SkipBadRows
}

// ReadOptions says how to read a data file.
type ReadOptions struct {
	TextColumn  string // default "text"
	PairColumn  string // default "text_pair"; used when present in the file
	LabelColumn string // default "label"
	// Format is "csv", "tsv" or "jsonl"; "" picks by file extension.
	Format string
	// Task forces the problem type; "" infers it from the labels.
	Task string
	// Labels fixes the label set (e.g. a validation file must use the
	// training file's mapping); a label outside it is a bad row.
	Labels      []string
	SkipBadRows bool
	// SkipEmpty drops rows whose text is blank without counting them as
	// bad (load-test workloads keep only what can be sent).
	SkipEmpty bool
}

func (o *ReadOptions) defaults() {
	if o.TextColumn == "" {
		o.TextColumn = "text"
	}
	if o.PairColumn == "" {
		o.PairColumn = "text_pair"
	}
	if o.LabelColumn == "" {
		o.LabelColumn = "label"
	}
}

// rawRow is a row before labels are interpreted.
type rawRow struct {
	text, pair string
	hasPair    bool
	label      any // string (CSV), or a JSON value
	line       int
}

// RowError names the file and line of a bad row.
type RowError struct {
	File string
	Line int
	Err  error
}

func (e *RowError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }

// ColumnError is a header without a column the reader needs. Flag names
// the command-line flag that chooses the column; a caller with other flag
// names sets its own.
type ColumnError struct {
	Column  string
	Columns []string // the header
	Flag    string
}

func (e *ColumnError) Error() string {
	return fmt.Sprintf("header has no %q column (columns: %s); set %s", e.Column, strings.Join(e.Columns, ", "), e.Flag)
}

// ReadDataset reads a CSV, TSV or JSONL file of labelled texts.
func ReadDataset(path string, opt ReadOptions) (*Dataset, error) {
	opt.defaults()
	ds, rows, bad, err := readRows(path, opt)
	if err != nil {
		return nil, err
	}
	if err := ds.interpretLabels(rows, opt, bad); err != nil {
		return nil, err
	}
	if len(ds.Examples) == 0 {
		return nil, fmt.Errorf("%s: no usable rows (%d skipped)", path, ds.Skipped)
	}
	return ds, nil
}

// FormatOf picks the reader for a file by its extension.
func FormatOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return "csv", nil
	case ".tsv", ".tab":
		return "tsv", nil
	case ".jsonl", ".ndjson", ".json":
		return "jsonl", nil
	}
	return "", fmt.Errorf("%s: unknown extension; pass --format csv|tsv|jsonl", path)
}

// readRows opens path and reads its rows with the format's reader.
func readRows(path string, opt ReadOptions) (*Dataset, []rawRow, func(int, error) error, error) {
	format := opt.Format
	if format == "" {
		var err error
		if format, err = FormatOf(path); err != nil {
			return nil, nil, nil, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	defer f.Close()
	return parseRows(f, path, format, opt)
}

// parseRows reads rows from r. The returned bad turns a bad row into a
// file:line error, or counts it in ds.Skipped with SkipBadRows.
func parseRows(r io.Reader, path, format string, opt ReadOptions) (ds *Dataset, rows []rawRow, bad func(int, error) error, err error) {
	ds = &Dataset{File: path}
	bad = func(line int, err error) error {
		if opt.SkipBadRows {
			ds.Skipped++
			return nil
		}
		return &RowError{File: path, Line: line, Err: err}
	}
	switch format {
	case "csv", "tsv":
		rows, err = readDelimited(r, format, opt, bad)
	case "jsonl":
		rows, err = readJSONL(r, opt, bad)
	default:
		return nil, nil, nil, fmt.Errorf("format %q: want csv, tsv or jsonl", format)
	}
	if err != nil {
		var re *RowError
		if !errors.As(err, &re) {
			err = fmt.Errorf("%s: %w", path, err) // a RowError names the file already
		}
		return nil, nil, nil, err
	}
	return ds, rows, bad, nil
}

func readDelimited(r io.Reader, format string, opt ReadOptions, bad func(int, error) error) ([]rawRow, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	if format == "tsv" {
		cr.Comma = '\t'
		cr.LazyQuotes = true
	}
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("empty file: want a header row naming the %q and %q columns", opt.TextColumn, opt.LabelColumn)
	}
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimPrefix(h, "\ufeff")] = i
	}
	ti, ok := col[opt.TextColumn]
	if !ok {
		return nil, &ColumnError{Column: opt.TextColumn, Columns: header, Flag: "--text-column"}
	}
	li, ok := col[opt.LabelColumn]
	if !ok {
		return nil, &ColumnError{Column: opt.LabelColumn, Columns: header, Flag: "--label-column"}
	}
	pi, hasPair := col[opt.PairColumn]
	var rows []rawRow
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A malformed record (a stray quote) is a bad row; the reader
			// resynchronises at the next line. Anything else is an I/O error
			// that would repeat forever.
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, err
			}
			if err := bad(pe.StartLine, pe.Err); err != nil {
				return nil, err
			}
			continue
		}
		// FieldPos is only valid after a successful Read.
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			if err := bad(line, fmt.Errorf("%d fields, header has %d", len(rec), len(header))); err != nil {
				return nil, err
			}
			continue
		}
		row := rawRow{text: rec[ti], label: rec[li], line: line}
		if hasPair {
			row.pair, row.hasPair = rec[pi], true
		}
		if opt.SkipEmpty && strings.TrimSpace(row.text) == "" {
			continue
		}
		if err := checkText(row); err != nil {
			if err := bad(line, err); err != nil {
				return nil, err
			}
			continue
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func readJSONL(r io.Reader, opt ReadOptions, bad func(int, error) error) ([]rawRow, error) {
	br := bufio.NewReader(r)
	var rows []rawRow
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			row, perr := parseJSONLine(b, line, opt)
			if perr == nil {
				perr = checkText(row)
			}
			switch {
			case perr == nil:
				rows = append(rows, row)
			case opt.SkipEmpty && row.line > 0 && strings.TrimSpace(row.text) == "":
				// parsed, but blank: dropped, not bad
			default:
				if err := bad(line, perr); err != nil {
					return nil, err
				}
			}
		}
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
}

func parseJSONLine(b []byte, line int, opt ReadOptions) (rawRow, error) {
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return rawRow{}, fmt.Errorf("invalid JSON: %w", err)
	}
	text, ok := obj[opt.TextColumn].(string)
	if !ok {
		return rawRow{}, fmt.Errorf("field %q missing or not a string", opt.TextColumn)
	}
	row := rawRow{text: text, line: line}
	if p, present := obj[opt.PairColumn]; present && p != nil {
		ps, ok := p.(string)
		if !ok {
			return rawRow{}, fmt.Errorf("field %q is not a string", opt.PairColumn)
		}
		row.pair, row.hasPair = ps, true
	}
	label, present := obj[opt.LabelColumn]
	if !present || label == nil {
		return rawRow{}, fmt.Errorf("field %q missing", opt.LabelColumn)
	}
	row.label = label
	return row, nil
}

func checkText(r rawRow) error {
	if !utf8.ValidString(r.text) || !utf8.ValidString(r.pair) {
		return errors.New("text is not valid UTF-8")
	}
	if strings.TrimSpace(r.text) == "" {
		return errors.New("empty text")
	}
	// A pair column that is present but blank in one row is a broken row,
	// not a single text: the model would see [SEP] [SEP].
	if r.hasPair && strings.TrimSpace(r.pair) == "" {
		return errors.New("empty text pair")
	}
	if s, ok := r.label.(string); ok && strings.TrimSpace(s) == "" {
		return errors.New("empty label")
	}
	return nil
}

// labelKind classifies one raw label: "list", "int", "float" or "name".
func labelKind(v any) string {
	switch x := v.(type) {
	case []any:
		return "list"
	case float64:
		if x == math.Trunc(x) {
			return "int"
		}
		return "float"
	case bool:
		return "name"
	case string:
		s := strings.TrimSpace(x)
		if strings.HasPrefix(s, "[") {
			return "list"
		}
		if _, err := strconv.Atoi(s); err == nil {
			return "int"
		}
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return "float"
		}
		return "name"
	}
	return "name"
}

func labelString(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

func listLabels(v any) ([]string, error) {
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	case string:
		if err := json.Unmarshal([]byte(x), &items); err != nil {
			return nil, fmt.Errorf("label %q is not a JSON list: %w", x, err)
		}
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = labelString(it)
	}
	return out, nil
}

// interpretLabels infers the task (unless forced), builds the label mapping
// and turns raw rows into examples.
func (ds *Dataset) interpretLabels(rows []rawRow, opt ReadOptions, bad func(int, error) error) error {
	task := opt.Task
	if task == "" {
		kinds := map[string]bool{}
		for _, r := range rows {
			kinds[labelKind(r.label)] = true
		}
		switch {
		case kinds["list"]:
			task = MultiLabel
		case kinds["float"] && !kinds["name"]:
			task = Regression
		default:
			task = SingleLabel
		}
	}
	ds.Task = task
	switch task {
	case SingleLabel, MultiLabel:
		ds.Labels = opt.Labels
		if ds.Labels == nil {
			ds.Labels = collectLabels(rows, task)
		}
	case Regression:
	default:
		return fmt.Errorf("task %q: want %s, %s or %s", task, SingleLabel, MultiLabel, Regression)
	}
	ids := map[string]int{}
	for i, l := range ds.Labels {
		ids[l] = i
	}
	for _, r := range rows {
		ex := Example{Text: r.text, Pair: r.pair, HasPair: r.hasPair, Line: r.line}
		var err error
		switch task {
		case SingleLabel:
			l := labelString(r.label)
			id, ok := ids[l]
			if !ok {
				err = fmt.Errorf("unknown label %q (known: %s)", l, strings.Join(ds.Labels, ", "))
			}
			ex.Label = id
		case MultiLabel:
			var ls []string
			ls, err = listLabels(r.label)
			ex.Targets = make([]float32, len(ds.Labels))
			for _, l := range ls {
				id, ok := ids[l]
				if !ok {
					err = fmt.Errorf("unknown label %q (known: %s)", l, strings.Join(ds.Labels, ", "))
					break
				}
				ex.Targets[id] = 1
			}
		case Regression:
			var v float64
			v, err = strconv.ParseFloat(labelString(r.label), 64)
			if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				err = fmt.Errorf("label %v is not finite", v)
			}
			if err != nil {
				err = fmt.Errorf("regression label: %w", err)
			}
			ex.Targets = []float32{float32(v)}
		}
		if err != nil {
			if err := bad(r.line, err); err != nil {
				return err
			}
			continue
		}
		ds.Examples = append(ds.Examples, ex)
	}
	return nil
}

// collectLabels lists the label set: integers in numeric order (so label 3
// keeps id 3 when 0…3 all occur), names in sorted order.
func collectLabels(rows []rawRow, task string) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		if task == MultiLabel {
			ls, _ := listLabels(r.label)
			for _, l := range ls {
				seen[l] = true
			}
			continue
		}
		seen[labelString(r.label)] = true
	}
	labels := make([]string, 0, len(seen))
	allInts := len(seen) > 0
	for l := range seen {
		labels = append(labels, l)
		if _, err := strconv.Atoi(l); err != nil {
			allInts = false
		}
	}
	if allInts {
		sort.Slice(labels, func(i, j int) bool {
			a, _ := strconv.Atoi(labels[i])
			b, _ := strconv.Atoi(labels[j])
			return a < b
		})
		// Zero-based integer labels are ids: fill gaps so that label k keeps id k.
		first, _ := strconv.Atoi(labels[0])
		last, _ := strconv.Atoi(labels[len(labels)-1])
		if first == 0 && last < 100000 {
			full := make([]string, last+1)
			for i := range full {
				full[i] = strconv.Itoa(i)
			}
			return full
		}
		return labels
	}
	sort.Strings(labels)
	return labels
}

// strata returns a stratum per example: its class for single-label data, a
// single stratum otherwise.
func (ds *Dataset) strata() []int {
	s := make([]int, len(ds.Examples))
	if ds.Task == SingleLabel {
		for i, ex := range ds.Examples {
			s[i] = ex.Label
		}
	}
	return s
}

// StratifiedSplit holds out about frac of the examples for validation,
// the same fraction of every class, chosen with a seeded shuffle.
func (ds *Dataset) StratifiedSplit(frac float64, seed uint64) (train, valid *Dataset, err error) {
	if frac <= 0 || frac >= 1 {
		return nil, nil, fmt.Errorf("validation fraction %v: want a value in (0, 1)", frac)
	}
	folds := ds.foldAssignment(0, seed, frac)
	train, valid = ds.subset(nil), ds.subset(nil)
	for i, f := range folds {
		if f == 1 {
			valid.Examples = append(valid.Examples, ds.Examples[i])
		} else {
			train.Examples = append(train.Examples, ds.Examples[i])
		}
	}
	if len(valid.Examples) == 0 || len(train.Examples) == 0 {
		return nil, nil, fmt.Errorf("validation fraction %v of %d rows leaves an empty split", frac, len(ds.Examples))
	}
	return train, valid, nil
}

// StratifiedKFold assigns each example to one of k folds so that every
// class is spread evenly, like scikit-learn's StratifiedKFold(shuffle=True).
func (ds *Dataset) StratifiedKFold(k int, seed uint64) ([]int, error) {
	if k < 2 || k > len(ds.Examples) {
		return nil, fmt.Errorf("--folds %d: want 2 ≤ k ≤ %d rows", k, len(ds.Examples))
	}
	return ds.foldAssignment(k, seed, 0), nil
}

// foldAssignment shuffles each stratum and deals it out: round-robin over k
// folds, or (k == 0) marks the first round(frac·n) of each stratum with 1.
func (ds *Dataset) foldAssignment(k int, seed uint64, frac float64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6e))
	byStratum := map[int][]int{}
	strata := ds.strata()
	for i, s := range strata {
		byStratum[s] = append(byStratum[s], i)
	}
	keys := make([]int, 0, len(byStratum))
	for s := range byStratum {
		keys = append(keys, s)
	}
	sort.Ints(keys)
	out := make([]int, len(strata))
	offset := 0
	for _, s := range keys {
		idx := byStratum[s]
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		if k == 0 {
			n := int(math.Round(frac * float64(len(idx))))
			for j, i := range idx {
				if j < n {
					out[i] = 1
				}
			}
			continue
		}
		// Continue the deal where the previous class stopped so that
		// small classes do not all land in fold 0.
		for j, i := range idx {
			out[i] = (offset + j) % k
		}
		offset += len(idx)
	}
	return out
}

// Fold splits by a fold assignment: examples in fold f validate, the rest train.
func (ds *Dataset) Fold(assign []int, f int) (train, valid *Dataset) {
	train, valid = ds.subset(nil), ds.subset(nil)
	for i, a := range assign {
		if a == f {
			valid.Examples = append(valid.Examples, ds.Examples[i])
		} else {
			train.Examples = append(train.Examples, ds.Examples[i])
		}
	}
	return train, valid
}

// subset keeps the file's Skipped count: the rows were skipped reading the
// file every part came from, and the trainer reports it for the split.
func (ds *Dataset) subset(ex []Example) *Dataset {
	return &Dataset{File: ds.File, Task: ds.Task, Labels: ds.Labels, Examples: ex, Skipped: ds.Skipped}
}
