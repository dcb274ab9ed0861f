package serve

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/models"
)

// tinyDebertaV3 is a DeBERTa-v3-shaped config (relative attention with log
// buckets through shared q/k projections, no absolute positions, no token
// types: the exported graph has no token_type_ids input).
func tinyDebertaV3() *models.Config {
	cfg := models.DefaultConfig(models.TypeDeBERTaV2)
	cfg.VocabSize = 30522
	cfg.Deberta = models.DebertaOptions{RelativeAttention: true, PosAttType: []string{"p2c", "c2p"},
		PositionBuckets: 16, MaxRelativePositions: 64, ShareAttKey: true, NormRelEbd: "layer_norm",
		PoolerHiddenAct: "gelu"}
	return cfg
}

// TestServeDeberta: `kiln serve` on a DeBERTa-v3 export answers /predict
// (single texts, a pair, one truncated past the 64-token limit, batched
// together) with the scores offline ONNX Runtime gives (≤ 1e-4), and
// /info names the model type.
func TestServeDeberta(t *testing.T) {
	ts := startServer(t, "deberta-v3", Config{MaxBatchSize: 8, MaxBatchDelay: 2 * time.Millisecond, AutoTruncate: true})
	texts := sst2Texts(t, 6)
	inputs := []TextInput{}
	for _, s := range texts {
		inputs = append(inputs, TextInput{Text: s})
	}
	inputs = append(inputs, TextInput{Text: texts[0], Pair: texts[1], IsPair: true},
		TextInput{Text: strings.Repeat("an essay that runs on past the limit ", 20)})
	want := offlineLogits(t, ts.Model().Dir, inputs, ts.Model().MaxLength)
	var batch [][]string // a TEI batch: [[text], [text, pair], …]
	for _, in := range inputs {
		if in.IsPair {
			batch = append(batch, []string{in.Text, in.Pair})
		} else {
			batch = append(batch, []string{in.Text})
		}
	}
	r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": batch})
	if r.Status != http.StatusOK {
		t.Fatalf("predict: %s", r)
	}
	var got [][]Prediction
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(inputs) {
		t.Fatalf("%d results for %d inputs", len(got), len(inputs))
	}
	worst := 0.0
	for i := range inputs {
		exp := expectedScores("softmax", []string{"human", "ai"}, want[i])
		if len(got[i]) != 2 {
			t.Fatalf("input %d: %v", i, got[i])
		}
		for _, p := range got[i] {
			d := math.Abs(p.Score - exp[p.Label])
			worst = math.Max(worst, d)
			if d > 1e-4 {
				t.Errorf("input %d: %s = %.6f, offline ONNX Runtime %.6f", i, p.Label, p.Score, exp[p.Label])
			}
		}
	}
	r = do(t, "GET", ts.URL+"/info", nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), models.TypeDeBERTaV2) {
		t.Errorf("/info: %s", r)
	}
	t.Logf("deberta-v3 served %d inputs, max score diff vs offline ORT %.2g", len(inputs), worst)
}
