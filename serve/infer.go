package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/serve/backend"
	"github.com/kiln-ml/kiln/serve/batcher"
)

// Runner is what the inference core needs from a model runtime: the
// batcher's Run plus what the server reports and manages. serve/backend's
// ONNX Runtime pool implements it; tests use a fake one.
type Runner interface {
	batcher.Runner
	// Concurrency is how many batches can run at once.
	Concurrency() int
	// NumLabels is the width of a row of logits.
	NumLabels() int
	// Provider names where batches run ("CPUExecutionProvider", …);
	// FallbackReason says why --device auto ended up on the CPU.
	Provider() string
	FallbackReason() string
	Warmup(ctx context.Context, shapes []backend.Shape) (time.Duration, error)
	Close() error
}

// Infer is the transport-neutral inference core (text-embeddings-inference's
// infer.rs): tokenizer, batcher, runner and model description behind one
// Predict. The HTTP handlers, KServe and `kiln predict --backend onnx` all
// call Predict, so they validate, tokenise, truncate and score alike.
type Infer struct {
	cfg    Config
	model  *ModelInfo
	tok    Tokenizer
	run    Runner
	batch  *batcher.Batcher
	maxLen int
}

// NewInfer loads the model description and tokenizer from cfg.ModelDir and
// the runner (cfg.Runner, else ONNX Runtime sessions over model.onnx), and
// starts the batcher. obs receives the batcher's measurements (nil: none).
// Zero fields of cfg take Defaults' values.
func NewInfer(cfg Config, obs batcher.Observer) (*Infer, error) {
	cfg.fill()
	info, err := LoadModelInfo(cfg.ModelDir)
	if err != nil {
		return nil, err
	}
	if cfg.ModelName != "" {
		info.Name = cfg.ModelName
	}
	maxLen := info.MaxLength
	if cfg.MaxInputLength > 0 {
		if cfg.MaxInputLength > info.MaxLength {
			return nil, fmt.Errorf("--max-input-length %d exceeds the model's %d positions", cfg.MaxInputLength, info.MaxLength)
		}
		maxLen = cfg.MaxInputLength
	}
	if cfg.MaxInputsPerRequest > cfg.MaxQueue {
		return nil, fmt.Errorf("--max-client-batch-size %d exceeds --max-queue %d: such a request could never be queued", cfg.MaxInputsPerRequest, cfg.MaxQueue)
	}
	if cfg.MaxRequestTokens == 0 {
		cfg.MaxRequestTokens = cfg.MaxInputsPerRequest * maxLen
	}
	tok := cfg.Tokenizer
	if tok == nil {
		if tok, err = LoadTokenizer(cfg.ModelDir); err != nil {
			return nil, err
		}
	}
	run := cfg.Runner
	if run == nil {
		if run, err = openORT(cfg, info); err != nil {
			return nil, err
		}
	}
	if err := info.CheckLogits(run.NumLabels()); err != nil {
		run.Close()
		return nil, fmt.Errorf("%s: %w", cfg.ModelDir, err)
	}
	if cfg.MaxBatchTokens == 0 {
		cfg.MaxBatchTokens = GPUMaxBatchTokens
		if run.Provider() == ort.CPUProvider {
			cfg.MaxBatchTokens = CPUMaxBatchTokens
		}
	}
	bt, err := batcher.New(batcher.Config{
		MaxBatchSize: cfg.MaxBatchSize, MaxBatchTokens: cfg.MaxBatchTokens, MaxDelay: cfg.MaxBatchDelay, MaxPadding: cfg.MaxBatchPadding,
		Window: cfg.BatchWindow, QueueSize: cfg.MaxQueue, Workers: run.Concurrency(), Observer: obs,
	}, run)
	if err != nil {
		run.Close()
		return nil, err
	}
	return &Infer{cfg: cfg, model: info, tok: tok, run: run, batch: bt, maxLen: maxLen}, nil
}

// openORT opens the ONNX Runtime sessions over dir/model.onnx.
func openORT(cfg Config, info *ModelInfo) (Runner, error) {
	path := filepath.Join(cfg.ModelDir, modelio.ModelFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("model %s: %w (serve needs a directory written by `kiln export`)", cfg.ModelDir, err)
	}
	if err := ort.Init(cfg.ORTLibrary); err != nil {
		return nil, err
	}
	return backend.Open(backend.Options{
		ModelPath: path, Device: cfg.Device,
		IntraOpThreads: cfg.IntraOpThreads, InterOpThreads: cfg.InterOpThreads, Sessions: cfg.Sessions,
		PadID: int64(info.PadID), DisableGraphOptimization: cfg.DisableGraphOptimization,
	})
}

// Model describes the model.
func (inf *Infer) Model() *ModelInfo { return inf.model }

// MaxLength is the most tokens a sequence may have.
func (inf *Infer) MaxLength() int { return inf.maxLen }

// Runner is the runtime batches run on.
func (inf *Infer) Runner() Runner { return inf.run }

// Tokenizer is the model's tokenizer.
func (inf *Infer) Tokenizer() Tokenizer { return inf.tok }

// Flush stops waiting for batches to fill: queued work runs as soon as it
// can (a draining server calls it).
func (inf *Infer) Flush() { inf.batch.Flush() }

// Abort answers every request not yet answered with batcher.ErrClosed.
func (inf *Infer) Abort() { inf.batch.Abort() }

// Close stops the batcher once queued work has run (bounded by ctx), then
// closes the runner. If ctx ends first, batches may still be running: the
// runner is left open (closing sessions under a running batch would crash)
// and the error says so.
func (inf *Infer) Close(ctx context.Context) error {
	if err := inf.batch.Close(ctx); err != nil {
		return err
	}
	return inf.run.Close()
}

// PredictOptions says how to run one Predict.
type PredictOptions struct {
	// Truncate cuts over-long inputs to the model's length (pairs:
	// longest_first); without it they are refused.
	Truncate     bool
	TruncateLeft bool
	// RawScores keeps the logits in Scores instead of applying the score
	// function.
	RawScores bool
	// Gone, if not nil, reports whether the caller has left; the batcher
	// asks just before a batch starts and drops the inputs if so.
	Gone func() bool
}

// Output is what Predict returns, one row per input in input order.
type Output struct {
	Logits [][]float32
	// Scores are the score function applied to Logits (or the logits with
	// RawScores), in label order.
	Scores  [][]float64
	Tokens  int   // tokens run, special tokens included
	Lengths []int // tokens per sequence
	// Tokenization, Queue (the longest wait of one of its sequences for a
	// batch) and Inference (first batch start to last batch end).
	Tokenization, Queue, Inference time.Duration
}

// CheckLimits applies the per-request limits before any tokenising: 413
// for too many inputs (Validation, as TEI), too long a text or too many
// characters in all; 400 Empty for an empty text; 422 for invalid UTF-8.
func (inf *Infer) CheckLimits(in []TextInput) error {
	if len(in) > inf.cfg.MaxInputsPerRequest {
		return newErr(http.StatusRequestEntityTooLarge, ErrValidation, "batch size %d > maximum allowed batch size %d (--max-client-batch-size)", len(in), inf.cfg.MaxInputsPerRequest)
	}
	total := 0
	for i, x := range in {
		if x.Text == "" || (x.IsPair && x.Pair == "") {
			return newErr(http.StatusBadRequest, ErrEmpty, "input %d: text is empty", i)
		}
		n := utf8.RuneCountInString(x.Text) + utf8.RuneCountInString(x.Pair)
		if n > inf.cfg.MaxTextChars {
			return newErr(http.StatusRequestEntityTooLarge, ErrTooLarge, "input %d: %d characters, the limit is %d (--max-text-chars)", i, n, inf.cfg.MaxTextChars)
		}
		if total += n; total > inf.cfg.MaxRequestChars {
			return newErr(http.StatusRequestEntityTooLarge, ErrTooLarge, "inputs 0..%d: more than %d characters in one request (--max-request-chars)", i, inf.cfg.MaxRequestChars)
		}
		if !utf8.ValidString(x.Text) || !utf8.ValidString(x.Pair) {
			return newErr(http.StatusUnprocessableEntity, ErrValidation, "input %d: text is not valid UTF-8", i)
		}
	}
	return nil
}

// Predict validates, tokenises (in parallel), queues the sequences for
// batches and waits for their logits, then scores them. ctx's deadline
// bounds the whole request: work that cannot finish by then is refused at
// once (429) or dropped from the queue (504) rather than run for nobody.
func (inf *Infer) Predict(ctx context.Context, in []TextInput, opt PredictOptions) (*Output, error) {
	if err := inf.CheckLimits(in); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := &Output{}
	start := time.Now()
	encs, err := inf.encode(in, opt)
	out.Tokenization = time.Since(start)
	if err != nil {
		return out, err
	}
	seqs := make([]batcher.Input, len(encs))
	for i, e := range encs {
		if len(e.IDs) == 0 {
			return out, newErr(http.StatusBadRequest, ErrEmpty, "input %d has no tokens", i)
		}
		ids, types := make([]int64, len(e.IDs)), make([]int64, len(e.IDs))
		for j, id := range e.IDs {
			ids[j] = int64(id)
		}
		for j := range min(len(e.TypeIDs), len(types)) {
			types[j] = int64(e.TypeIDs[j])
		}
		seqs[i] = batcher.Input{IDs: ids, TypeIDs: types}
		out.Tokens += len(ids)
		out.Lengths = append(out.Lengths, len(ids))
	}
	if out.Tokens > inf.cfg.MaxRequestTokens {
		return out, newErr(http.StatusRequestEntityTooLarge, ErrTooLarge, "%d tokens in one request, the limit is %d (--max-request-tokens)", out.Tokens, inf.cfg.MaxRequestTokens)
	}
	res, err := inf.batch.Submit(ctx, seqs, opt.Gone)
	if err != nil {
		var oe *batcher.OverloadedError
		if errors.As(err, &oe) {
			return out, &apiError{Status: http.StatusTooManyRequests, Type: ErrOverloaded, RetryAfter: oe.RetryAfter(),
				Msg: fmt.Sprintf("model is overloaded: %v, retry later", oe)}
		}
		return out, err
	}
	out.Queue, out.Inference, out.Logits = res.Queue, res.Inference, res.Rows
	out.Scores = make([][]float64, len(res.Rows))
	for i, r := range res.Rows {
		out.Scores[i] = inf.model.Values(r, opt.RawScores)
	}
	return out, nil
}

// encode tokenises in and enforces the length limit. Without truncation
// the tokenizer still cuts at one token past the limit: that is enough to
// refuse an over-long input, and a huge one then costs its tokenisation
// time but not a whole encoding held in memory.
func (inf *Infer) encode(in []TextInput, opt PredictOptions) ([]Encoding, error) {
	eo := EncodeOptions{AddSpecialTokens: true, TruncateLeft: opt.TruncateLeft, MaxLength: inf.maxLen + 1}
	if opt.Truncate {
		eo.MaxLength = inf.maxLen
	}
	encs, err := inf.tok.Encode(in, eo)
	if err != nil {
		return nil, newErr(http.StatusUnprocessableEntity, ErrTokenizer, "tokenizer: %v", err)
	}
	for i, e := range encs {
		if len(e.IDs) > inf.maxLen {
			return nil, newErr(http.StatusUnprocessableEntity, ErrValidation,
				"input %d has more than %d tokens, the most the model takes (send \"truncate\": true to cut it)", i, inf.maxLen)
		}
	}
	return encs, nil
}
