//go:build !notorch

// Package verify provides the libtorch reference that `kiln export`
// verifies its ONNX graphs against: the models/torch forward of the same
// checkpoint directory, run in eval mode with autograd off. It is a separate
// package so that package export (and the serving build) needs no libtorch.
package verify

import (
	"context"
	"fmt"
	"sync"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
	"github.com/kiln-ml/kiln/train"
)

// Torch is an export.Reference backed by models/torch on the CPU or a GPU.
type Torch struct {
	mu    sync.Mutex
	model *mtorch.Model
	dir   string
	dev   gotch.Device
	// freshHead: the checkpoint has no classification head, so libtorch's
	// logits come from a random head and are not reported.
	freshHead bool
}

// Load reads the checkpoint in dir with models/torch on the CPU (LoadOn).
func Load(dir string) (*Torch, error) {
	t, _, err := LoadOn(dir, "cpu")
	return t, err
}

// LoadOn reads the checkpoint in dir with models/torch onto device (cpu,
// cuda, cuda:N or auto, parsed as kiln train parses --device; auto's
// fallback says why it stayed on the CPU). A checkpoint that models/torch
// can only load by initialising parameters fresh (a base model without a
// head) cannot be a reference for logits; that is refused here rather than
// comparing against random numbers.
func LoadOn(dir, device string) (ref *Torch, fallback string, err error) {
	dev, fallback, err := train.ResolveDevice(device)
	if err != nil {
		return nil, "", fmt.Errorf("verify: %w", err)
	}
	m, rep, err := mtorch.Load(dir, mtorch.LoadOptions{Device: dev})
	if err != nil {
		return nil, "", fmt.Errorf("verify: load %s with libtorch: %w", dir, err)
	}
	if len(rep.Missing) > 0 && !rep.FreshHead {
		m.Free()
		return nil, "", fmt.Errorf("verify: %s lacks %d encoder parameters (first %q)", dir, len(rep.Missing), rep.Missing[0])
	}
	return &Torch{model: m, dir: dir, dev: dev, freshHead: rep.FreshHead}, fallback, nil
}

// Name identifies the reference in reports, with its device when that is
// a GPU.
func (t *Torch) Name() string {
	if t.dev.IsCuda() {
		return fmt.Sprintf("libtorch (models/torch, cuda:%d)", t.dev.Value)
	}
	return "libtorch (models/torch)"
}

// Close frees the model's tensors.
func (t *Torch) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.model != nil {
		t.model.Free()
		t.model = nil
	}
}

// Forward runs the libtorch model on one batch without autograd.
// models/torch's Pooled is BERT's pooler output (dense+tanh), DeBERTa's
// ContextPooler output (dense+pooler_hidden_act), while the ONNX
// "pooled" output is the feature before any head layer, so Pooled is only
// reported for the architectures where the two coincide.
func (t *Torch) Forward(ctx context.Context, b export.Batch) (*export.RefOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.model == nil {
		return nil, fmt.Errorf("verify: reference closed")
	}
	var out *export.RefOutput
	var ferr error
	mtorch.NoGrad(func() { out, ferr = t.forward(b) })
	return out, ferr
}

func (t *Torch) forward(b export.Batch) (*export.RefOutput, error) {
	shape := []int64{int64(b.Batch), int64(b.Seq)}
	mk := func(name string, v []int64) (*ts.Tensor, error) {
		if v == nil {
			return nil, nil
		}
		if len(v) != b.Batch*b.Seq {
			return nil, fmt.Errorf("verify: %s has %d values for %v", name, len(v), shape)
		}
		x, err := ts.OfSlice(v)
		if err != nil {
			return nil, fmt.Errorf("verify: %s: %w", name, err)
		}
		x = x.MustView(shape, true)
		if t.dev.IsCuda() {
			if x, err = x.To(t.dev, true); err != nil {
				return nil, fmt.Errorf("verify: %s to %v: %w", name, t.dev, err)
			}
		}
		return x, nil
	}
	ids, err := mk(export.InputIDs, b.InputIDs)
	if err != nil {
		return nil, err
	}
	defer ids.MustDrop()
	mask, err := mk(export.AttentionMask, b.AttentionMask)
	if err != nil {
		return nil, err
	}
	defer mask.MustDrop()
	var tt *ts.Tensor
	if t.model.Config.ModelType != models.TypeDistilBERT {
		if tt, err = mk(export.TokenTypeIDs, b.TokenTypeIDs); err != nil {
			return nil, err
		}
		if tt != nil {
			defer tt.MustDrop()
		}
	}
	o, err := t.model.Forward(ids, mask, tt, false)
	if err != nil {
		return nil, fmt.Errorf("verify: libtorch forward: %w", err)
	}
	defer o.Drop()
	res := &export.RefOutput{}
	if o.LastHiddenState != nil {
		if res.LastHiddenState, _, err = mtorch.Float32Values(o.LastHiddenState); err != nil {
			return nil, fmt.Errorf("verify: last_hidden_state: %w", err)
		}
	}
	if o.Pooled != nil && t.model.Config.ModelType != models.TypeBERT && t.model.Config.ModelType != models.TypeDeBERTaV2 {
		if res.Pooled, _, err = mtorch.Float32Values(o.Pooled); err != nil {
			return nil, fmt.Errorf("verify: pooled: %w", err)
		}
	}
	if o.Logits != nil && !t.freshHead {
		if res.Logits, _, err = mtorch.Float32Values(o.Logits); err != nil {
			return nil, fmt.Errorf("verify: logits: %w", err)
		}
	}
	return res, nil
}
