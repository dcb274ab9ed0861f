// Package serve is `kiln serve`: a fiber HTTP server in front of a bounded
// queue, a dynamic batcher (serve/batcher) and ONNX Runtime sessions
// (serve/backend). Its /predict speaks text-embeddings-inference's wire
// format; it also answers /tokenize, /decode, probes, /info, Prometheus
// /metrics, the KServe v2 inference protocol and /openapi.json.
//
// The three parts are separable: the HTTP layer validates, tokenises (in
// the request's own goroutine, so in parallel and outside the batcher) and
// waits; the batcher owns the queue and forms batches; the backend runs
// them. Overload is answered early and honestly (429 with Retry-After), a
// request that waited too long gets 504, a failed batch fails only its own
// requests (424, as TEI), and SIGTERM drains what is in flight.
package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/modelio"
	"github.com/kiln-ml/kiln/serve/backend"
)

// Config configures a Server. Zero values take the defaults of `kiln serve`
// (see Defaults).
type Config struct {
	ModelDir  string
	ModelName string // default: the directory's base name

	// ONNX Runtime.
	ORTLibrary                     string // "" = ort.DefaultLibraryPath ($ONNXRUNTIME_LIB, make setup's copy)
	Device                         string // auto, cpu, cuda, cuda:N
	IntraOpThreads, InterOpThreads int
	Sessions                       int
	DisableGraphOptimization       bool
	Warmup                         bool

	// Batching.
	MaxBatchSize int
	// MaxBatchTokens caps padded tokens per batch; 0 = CPUMaxBatchTokens on
	// the CPU, GPUMaxBatchTokens elsewhere.
	MaxBatchTokens int
	MaxBatchDelay  time.Duration
	// MaxBatchPadding caps the fraction of a batch that is padding (0 = no
	// cap; `kiln serve` defaults to 0.1).
	MaxBatchPadding float64
	// BatchWindow is how many of the oldest queued sequences batches are
	// grouped by length from (batcher.Config.Window; 0 = the whole queue;
	// `kiln serve` defaults to 32).
	BatchWindow int
	MaxQueue    int // sequences

	// Limits.
	MaxInputLength        int // tokens; 0 = the model's
	MaxConcurrentRequests int
	MaxInputsPerRequest   int
	MaxTextChars          int // per text, in characters
	// MaxRequestChars caps the characters of all inputs of one request
	// together, checked before tokenising (413 past it).
	MaxRequestChars int
	// MaxRequestTokens caps the tokens of one request after tokenising and
	// truncation (413 past it); 0 = MaxInputsPerRequest × the input length.
	MaxRequestTokens int
	// MaxAdmittedBytes caps the request bodies (over 4 KiB each; smaller
	// ones always pass) being handled at once, from admission until their
	// response is written: what a request costs in memory grows with its
	// body, and a response a client does not read still holds it (429 past
	// it).
	MaxAdmittedBytes int
	BodyLimit        int // bytes
	RequestTimeout   time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	IdleTimeout      time.Duration
	// AutoTruncate truncates over-long inputs when the request does not
	// say; off (as in text-embeddings-inference) they get 422.
	AutoTruncate bool
	APIKey       string

	Version string
	Logger  *slog.Logger
	// Tokenizer overrides the tokenizer loaded from ModelDir/tokenizer.json.
	Tokenizer Tokenizer
	// Runner overrides the ONNX Runtime sessions over ModelDir/model.onnx
	// (tests run the server on a fake one).
	Runner Runner
}

// Padded tokens per batch when Config.MaxBatchTokens is 0, by where batches
// run. Measured with bench/serve -probe (RESULTS.md): on a CPU a batch of k
// similar-length sequences costs 0.62–0.73 × their single runs per sequence
// at 25 tokens, 0.8–0.98 × at 64–128 tokens, but 1.05–1.18 × at 250 tokens
// (k ≥ 4): the gain is the per-run overhead, which long sequences do not
// have, while big batches fall out of the caches. 512 tokens keeps the
// gainful shapes (18 × 25, 8 × 64, 4 × 128) and runs long sequences alone
// or in pairs. On a GPU bigger batches are the whole gain: TEI's default.
const (
	CPUMaxBatchTokens = 512
	GPUMaxBatchTokens = 16384
)

// Defaults returns the configuration `kiln serve` starts from.
func Defaults() Config {
	return Config{
		// Sessions 0: one on CUDA; on the CPU min(cores, 4) of cores/sessions
		// intra-op threads each (backend.Split). The batching policy is
		// chosen for CPUs by bench/serve (RESULTS.md): a batch closes as
		// soon as a session is free (no delay), takes the oldest of a
		// window of 32 queued sequences and those of similar length, and at
		// most 10% of its tokens are padding, because on a CPU a padded
		// token costs what a real one does.
		Device: "auto", Sessions: 0, Warmup: true,
		MaxBatchSize: 32, MaxBatchTokens: 0, MaxBatchPadding: 0.1, BatchWindow: 32, MaxQueue: 2048,
		MaxConcurrentRequests: 512, MaxInputsPerRequest: 64, MaxTextChars: 100_000, MaxRequestChars: 256 << 10,
		MaxAdmittedBytes: 1 << 20, BodyLimit: 2 << 20,
		RequestTimeout: 30 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second, Version: "dev",
	}
}

func (c *Config) fill() {
	d := Defaults()
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Device == "" {
		c.Device = d.Device
	}
	setInt(&c.Sessions, d.Sessions)
	setInt(&c.MaxBatchSize, d.MaxBatchSize)
	setInt(&c.MaxQueue, d.MaxQueue)
	setInt(&c.MaxConcurrentRequests, d.MaxConcurrentRequests)
	setInt(&c.MaxInputsPerRequest, d.MaxInputsPerRequest)
	setInt(&c.MaxTextChars, d.MaxTextChars)
	setInt(&c.MaxRequestChars, d.MaxRequestChars)
	setInt(&c.MaxAdmittedBytes, d.MaxAdmittedBytes)
	setInt(&c.BodyLimit, d.BodyLimit)
	setDur(&c.RequestTimeout, d.RequestTimeout)
	setDur(&c.ReadTimeout, d.ReadTimeout)
	setDur(&c.WriteTimeout, d.WriteTimeout)
	setDur(&c.IdleTimeout, d.IdleTimeout)
	if c.Version == "" {
		c.Version = d.Version
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is a loaded model behind the HTTP API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	core     *Infer
	model    *ModelInfo
	dtype    string // the graph's weights: float32, float16 (/info's model_dtype)
	tok      Tokenizer
	backend  Runner
	app      *fiber.App
	m        *metrics
	maxLen   int
	slots    chan struct{} // concurrency cap
	admitted atomic.Int64  // body bytes of admitted requests over smallRequest
	ready    atomic.Bool
	draining atomic.Bool
	idPrefix string
	idSeq    atomic.Uint64
}

// New loads the model, its tokenizer and the ONNX Runtime sessions (the
// inference core, see NewInfer). It does not listen or warm up: Serve does
// both.
func New(cfg Config) (*Server, error) {
	cfg.fill()
	m := newMetrics()
	core, err := NewInfer(cfg, m)
	if err != nil {
		return nil, err
	}
	m.addTEI(core.MaxLength())
	info, be := core.Model(), core.Runner()
	dtype := "float32" // what a Config.Runner (tests' fake) computes in
	if cfg.Runner == nil {
		if dtype, err = onnxDType(filepath.Join(cfg.ModelDir, modelio.ModelFile)); err != nil {
			core.Close(context.Background())
			return nil, err
		}
	}
	if r := be.FallbackReason(); r != "" {
		cfg.Logger.Warn("--device auto: CUDA is not usable, running on the CPU", "reason", r)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	s := &Server{
		cfg: core.cfg, log: cfg.Logger, core: core, model: info, dtype: dtype, tok: core.Tokenizer(), backend: be, m: m, maxLen: core.MaxLength(),
		slots: make(chan struct{}, cfg.MaxConcurrentRequests), idPrefix: hex.EncodeToString(rnd[:]),
	}
	s.app = s.routes()
	cfg.Logger.Info("model loaded", "model", info.Name, "dir", cfg.ModelDir, "type", info.ModelType,
		"labels", len(info.Labels), "function", info.Function, "max_length", s.maxLen,
		"provider", be.Provider(), "sessions", be.Concurrency(), "onnxruntime", ort.Version())
	return s, nil
}

// Model describes the served model.
func (s *Server) Model() *ModelInfo { return s.model }

// App exposes the fiber app (tests drive it with app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Ready reports whether the model is loaded, warmed and not draining.
func (s *Server) Ready() bool { return s.ready.Load() && !s.draining.Load() }

// WarmupShapes are the batch shapes run before /ready turns true: a single
// sequence and a full batch, at a short, a medium and the longest length,
// within the token budget.
func (s *Server) WarmupShapes() []backend.Shape {
	var out []backend.Shape
	seen := map[backend.Shape]bool{}
	for _, l := range []int{16, 128, s.maxLen} {
		l = min(l, s.maxLen)
		for _, b := range []int{1, s.cfg.MaxBatchSize} {
			b = max(1, min(b, s.cfg.MaxBatchTokens/l))
			sh := backend.Shape{Batch: b, SeqLen: l}
			if !seen[sh] {
				seen[sh] = true
				out = append(out, sh)
			}
		}
	}
	return out
}

// Warmup runs the warm-up shapes (if configured) and marks the server ready.
func (s *Server) Warmup(ctx context.Context) error {
	if s.cfg.Warmup {
		took, err := s.backend.Warmup(ctx, s.WarmupShapes())
		if err != nil {
			return err
		}
		s.log.Info("warm-up done", "shapes", len(s.WarmupShapes()), "took", took.Round(time.Millisecond))
	}
	s.ready.Store(true)
	return nil
}

// Serve listens on ln until ctx ends, warming up in the background (/health
// answers at once, /ready once warm). When ctx ends it stops accepting,
// drains in-flight requests for at most drain, and closes the sessions. A
// listener that fails, before or after warm-up, ends Serve with its error.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(lingering(ln)) }()
	warmErr := make(chan error, 1)
	go func() { warmErr <- s.Warmup(ctx) }()
	s.log.Info("listening", "addr", ln.Addr().String())
	for {
		select {
		case err := <-errc:
			s.core.Abort()
			s.close(context.Background())
			return fmt.Errorf("serve: %w", err)
		case err := <-warmErr:
			if err != nil && ctx.Err() == nil {
				_ = s.app.Shutdown()
				s.close(context.Background())
				return fmt.Errorf("serve: %w", err)
			}
			warmErr = nil // warm: keep watching the listener and ctx
		case <-ctx.Done():
			return s.Shutdown(drain)
		}
	}
}

// Shutdown stops accepting connections and lets in-flight requests finish
// within drain. Requests that cannot finish by then (queued or in a batch
// still running) are answered 503 with Retry-After shortly before the time
// is up, so every client gets a response; then the batcher stops and the
// sessions close. Running out of drain time is not an error.
func (s *Server) Shutdown(drain time.Duration) error {
	s.draining.Store(true)
	s.log.Info("shutting down: draining in-flight requests", "max_wait", drain)
	start := time.Now()
	s.core.Flush()
	// Leave a little of the drain time for writing the 503s.
	grace := min(drain/4, 2*time.Second)
	abort := time.AfterFunc(drain-grace, func() {
		if n := s.core.batch.QueueDepth(); n > 0 || len(s.slots) > 0 {
			s.log.Warn("drain time is running out: answering unfinished requests with 503", "queued_sequences", n, "in_flight", len(s.slots))
		}
		s.core.Abort()
	})
	defer abort.Stop()
	if err := s.app.ShutdownWithTimeout(drain); err != nil {
		// Connections still open now (fasthttp counts a connection that
		// never sent a request as busy for 5s) are cut.
		s.log.Warn("drain time is up: closing the remaining connections", "error", err)
	}
	s.core.Abort()
	ctx, cancel := context.WithTimeout(context.Background(), max(drain-time.Since(start), 100*time.Millisecond))
	defer cancel()
	if err := s.close(ctx); err != nil {
		// A batch still runs on ONNX Runtime (it cannot be interrupted); its
		// requests were answered and the process may exit under it.
		s.log.Warn("a batch was still running at the end of the drain", "error", err)
	}
	s.log.Info("shut down", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (s *Server) close(ctx context.Context) error { return s.core.Close(ctx) }

type ctxKey int

const (
	timingKey ctxKey = iota
	admissionKey
)

// timing collects the phases of one request for the x-*-time headers.
type timing struct {
	start                          time.Time
	tokenization, queue, inference time.Duration
}

// earlyError answers errors fasthttp hits before any handler runs (a body
// over the limit, an unparsable request line): it still sets the request
// id and timing headers and counts the request.
func (s *Server) earlyError(c *fiber.Ctx, err error) error {
	ae := classify(err)
	if len(c.Response().Header.Peek(fiber.HeaderXRequestID)) == 0 {
		c.Set(fiber.HeaderXRequestID, s.idPrefix+"-"+strconv.FormatUint(s.idSeq.Add(1), 16))
		for _, h := range []string{"x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time"} {
			c.Set(h, ms(0))
		}
		s.m.observeRequest("unmatched", ae.Status, 0)
	}
	return writeError(c, ae)
}

// observe gives each request an id, writes errors as JSON, sets the timing
// headers and records metrics and a log line.
func (s *Server) observe(c *fiber.Ctx) error {
	t := &timing{start: time.Now()}
	c.Locals(timingKey, t)
	id := c.Get(fiber.HeaderXRequestID)
	if !validRequestID(id) {
		id = s.idPrefix + "-" + strconv.FormatUint(s.idSeq.Add(1), 16)
	} else {
		id = strings.Clone(id)
	}
	c.Set(fiber.HeaderXRequestID, id)
	err := c.Next()
	var ae *apiError
	if err != nil {
		ae = classify(err)
		if werr := writeError(c, ae); werr != nil {
			if a, ok := c.Locals(admissionKey).(*admission); ok {
				a.done()
			}
			return werr
		}
	}
	total := time.Since(t.start)
	c.Set("x-total-time", ms(total))
	c.Set("x-tokenization-time", ms(t.tokenization))
	c.Set("x-queue-time", ms(t.queue))
	c.Set("x-inference-time", ms(t.inference))
	status := c.Response().StatusCode()
	route := c.Route().Path
	if status == http.StatusNotFound && ae != nil && ae.Type == ErrNotFound && route == "/" {
		route = "unmatched"
	}
	s.m.observeRequest(route, status, total)
	s.m.observeTEI(c, route, status, ae, t, total)
	if a, ok := c.Locals(admissionKey).(*admission); ok {
		releaseOnWrite(c, a)
	}
	// Per-request lines are debug; failures of the server's own making are
	// errors. 503 (warming up, draining) and 504 (overload) are expected
	// states, visible in the metrics, and would flood the log.
	level := slog.LevelDebug
	if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
		level = slog.LevelError
	}
	if s.log.Enabled(context.Background(), level) {
		attrs := []slog.Attr{
			slog.String("request_id", id), slog.String("method", c.Method()), slog.String("route", route),
			slog.Int("status", status), slog.Duration("took", total),
		}
		if ae != nil {
			attrs = append(attrs, slog.String("error", ae.Msg), slog.String("error_type", ae.Type))
		}
		s.log.LogAttrs(context.Background(), level, "request", attrs...)
	}
	return nil
}

// ms formats a duration as milliseconds, as TEI's timing headers do (with
// microsecond precision, because batching happens at that scale here).
func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// smallRequest is the body size under which a request is never refused for
// the admitted-bytes budget: it costs little, and normal traffic keeps
// flowing while big requests wait their turn.
const smallRequest = 4 << 10

// admit takes a concurrency slot and, for a body over smallRequest, its
// share of MaxAdmittedBytes, or refuses with 429 (503 while draining). Both
// are held until the response has been written (see observe), not only
// until the handler returns: a response a client does not read still holds
// memory.
func (s *Server) admit(c *fiber.Ctx) error {
	if s.draining.Load() {
		return &apiError{Status: http.StatusServiceUnavailable, Type: ErrUnhealthy, Msg: "server is shutting down", RetryAfter: 1}
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.m.rejected.WithLabelValues("concurrency").Inc()
		return &apiError{Status: http.StatusTooManyRequests, Type: ErrOverloaded,
			Msg: fmt.Sprintf("model is overloaded: %d requests in flight, retry later", cap(s.slots)), RetryAfter: 1}
	}
	var weight int64
	if n := int64(len(c.Body())); n > smallRequest {
		weight = min(n, int64(s.cfg.MaxAdmittedBytes))
		if s.admitted.Add(weight) > int64(s.cfg.MaxAdmittedBytes) {
			s.admitted.Add(-weight)
			<-s.slots
			s.m.rejected.WithLabelValues("admitted_bytes").Inc()
			return &apiError{Status: http.StatusTooManyRequests, Type: ErrOverloaded, RetryAfter: 1,
				Msg: fmt.Sprintf("model is overloaded: large requests in flight hold the %d-byte budget (--max-admitted-bytes), retry later", s.cfg.MaxAdmittedBytes)}
		}
	}
	s.m.inflight.Inc()
	t := &admission{release: func() {
		s.admitted.Add(-weight)
		<-s.slots
		s.m.inflight.Dec()
	}}
	c.Locals(admissionKey, t)
	return nil
}

// admission is what an admitted request holds until its response is
// written.
type admission struct {
	once    sync.Once
	release func()
}

func (a *admission) done() { a.once.Do(a.release) }

// releaseOnWrite hands the admission to the response: the body becomes a
// stream fasthttp closes once it has written it (or failed to, or dropped
// the connection), and closing releases the admission.
func releaseOnWrite(c *fiber.Ctx, a *admission) {
	body := bytes.Clone(c.Response().Body())
	c.Response().SetBodyStream(&releasingBody{Reader: bytes.NewReader(body), a: a}, len(body))
}

type releasingBody struct {
	*bytes.Reader
	a *admission
}

func (r *releasingBody) Close() error {
	r.a.done()
	return nil
}

func (s *Server) health(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *Server) readyHandler(c *fiber.Ctx) error {
	if !s.Ready() {
		msg := "model is warming up"
		if s.draining.Load() {
			msg = "server is shutting down"
		}
		return newErr(http.StatusServiceUnavailable, ErrUnhealthy, "%s", msg)
	}
	return c.JSON(fiber.Map{"status": "ready"})
}
