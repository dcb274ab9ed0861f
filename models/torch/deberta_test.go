package torch

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/models"
)

// The DeBERTa-v2/v3 checkpoints of testdata/reference.py run through
// TestHFParity (hidden states, logits and every parameter's gradient within
// parityTol, safetensors and pytorch_model.bin, with and without gradient
// checkpointing).
func init() {
	parityCases = append(parityCases, "deberta_v3_base", "deberta_v3_xsmall", "deberta_buckets_mean",
		"deberta_v3_bf16", "deberta_v2_unshared", "deberta_c2p_only", "deberta_v1style")
}

// TestRelativePositionBuckets: models.RelativePosition gives the same log
// bucket as HF's make_log_bucket_position (float32 arithmetic in torch) for
// every distance up to ±2047 and several (position_buckets,
// max_relative_positions) pairs, including v3's (256, 512).
func TestRelativePositionBuckets(t *testing.T) {
	ref, _, err := models.ReadSafetensors(filepath.Join(reference(t), "buckets.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) == 0 {
		t.Fatal("no bucket tables in the reference")
	}
	for name, tab := range ref {
		var b, m int
		if _, err := fmt.Sscanf(name, "%d_%d", &b, &m); err != nil {
			t.Fatalf("table %q: %v", name, err)
		}
		want, err := tab.Int64s()
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for i, w := range want {
			rel := i - 2047
			if got := models.RelativePosition(rel, b, m); int64(got) != w {
				if bad++; bad <= 5 {
					t.Errorf("buckets %d, max %d, distance %d: got %d, HF %d", b, m, rel, got, w)
				}
			}
		}
		if bad > 0 {
			t.Errorf("buckets %d, max %d: %d of %d distances differ", b, m, bad, len(want))
		}
	}
}
