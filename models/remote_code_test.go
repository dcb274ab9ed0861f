package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRemoteCodeFollowsPooling: config.json names kiln's transformers head
// (auto_map + kiln_modeling.py) exactly when the pooling needs it, and a
// config re-saved with cls pooling drops kiln's stale auto_map.
func TestRemoteCodeFollowsPooling(t *testing.T) {
	for _, tc := range []struct {
		modelType, pooling, class string
	}{
		{TypeBERT, PoolCLS, ""},
		{TypeBERT, PoolMean, "kiln_modeling.KilnBertForSequenceClassification"},
		{TypeRoBERTa, PoolMax, "kiln_modeling.KilnRobertaForSequenceClassification"},
		{TypeDistilBERT, PoolMean, "kiln_modeling.KilnDistilBertForSequenceClassification"},
		{TypeELECTRA, PoolMax, "kiln_modeling.KilnElectraForSequenceClassification"},
	} {
		t.Run(tc.modelType+"/"+tc.pooling, func(t *testing.T) {
			dir := t.TempDir()
			c := DefaultConfig(tc.modelType)
			c.Pooling = tc.pooling
			if err := c.Save(dir); err != nil {
				t.Fatal(err)
			}
			back, err := LoadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			am := string(back.Extra["auto_map"])
			_, statErr := os.Stat(filepath.Join(dir, RemoteCodeFile))
			if tc.class == "" {
				if am != "" || statErr == nil {
					t.Fatalf("cls pooling wrote auto_map %s / %s (err %v)", am, RemoteCodeFile, statErr)
				}
				return
			}
			if !strings.Contains(am, `"AutoModelForSequenceClassification"`) || !strings.Contains(am, `"`+tc.class+`"`) || statErr != nil {
				t.Fatalf("auto_map = %s, %s: %v; want %s", am, RemoteCodeFile, statErr, tc.class)
			}
			back.Pooling = PoolCLS
			if err := back.Save(dir); err != nil {
				t.Fatal(err)
			}
			again, err := LoadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := again.Extra["auto_map"]; ok {
				t.Errorf("auto_map kept after switching to cls pooling: %s", again.Extra["auto_map"])
			}
		})
	}
}
