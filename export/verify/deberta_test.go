//go:build !notorch

package verify

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
)

// TestDebertaExportVerifiesAgainstLibtorch exports DeBERTa checkpoints
// (v3 options: relative attention with log buckets, shared position keys,
// no absolute positions or token types; and a v2-style one with separate
// position projections, token types and embed_proj) with cls and mean
// pooling, fp32 and fp16, and verifies each on ONNX Runtime against the
// models/torch forward: fp32 max abs diff ≤ 1e-4 on logits and
// last_hidden_state (pooled too where it is the feature), fp16 argmax
// agreement ≥ 99.5%. Lengths up to 300 pass the bucket cap (128 here), so
// the clipped distance table is exercised; --optimize is refused by name.
func TestDebertaExportVerifiesAgainstLibtorch(t *testing.T) {
	lib := testenv.ORTLibrary(t)
	if err := ort.Init(lib); err != nil {
		t.Fatal(err)
	}
	tok := testenv.Testdata("tokenizers/bert-base-uncased/tokenizer.json")
	v3 := func(pooling string) *models.Config {
		cfg := models.DefaultConfig(models.TypeDeBERTaV2)
		cfg.VocabSize, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 30522, 32, 2, 4, 48
		cfg.Deberta = models.DebertaOptions{RelativeAttention: true, PosAttType: []string{"p2c", "c2p"},
			PositionBuckets: 32, MaxRelativePositions: 128, ShareAttKey: true, NormRelEbd: "layer_norm",
			PoolerHiddenAct: "gelu"}
		cfg.Pooling = pooling
		return cfg
	}
	v2 := v3("cls")
	v2.Deberta.ShareAttKey, v2.Deberta.PositionBuckets, v2.Deberta.MaxRelativePositions = false, -1, 24
	v2.Deberta.PositionBiasedInput, v2.TypeVocabSize, v2.EmbeddingSize = true, 2, 16
	v2.Deberta.PoolerHiddenAct, v2.HiddenAct = "tanh", "gelu_new"
	cases := []struct {
		name string
		cfg  *models.Config
	}{{"v3-cls", v3("cls")}, {"v3-mean", v3("mean")}, {"v2-style", v2}}
	shapes := [][2]int{{1, 5}, {7, 64}, {4, 300}, {1, 512}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := writeTinyCheckpoint(t, c.cfg, tok, "deberta-"+c.name)
			tr, err := Load(src)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			_, err = export.Export(context.Background(), src, filepath.Join(t.TempDir(), "opt"), export.Options{Optimize: true})
			if err == nil {
				t.Error("--optimize of a deberta-v2 checkpoint should be refused")
			}
			ref := &cached{inner: tr, memo: map[string]*export.RefOutput{}}
			for _, dtype := range []string{"fp32", "fp16"} {
				t.Run(dtype, func(t *testing.T) {
					rep, err := export.Export(context.Background(), src, filepath.Join(t.TempDir(), "onnx"), export.Options{
						DType:     dtype,
						Outputs:   []string{export.OutputLogits, export.OutputLastHiddenState, export.OutputPooled},
						Reference: ref,
						Verify:    export.VerifyOptions{Shapes: shapes, ORTLibrary: lib},
					})
					if err != nil {
						t.Fatalf("export: %v", err)
					}
					vr := rep.Verification
					t.Logf("%s: max abs diff %.3g, argmax agreement %.4f over %d rows, compared %v",
						dtype, vr.MaxAbsDiff, vr.ArgmaxAgreement, vr.Rows, vr.Compared)
					if !vr.Passed || len(vr.Compared) < 2 {
						t.Fatalf("verification %+v", vr)
					}
					if dtype == "fp32" && vr.MaxAbsDiff > 1e-4 {
						t.Fatalf("fp32 max abs diff %.3g > 1e-4", vr.MaxAbsDiff)
					}
					if dtype == "fp16" && vr.ArgmaxAgreement < 0.995 {
						t.Fatalf("fp16 argmax agreement %.4f < 0.995", vr.ArgmaxAgreement)
					}
				})
			}
		})
	}
}
