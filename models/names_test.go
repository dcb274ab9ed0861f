package models

import (
	"slices"
	"strings"
	"testing"
)

func tinyConfig(mt string) *Config {
	c := DefaultConfig(mt)
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 16, 2, 2, 24
	c.VocabSize, c.MaxPositionEmbeddings = 50, 40
	if mt == TypeELECTRA {
		c.EmbeddingSize = 8
	}
	return c
}

func TestInitAndNormalize(t *testing.T) {
	for _, mt := range []string{TypeBERT, TypeRoBERTa, TypeDistilBERT, TypeELECTRA} {
		t.Run(mt, func(t *testing.T) {
			cfg := tinyConfig(mt)
			sd, err := InitStateDict(cfg, 1, "F32")
			if err != nil {
				t.Fatal(err)
			}
			if len(sd) != len(ParamSpecs(cfg)) {
				t.Fatalf("%d tensors for %d specs", len(sd), len(ParamSpecs(cfg)))
			}
			// Padding row of the word embeddings is zero, LayerNorm weights are one.
			w, _ := sd[BasePrefix(mt)+"embeddings.word_embeddings.weight"].Float32s()
			E := cfg.EmbeddingWidth()
			for _, x := range w[cfg.PadTokenID*E : (cfg.PadTokenID+1)*E] {
				if x != 0 {
					t.Fatalf("padding row not zero: %v", x)
				}
			}
			ln, _ := sd[BasePrefix(mt)+"embeddings.LayerNorm.weight"].Float32s()
			if ln[0] != 1 {
				t.Errorf("LayerNorm weight %v", ln[0])
			}

			// A base checkpoint: no prefix, old gamma/beta names, an MLM head, a buffer.
			base := StateDict{}
			for k, v := range sd {
				if IsHeadParam(mt, k) {
					continue
				}
				k = strings.TrimPrefix(k, BasePrefix(mt))
				k = strings.Replace(k, "LayerNorm.weight", "LayerNorm.gamma", 1)
				base[k] = v
			}
			base["embeddings.position_ids"] = Tensor{DType: "I64", Shape: []int64{1}, Data: make([]byte, 8)}
			base["cls.predictions.bias"] = sd[BasePrefix(mt)+"embeddings.LayerNorm.bias"]
			base["mystery.weight"] = sd[BasePrefix(mt)+"embeddings.LayerNorm.bias"]
			norm, rep := NormalizeStateDict(cfg, base)
			if !rep.MissingOnlyHead(mt) || len(rep.Missing) == 0 {
				t.Errorf("missing %v should be exactly the head", rep.Missing)
			}
			if !slices.Equal(rep.Unexpected, []string{"mystery.weight"}) {
				t.Errorf("unexpected %v", rep.Unexpected)
			}
			if len(rep.Dropped) != 2 {
				t.Errorf("dropped %v", rep.Dropped)
			}
			if _, ok := norm[BasePrefix(mt)+"embeddings.LayerNorm.weight"]; !ok {
				t.Errorf("gamma not renamed: %v", norm.Names())
			}
		})
	}
}

func TestSinusoidal(t *testing.T) {
	v := make([]float32, 3*4)
	sinusoidal(v, 3, 4)
	// position 1: sin(1), cos(1), sin(1/100), cos(1/100)
	want := []float32{0.84147098, 0.54030231, 0.0099998333, 0.99995}
	for i, w := range want {
		if d := v[4+i] - w; d > 1e-6 || d < -1e-6 {
			t.Errorf("v[1][%d] = %v, want %v", i, v[4+i], w)
		}
	}
}
