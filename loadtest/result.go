package loadtest

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/kiln-ml/kiln/internal/atomicfile"
)

// ResultKind and ResultVersion identify kiln loadtest JSON files.
const (
	ResultKind    = "kiln-loadtest"
	ResultVersion = 1
)

// Histogram names in Result.Histograms. Values are microseconds.
const (
	HistLatency     = "latency"
	HistServiceTime = "service_time"
	HistSendLag     = "send_lag"
	HistServerTotal = "server_total"
	HistQueue       = "queue"
	HistTokenize    = "tokenization"
	HistInference   = "inference"
)

// Stats summarises one latency histogram, in milliseconds.
type Stats struct {
	Count  int64   `json:"count"`
	Min    float64 `json:"min_ms"`
	Mean   float64 `json:"mean_ms"`
	StdDev float64 `json:"stddev_ms"`
	P50    float64 `json:"p50_ms"`
	P90    float64 `json:"p90_ms"`
	P95    float64 `json:"p95_ms"`
	P99    float64 `json:"p99_ms"`
	P999   float64 `json:"p99_9_ms"`
	Max    float64 `json:"max_ms"`
}

// Percentile returns the named percentile (50, 90, 95, 99, 99.9, 100).
func (s Stats) Percentile(p float64) (float64, bool) {
	switch p {
	case 50:
		return s.P50, true
	case 90:
		return s.P90, true
	case 95:
		return s.P95, true
	case 99:
		return s.P99, true
	case 99.9:
		return s.P999, true
	case 100:
		return s.Max, true
	}
	return 0, false
}

// statsOf summarises a histogram of microseconds.
func statsOf(h *hdr.Histogram) Stats {
	if h == nil || h.TotalCount() == 0 {
		return Stats{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Stats{
		Count:  h.TotalCount(),
		Min:    ms(h.Min()),
		Mean:   h.Mean() / 1000,
		StdDev: h.StdDev() / 1000,
		P50:    ms(h.ValueAtQuantile(50)),
		P90:    ms(h.ValueAtQuantile(90)),
		P95:    ms(h.ValueAtQuantile(95)),
		P99:    ms(h.ValueAtQuantile(99)),
		P999:   ms(h.ValueAtQuantile(99.9)),
		Max:    ms(h.Max()),
	}
}

// Interval is one slice of the latency-over-time series. Latencies are of
// the requests that completed within the slice.
type Interval struct {
	T          float64 `json:"t_s"` // start of the slice, seconds since the run began (warm-up included)
	Warmup     bool    `json:"warmup,omitempty"`
	Requested  float64 `json:"requested_rate,omitempty"`
	Completed  int64   `json:"completed"`
	Errors     int64   `json:"errors"`
	Throughput float64 `json:"throughput"` // completed per second
	P50        float64 `json:"p50_ms"`
	P90        float64 `json:"p90_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
	SendLagMax float64 `json:"send_lag_max_ms,omitempty"`
	InFlight   int64   `json:"in_flight"`
}

// Breakdown splits the requests around one latency percentile into the
// parts the server reported in its timing headers. The parts are means
// over the requests whose latency fell in the same narrow band (±2.5%) as
// the percentile, so they add up to that percentile's latency with
// ClientNetwork (latency − server total: network, client and send lag).
type Breakdown struct {
	Percentile    float64 `json:"percentile"`
	Latency       float64 `json:"latency_ms"`
	Samples       int64   `json:"samples"`
	ServerTotal   float64 `json:"server_total_ms"`
	Queue         float64 `json:"queue_ms"`
	Tokenization  float64 `json:"tokenization_ms"`
	Inference     float64 `json:"inference_ms"`
	ClientNetwork float64 `json:"client_network_ms"`
}

// ServerTiming is what the server's timing headers said.
type ServerTiming struct {
	Requests  int64            `json:"requests"` // successful requests that carried at least one header
	Parts     map[string]Stats `json:"parts"`
	Breakdown []Breakdown      `json:"breakdown"`
}

// Saturation reports whether the generator kept the requested schedule.
type Saturation struct {
	Saturated       bool     `json:"saturated"`
	Reasons         []string `json:"reasons,omitempty"`
	InFlightCapHits int64    `json:"in_flight_cap_hits"`
	InFlightCap     int      `json:"in_flight_cap"`
	MaxInFlight     int64    `json:"max_in_flight"`
	// Workers is how many connections an open-loop run opened: the pool
	// starts small and grows while every worker is busy, up to InFlightCap.
	Workers        int64   `json:"workers,omitempty"`
	Unsent         int64   `json:"unsent,omitempty"` // due before the end but never sent
	SendLag        Stats   `json:"send_lag"`
	LagThresholdMs float64 `json:"lag_threshold_ms"`
}

// SweepStep is one rate of a sweep.
type SweepStep struct {
	Rate       float64  `json:"rate"`
	Held       bool     `json:"held"`
	Violations []string `json:"violations,omitempty"`
	Result     *Result  `json:"result"`
}

// Sweep is the outcome of stepping the rate up until the SLO broke.
type Sweep struct {
	SLO      string      `json:"slo"`
	Steps    []SweepStep `json:"steps"`
	BestRate float64     `json:"best_rate"` // highest requested rate that held; 0 if none
	BrokenAt float64     `json:"broken_at,omitempty"`
	Reason   string      `json:"reason"`
}

// Result is one run (or, with Sweep set, a sweep whose top-level figures
// are those of the best step). It is what --json writes and compare reads.
type Result struct {
	Kind    string `json:"kind"`
	Version int    `json:"version"`
	Label   string `json:"label,omitempty"`

	Target      string  `json:"target"`
	Method      string  `json:"method"`
	Workload    string  `json:"workload,omitempty"`
	Mode        string  `json:"mode"` // open | closed
	Pacer       string  `json:"pacer,omitempty"`
	Clients     int     `json:"clients,omitempty"`
	Connections int     `json:"connections"`
	KeepAlive   bool    `json:"keep_alive"`
	TimeoutS    float64 `json:"timeout_s"`
	WarmupS     float64 `json:"warmup_s"`
	IntervalS   float64 `json:"interval_s"`

	Start       time.Time `json:"start"`
	DurationS   float64   `json:"duration_s"` // measured window (warm-up excluded)
	Interrupted bool      `json:"interrupted,omitempty"`
	Generators  int       `json:"generators,omitempty"` // >1 after Merge

	Requests    int64            `json:"requests"` // completed in the measured window
	Successes   int64            `json:"successes"`
	Errors      int64            `json:"errors"`
	ErrorRate   float64          `json:"error_rate"`
	ErrorKinds  map[string]int64 `json:"error_kinds"`
	StatusCodes map[string]int64 `json:"status_codes"`
	// ErrorExamples holds the first message seen for each transport error kind.
	ErrorExamples map[string]string `json:"error_examples,omitempty"`

	RequestedRate float64 `json:"requested_rate,omitempty"` // mean over the measured window
	AchievedRate  float64 `json:"achieved_rate"`            // requests actually sent per second
	Throughput    float64 `json:"throughput"`               // successes per second

	Latency      Stats             `json:"latency"`      // open-loop: from the intended send time
	ServiceTime  Stats             `json:"service_time"` // from the actual send time
	Saturation   Saturation        `json:"saturation"`
	ServerTiming *ServerTiming     `json:"server_timing,omitempty"`
	Timeline     []Interval        `json:"timeline"`
	Histograms   map[string]string `json:"histograms"` // HdrHistogram V2 compressed, base64, microseconds
	Sweep        *Sweep            `json:"sweep,omitempty"`
}

// Histogram decodes one of the result's histograms (nil if absent).
func (r *Result) Histogram(name string) (*hdr.Histogram, error) {
	s, ok := r.Histograms[name]
	if !ok || s == "" {
		return nil, nil
	}
	return decodeHist(s)
}

func encodeHist(h *hdr.Histogram) (string, error) {
	b, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
	return string(b), err
}

// decodeHist guards the library's decoder, which slices its input without
// checking lengths, so a corrupt file is an error rather than a panic.
func decodeHist(s string) (h *hdr.Histogram, err error) {
	if len(s) < 16 {
		return nil, fmt.Errorf("histogram: encoded form too short (%d bytes)", len(s))
	}
	defer func() {
		if r := recover(); r != nil {
			h, err = nil, fmt.Errorf("histogram: corrupt encoding: %v", r)
		}
	}()
	h, err = hdr.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	return h, nil
}

// WriteJSON writes the result atomically.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("result %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// ReadResult reads a result written by WriteJSON.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("result %s: %w", path, err)
	}
	if r.Kind != ResultKind {
		return nil, fmt.Errorf("result %s: kind %q is not a kiln loadtest result", path, r.Kind)
	}
	if r.Version != ResultVersion {
		return nil, fmt.Errorf("result %s: version %d, this kiln reads version %d", path, r.Version, ResultVersion)
	}
	for name, s := range r.Histograms {
		if _, err := decodeHist(s); err != nil {
			return nil, fmt.Errorf("result %s: histograms.%s: %w", path, name, err)
		}
	}
	return &r, nil
}

// Merge combines results of generators that ran at the same time against
// the same target (for example one per machine): counts, rates and
// histograms add up, percentiles are recomputed from the merged
// histograms, and timelines are merged slice by slice (percentiles in a
// merged slice are the worst of the inputs, counts add up).
func Merge(rs ...*Result) (*Result, error) {
	if len(rs) == 0 {
		return nil, fmt.Errorf("merge: no results")
	}
	out := *rs[0]
	out.Label = ""
	out.Sweep = nil
	out.ServerTiming = nil
	out.ErrorKinds = map[string]int64{}
	out.StatusCodes = map[string]int64{}
	out.Histograms = map[string]string{}
	out.Requests, out.Successes, out.Errors = 0, 0, 0
	out.RequestedRate, out.AchievedRate, out.Throughput = 0, 0, 0
	out.Saturation = Saturation{LagThresholdMs: rs[0].Saturation.LagThresholdMs}
	out.Timeline = nil
	out.Generators = 0
	hists := map[string]*hdr.Histogram{}
	var timeline []Interval
	for i, r := range rs {
		if r.IntervalS != rs[0].IntervalS {
			return nil, fmt.Errorf("merge: result %d has interval %gs, the first has %gs", i, r.IntervalS, rs[0].IntervalS)
		}
		g := r.Generators
		if g == 0 {
			g = 1
		}
		out.Generators += g
		out.Requests += r.Requests
		out.Successes += r.Successes
		out.Errors += r.Errors
		out.RequestedRate += r.RequestedRate
		out.AchievedRate += r.AchievedRate
		out.Throughput += r.Throughput
		out.DurationS = math.Max(out.DurationS, r.DurationS)
		out.Interrupted = out.Interrupted || r.Interrupted
		for k, v := range r.ErrorKinds {
			out.ErrorKinds[k] += v
		}
		for k, v := range r.StatusCodes {
			out.StatusCodes[k] += v
		}
		s := r.Saturation
		out.Saturation.Saturated = out.Saturation.Saturated || s.Saturated
		for _, reason := range s.Reasons {
			out.Saturation.Reasons = append(out.Saturation.Reasons, fmt.Sprintf("generator %d: %s", i+1, reason))
		}
		out.Saturation.InFlightCapHits += s.InFlightCapHits
		out.Saturation.InFlightCap += s.InFlightCap
		out.Saturation.MaxInFlight += s.MaxInFlight
		out.Saturation.Unsent += s.Unsent
		for name, enc := range r.Histograms {
			h, err := decodeHist(enc)
			if err != nil {
				return nil, fmt.Errorf("merge: result %d histograms.%s: %w", i, name, err)
			}
			if acc, ok := hists[name]; ok {
				acc.Merge(h)
			} else {
				hists[name] = h
			}
		}
		for j, iv := range r.Timeline {
			if j >= len(timeline) {
				timeline = append(timeline, iv)
				continue
			}
			t := &timeline[j]
			t.Requested += iv.Requested
			t.Completed += iv.Completed
			t.Errors += iv.Errors
			t.Throughput += iv.Throughput
			t.InFlight += iv.InFlight
			t.P50 = math.Max(t.P50, iv.P50)
			t.P90 = math.Max(t.P90, iv.P90)
			t.P99 = math.Max(t.P99, iv.P99)
			t.Max = math.Max(t.Max, iv.Max)
			t.SendLagMax = math.Max(t.SendLagMax, iv.SendLagMax)
		}
	}
	out.Timeline = timeline
	if out.Requests > 0 {
		out.ErrorRate = float64(out.Errors) / float64(out.Requests)
	}
	for name, h := range hists {
		enc, err := encodeHist(h)
		if err != nil {
			return nil, fmt.Errorf("merge: encoding %s: %w", name, err)
		}
		out.Histograms[name] = enc
	}
	out.Latency = statsOf(hists[HistLatency])
	out.ServiceTime = statsOf(hists[HistServiceTime])
	out.Saturation.SendLag = statsOf(hists[HistSendLag])
	if h := hists[HistServerTotal]; h != nil {
		// The per-percentile breakdown needs per-request pairs, which the
		// histograms do not keep; the parts' own distributions merge exactly.
		out.ServerTiming = &ServerTiming{Requests: h.TotalCount(), Parts: map[string]Stats{}}
		for _, name := range []string{HistServerTotal, HistQueue, HistTokenize, HistInference} {
			if hh := hists[name]; hh != nil {
				out.ServerTiming.Parts[name] = statsOf(hh)
			}
		}
	}
	return &out, nil
}

// sortedCodes returns status-code keys in numeric order.
func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, errA := strconv.Atoi(keys[i])
		b, errB := strconv.Atoi(keys[j])
		if errA == nil && errB == nil {
			return a < b
		}
		return keys[i] < keys[j]
	})
	return keys
}
