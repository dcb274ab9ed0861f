package models

import (
	_ "embed"
	"encoding/json"
	"path/filepath"
	"strings"

	"github.com/kiln-ml/kiln/internal/atomicfile"
)

// RemoteCodeFile is the Python module kiln writes next to config.json of a
// mean- or max-pooled model: transformers' own *ForSequenceClassification
// always pools the first token, so config.json's auto_map points
// AutoModelForSequenceClassification (with trust_remote_code=True) at
// kiln's heads, which reproduce kiln's logits.
const RemoteCodeFile = "kiln_modeling.py"

//go:embed kiln_modeling.py
var remoteCode []byte

// remoteClass is the class in kiln_modeling.py for each architecture.
var remoteClass = map[string]string{
	TypeBERT:       "KilnBertForSequenceClassification",
	TypeRoBERTa:    "KilnRobertaForSequenceClassification",
	TypeDistilBERT: "KilnDistilBertForSequenceClassification",
	TypeELECTRA:    "KilnElectraForSequenceClassification",
}

// NeedsRemoteCode reports whether transformers needs kiln_modeling.py to
// compute this model's logits: a pooling other than the first token, on an
// architecture kiln_modeling.py covers.
func (c *Config) NeedsRemoteCode() bool {
	return c.Pooling != "" && c.Pooling != PoolCLS && remoteClass[c.ModelType] != ""
}

// autoMap is config.json's auto_map for kiln's head, or nil.
func (c *Config) autoMap() map[string]string {
	if !c.NeedsRemoteCode() {
		return nil
	}
	return map[string]string{"AutoModelForSequenceClassification": strings.TrimSuffix(RemoteCodeFile, ".py") + "." + remoteClass[c.ModelType]}
}

// staleAutoMap reports whether an auto_map read from a config points at
// kiln_modeling (written for a pooling the config no longer has).
func staleAutoMap(raw json.RawMessage) bool {
	return strings.Contains(string(raw), strings.TrimSuffix(RemoteCodeFile, ".py")+".")
}

// writeRemoteCode puts kiln_modeling.py in dir when the config needs it.
func (c *Config) writeRemoteCode(dir string) error {
	if !c.NeedsRemoteCode() {
		return nil
	}
	return atomicfile.WriteFile(filepath.Join(dir, RemoteCodeFile), remoteCode)
}
