package serve

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, on a registry of its own so
// that several servers (tests) can live in one process.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	inflight     prometheus.Gauge
	queueDepth   prometheus.Gauge
	queueWait    prometheus.Histogram
	batchSize    prometheus.Histogram
	batchTokens  prometheus.Histogram
	inference    prometheus.Histogram
	tokenization prometheus.Histogram
	batchErrors  prometheus.Counter
	dropped      *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	sequences    prometheus.Counter
	tei          teiMetrics
}

// teiMetrics are text-embeddings-inference's series, under its names,
// labels and units (seconds; its buckets), so that a Grafana board built
// for TEI reads kiln unchanged. TEI's router declares them in
// router/src/prometheus.rs (buckets), core/src/queue.rs and infer.rs and
// router/src/http/server.rs (names and labels). Counters carry no _total
// suffix there, and none here.
type teiMetrics struct {
	requestCount, requestSuccess *prometheus.CounterVec // method: single|batch
	requestFailure               *prometheus.CounterVec // err: validation|batch_size|tokenization|overloaded|inference|dropped|…
	requestDuration              prometheus.Histogram   // per successful request
	requestTokenization          prometheus.Histogram
	requestQueue                 prometheus.Histogram
	requestInference             prometheus.Histogram
	requestInputLength           prometheus.Histogram // tokens per sequence
	predictCount, predictSuccess prometheus.Counter   // sequences
	predictQueue                 prometheus.Histogram // per sequence
	predictInference             prometheus.Histogram // per sequence
	batchNextSize                prometheus.Histogram // sequences per batch
	batchNextTokens              prometheus.Histogram // padded tokens per batch
	queueSize                    prometheus.Gauge     // queued sequences
}

// teiDurationBuckets are TEI's for every *duration metric: 35 steps of a
// geometric sequence from 1.5e-5 s by a factor of 1.5.
func teiDurationBuckets() []float64 {
	out := make([]float64, 35)
	v := 0.00001
	for i := range out {
		v *= 1.5
		out[i] = v
	}
	return out
}

// pow2Buckets are 1, 2, 4, … up to 2^(n-1), and at most limit when limit > 0.
func pow2Buckets(n int, limit int) []float64 {
	var out []float64
	for i := range n {
		if v := 1 << i; limit <= 0 || v <= limit {
			out = append(out, float64(v))
		}
	}
	return out
}

func newTEIMetrics(maxInputLength int) teiMetrics {
	d := teiDurationBuckets()
	hist := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	return teiMetrics{
		requestCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "te_request_count", Help: "TEI: inference requests, by single or batch input."}, []string{"method"}),
		requestSuccess: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "te_request_success", Help: "TEI: inference requests answered 200."}, []string{"method"}),
		requestFailure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "te_request_failure", Help: "TEI: failed inference requests, by cause."}, []string{"err"}),
		requestDuration:     hist("te_request_duration", "TEI: seconds per successful inference request.", d),
		requestTokenization: hist("te_request_tokenization_duration", "TEI: tokenization seconds per successful request.", d),
		requestQueue:        hist("te_request_queue_duration", "TEI: queue seconds per successful request (its longest-waiting sequence).", d),
		requestInference:    hist("te_request_inference_duration", "TEI: inference seconds per successful request.", d),
		requestInputLength:  hist("te_request_input_length", "TEI: tokens per sequence.", pow2Buckets(20, maxInputLength)),
		predictCount:        counter("te_predict_count", "TEI: sequences that entered a batch."),
		predictSuccess:      counter("te_predict_success", "TEI: sequences whose batch ran."),
		predictQueue:        hist("te_predict_queue_duration", "TEI: queue seconds per sequence.", d),
		predictInference:    hist("te_predict_inference_duration", "TEI: inference seconds per sequence (its batch's run).", d),
		batchNextSize:       hist("te_batch_next_size", "TEI: sequences per batch.", pow2Buckets(13, 0)),
		batchNextTokens:     hist("te_batch_next_tokens", "TEI: tokens per batch (kiln: padded, longest × sequences).", pow2Buckets(21, 0)),
		queueSize:           prometheus.NewGauge(prometheus.GaugeOpts{Name: "te_queue_size", Help: "TEI: sequences waiting for a batch."}),
	}
}

func (t teiMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{t.requestCount, t.requestSuccess, t.requestFailure, t.requestDuration,
		t.requestTokenization, t.requestQueue, t.requestInference, t.requestInputLength, t.predictCount,
		t.predictSuccess, t.predictQueue, t.predictInference, t.batchNextSize, t.batchNextTokens, t.queueSize}
}

// newMetrics builds kiln's own metrics; addTEI adds TEI's once the model's
// maximum input length (their input-length buckets) is known.
func newMetrics() *metrics {
	latencyBuckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kiln_http_request_duration_seconds", Help: "HTTP request latency by route and status code.",
			Buckets: latencyBuckets,
		}, []string{"route", "status"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kiln_http_requests_in_flight", Help: "Inference requests being handled now.",
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kiln_queue_depth", Help: "Sequences waiting for a batch.",
		}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kiln_queue_wait_seconds", Help: "Time a sequence waited in the queue before its batch started.",
			Buckets: latencyBuckets,
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kiln_batch_size", Help: "Sequences per batch.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		batchTokens: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kiln_batch_tokens", Help: "Padded tokens per batch (longest sequence × sequences).",
			Buckets: prometheus.ExponentialBuckets(16, 2, 12),
		}),
		inference: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kiln_inference_duration_seconds", Help: "ONNX Runtime time per batch.",
			Buckets: latencyBuckets,
		}),
		tokenization: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kiln_tokenization_duration_seconds", Help: "Tokenisation time per request.",
			Buckets: latencyBuckets,
		}),
		batchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kiln_batch_errors_total", Help: "Batches whose inference failed.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_dropped_sequences_total", Help: "Queued sequences dropped before their batch started.",
		}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_rejected_requests_total", Help: "Requests refused with 429 (concurrency cap or full queue).",
		}, []string{"reason"}),
		sequences: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kiln_sequences_total", Help: "Sequences that ran through the model.",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.inflight, m.queueDepth, m.queueWait, m.batchSize,
		m.batchTokens, m.inference, m.tokenization, m.batchErrors, m.dropped, m.rejected, m.sequences,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// addTEI registers TEI's metric names, with input-length buckets up to
// maxInputLength. It runs before the server takes traffic.
func (m *metrics) addTEI(maxInputLength int) {
	m.tei = newTEIMetrics(maxInputLength)
	m.reg.MustRegister(m.tei.collectors()...)
}

func (m *metrics) observeRequest(route string, status int, d time.Duration) {
	s := strconv.Itoa(status)
	m.requests.WithLabelValues(route, s).Inc()
	m.latency.WithLabelValues(route, s).Observe(d.Seconds())
}

// The batcher.Observer methods.

func (m *metrics) QueueDepth(n int) {
	m.queueDepth.Set(float64(n))
	m.tei.queueSize.Set(float64(n))
}

func (m *metrics) BatchStarted(size, tokens int, waits []time.Duration) {
	m.batchSize.Observe(float64(size))
	m.batchTokens.Observe(float64(tokens))
	m.tei.batchNextSize.Observe(float64(size))
	m.tei.batchNextTokens.Observe(float64(tokens))
	m.tei.predictCount.Add(float64(size))
	for _, w := range waits {
		m.queueWait.Observe(w.Seconds())
		m.tei.predictQueue.Observe(w.Seconds())
	}
}

func (m *metrics) BatchDone(size int, took time.Duration, err error) {
	m.inference.Observe(took.Seconds())
	if err != nil {
		m.batchErrors.Inc()
		return
	}
	m.sequences.Add(float64(size))
	m.tei.predictSuccess.Add(float64(size))
	for range size {
		m.tei.predictInference.Observe(took.Seconds())
	}
}

// observeInputLengths records tokens per sequence (te_request_input_length).
func (m *metrics) observeInputLengths(lengths []int) {
	for _, n := range lengths {
		m.tei.requestInputLength.Observe(float64(n))
	}
}

// teiRoutes are the routes TEI counts in te_request_*: its inference
// endpoints (tokenize, decode and probes are not counted).
var teiRoutes = map[string]bool{
	"/predict": true, "/": true, "/invocations": true,
	"/v2/models/:name/infer": true, "/v2/models/:name/versions/:version/infer": true,
}

type ctxBatchedKey struct{}

// markBatched records, for the TEI metrics, that the request's input was a
// batch (te_request_count{method="batch"}).
func markBatched(c *fiber.Ctx, batched bool) { c.Locals(ctxBatchedKey{}, batched) }

// observeTEI records one finished request in TEI's request series: every
// request that reached an inference route's handler counts, successes
// record their phase times, failures their cause.
func (m *metrics) observeTEI(c *fiber.Ctx, route string, status int, ae *apiError, t *timing, total time.Duration) {
	if !teiRoutes[route] || c.Method() != fiber.MethodPost {
		return
	}
	switch status {
	case http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed:
		return // refused before TEI's handler would run
	}
	method := "single"
	if b, _ := c.Locals(ctxBatchedKey{}).(bool); b {
		method = "batch"
	}
	m.tei.requestCount.WithLabelValues(method).Inc()
	if status == http.StatusOK {
		m.tei.requestSuccess.WithLabelValues(method).Inc()
		m.tei.requestDuration.Observe(total.Seconds())
		m.tei.requestTokenization.Observe(t.tokenization.Seconds())
		m.tei.requestQueue.Observe(t.queue.Seconds())
		m.tei.requestInference.Observe(t.inference.Seconds())
		return
	}
	m.tei.requestFailure.WithLabelValues(teiFailure(status, ae)).Inc()
}

// teiFailure is TEI's te_request_failure{err} for an error; kiln's own
// cases (timeout, unhealthy) keep kiln's names.
func teiFailure(status int, ae *apiError) string {
	typ := ""
	if ae != nil {
		typ = ae.Type
	}
	switch {
	case typ == ErrValidation && status == http.StatusRequestEntityTooLarge:
		return "batch_size"
	case typ == ErrTokenizer:
		return "tokenization"
	case typ == ErrOverloaded:
		return "overloaded"
	case typ == ErrBackend:
		return "inference"
	case status == 499:
		return "dropped"
	case typ == ErrTimeout:
		return "timeout"
	case typ == ErrUnhealthy:
		return "unhealthy"
	case status >= 500:
		return "internal"
	}
	return "validation"
}

func (m *metrics) Dropped(n int, reason string) { m.dropped.WithLabelValues(reason).Add(float64(n)) }
