// Package backend runs padded batches of token ids through an exported
// classifier on ONNX Runtime. It knows nothing about HTTP or queues: the
// batcher hands it whole batches, and it hands back one row of logits per
// sequence.
package backend

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/serve/batcher"
)

// Input is one tokenised sequence, unpadded (the batcher's).
type Input = batcher.Input

// Options configures an ORT backend.
type Options struct {
	ModelPath string
	// Device is auto, cpu, cuda or cuda:N (see ort.ParseDevice).
	Device string
	// IntraOpThreads per session; 0 splits the cores evenly between the
	// sessions (see Split). InterOpThreads per session; 0 lets ONNX Runtime
	// decide.
	IntraOpThreads, InterOpThreads int
	// Sessions is how many sessions run batches concurrently; 0 chooses (see
	// Split): one on CUDA, several on the CPU. Each holds its own copy of
	// the weights.
	Sessions int
	// PadID fills the padded positions of input_ids.
	PadID int64
	// DisableGraphOptimization turns ONNX Runtime's graph rewrites off (for
	// debugging an export; they are on by default).
	DisableGraphOptimization bool
}

// ORT is a pool of ONNX Runtime sessions over one model. Run is safe for
// concurrent use; at most Concurrency() calls make progress at once.
type ORT struct {
	pool      chan *ort.Session
	all       []*ort.Session
	padID     int64
	typeIDs   bool // the graph has a token_type_ids input
	numLabels int
	provider  string
	fallback  string
}

// MaxAutoSessions caps the sessions Split chooses on the CPU: each holds a
// copy of the weights, and past a few sessions the threads inside each do
// better than more copies.
const MaxAutoSessions = 4

// Split is how Open divides cores between CPU sessions when opt leaves the
// sessions (0) or their intra-op threads (0) open: min(cores, 4) sessions
// of cores/sessions threads each. Measured with bench/serve -probe on small
// encoders (bench/serve/RESULTS.md): one thread per session avoids ONNX
// Runtime's spinning thread pool, whose threads cost more than they give
// on short sequences and on a busy host, and sessions running batches side
// by side scale with the cores where threads inside one operator do not.
func Split(cores, sessions, threads int) (int, int) {
	cores = max(cores, 1)
	if sessions <= 0 {
		sessions = min(cores, MaxAutoSessions)
	}
	if threads <= 0 {
		threads = max(1, cores/sessions)
	}
	return sessions, threads
}

// Open loads the model into opt.Sessions sessions. ort.Init must have
// succeeded. A model without a "logits" output (an encoder-only export) is
// refused: there is nothing to classify with.
func Open(opt Options) (*ORT, error) {
	n, threads := Split(runtime.GOMAXPROCS(0), opt.Sessions, opt.IntraOpThreads)
	o := &ORT{pool: make(chan *ort.Session, n), padID: opt.PadID}
	for i := 0; i < n; i++ {
		s, err := ort.NewSession(opt.ModelPath, ort.Options{
			Device: opt.Device, IntraOpThreads: threads, InterOpThreads: opt.InterOpThreads,
			DisableGraphOptimization: opt.DisableGraphOptimization,
		})
		if err != nil {
			o.Close()
			return nil, err
		}
		o.all = append(o.all, s)
		o.pool <- s
		if i == 0 {
			if err := o.inspect(opt.ModelPath, s); err != nil {
				o.Close()
				return nil, err
			}
			if opt.Sessions <= 0 && o.provider != ort.CPUProvider {
				// One GPU runs one batch at a time best: batches grow
				// instead, where they are nearly free.
				n = 1
			}
			if o.numLabels < 0 {
				// The export left num_labels dynamic: learn it from one
				// tiny run now rather than racing on it in Run later.
				rows, err := o.run(s, []Input{{IDs: []int64{o.padID}}})
				if err != nil {
					o.Close()
					return nil, fmt.Errorf("%s: probing the logits width: %w", opt.ModelPath, err)
				}
				o.numLabels = len(rows[0])
			}
		}
	}
	return o, nil
}

// inspect checks the graph signature once and records what Run needs.
func (o *ORT) inspect(path string, s *ort.Session) error {
	o.provider, o.fallback = s.Provider(), s.FallbackReason()
	names := s.InputNames()
	for _, want := range []string{modelio.InputIDs, modelio.AttentionMask} {
		if !slices.Contains(names, want) {
			return fmt.Errorf("%s: graph input %q missing (inputs: %v)", path, want, names)
		}
	}
	for _, n := range names {
		switch n {
		case modelio.InputIDs, modelio.AttentionMask:
		case modelio.TokenTypeIDs:
			o.typeIDs = true
		default:
			return fmt.Errorf("%s: unexpected graph input %q (kiln feeds input_ids, attention_mask, token_type_ids)", path, n)
		}
	}
	for _, out := range s.Outputs() {
		if out.Name != modelio.OutputLogits {
			continue
		}
		if len(out.Shape) != 2 {
			return fmt.Errorf("%s: output logits has shape %v, want [batch, num_labels]", path, out.Shape)
		}
		o.numLabels = int(out.Shape[1]) // -1 when dynamic: learnt from the first run
		return nil
	}
	return fmt.Errorf("%s: graph has no %q output (outputs: %v): serve needs a classifier export", path, modelio.OutputLogits, s.OutputNames())
}

// Concurrency is how many batches can run at once (the number of sessions).
func (o *ORT) Concurrency() int { return len(o.all) }

// Provider is the execution provider the sessions run on.
func (o *ORT) Provider() string { return o.provider }

// FallbackReason says why --device auto ended up on the CPU ("" if it did not).
func (o *ORT) FallbackReason() string { return o.fallback }

// NumLabels is the width of the logits.
func (o *ORT) NumLabels() int { return o.numLabels }

// Run pads the sequences to the longest one, runs them and returns one row
// of logits per sequence. ctx only bounds the wait for a free session: a run
// that started is not interrupted (ONNX Runtime's Run is not cancellable
// through the Go binding).
func (o *ORT) Run(ctx context.Context, in []Input) ([][]float32, error) {
	if len(in) == 0 {
		return nil, nil
	}
	var s *ort.Session
	select {
	case s = <-o.pool:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { o.pool <- s }()
	return o.run(s, in)
}

func (o *ORT) run(s *ort.Session, in []Input) ([][]float32, error) {
	ids := make([][]int64, len(in))
	var types [][]int64
	if o.typeIDs {
		types = make([][]int64, len(in))
	}
	for i, x := range in {
		ids[i] = x.IDs
		if types != nil {
			types[i] = x.TypeIDs
		}
	}
	batch, err := modelio.Pad(ids, types, o.padID)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	if batch.Seq == 0 {
		return nil, errors.New("backend: every sequence in the batch is empty")
	}
	b, seq := batch.Batch, batch.Seq
	feeds := map[string]ort.Int64Tensor{
		modelio.InputIDs:      {Shape: batch.Shape(), Data: batch.InputIDs},
		modelio.AttentionMask: {Shape: batch.Shape(), Data: batch.AttentionMask},
	}
	if o.typeIDs {
		feeds[modelio.TokenTypeIDs] = ort.Int64Tensor{Shape: batch.Shape(), Data: batch.TokenTypesOrZeros()}
	}
	out, err := s.Run(feeds)
	if err != nil {
		return nil, fmt.Errorf("backend: batch of %d×%d: %w", b, seq, err)
	}
	logits, ok := out[modelio.OutputLogits]
	if !ok {
		return nil, fmt.Errorf("backend: run returned no %q output", modelio.OutputLogits)
	}
	if len(logits.Shape) != 2 || logits.Shape[0] != int64(b) || int64(len(logits.Data)) != logits.Shape[0]*logits.Shape[1] {
		return nil, fmt.Errorf("backend: logits shape %v for a batch of %d", logits.Shape, b)
	}
	w := int(logits.Shape[1])
	rows := make([][]float32, b)
	for i := range rows {
		rows[i] = logits.Data[i*w : (i+1)*w : (i+1)*w]
	}
	return rows, nil
}

// Shape is a batch shape to warm up: Batch sequences of SeqLen tokens.
type Shape struct{ Batch, SeqLen int }

// Warmup runs every shape once on every session, so that the first real
// requests do not pay for ONNX Runtime's lazy allocations and kernel
// selection. It borrows the sessions from the pool like Run does (traffic
// may already be running): a warmed session stays out of the pool until
// every session is warm, so each one is warmed exactly once. It returns how
// long it took.
func (o *ORT) Warmup(ctx context.Context, shapes []Shape) (time.Duration, error) {
	start := time.Now()
	held := make([]*ort.Session, 0, len(o.all))
	defer func() {
		for _, s := range held {
			o.pool <- s
		}
	}()
	for range o.all {
		var s *ort.Session
		select {
		case s = <-o.pool:
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		}
		held = append(held, s)
		for _, sh := range shapes {
			if err := ctx.Err(); err != nil {
				return time.Since(start), err
			}
			in := make([]Input, sh.Batch)
			for i := range in {
				ids := make([]int64, sh.SeqLen)
				for j := range ids {
					ids[j] = o.padID
				}
				in[i] = Input{IDs: ids}
			}
			if _, err := o.run(s, in); err != nil {
				return time.Since(start), fmt.Errorf("warm-up %d×%d: %w", sh.Batch, sh.SeqLen, err)
			}
		}
	}
	return time.Since(start), nil
}

// Close releases every session.
func (o *ORT) Close() error {
	var errs []error
	for _, s := range o.all {
		errs = append(errs, s.Close())
	}
	o.all = nil
	return errors.Join(errs...)
}
