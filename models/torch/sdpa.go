package torch

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// The attention implementations of Model.Attention (HF's attn_implementation).
const (
	// AttentionSDPA is at::scaled_dot_product_attention (PyTorch ≥ 2.1
	// through gotch's wrapper): flash or memory-efficient kernels on CUDA,
	// a fused CPU kernel on recent versions, dropout inside the kernel.
	AttentionSDPA = "sdpa"
	// AttentionEager is the matmul–softmax–matmul of HF's eager attention.
	AttentionEager = "eager"
)

var (
	sdpaOnce sync.Once
	sdpaErr  error
)

// SDPAUnavailable says why this libtorch has no scaled-dot-product
// attention (nil when it has): on Debian's 1.13 the bridge's wrapper is an
// error-returning stub. Probed once per process with a one-token call.
func SDPAUnavailable() error {
	sdpaOnce.Do(func() {
		q := ts.MustOnes([]int64{1, 1, 1, 2}, gotch.Float, gotch.CPU)
		mask := ts.MustZeros([]int64{1, 1, 1, 1}, gotch.Float, gotch.CPU)
		defer q.MustDrop()
		defer mask.MustDrop()
		out, err := ts.ScaledDotProductAttention(q, q, q, mask, 0, false, nil)
		if err != nil {
			sdpaErr = errors.New(libtorchMessage(err))
			return
		}
		out.MustDrop()
	})
	return sdpaErr
}

// AttentionInUse is the implementation Forward runs for Model.Attention
// on this libtorch: AttentionSDPA or AttentionEager.
func (m *Model) AttentionInUse() (string, error) {
	sdpa, err := m.attention()
	if err != nil || !sdpa {
		return AttentionEager, err
	}
	return AttentionSDPA, nil
}

// attention resolves Model.Attention for one forward. DeBERTa always runs
// its own (eager) disentangled attention, see deberta.go.
func (m *Model) attention() (sdpa bool, err error) {
	switch m.Attention {
	case AttentionEager:
		return false, nil
	case "":
		return m.deb == nil && SDPAUnavailable() == nil, nil
	case AttentionSDPA:
		if m.deb != nil {
			return false, fmt.Errorf("attention %q: DeBERTa's disentangled attention runs eager only", m.Attention)
		}
		if err := SDPAUnavailable(); err != nil {
			return false, fmt.Errorf("attention %q: %w", m.Attention, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("attention %q: want %q, %q or empty (sdpa where the libtorch has it)", m.Attention, AttentionSDPA, AttentionEager)
}

// sdpa is the attention of one layer through scaled_dot_product_attention:
// q, k, v [B,nh,S,hd] (consumed) → context [B,nh,S,hd]. The additive mask
// is HF's (0 or finfo.min, [B,1,1,S]) for every architecture: DistilBERT's
// masked_fill gives the same softmax for rows with at least one token.
// The scale is the kernel's default 1/sqrt(hd), as both eager paths use.
func (m *Model) sdpa(q, k, v *ts.Tensor, ctx *fwdCtx) *ts.Tensor {
	mask := ctx.addMask
	if dt := q.DType(); dt != mask.DType() {
		// Under autocast q is bf16/fp16; the kernel wants the mask in
		// the query's dtype (fp16 turns finfo.min into -inf: same softmax).
		mask = mask.MustTotype(dt, false)
		defer mask.MustDrop()
	}
	p := 0.0
	if ctx.train {
		p = m.Config.AttentionProbsDropoutProb
	}
	c := ts.MustScaledDotProductAttention(q, k, v, mask, p, false, nil)
	q.MustDrop()
	k.MustDrop()
	v.MustDrop()
	return c
}

// libtorchMessage is libtorch's message in a gotch error, without the Go
// stack trace gotch appends.
func libtorchMessage(err error) string {
	s := err.Error()
	if i := strings.Index(s, "Libtorch API Error: "); i >= 0 {
		s = s[i+len("Libtorch API Error: "):]
	}
	s, _, _ = strings.Cut(s, "\n")
	return s
}
