package torch

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Gradient checkpointing without a custom autograd function (libtorch's C
// API, and so gotch, has none):
//
//   - forward: the embeddings run with autograd; each layer runs under
//     no-grad and only its input is kept; the last hidden state becomes a
//     fresh leaf that requires grad, and the head runs with autograd.
//   - Model.Backward(loss): loss.backward() fills the gradient g of that
//     leaf; then for each layer from the top, its input is re-run with
//     autograd and (output * g).sum().backward() accumulates the layer's
//     parameter gradients and yields the gradient of its input, the g of
//     the layer below; finally (embeddings * g).sum().backward().
//
// d/dy of sum(y * g) is exactly g, so the gradients equal the ordinary
// ones up to recomputation being bitwise deterministic on CPU.
//
// Dropout must draw the same masks in the recomputation. Every training
// forward (checkpointed or not, so that both give identical results) seeds
// libtorch's generator before each layer from a per-forward stream, and
// reseeds it once more at the end of the forward; the recomputation reuses
// the layer seeds and restores that final seed, so the generator state after
// Backward is the same with and without checkpointing.

// consume returns y after dropping x (the input of the op that made y).
func consume(y, x *ts.Tensor) *ts.Tensor {
	x.MustDrop()
	return y
}

type ckptState struct {
	emb    *ts.Tensor   // embeddings output, with its autograd graph
	inputs []*ts.Tensor // input of each layer (no graph)
	last   *ts.Tensor   // the leaf standing for the last hidden state
	seeds  []int64      // per-layer generator seeds (nil: no dropout)
	final  int64
	ctx    *fwdCtx
	// autocast is the forward's autocast (nil: off): the recomputation
	// must run each layer in the dtypes the forward did, as
	// torch.utils.checkpoint restores the autocast state.
	autocast *Autocast
}

func (st *ckptState) drop() {
	for _, t := range append([]*ts.Tensor{st.emb, st.last}, st.inputs...) {
		if t != nil {
			t.MustDrop()
		}
	}
	if st.ctx != nil {
		st.ctx.drop()
	}
}

func (m *Model) dropCkpt() {
	if m.ckpt != nil {
		m.ckpt.drop()
		m.ckpt = nil
	}
}

// seedStream derives the per-layer seeds of one training forward from a
// single draw of libtorch's generator, so runs stay reproducible under
// torch's manual seed. It returns nil when the model has no dropout.
type seedStream struct{ rng *rand.Rand }

func (m *Model) newSeedStream(train bool) *seedStream {
	cfg := m.Config
	if !train || (cfg.HiddenDropoutProb == 0 && cfg.AttentionProbsDropoutProb == 0) {
		return nil
	}
	r := ts.MustRandint(1<<62, []int64{1}, gotch.Int64, gotch.CPU)
	base := r.Int64Values()[0]
	r.MustDrop()
	return &seedStream{rng: rand.New(rand.NewPCG(uint64(base), 0x636b7074))}
}

func (s *seedStream) next() int64 { return s.rng.Int64() }

// encodeCheckpointed runs the layers without keeping their activations.
func (m *Model) encodeCheckpointed(emb *ts.Tensor, ctx *fwdCtx, seeds *seedStream, out *Output) (*ts.Tensor, error) {
	st := &ckptState{emb: emb}
	dev := 0
	if m.dev.IsCuda() {
		dev = 1
	}
	on, dtype, err := autocastState(dev)
	if err != nil {
		return nil, err
	}
	if on {
		st.autocast = &Autocast{device: dev, dtype: dtype}
	}
	// The caller (Forward) pinned the thread, so this mode sticks.
	prev := setGrad(false)
	x := emb.MustDetach(false)
	for i := range m.layers {
		if seeds != nil {
			s := seeds.next()
			st.seeds = append(st.seeds, s)
			if err := ManualSeed(s); err != nil {
				setGrad(prev)
				st.drop()
				return nil, err
			}
		}
		st.inputs = append(st.inputs, x)
		x = m.layerForward(&m.layers[i], x, ctx)
		if m.OutputHiddenStates {
			out.HiddenStates = append(out.HiddenStates, x.MustShallowClone())
		}
	}
	setGrad(prev)
	if err := setRequiresGrad(x, true); err != nil {
		x.MustDrop()
		st.drop()
		return nil, err
	}
	st.last = x.MustShallowClone() // shares the TensorImpl, so its .grad too
	m.ckpt = st
	return x, nil
}

// Backward runs loss.backward() and, when the last training forward was
// checkpointed, recomputes every layer to complete the parameter gradients.
// Always call it instead of loss.Backward() on a model's loss.
func (m *Model) Backward(loss *ts.Tensor) error {
	// The recomputation needs autograd on, on one thread throughout.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	setGrad(true)
	if !loss.MustRequiresGrad() {
		m.dropCkpt()
		return errors.New("backward: the loss has no autograd graph: it was computed with grad mode off " +
			"(inside NoGrad, or on an OS thread that gotch's unpinned ts.NoGrad left with autograd off: " +
			"use torch.NoGrad and runtime.LockOSThread in the training loop)")
	}
	if err := loss.Backward(); err != nil {
		m.dropCkpt()
		return fmt.Errorf("backward: %w", err)
	}
	st := m.ckpt
	if st == nil {
		return nil
	}
	m.ckpt = nil
	defer st.drop()
	g := st.last.MustGrad(false)
	if !g.MustDefined() {
		return errors.New("backward: the loss does not depend on the encoder output")
	}
	for i := len(m.layers) - 1; i >= 0; i-- {
		xi := st.inputs[i].MustDetach(false)
		if err := setRequiresGrad(xi, true); err != nil {
			xi.MustDrop()
			g.MustDrop()
			return fmt.Errorf("backward: %w", err)
		}
		if st.seeds != nil {
			if err := ManualSeed(st.seeds[i]); err != nil {
				return err
			}
		}
		y, err := m.recomputeLayer(i, xi, st)
		if err != nil {
			xi.MustDrop()
			g.MustDrop()
			return fmt.Errorf("backward: recompute layer %d: %w", i, err)
		}
		s := y.MustMul(g, true).MustSum(gotch.Float, true)
		g.MustDrop()
		err = s.Backward()
		s.MustDrop()
		if err != nil {
			xi.MustDrop()
			return fmt.Errorf("backward: recompute layer %d: %w", i, err)
		}
		g = xi.MustGrad(false)
		xi.MustDrop()
	}
	s := st.emb.MustMul(g, false).MustSum(gotch.Float, true)
	g.MustDrop()
	err := s.Backward()
	s.MustDrop()
	if err != nil {
		return fmt.Errorf("backward: embeddings: %w", err)
	}
	if st.seeds != nil {
		return ManualSeed(st.final)
	}
	return nil
}

// recomputeLayer re-runs layer i on its saved input under the forward's
// autocast state (the backward of the product runs outside it, as in
// PyTorch).
func (m *Model) recomputeLayer(i int, x *ts.Tensor, st *ckptState) (*ts.Tensor, error) {
	if st.autocast == nil {
		return m.layerForward(&m.layers[i], x, st.ctx), nil
	}
	ac := *st.autocast
	if err := ac.Enter(); err != nil {
		return nil, err
	}
	y := m.layerForward(&m.layers[i], x, st.ctx)
	if err := ac.Exit(); err != nil {
		y.MustDrop()
		return nil, err
	}
	return y, nil
}
