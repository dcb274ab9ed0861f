package export

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/models"
)

// Batch is one verification input, row-major [Batch, Seq] (modelio's
// padded model input). TokenTypeIDs is nil for models without token types.
type Batch = modelio.Batch

// RefOutput is a reference forward's result, flattened row-major; a nil
// slice means the reference does not produce that output.
type RefOutput struct {
	Logits          []float32 // [Batch, NumLabels]
	LastHiddenState []float32 // [Batch, Seq, Hidden]
	Pooled          []float32 // [Batch, Hidden], the pooling before any head layer
}

// Reference computes the same model another way (export/verify: the
// libtorch forward of models/torch; tests: HF transformers).
type Reference interface {
	Name() string
	Forward(ctx context.Context, b Batch) (*RefOutput, error)
}

// VerifyOptions tunes Verify. Zero values take the defaults.
type VerifyOptions struct {
	// Shapes are the (batch, sequence) sizes run; sequences are capped at
	// what the model's position table allows.
	Shapes [][2]int
	Seed   uint64
	// Tolerance is the fp32 max abs difference allowed (default 1e-4).
	Tolerance float64
	// MinArgmaxAgreement is the fp16 pass mark on logits (default 0.995).
	MinArgmaxAgreement float64
	// FP16Tolerance bounds the max abs difference of fp16 exports without
	// logits (default 0.05), where argmax agreement has nothing to count.
	FP16Tolerance float64
	ORTLibrary    string // "" = ort.DefaultLibraryPath()
	Threads       int    // ONNX Runtime intra-op threads, 0 = its default
	// Device is where ONNX Runtime runs the export: cpu ("" too), cuda,
	// cuda:N (its CUDA provider, TF32 off so float32 is float32) or auto
	// (CUDA when the provider works here, else the CPU). The reference runs
	// where its caller loaded it (export/verify.LoadOn, the same flag).
	Device string
}

// DefaultShapes mix batch sizes and lengths; every row after the first of
// a batch is padded to a random shorter length.
var DefaultShapes = [][2]int{{1, 7}, {3, 32}, {8, 64}, {2, 128}, {64, 24}}

// CaseReport is one (batch, sequence) comparison.
type CaseReport struct {
	Batch           int     `json:"batch"`
	Seq             int     `json:"seq"`
	MaxAbsDiff      float64 `json:"max_abs_diff"`
	Output          string  `json:"worst_output"`
	ArgmaxAgreement float64 `json:"argmax_agreement"`
}

// VerifyReport summarises the comparison; Passed says whether it met the
// dtype's criterion.
type VerifyReport struct {
	Reference          string       `json:"reference"`
	DType              string       `json:"dtype"`
	Compared           []string     `json:"compared_outputs"`
	Cases              []CaseReport `json:"cases"`
	Rows               int          `json:"rows"`
	MaxAbsDiff         float64      `json:"max_abs_diff"`
	ArgmaxAgreement    float64      `json:"argmax_agreement"`
	Tolerance          float64      `json:"tolerance,omitempty"`
	MinArgmaxAgreement float64      `json:"min_argmax_agreement,omitempty"`
	Passed             bool         `json:"passed"`
	Provider           string       `json:"provider"`
	// ProviderFallback says why Device auto ran ONNX Runtime on the CPU.
	ProviderFallback string `json:"provider_fallback,omitempty"`
}

// VerificationError is returned when the export does not match the reference.
type VerificationError struct{ Report *VerifyReport }

func (e *VerificationError) Error() string {
	r := e.Report
	if r.DType == "fp16" && r.MinArgmaxAgreement > 0 {
		return fmt.Sprintf("verification failed against %s: fp16 argmax agreement %.4f < %.4f (max abs diff %.3g over %d rows)",
			r.Reference, r.ArgmaxAgreement, r.MinArgmaxAgreement, r.MaxAbsDiff, r.Rows)
	}
	return fmt.Sprintf("verification failed against %s: max abs diff %.3g > %.3g (%s, argmax agreement %.4f over %d rows)",
		r.Reference, r.MaxAbsDiff, r.Tolerance, r.DType, r.ArgmaxAgreement, r.Rows)
}

// ExitCode makes a failed verification exit with status 2 from cmd/kiln.
func (e *VerificationError) ExitCode() int { return 2 }

// Verify runs dir/model.onnx on ONNX Runtime (on o.Device) and ref on the
// same padded inputs, and compares every output both produce.
func Verify(ctx context.Context, dir string, cfg *models.Config, ref Reference, dtype string, o VerifyOptions) (*VerifyReport, error) {
	if len(o.Shapes) == 0 {
		o.Shapes = DefaultShapes
	}
	if o.Tolerance == 0 {
		o.Tolerance = 1e-4
	}
	if o.MinArgmaxAgreement == 0 {
		o.MinArgmaxAgreement = 0.995
	}
	if o.FP16Tolerance == 0 {
		o.FP16Tolerance = 0.05
	}
	if err := ort.Init(o.ORTLibrary); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	sess, err := ort.NewSession(filepath.Join(dir, ModelFile), ort.Options{Device: o.Device, IntraOpThreads: o.Threads, StrictFP32: true})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer sess.Close()
	rep := &VerifyReport{Reference: ref.Name(), DType: dtype, Provider: sess.Provider(), ProviderFallback: sess.FallbackReason()}
	if dtype == "fp16" {
		rep.MinArgmaxAgreement = o.MinArgmaxAgreement
	} else {
		rep.Tolerance = o.Tolerance
	}
	hasTT := false
	for _, n := range sess.InputNames() {
		hasTT = hasTT || n == TokenTypeIDs
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x7665726966))
	agree, rows := 0, 0
	compared := map[string]bool{}
	for _, shape := range o.Shapes {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		b := SampleBatch(rng, cfg, shape[0], shape[1], hasTT)
		feeds := map[string]ort.Int64Tensor{
			InputIDs:      {Shape: b.Shape(), Data: b.InputIDs},
			AttentionMask: {Shape: b.Shape(), Data: b.AttentionMask},
		}
		if hasTT {
			feeds[TokenTypeIDs] = ort.Int64Tensor{Shape: b.Shape(), Data: b.TokenTypesOrZeros()}
		}
		got, err := sess.Run(feeds)
		if err != nil {
			return rep, fmt.Errorf("verify: batch %d×%d: %w", b.Batch, b.Seq, err)
		}
		want, err := ref.Forward(ctx, b)
		if err != nil {
			return rep, fmt.Errorf("verify: %s forward, batch %d×%d: %w", ref.Name(), b.Batch, b.Seq, err)
		}
		c := CaseReport{Batch: b.Batch, Seq: b.Seq, ArgmaxAgreement: 1}
		check := func(name string, ref []float32, keep func(i int) bool) error {
			out, ok := got[name]
			if !ok || ref == nil {
				return nil
			}
			if len(out.Data) != len(ref) {
				return fmt.Errorf("verify: %s: ONNX gives %d values %v, %s gives %d", name, len(out.Data), out.Shape, rep.Reference, len(ref))
			}
			compared[name] = true
			for i := range ref {
				if keep != nil && !keep(i) {
					continue
				}
				d := math.Abs(float64(out.Data[i]) - float64(ref[i]))
				if math.IsNaN(d) {
					d = math.Inf(1)
				}
				if d > c.MaxAbsDiff {
					c.MaxAbsDiff, c.Output = d, name
				}
			}
			return nil
		}
		if err := check(OutputLogits, want.Logits, nil); err != nil {
			return rep, err
		}
		// Hidden states of padded positions are not part of any result;
		// compare only the positions the mask keeps.
		H := cfg.HiddenSize
		if err := check(OutputLastHiddenState, want.LastHiddenState, func(i int) bool { return b.AttentionMask[i/H] != 0 }); err != nil {
			return rep, err
		}
		if err := check(OutputPooled, want.Pooled, nil); err != nil {
			return rep, err
		}
		if l, ok := got[OutputLogits]; ok && want.Logits != nil {
			n := cfg.NumLabels()
			same := 0
			for r := 0; r < b.Batch; r++ {
				gl, wl := l.Data[r*n:(r+1)*n], want.Logits[r*n:(r+1)*n]
				g, w := argmax(gl), argmax(wl)
				// Under fp16, a row whose reference logits tie within the
				// fp16 tolerance may flip without anything being wrong
				// (random test models have such near-ties); it counts as
				// agreeing. Any other flip counts against the export.
				if g == w || (dtype == "fp16" && float64(wl[w]-wl[g]) <= o.FP16Tolerance) {
					same++
				}
			}
			c.ArgmaxAgreement = float64(same) / float64(b.Batch)
			agree += same
		} else {
			agree += b.Batch
		}
		rows += b.Batch
		rep.Cases = append(rep.Cases, c)
		rep.MaxAbsDiff = math.Max(rep.MaxAbsDiff, c.MaxAbsDiff)
	}
	for _, n := range []string{OutputLogits, OutputLastHiddenState, OutputPooled} {
		if compared[n] {
			rep.Compared = append(rep.Compared, n)
		}
	}
	if len(rep.Compared) == 0 {
		return rep, fmt.Errorf("verify: %s produces none of the exported outputs %v", rep.Reference, sess.OutputNames())
	}
	rep.Rows = rows
	rep.ArgmaxAgreement = float64(agree) / float64(rows)
	switch {
	case dtype != "fp16":
		rep.Passed = rep.MaxAbsDiff <= o.Tolerance
	case compared[OutputLogits]:
		rep.Passed = rep.ArgmaxAgreement >= o.MinArgmaxAgreement
	default:
		rep.Tolerance, rep.MinArgmaxAgreement = o.FP16Tolerance, 0
		rep.Passed = rep.MaxAbsDiff <= o.FP16Tolerance
	}
	if !rep.Passed {
		return rep, &VerificationError{Report: rep}
	}
	return rep, nil
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// SampleBatch draws token ids for a [batch, seq] input: row 0 full length,
// the others padded to a random shorter length, never the pad id inside a
// row (RoBERTa derives positions from it), token types 0 then 1 for the
// second half of each row when the model has two or more types.
func SampleBatch(rng *rand.Rand, cfg *models.Config, batch, seq int, tokenTypes bool) Batch {
	if limit := cfg.MaxSequenceLength(); seq > limit {
		seq = limit
	}
	ids := make([][]int64, batch)
	var types [][]int64
	if tokenTypes {
		types = make([][]int64, batch)
	}
	pad := int64(cfg.PadTokenID)
	for r := range ids {
		n := seq
		if r > 0 && seq > 1 {
			n = 1 + rng.IntN(seq)
		}
		ids[r] = make([]int64, n)
		for j := range ids[r] {
			id := int64(rng.IntN(cfg.VocabSize))
			for id == pad {
				id = int64(rng.IntN(cfg.VocabSize))
			}
			ids[r][j] = id
		}
		if tokenTypes {
			types[r] = make([]int64, n)
			for j := n / 2; j < n && cfg.TypeVocabSize > 1; j++ {
				types[r][j] = 1
			}
		}
	}
	// Pad only fails on rows and types of different lengths, which these
	// are not by construction; row 0 is full length, so Seq is seq.
	b, _ := modelio.Pad(ids, types, pad)
	return b
}
