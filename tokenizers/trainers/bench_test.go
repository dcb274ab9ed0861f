package trainers

import (
	"context"
	"testing"
)

// go test -bench . -run '^$' ./tokenizers/trainers/
func BenchmarkCountWordsWordPiece(b *testing.B) {
	pipe, err := pipelineFor(Options{Kind: KindWordPiece})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(299734)
	for i := 0; i < b.N; i++ {
		if _, err := CountWords(context.Background(), []string{wikiFile}, pipe.PreTokenize, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchWordCounts(b *testing.B, kind string) map[string]uint64 {
	pipe, err := pipelineFor(Options{Kind: kind})
	if err != nil {
		b.Fatal(err)
	}
	wc, err := CountWords(context.Background(), []string{wikiFile}, pipe.PreTokenize, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	return wc
}

func BenchmarkTrainWordPiece(b *testing.B) {
	wc := benchWordCounts(b, KindWordPiece)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := TrainBPE(context.Background(), wc, BPEConfig{VocabSize: 8000, ContinuingSubwordPrefix: "##"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrainUnigram(b *testing.B) {
	wc := benchWordCounts(b, KindUnigram)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := TrainUnigram(context.Background(), wc, UnigramConfig{VocabSize: 4000}); err != nil {
			b.Fatal(err)
		}
	}
}
