package dataset

// ReadTexts reads unlabelled rows (text and optional pair) for prediction,
// with the same formats and bad-row handling as ReadDataset. The label
// column is pointed at the text column so the shared readers accept files
// without labels; the value is ignored.
func ReadTexts(path string, opt ReadOptions) (*Dataset, error) {
	opt.defaults()
	opt.LabelColumn = opt.TextColumn
	ds, rows, _, err := readRows(path, opt)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		ds.Examples = append(ds.Examples, Example{Text: r.text, Pair: r.pair, HasPair: r.hasPair, Line: r.line})
	}
	return ds, nil
}
