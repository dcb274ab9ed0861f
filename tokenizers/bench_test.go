package tokenizers

import "testing"

// BenchmarkEncode measures single-goroutine encoding of the test corpus;
// bench/tokenizers/run.sh compares with HF on a larger corpus.
func BenchmarkEncode(b *testing.B) {
	texts, _ := loadCorpus(b)
	n := 0
	for _, s := range texts {
		n += len(s)
	}
	for _, name := range realNames {
		tk := loadReal(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(n))
			for i := 0; i < b.N; i++ {
				for _, s := range texts {
					if _, err := tk.Encode(s, true); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
