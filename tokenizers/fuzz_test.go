package tokenizers

import (
	"sync"
	"testing"
	"unicode/utf8"
)

var (
	fuzzOnce sync.Once
	fuzzToks []*Tokenizer
)

// FuzzEncodeDecode feeds arbitrary bytes (invalid UTF-8 included) through
// the three real tokenizers: encoding and decoding must never panic, and
// the encodings must be well formed. `go test` runs the seeds;
// `go test -fuzz FuzzEncodeDecode ./tokenizers` explores.
func FuzzEncodeDecode(f *testing.F) {
	texts, pairs := loadCorpus(f)
	for _, s := range texts {
		f.Add(s, "")
	}
	for _, p := range pairs[:5] {
		f.Add(p[0], p[1])
	}
	f.Add("\xff\xfe\x00[CLS]<s>\u2581 ", "\xed\xa0\x80")
	fuzzOnce.Do(func() {
		for _, name := range realNames {
			tk := loadReal(f, name)
			fuzzToks = append(fuzzToks, tk,
				tk.WithTruncation(&Truncation{MaxLength: 9, Stride: 2, Direction: "left"}).
					WithPadding(&Padding{Strategy: "fixed", Length: 12, PadToMultipleOf: 5}))
		}
	})
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, tk := range fuzzToks {
			for _, pair := range []bool{false, true} {
				var e *Encoding
				var err error
				if pair {
					e, err = tk.EncodePair(a, b, true)
				} else {
					e, err = tk.Encode(a, true)
				}
				if err != nil {
					// Truncation may legitimately refuse (sequence too short).
					continue
				}
				checkWellFormed(t, e, utf8.RuneCountInString(sanitize(a))+utf8.RuneCountInString(sanitize(b)))
				if _, err := tk.Decode(e.IDs, false); err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if _, err := tk.Decode(e.IDs, true); err != nil {
					t.Fatalf("Decode: %v", err)
				}
			}
		}
	})
}

func checkWellFormed(t *testing.T, e *Encoding, maxOffset int) {
	t.Helper()
	n := len(e.IDs)
	if len(e.TypeIDs) != n || len(e.Tokens) != n || len(e.Offsets) != n || len(e.AttentionMask) != n ||
		len(e.SpecialTokensMask) != n || len(e.WordIDs) != n {
		t.Fatalf("field lengths differ: %d ids, %d types, %d tokens, %d offsets", n, len(e.TypeIDs), len(e.Tokens), len(e.Offsets))
	}
	for _, o := range e.Offsets {
		if o[0] < 0 || o[1] < o[0] || o[1] > maxOffset+2 {
			t.Fatalf("offset %v out of range (text has %d runes)", o, maxOffset)
		}
	}
	for _, o := range e.Overflowing {
		checkWellFormed(t, o, maxOffset)
	}
}
