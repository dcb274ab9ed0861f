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
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/serve/backend"
	"github.com/kiln-ml/kiln/serve/batcher"
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
	MaxBatchSize   int
	MaxBatchTokens int
	MaxBatchDelay  time.Duration
	// MaxBatchPadding caps the fraction of a batch that is padding (0 = no
	// cap; `kiln serve` defaults to 0.3).
	MaxBatchPadding float64
	MaxQueue        int // sequences

	// Limits.
	MaxInputLength        int // tokens; 0 = the model's
	MaxConcurrentRequests int
	MaxInputsPerRequest   int
	MaxTextChars          int // per text, in characters
	BodyLimit             int // bytes
	RequestTimeout        time.Duration
	ReadTimeout           time.Duration
	WriteTimeout          time.Duration
	IdleTimeout           time.Duration
	// AutoTruncate truncates over-long inputs when the request does not
	// say; off (as in text-embeddings-inference) they get 422.
	AutoTruncate bool
	APIKey       string

	Version string
	Logger  *slog.Logger
	// Tokenizer overrides the tokenizer loaded from ModelDir/tokenizer.json.
	Tokenizer Tokenizer
}

// Defaults returns the configuration `kiln serve` starts from.
func Defaults() Config {
	return Config{
		Device: "auto", Sessions: 1, Warmup: true,
		MaxBatchSize: 32, MaxBatchTokens: 16384, MaxBatchPadding: 0.3, MaxQueue: 2048,
		MaxConcurrentRequests: 512, MaxInputsPerRequest: 64, MaxTextChars: 100_000, BodyLimit: 2 << 20,
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
	setInt(&c.MaxBatchTokens, d.MaxBatchTokens)
	setInt(&c.MaxQueue, d.MaxQueue)
	setInt(&c.MaxConcurrentRequests, d.MaxConcurrentRequests)
	setInt(&c.MaxInputsPerRequest, d.MaxInputsPerRequest)
	setInt(&c.MaxTextChars, d.MaxTextChars)
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
	model    *ModelInfo
	dtype    string // the graph's weights: float32, float16 (/info's model_dtype)
	tok      Tokenizer
	backend  *backend.ORT
	batch    *batcher.Batcher
	app      *fiber.App
	m        *metrics
	maxLen   int
	slots    chan struct{} // concurrency cap
	ready    atomic.Bool
	draining atomic.Bool
	idPrefix string
	idSeq    atomic.Uint64
}

// New loads the model, its tokenizer and the ONNX Runtime sessions. It does
// not listen or warm up: Serve does both.
func New(cfg Config) (*Server, error) {
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
	tok := cfg.Tokenizer
	if tok == nil {
		if tok, err = LoadTokenizer(cfg.ModelDir); err != nil {
			return nil, err
		}
	}
	if err := ort.Init(cfg.ORTLibrary); err != nil {
		return nil, err
	}
	be, err := backend.Open(backend.Options{
		ModelPath: cfg.ModelDir + "/" + ModelFile, Device: cfg.Device,
		IntraOpThreads: cfg.IntraOpThreads, InterOpThreads: cfg.InterOpThreads, Sessions: cfg.Sessions,
		PadID: int64(info.PadID), DisableGraphOptimization: cfg.DisableGraphOptimization,
	})
	if err != nil {
		return nil, err
	}
	if be.NumLabels() != len(info.Labels) {
		be.Close()
		return nil, fmt.Errorf("%s: the graph outputs %d logits but config.json names %d labels", cfg.ModelDir, be.NumLabels(), len(info.Labels))
	}
	dtype, err := onnxDType(cfg.ModelDir + "/" + ModelFile)
	if err != nil {
		be.Close()
		return nil, err
	}
	if r := be.FallbackReason(); r != "" {
		cfg.Logger.Warn("--device auto: CUDA is not usable, running on the CPU", "reason", r)
	}
	m := newMetrics(maxLen)
	bt, err := batcher.New(batcher.Config{
		MaxBatchSize: cfg.MaxBatchSize, MaxBatchTokens: cfg.MaxBatchTokens, MaxDelay: cfg.MaxBatchDelay, MaxPadding: cfg.MaxBatchPadding,
		QueueSize: cfg.MaxQueue, Workers: be.Concurrency(), Observer: m,
	}, be)
	if err != nil {
		be.Close()
		return nil, err
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	s := &Server{
		cfg: cfg, log: cfg.Logger, model: info, dtype: dtype, tok: tok, backend: be, batch: bt, m: m, maxLen: maxLen,
		slots: make(chan struct{}, cfg.MaxConcurrentRequests), idPrefix: hex.EncodeToString(rnd[:]),
	}
	s.app = s.routes()
	cfg.Logger.Info("model loaded", "model", info.Name, "dir", cfg.ModelDir, "type", info.ModelType,
		"labels", len(info.Labels), "function", info.Function, "max_length", maxLen,
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
// drains in-flight requests for at most drain, and closes the sessions.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(lingering(ln)) }()
	warmErr := make(chan error, 1)
	go func() { warmErr <- s.Warmup(ctx) }()
	s.log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		s.close(context.Background())
		return fmt.Errorf("serve: %w", err)
	case err := <-warmErr:
		if err != nil && ctx.Err() == nil {
			_ = s.app.Shutdown()
			s.close(context.Background())
			return fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
	}
	<-ctx.Done()
	return s.Shutdown(drain)
}

// Shutdown stops accepting connections, lets in-flight requests finish
// (bounded by drain), then stops the batcher and closes the sessions.
func (s *Server) Shutdown(drain time.Duration) error {
	s.draining.Store(true)
	s.log.Info("shutting down: draining in-flight requests", "max_wait", drain)
	start := time.Now()
	var errs []error
	if err := s.app.ShutdownWithTimeout(drain); err != nil {
		// Bounded drain: connections still open now (fasthttp counts a
		// connection that never sent a request as busy for 5s) are cut.
		s.log.Warn("drain time is up: closing the remaining connections", "error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(drain-time.Since(start), time.Second))
	defer cancel()
	errs = append(errs, s.close(ctx))
	s.log.Info("shut down", "took", time.Since(start).Round(time.Millisecond))
	return errors.Join(errs...)
}

func (s *Server) close(ctx context.Context) error {
	err := s.batch.Close(ctx)
	return errors.Join(err, s.backend.Close())
}

type ctxKey int

const timingKey ctxKey = iota

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

// admit takes a concurrency slot or refuses with 429.
func (s *Server) admit() (func(), error) {
	if s.draining.Load() {
		return nil, &apiError{Status: http.StatusServiceUnavailable, Type: ErrUnhealthy, Msg: "server is shutting down", RetryAfter: 1}
	}
	select {
	case s.slots <- struct{}{}:
		s.m.inflight.Inc()
		return func() {
			<-s.slots
			s.m.inflight.Dec()
		}, nil
	default:
		s.m.rejected.WithLabelValues("concurrency").Inc()
		return nil, &apiError{Status: http.StatusTooManyRequests, Type: ErrOverloaded,
			Msg: fmt.Sprintf("model is overloaded: %d requests in flight, retry later", cap(s.slots)), RetryAfter: 1}
	}
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
