package serve

import (
	"strconv"
	"time"

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
}

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

func (m *metrics) observeRequest(route string, status int, d time.Duration) {
	s := strconv.Itoa(status)
	m.requests.WithLabelValues(route, s).Inc()
	m.latency.WithLabelValues(route, s).Observe(d.Seconds())
}

// The batcher.Observer methods.

func (m *metrics) QueueDepth(n int) { m.queueDepth.Set(float64(n)) }

func (m *metrics) BatchStarted(size, tokens int, waits []time.Duration) {
	m.batchSize.Observe(float64(size))
	m.batchTokens.Observe(float64(tokens))
	for _, w := range waits {
		m.queueWait.Observe(w.Seconds())
	}
}

func (m *metrics) BatchDone(size int, took time.Duration, err error) {
	m.inference.Observe(took.Seconds())
	if err != nil {
		m.batchErrors.Inc()
		return
	}
	m.sequences.Add(float64(size))
}

func (m *metrics) Dropped(n int, reason string) { m.dropped.WithLabelValues(reason).Add(float64(n)) }
