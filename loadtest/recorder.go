package loadtest

import (
	"math"
	"strconv"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram ranges, in microseconds: 1 µs to 1 hour at 3 significant
// digits (full resolution: 0.1% relative error) for the run totals, and 2
// digits for the per-interval histograms that only feed the timeline.
const (
	histMinUS   = 1
	histMaxUS   = int64(time.Hour / time.Microsecond)
	histDigits  = 3
	sliceDigits = 2
)

// Error kinds a transport failure is sorted into.
const (
	ErrKindTimeout           = "timeout"
	ErrKindConnRefused       = "connection_refused"
	ErrKindConnReset         = "connection_reset"
	ErrKindConnClosed        = "connection_closed"
	ErrKindNoFreeConnections = "no_free_connections"
	ErrKindDial              = "dial"
	ErrKindOther             = "other"
	ErrKindStatus            = "http_status" // a non-2xx answer; the code is in StatusCodes
)

var errKinds = []string{ErrKindTimeout, ErrKindConnRefused, ErrKindConnReset, ErrKindConnClosed,
	ErrKindNoFreeConnections, ErrKindDial, ErrKindOther, ErrKindStatus}

// errKindIndex indexes errKinds; -1 means no error.
type errKindIndex int8

const noError errKindIndex = -1

// Indexes into errKinds.
const (
	idxTimeout errKindIndex = iota
	idxConnRefused
	idxConnReset
	idxConnClosed
	idxNoFreeConns
	idxDial
	idxOther
	idxStatus
)

// Server timing parts, in the order of sample.parts.
const (
	partTotal = iota
	partQueue
	partTokenize
	partInference
	numParts
)

var partHist = [numParts]string{HistServerTotal, HistQueue, HistTokenize, HistInference}

// sample is one finished request, as a worker hands it to the recorder.
type sample struct {
	latency, service, lag time.Duration
	sentAt                time.Duration // actual send, since run start
	status                int
	err                   errKindIndex
	warmup                bool
	closed                bool  // closed loop: service time is the latency and lag is zero, so neither is recorded
	partsSet              uint8 // bit i set: parts[i] came from a header
	parts                 [numParts]float64
}

// Breakdown buckets: latency bands 5% wide (log scale), each holding the sum
// of the server's parts for the requests whose latency fell in the band.
const (
	bandRatio = 1.05
	numBands  = 512 // 1.05^512 µs ≈ 7e10 µs, beyond the histogram range
)

type band struct {
	n   int64
	sum [numParts]float64
	has [numParts]int64
}

func bandOf(latencyUS int64) int {
	if latencyUS < 1 {
		return 0
	}
	b := int(math.Log(float64(latencyUS)) / math.Log(bandRatio))
	return min(b, numBands-1)
}

// shard is the part of the recorder one group of workers writes to; the
// mutex is nearly uncontended because there are a few workers per shard.
type shard struct {
	mu                     sync.Mutex
	latency, service, lag  *hdr.Histogram
	parts                  [numParts]*hdr.Histogram
	bands                  []band
	codes                  [600]int64
	otherCodes             map[int]int64
	kinds                  [8]int64
	requests, ok, failed   int64
	withTiming             int64
	firstSent, lastSent    time.Duration
	slice                  *hdr.Histogram // current interval (all samples, warm-up included)
	sliceDone, sliceErrors int64
	sliceLagMax            time.Duration
	examples               map[string]string // first message per error kind
}

func newShard() *shard {
	s := &shard{
		latency:   hdr.New(histMinUS, histMaxUS, histDigits),
		service:   hdr.New(histMinUS, histMaxUS, histDigits),
		lag:       hdr.New(histMinUS, histMaxUS, histDigits),
		slice:     hdr.New(histMinUS, histMaxUS, sliceDigits),
		firstSent: -1,
	}
	return s
}

func clampUS(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	if us < histMinUS {
		return histMinUS
	}
	if us > histMaxUS {
		return histMaxUS
	}
	return us
}

func (s *shard) record(x *sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sliceDone++
	if x.err != noError {
		s.sliceErrors++
	} else {
		s.slice.RecordValue(clampUS(x.latency))
	}
	if x.lag > s.sliceLagMax {
		s.sliceLagMax = x.lag
	}
	if x.warmup {
		return
	}
	s.requests++
	if s.firstSent < 0 || x.sentAt < s.firstSent {
		s.firstSent = x.sentAt
	}
	if x.sentAt > s.lastSent {
		s.lastSent = x.sentAt
	}
	if !x.closed {
		s.lag.RecordValue(clampUS(x.lag))
	}
	if x.status > 0 {
		if x.status < len(s.codes) {
			s.codes[x.status]++
		} else {
			if s.otherCodes == nil {
				s.otherCodes = map[int]int64{}
			}
			s.otherCodes[x.status]++
		}
	}
	if x.err != noError {
		s.failed++
		s.kinds[x.err]++
		return
	}
	s.ok++
	lat := clampUS(x.latency)
	s.latency.RecordValue(lat)
	if !x.closed {
		s.service.RecordValue(clampUS(x.service))
	}
	if x.partsSet == 0 {
		return
	}
	s.withTiming++
	if s.bands == nil {
		s.bands = make([]band, numBands)
		for i := range s.parts {
			s.parts[i] = hdr.New(histMinUS, histMaxUS, histDigits)
		}
	}
	b := &s.bands[bandOf(lat)]
	b.n++
	for i := range numParts {
		if x.partsSet&(1<<i) == 0 {
			continue
		}
		b.sum[i] += x.parts[i]
		b.has[i]++
		s.parts[i].RecordValue(clampUS(time.Duration(x.parts[i] * float64(time.Millisecond))))
	}
}

// recorder gathers the shards and the timeline.
type recorder struct {
	shards   []*shard
	interval time.Duration
	warmup   time.Duration

	mu       sync.Mutex
	timeline []Interval
	agg      *hdr.Histogram
}

func newRecorder(nShards int, interval, warmup time.Duration) *recorder {
	r := &recorder{interval: interval, warmup: warmup, agg: hdr.New(histMinUS, histMaxUS, sliceDigits)}
	for range nShards {
		r.shards = append(r.shards, newShard())
	}
	return r
}

// closeSlice ends the timeline slice that began at t (since run start) and
// lasted d: it drains every shard's slice counters.
func (r *recorder) closeSlice(t, d time.Duration, requested float64, inFlight int64) Interval {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.agg.Reset()
	var done, errs int64
	var lagMax time.Duration
	for _, s := range r.shards {
		s.mu.Lock()
		r.agg.Merge(s.slice)
		s.slice.Reset()
		done += s.sliceDone
		errs += s.sliceErrors
		lagMax = max(lagMax, s.sliceLagMax)
		s.sliceDone, s.sliceErrors, s.sliceLagMax = 0, 0, 0
		s.mu.Unlock()
	}
	iv := Interval{
		T:          t.Seconds(),
		Warmup:     t+d <= r.warmup && r.warmup > 0,
		Requested:  requested,
		Completed:  done,
		Errors:     errs,
		InFlight:   inFlight,
		SendLagMax: float64(lagMax) / float64(time.Millisecond),
	}
	if d > 0 {
		iv.Throughput = float64(done-errs) / d.Seconds()
	}
	if r.agg.TotalCount() > 0 {
		iv.P50 = float64(r.agg.ValueAtQuantile(50)) / 1000
		iv.P90 = float64(r.agg.ValueAtQuantile(90)) / 1000
		iv.P99 = float64(r.agg.ValueAtQuantile(99)) / 1000
		iv.Max = float64(r.agg.Max()) / 1000
	}
	r.timeline = append(r.timeline, iv)
	return iv
}

// fill writes the totals into res.
func (r *recorder) fill(res *Result) error {
	lat := hdr.New(histMinUS, histMaxUS, histDigits)
	svc := hdr.New(histMinUS, histMaxUS, histDigits)
	lag := hdr.New(histMinUS, histMaxUS, histDigits)
	var parts [numParts]*hdr.Histogram
	bands := make([]band, numBands)
	codes := map[int]int64{}
	var kinds [8]int64
	firstSent, lastSent := time.Duration(-1), time.Duration(0)
	var withTiming int64
	for _, s := range r.shards {
		s.mu.Lock()
		lat.Merge(s.latency)
		svc.Merge(s.service)
		lag.Merge(s.lag)
		res.Requests += s.requests
		res.Successes += s.ok
		res.Errors += s.failed
		withTiming += s.withTiming
		for c, n := range s.codes {
			if n > 0 {
				codes[c] += n
			}
		}
		for c, n := range s.otherCodes {
			codes[c] += n
		}
		for i, n := range s.kinds {
			kinds[i] += n
		}
		if s.firstSent >= 0 && (firstSent < 0 || s.firstSent < firstSent) {
			firstSent = s.firstSent
		}
		lastSent = max(lastSent, s.lastSent)
		if s.bands != nil {
			for i := range parts {
				if parts[i] == nil {
					parts[i] = hdr.New(histMinUS, histMaxUS, histDigits)
				}
				parts[i].Merge(s.parts[i])
			}
			for i := range bands {
				b, sb := &bands[i], &s.bands[i]
				b.n += sb.n
				for p := range numParts {
					b.sum[p] += sb.sum[p]
					b.has[p] += sb.has[p]
				}
			}
		}
		s.mu.Unlock()
	}
	res.ErrorKinds = map[string]int64{}
	for _, s := range r.shards {
		for k, v := range s.examples {
			if res.ErrorExamples == nil {
				res.ErrorExamples = map[string]string{}
			}
			if _, ok := res.ErrorExamples[k]; !ok {
				res.ErrorExamples[k] = v
			}
		}
	}
	for i, n := range kinds {
		if n > 0 {
			res.ErrorKinds[errKinds[i]] = n
		}
	}
	res.StatusCodes = map[string]int64{}
	for c, n := range codes {
		res.StatusCodes[strconv.Itoa(c)] = n
	}
	if res.Requests > 0 {
		res.ErrorRate = float64(res.Errors) / float64(res.Requests)
	}
	if res.Requests > 1 && lastSent > firstSent {
		// n requests sent over [first, last] make n−1 gaps.
		res.AchievedRate = float64(res.Requests-1) / (lastSent - firstSent).Seconds()
	}
	if res.DurationS > 0 {
		res.Throughput = float64(res.Successes) / res.DurationS
	}
	res.Latency = statsOf(lat)
	if svc.TotalCount() == 0 && lat.TotalCount() > 0 {
		// Closed loop records no separate service time: it is the latency.
		svc = lat
	}
	res.ServiceTime = statsOf(svc)
	res.Saturation.SendLag = statsOf(lag)
	res.Histograms = map[string]string{}
	named := map[string]*hdr.Histogram{HistLatency: lat, HistServiceTime: svc, HistSendLag: lag}
	if withTiming > 0 {
		res.ServerTiming = &ServerTiming{Requests: withTiming, Parts: map[string]Stats{}}
		for i, h := range parts {
			if h != nil && h.TotalCount() > 0 {
				named[partHist[i]] = h
				res.ServerTiming.Parts[partHist[i]] = statsOf(h)
			}
		}
		for _, p := range []float64{50, 90, 95, 99, 99.9, 100} {
			v := lat.ValueAtQuantile(p)
			if p == 100 {
				v = lat.Max()
			}
			// The percentile's value is the top of its HDR bucket, which can
			// sit just past the band its samples went into: look next door.
			bi := bandOf(v)
			for _, d := range []int{0, -1, 1, -2, 2} {
				if j := bi + d; j >= 0 && j < numBands && bands[j].n > 0 {
					bi = j
					break
				}
			}
			b := bands[bi]
			bd := Breakdown{Percentile: p, Latency: float64(v) / 1000, Samples: b.n}
			mean := func(i int) float64 {
				if b.has[i] == 0 {
					return 0
				}
				return b.sum[i] / float64(b.has[i])
			}
			bd.ServerTotal, bd.Queue, bd.Tokenization, bd.Inference =
				mean(partTotal), mean(partQueue), mean(partTokenize), mean(partInference)
			if b.has[partTotal] == 0 {
				// No total header: the parts are the best estimate of it.
				bd.ServerTotal = bd.Queue + bd.Tokenization + bd.Inference
			}
			bd.ClientNetwork = bd.Latency - bd.ServerTotal
			res.ServerTiming.Breakdown = append(res.ServerTiming.Breakdown, bd)
		}
	}
	for name, h := range named {
		enc, err := encodeHist(h)
		if err != nil {
			return err
		}
		res.Histograms[name] = enc
	}
	r.mu.Lock()
	res.Timeline = append([]Interval(nil), r.timeline...)
	r.mu.Unlock()
	return nil
}
