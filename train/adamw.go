package train

import (
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strconv"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/models"
	mtorch "github.com/kiln-ml/kiln/models/torch"
)

// ParamGroup is a set of parameters sharing a learning rate and weight decay.
type ParamGroup struct {
	Name        string  `json:"name"`
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"`
}

type adamParam struct {
	name  string
	p     *ts.Tensor
	group int
	m, v  *ts.Tensor // exp_avg, exp_avg_sq; nil until the first step
	// scratch holds g² and the denominator; not part of the state.
	scratch *ts.Tensor
}

// AdamW is torch.optim.AdamW (decoupled weight decay, bias correction)
// written over gotch tensors so its state can be checkpointed and restored
// bit for bit: gotch's own optimiser hides its state inside libtorch.
type AdamW struct {
	Beta1, Beta2, Eps float64
	Groups            []ParamGroup
	StepCount         int
	// Kernel is how Step updates: mtorch.AdamWFused or mtorch.AdamWForeach
	// (one libtorch call per group, as torch.optim.AdamW(fused=True) or
	// (foreach=True)), or KernelLoop (in-place ops parameter by parameter
	// from Go, for a bridge that predates kiln_optim.cpp). NewAdamW sets
	// the fastest the bridge has for the parameters' device; "" chooses it
	// at the first Step.
	Kernel string
	params []*adamParam
}

// KernelLoop is AdamW.Kernel's per-parameter update.
const KernelLoop = "loop"

// GroupOptions says how parameters are split into groups.
type GroupOptions struct {
	LR, HeadLR, WeightDecay float64
	// ModelType (config.json's model_type) tells the head's parameters,
	// which get HeadLR, from the encoder's (models.IsHeadParam); empty
	// puts every parameter in the encoder's groups.
	ModelType string
	// LayerDecay < 1 enables layer-wise LR decay: layer i of L gets
	// LR·d^(L-i), so the top layer gets LR·d; every other encoder
	// parameter sits below layer 0 and gets LR·d^(L+1): the embeddings,
	// ELECTRA's embeddings_project and DeBERTa's relative-position
	// embeddings with their LayerNorm (encoder.rel_embeddings,
	// encoder.LayerNorm), which, like the embeddings, feed every layer.
	LayerDecay float64
	NumLayers  int
}

var layerRE = regexp.MustCompile(`(?:^|\.)layers?\.(\d+)\.`)

// NewAdamW groups the model's parameters: no weight decay on biases and
// LayerNorm weights (NamedParameter.NoDecay), a separate head LR, and
// optional layer-wise LR decay over the encoder.
func NewAdamW(params []mtorch.NamedParameter, o GroupOptions, beta1, beta2, eps float64) (*AdamW, error) {
	if o.LR <= 0 {
		return nil, fmt.Errorf("learning rate must be positive, got %v", o.LR)
	}
	if o.HeadLR == 0 {
		o.HeadLR = o.LR
	}
	if o.LayerDecay == 0 {
		o.LayerDecay = 1
	}
	if o.LayerDecay <= 0 || o.LayerDecay > 1 {
		return nil, fmt.Errorf("layer decay %v: want (0, 1]", o.LayerDecay)
	}
	opt := &AdamW{Beta1: beta1, Beta2: beta2, Eps: eps}
	index := map[string]int{}
	for _, np := range params {
		lr, tag := o.LR, "encoder"
		switch {
		case o.ModelType != "" && models.IsHeadParam(o.ModelType, np.Name):
			lr, tag = o.HeadLR, "head"
		case o.LayerDecay < 1:
			depth := o.NumLayers + 1 // below layer 0
			tag = "embeddings"
			if m := layerRE.FindStringSubmatch(np.Name); m != nil {
				i, _ := strconv.Atoi(m[1])
				depth, tag = o.NumLayers-i, "layer"+m[1]
			}
			lr = o.LR * math.Pow(o.LayerDecay, float64(depth))
		}
		wd := o.WeightDecay
		if np.NoDecay {
			wd, tag = 0, tag+"/no_decay"
		}
		g, ok := index[tag]
		if !ok {
			g = len(opt.Groups)
			index[tag] = g
			opt.Groups = append(opt.Groups, ParamGroup{Name: tag, LR: lr, WeightDecay: wd})
		}
		opt.params = append(opt.params, &adamParam{name: np.Name, p: np.Tensor, group: g})
	}
	if len(opt.params) > 0 && opt.params[0].p != nil {
		opt.Kernel = opt.chooseKernel()
	}
	return opt, nil
}

// Step applies one update with every group's LR multiplied by lrFactor.
// Parameters with no gradient are left alone, as torch does.
func (o *AdamW) Step(lrFactor float64) {
	o.StepCount++
	if o.Kernel == "" {
		o.Kernel = o.chooseKernel()
	}
	mtorch.NoGrad(func() {
		if o.Kernel == KernelLoop {
			o.stepLoop(lrFactor)
		} else {
			o.stepGroups(lrFactor)
		}
	})
}

// chooseKernel is the fastest kernel the bridge has on the parameters'
// device (probed once per process and device, see mtorch.AdamWKernel).
func (o *AdamW) chooseKernel() string {
	if len(o.params) == 0 {
		return KernelLoop
	}
	k, err := mtorch.AdamWKernel(o.params[0].p.MustDevice())
	if err != nil {
		slog.Warn("AdamW updates parameter by parameter", "why", err)
		return KernelLoop
	}
	return k
}

// stepGroups updates each group with one call of the multi-tensor or fused
// kernel: a handful of libtorch calls per step instead of ~8 per parameter.
func (o *AdamW) stepGroups(lrFactor float64) {
	type lists struct{ p, m, v, s []*ts.Tensor }
	byGroup := make([]lists, len(o.Groups))
	// The foreach kernel's workspace: on the CPU only (see mtorch.AdamWStep).
	scratch := o.Kernel == mtorch.AdamWForeach && len(o.params) > 0 && !o.params[0].p.MustDevice().IsCuda()
	for _, ap := range o.params {
		g := ap.p.MustGrad(false)
		defined := g.MustDefined()
		if defined && ap.m == nil {
			ap.m = g.MustZerosLike(false)
			ap.v = g.MustZerosLike(false)
		}
		if defined && scratch && ap.scratch == nil {
			ap.scratch = g.MustZerosLike(false)
		}
		g.MustDrop()
		if !defined {
			continue
		}
		l := &byGroup[ap.group]
		l.p, l.m, l.v = append(l.p, ap.p), append(l.m, ap.m), append(l.v, ap.v)
		if scratch {
			l.s = append(l.s, ap.scratch)
		}
	}
	for gi, l := range byGroup {
		grp := o.Groups[gi]
		h := mtorch.AdamWHyper{LR: grp.LR * lrFactor, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: grp.WeightDecay, Step: o.StepCount}
		if err := mtorch.AdamWStep(o.Kernel, l.p, l.m, l.v, l.s, h); err != nil {
			// A libtorch failure on tensors we created: panics as gotch's
			// Must methods do (the trainer recovers and reports it).
			panic(fmt.Errorf("adamw: group %s: %w", grp.Name, err))
		}
	}
}

// stepLoop is the per-parameter update (KernelLoop).
func (o *AdamW) stepLoop(lrFactor float64) {
	bc1 := 1 - math.Pow(o.Beta1, float64(o.StepCount))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.StepCount))
	for _, ap := range o.params {
		g := ap.p.MustGrad(false)
		if !g.MustDefined() {
			g.MustDrop()
			continue
		}
		grp := o.Groups[ap.group]
		lr := grp.LR * lrFactor
		if ap.m == nil {
			ap.m = g.MustZerosLike(false)
			ap.v = g.MustZerosLike(false)
		}
		if ap.scratch == nil {
			ap.scratch = g.MustZerosLike(false)
		}
		// Update through a detached alias (same storage): in-place ops
		// on a leaf that requires grad fail if grad mode is on, and
		// grad mode is per OS thread in libtorch. Every op below is in
		// place on persistent tensors: fresh multi-MB temporaries per
		// op cost page faults that made the update slower than the
		// forward pass.
		w := ap.p.MustDetach(false)
		if grp.WeightDecay != 0 {
			mulScalar(w, 1-lr*grp.WeightDecay)
		}
		// exp_avg = b1·exp_avg + (1-b1)·g, as a lerp towards g
		lerp(ap.m, g, 1-o.Beta1)
		// exp_avg_sq = b2·exp_avg_sq + (1-b2)·g²
		s := ap.scratch
		g.MustMulOut(s, g, false).MustDrop() // s = g², written in place
		lerp(ap.v, s, 1-o.Beta2)
		// w -= lr/bc1 · exp_avg / (sqrt(exp_avg_sq)/sqrt(bc2) + eps);
		// addcdiv has no value argument in the C API, so the step
		// size is folded into the denominator with a minus sign:
		// s = (sqrt(v)/sqrt(bc2) + eps)·c with c = -bc1/lr, computed
		// as sqrt(v)·(c/sqrt(bc2)) + eps·c (two passes, not three).
		if lr != 0 { // warmup starts at 0: moments move, weights do not
			c := -bc1 / lr
			ap.v.MustSqrtOut(s, false).MustDrop()
			mulScalar(s, c/math.Sqrt(bc2))
			addScalar(s, o.Eps*c)
			inPlace("addcdiv_", w, func(out *lib.Ctensor, self lib.Ctensor) {
				lib.AtgAddcdiv_(out, self, lib.Ctensor(ap.m.Ctensor()), lib.Ctensor(s.Ctensor()))
			})
		}
		w.MustDrop()
		g.MustDrop()
	}
}

// The in-place updates go through mtorch.InPlace: gotch's generated
// in-place methods replace the tensor's handle with a new one and leak the
// old, which costs every parameter a few handles per step — a long run
// grows without bound. An error here is a libtorch failure on tensors we
// created (shapes and dtypes are fixed), so it panics as gotch's Must
// methods did.
func inPlace(name string, t *ts.Tensor, op func(out *lib.Ctensor, self lib.Ctensor)) {
	if err := mtorch.InPlace(name, t, op); err != nil {
		panic(fmt.Errorf("adamw: %w", err))
	}
}

func mulScalar(t *ts.Tensor, v float64) {
	sc := lib.AtsFloat(v)
	defer lib.AtsFree(sc)
	inPlace("mul_", t, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgMulScalar_(out, self, sc) })
}

func addScalar(t *ts.Tensor, v float64) {
	sc := lib.AtsFloat(v)
	defer lib.AtsFree(sc)
	inPlace("add_", t, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgAddScalar_(out, self, sc) })
}

// lerp is t += w·(end − t).
func lerp(t, end *ts.Tensor, w float64) {
	sc := lib.AtsFloat(w)
	defer lib.AtsFree(sc)
	inPlace("lerp_", t, func(out *lib.Ctensor, self lib.Ctensor) {
		lib.AtgLerp_(out, self, lib.Ctensor(end.Ctensor()), sc)
	})
}

// Free releases the moment and scratch tensors.
func (o *AdamW) Free() {
	for _, ap := range o.params {
		for _, t := range []*ts.Tensor{ap.m, ap.v, ap.scratch} {
			if t != nil {
				t.MustDrop()
			}
		}
		ap.m, ap.v, ap.scratch = nil, nil, nil
	}
}

// GradStats scales every gradient by mul (loss-scale removal happens
// here) and returns the global L2 norm after scaling; a non-finite norm
// means some gradient overflowed. The per-parameter norms stay on the
// device and are reduced there: one host synchronisation per call, not
// one per parameter.
func GradStats(params []mtorch.NamedParameter, mul float64) float64 {
	norm, _ := gradNorm(params, mul, nil)
	return norm
}

// gradNorm is GradStats that also reads back extra (a one-element float
// tensor on the parameters' device, e.g. the step's loss) in the same
// device-to-host copy, so a training step synchronises once.
func gradNorm(params []mtorch.NamedParameter, mul float64, extra *ts.Tensor) (norm, extraVal float64) {
	norm, extraVal = math.NaN(), math.NaN()
	mtorch.NoGrad(func() {
		var tmp []*ts.Tensor // dropped at the end
		defer func() {
			for _, t := range tmp {
				t.MustDrop()
			}
		}()
		var norms []*ts.Tensor
		for _, np := range params {
			g := np.Tensor.MustGrad(false)
			if g.MustDefined() {
				if mul != 1 {
					mulScalar(g, mul)
				}
				n := g.MustNorm(false)
				norms = append(norms, n)
				tmp = append(tmp, n)
			}
			g.MustDrop()
		}
		var total *ts.Tensor
		if len(norms) == 0 {
			dev := gotch.CPU
			if extra != nil {
				dev = extra.MustDevice()
			}
			total = ts.MustZeros([]int64{}, gotch.Float, dev)
		} else {
			all := ts.MustStack(norms, 0)
			total = all.MustNorm(true)
		}
		tmp = append(tmp, total)
		read := []*ts.Tensor{total.MustReshape([]int64{1}, false)}
		tmp = append(tmp, read[0])
		if extra != nil {
			e := extra.MustReshape([]int64{1}, false)
			tmp = append(tmp, e)
			read = append(read, e)
		}
		both := ts.MustCat(read, 0)
		tmp = append(tmp, both)
		vals, _, err := mtorch.Float32Values(both)
		if err != nil {
			return
		}
		norm = float64(vals[0])
		if extra != nil {
			extraVal = float64(vals[1])
		}
	})
	return norm, extraVal
}

// ClipGrads rescales gradients so their global norm is at most maxNorm,
// with torch.nn.utils.clip_grad_norm_'s 1e-6 guard.
func ClipGrads(params []mtorch.NamedParameter, norm, maxNorm float64) {
	if maxNorm <= 0 || norm <= maxNorm {
		return
	}
	f := maxNorm / (norm + 1e-6)
	mtorch.NoGrad(func() {
		for _, np := range params {
			g := np.Tensor.MustGrad(false)
			if g.MustDefined() {
				mulScalar(g, f)
			}
			g.MustDrop()
		}
	})
}

// State returns the optimiser's moment tensors as float32 for a checkpoint.
func (o *AdamW) State() (models.StateDict, error) {
	sd := models.StateDict{}
	for _, ap := range o.params {
		if ap.m == nil {
			continue
		}
		for suffix, t := range map[string]*ts.Tensor{".exp_avg": ap.m, ".exp_avg_sq": ap.v} {
			vals, shape, err := mtorch.Float32Values(t)
			if err != nil {
				return nil, fmt.Errorf("optimiser state %s%s: %w", ap.name, suffix, err)
			}
			sd[ap.name+suffix] = f32Tensor(vals, shape)
		}
	}
	return sd, nil
}

// SaveState writes the moments State returns to path, atomically and in
// the same bytes, streaming each tensor from libtorch instead of copying
// the whole state (twice the model's size) into Go first.
func (o *AdamW) SaveState(path string, metadata map[string]string) error {
	var tensors []models.StreamedTensor
	for _, ap := range o.params {
		if ap.m == nil {
			continue
		}
		for _, mt := range []struct {
			suffix string
			t      *ts.Tensor
		}{{".exp_avg", ap.m}, {".exp_avg_sq", ap.v}} {
			st, err := mtorch.Streamed(ap.name+mt.suffix, mt.t, "F32")
			if err != nil {
				return fmt.Errorf("optimiser state: %w", err)
			}
			tensors = append(tensors, st)
		}
	}
	return models.StreamSafetensors(path, tensors, metadata)
}

// LoadState restores moment tensors written by State.
func (o *AdamW) LoadState(sd models.StateDict, dev gotch.Device) error {
	for _, ap := range o.params {
		em, okm := sd[ap.name+".exp_avg"]
		ev, okv := sd[ap.name+".exp_avg_sq"]
		if !okm && !okv {
			continue // never updated (no gradient yet)
		}
		if !okm || !okv {
			return fmt.Errorf("optimiser state for %s is incomplete", ap.name)
		}
		m, err := tensorOf(em, dev)
		if err != nil {
			return fmt.Errorf("optimiser state %s.exp_avg: %w", ap.name, err)
		}
		v, err := tensorOf(ev, dev)
		if err != nil {
			return fmt.Errorf("optimiser state %s.exp_avg_sq: %w", ap.name, err)
		}
		ap.m, ap.v = m, v
	}
	return nil
}

func f32Tensor(vals []float32, shape []int64) models.Tensor {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		u := math.Float32bits(v)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return models.Tensor{DType: "F32", Shape: shape, Data: b}
}

func tensorOf(t models.Tensor, dev gotch.Device) (*ts.Tensor, error) {
	if t.DType != "F32" {
		return nil, fmt.Errorf("dtype %s, want F32", t.DType)
	}
	x, err := ts.OfDataSize(t.Data, t.Shape, gotch.Float)
	if err != nil {
		return nil, err
	}
	if dev != gotch.CPU {
		return x.MustTo(dev, true), nil
	}
	return x, nil
}
