package trainers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"unicode/utf8"
)

// PreTokenizeFunc turns one line into the normalized, pre-tokenized pieces
// a trainer counts (tokenizers.Tokenizer.PreTokenize).
type PreTokenizeFunc func(text string) ([]string, error)

// CountWords reads the files line by line, keeping each line's "\n" as HF's
// train_from_files does (byte-level pipelines turn it into a token), runs
// pre on every line on all cores and counts the pieces. Files are streamed:
// memory holds the counts, not the corpus. Invalid UTF-8 is an error naming
// the file and line, as in HF (which refuses such files too).
func CountWords(ctx context.Context, files []string, pre PreTokenizeFunc, workers int, progress io.Writer) (map[string]uint64, error) {
	if len(files) == 0 {
		return nil, errors.New("count words: no input files")
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("count words: %w", err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("count words: %s is a directory, want a text file", f)
		}
		total += st.Size()
	}
	bar := newBar(progress, total, "Pre-processing files")
	defer barFinish(bar)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type batch struct {
		file  string
		first int // line number of lines[0], 1-based
		lines []string
	}
	batches := make(chan batch, workers*2)
	results := make([]map[string]uint64, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts := map[string]uint64{}
			results[w] = counts
			for b := range batches {
				if ctx.Err() != nil {
					continue // drain
				}
				for i, line := range b.lines {
					pieces, err := pre(line)
					if err != nil {
						cancel(fmt.Errorf("%s:%d: %w", b.file, b.first+i, err))
						break
					}
					for _, p := range pieces {
						counts[p]++
					}
				}
			}
		}()
	}

	readErr := func() error {
		defer close(batches)
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return fmt.Errorf("count words: %w", err)
			}
			r := bufio.NewReaderSize(fh, 1<<20)
			b := batch{file: f, first: 1}
			size, lineNo := 0, 0
			for {
				line, err := r.ReadString('\n')
				if len(line) > 0 {
					lineNo++
					if !utf8.ValidString(line) {
						fh.Close()
						return fmt.Errorf("%s:%d: invalid UTF-8 (HF refuses it too; convert the file first)", f, lineNo)
					}
					b.lines = append(b.lines, line)
					size += len(line)
					barAdd(bar, len(line))
				}
				if size >= 256<<10 || (err != nil && len(b.lines) > 0) {
					select {
					case batches <- b:
					case <-ctx.Done():
						fh.Close()
						return context.Cause(ctx)
					}
					b = batch{file: f, first: lineNo + 1}
					size = 0
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					fh.Close()
					return fmt.Errorf("%s:%d: %w", f, lineNo+1, err)
				}
			}
			fh.Close()
		}
		return nil
	}()
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, readErr
	}
	// Merge into the largest map.
	big := 0
	for i, m := range results {
		if len(m) > len(results[big]) {
			big = i
		}
	}
	out := results[big]
	for i, m := range results {
		if i == big {
			continue
		}
		for k, v := range m {
			out[k] += v
		}
	}
	return out, nil
}
