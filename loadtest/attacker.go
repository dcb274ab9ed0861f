package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Config describes one run. Exactly one of Pacer (open-loop) or Clients
// (closed-loop) drives it, and Duration or MaxRequests bounds it.
type Config struct {
	URL     string
	Method  string      // default POST when the workload has a body, else GET
	Headers [][2]string // extra request headers
	// Workload supplies bodies; nil sends none.
	Workload *Workload

	// Pacer makes the run open-loop: request n is due at Pacer.SendTime(n)
	// whatever the server does, and its latency counts from then.
	Pacer Pacer
	// Clients makes the run closed-loop: N clients, each sending its next
	// request when the previous one is answered.
	Clients int

	// Connections caps the open connections and so the requests in flight
	// (HTTP/1.1 sends one request per connection at a time). Open-loop
	// default 256; closed-loop it is Clients.
	Connections      int
	DisableKeepAlive bool
	Timeout          time.Duration // per request, default 30s
	InsecureTLS      bool

	Warmup      time.Duration // sent but excluded from the results
	Duration    time.Duration // measured window after the warm-up
	MaxRequests uint64        // measured requests (after the warm-up)

	Interval      time.Duration // timeline slice, default 1s
	SaturationLag time.Duration // send-lag p99 above this = saturated, default 5ms
	Progress      func(Progress)
	Label         string
}

// Progress is handed to Config.Progress after every timeline slice.
type Progress struct {
	Elapsed   time.Duration
	Total     time.Duration // warm-up + duration; 0 when bounded by count only
	Sent      int64
	Completed int64
	Errors    int64
	InFlight  int64
	Slice     Interval
}

// Timing header names. kiln serve sends the capitalised ones; TEI sends the
// lowercase ones, which fasthttp's header normalisation maps onto the same
// keys, so one lookup serves both. Values are milliseconds, decimal.
var timingHeaders = [numParts]string{
	partTotal:     "X-Total-Time",
	partQueue:     "X-Queue-Time",
	partTokenize:  "X-Tokenization-Time",
	partInference: "X-Inference-Time",
}

const defaultOpenConnections = 256

// initialOpenWorkers is how many open-loop workers (connections) a run
// starts with; more are added while every worker is busy.
const initialOpenWorkers = 4

type attack struct {
	cfg    Config
	client *fasthttp.HostClient
	rec    *recorder
	start  time.Time
	total  time.Duration // warm-up + duration (0 = count-bounded)

	sent, done, failed atomic.Int64
	inFlight, maxIn    atomic.Int64
	measured           atomic.Uint64 // closed-loop: measured requests claimed
	next               atomic.Uint64 // open-loop: next request number to claim
	firstMeasured      uint64        // open-loop: number of the first request after the warm-up
	capHits            atomic.Int64
	lastAt             atomic.Int64 // open-loop: latest due time sent
	workers            atomic.Int64 // open-loop: workers started so far
	wg                 *sync.WaitGroup
	nShards            int
}

func (cfg *Config) normalise() error {
	if cfg.URL == "" {
		return errors.New("loadtest: no target URL")
	}
	if cfg.Pacer == nil && cfg.Clients <= 0 {
		return errors.New("loadtest: need a rate (open-loop) or a number of clients (closed-loop)")
	}
	if cfg.Pacer != nil && cfg.Clients > 0 {
		return errors.New("loadtest: a rate (open-loop) and clients (closed-loop) exclude each other")
	}
	if cfg.Duration <= 0 && cfg.MaxRequests == 0 {
		return errors.New("loadtest: unbounded run: set a duration or a request count")
	}
	if cfg.Warmup < 0 {
		return errors.New("loadtest: negative warm-up")
	}
	if cfg.Pacer != nil {
		if _, ok := cfg.Pacer.SendTime(0); !ok {
			return fmt.Errorf("loadtest: pacer %s sends nothing", cfg.Pacer)
		}
	}
	if cfg.Method == "" {
		cfg.Method = "GET"
		if cfg.Workload.Body(0) != nil {
			cfg.Method = "POST"
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.SaturationLag <= 0 {
		cfg.SaturationLag = 5 * time.Millisecond
	}
	if cfg.Clients > 0 {
		cfg.Connections = cfg.Clients
	} else if cfg.Connections <= 0 {
		cfg.Connections = defaultOpenConnections
	}
	return nil
}

func newClient(cfg *Config) (*fasthttp.HostClient, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("loadtest: target URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("loadtest: target URL %q: scheme must be http or https", cfg.URL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("loadtest: target URL %q has no host", cfg.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	return &fasthttp.HostClient{
		Addr:  addr,
		Name:  "kiln-loadtest",
		IsTLS: u.Scheme == "https",
		// #nosec G402 -- only when the user asks for it (--insecure).
		TLSConfig: &tls.Config{InsecureSkipVerify: cfg.InsecureTLS},
		MaxConns:  cfg.Connections,
		// Wait for a free connection rather than failing: the wait is part
		// of the latency (open-loop) and shows up as send lag.
		MaxConnWaitTimeout: cfg.Timeout,
		// A silent retry would hide a failed request behind a slow one.
		MaxIdemponentCallAttempts: 1,
		// LIFO keeps reusing the connections that were busy last, so the
		// extra ones an open-loop pool opened during a stall fall idle (and
		// are closed after MaxIdleConnDuration) instead of being cycled
		// through: many warm connections cost the server sharing these
		// cores throughput.
		ConnPoolStrategy:    fasthttp.LIFO,
		MaxIdleConnDuration: 10 * time.Second,
		ReadBufferSize:      16 << 10,
		WriteBufferSize:     16 << 10,
	}, nil
}

// Run performs one run and returns its result. Cancelling ctx stops the
// load early; the result then holds what was measured, Interrupted set.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.normalise(); err != nil {
		return nil, err
	}
	client, err := newClient(&cfg)
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	workers := cfg.Connections
	nShards := min(workers, 4*runtime.GOMAXPROCS(0))
	a := &attack{cfg: cfg, client: client, rec: newRecorder(nShards, cfg.Interval, cfg.Warmup)}
	if cfg.Duration > 0 {
		a.total = cfg.Warmup + cfg.Duration
	}

	a.start = time.Now()
	tickDone := make(chan struct{})
	tickStopped := make(chan time.Duration)
	go a.ticker(tickDone, tickStopped)

	var wg sync.WaitGroup
	var loadEnd time.Duration
	if cfg.Pacer != nil {
		a.firstMeasured = expectedHits(cfg.Pacer, cfg.Warmup)
		a.wg = &wg
		a.nShards = nShards
		for range min(workers, initialOpenWorkers) {
			a.spawnOpenWorker(ctx)
		}
		wg.Wait()
		loadEnd = time.Since(a.start)
	} else {
		var ends = make([]time.Duration, workers)
		for i := range workers {
			wg.Go(func() { ends[i] = a.closedWorker(ctx, i, i%nShards) })
		}
		wg.Wait()
		for _, e := range ends {
			loadEnd = max(loadEnd, e)
		}
	}
	close(tickDone)
	<-tickStopped

	res := &Result{
		Kind: ResultKind, Version: ResultVersion, Label: cfg.Label,
		Target: cfg.URL, Method: cfg.Method, Connections: cfg.Connections,
		KeepAlive: !cfg.DisableKeepAlive, TimeoutS: cfg.Timeout.Seconds(),
		WarmupS: cfg.Warmup.Seconds(), IntervalS: cfg.Interval.Seconds(),
		Start: a.start.UTC(), Interrupted: ctx.Err() != nil,
	}
	window := loadEnd - cfg.Warmup
	scheduled := uint64(a.sent.Load()) // warm-up included, as the pacer counts
	lastAt := time.Duration(a.lastAt.Load())
	if cfg.Pacer != nil {
		res.Mode = "open"
		res.Pacer = cfg.Pacer.String()
		span := cfg.Duration
		if span <= 0 {
			span = lastAt - cfg.Warmup
		}
		if span > 0 && !res.Interrupted {
			// The schedule defines the window; a late scheduler (saturated)
			// stretches it.
			window = max(window, span)
			res.RequestedRate = float64(expectedHits(cfg.Pacer, cfg.Warmup+span)-expectedHits(cfg.Pacer, cfg.Warmup)) / span.Seconds()
		} else if window > 0 {
			res.RequestedRate = float64(scheduled) / window.Seconds()
		}
	} else {
		res.Mode = "closed"
		res.Clients = cfg.Clients
	}
	if window > 0 {
		res.DurationS = window.Seconds()
	}
	if err := a.rec.fill(res); err != nil {
		return nil, fmt.Errorf("loadtest: encoding histograms: %w", err)
	}
	res.Saturation.InFlightCapHits = a.capHits.Load()
	res.Saturation.InFlightCap = cfg.Connections
	res.Saturation.MaxInFlight = a.maxIn.Load()
	res.Saturation.Workers = a.workers.Load()
	res.Saturation.LagThresholdMs = float64(cfg.SaturationLag) / float64(time.Millisecond)
	if res.Mode == "open" {
		if cfg.Duration > 0 && !res.Interrupted {
			due := expectedHits(cfg.Pacer, a.total)
			if due > scheduled {
				res.Saturation.Unsent = int64(due - scheduled)
			}
		}
		judgeSaturation(res, scheduled)
	}
	if cfg.Workload != nil {
		res.Workload = fmt.Sprintf("%d distinct bodies, mean %.0f bytes", cfg.Workload.Len(), cfg.Workload.MeanBodyBytes())
	}
	return res, nil
}

// judgeSaturation decides, from what the generator itself measured,
// whether it kept the schedule. The reasons name the evidence, so a reader
// can tell "the server is slow" (cap hits: every connection was busy) from
// "the generator is slow" (send lag with connections to spare).
func judgeSaturation(res *Result, scheduled uint64) {
	s := &res.Saturation
	if scheduled > 0 && s.InFlightCapHits > 0 && float64(s.InFlightCapHits) >= 0.001*float64(scheduled) {
		s.Reasons = append(s.Reasons, fmt.Sprintf(
			"in-flight cap hit: all %d connections were busy when %d of %d requests were due (%.1f%%), so those waited "+
				"in the generator; if the service time is high the server is too slow for rate × connections "+
				"(raise --connections or lower the rate), if it is low the generator's process was starved of CPU",
			s.InFlightCap, s.InFlightCapHits, scheduled, 100*float64(s.InFlightCapHits)/float64(scheduled)))
	}
	if s.SendLag.Count > 0 && s.SendLag.P99 > s.LagThresholdMs {
		s.Reasons = append(s.Reasons, fmt.Sprintf(
			"send lag p99 %.2fms (max %.2fms) exceeds %.2fms: requests left the generator late; "+
				"latency is measured from the intended time, the service time excludes this lag",
			s.SendLag.P99, s.SendLag.Max, s.LagThresholdMs))
	}
	if s.Unsent > 0 {
		s.Reasons = append(s.Reasons, fmt.Sprintf("%d requests due before the end were never sent", s.Unsent))
	}
	if res.Requests > 20 && res.RequestedRate > 0 && res.AchievedRate < 0.95*res.RequestedRate {
		s.Reasons = append(s.Reasons, fmt.Sprintf("achieved send rate %.1f/s is below the requested %.1f/s",
			res.AchievedRate, res.RequestedRate))
	}
	s.Saturated = len(s.Reasons) > 0
}

type conn struct {
	req  *fasthttp.Request
	resp *fasthttp.Response
	s    sample
}

func (a *attack) newConn() *conn {
	cfg := &a.cfg
	c := &conn{req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse()}
	c.req.SetRequestURI(cfg.URL)
	c.req.Header.SetMethod(cfg.Method)
	if cfg.Workload != nil && cfg.Workload.ContentType != "" {
		c.req.Header.SetContentType(cfg.Workload.ContentType)
	}
	for _, h := range cfg.Headers {
		c.req.Header.Set(h[0], h[1])
	}
	if cfg.DisableKeepAlive {
		c.req.SetConnectionClose()
	}
	return c
}

func (c *conn) release() {
	fasthttp.ReleaseRequest(c.req)
	fasthttp.ReleaseResponse(c.resp)
}

// do sends request n, due at `at`, and records it. The request and response
// objects are the worker's own and reused, the body is a prepared slice:
// the hot path allocates nothing of its own.
func (a *attack) do(c *conn, sh *shard, n uint64, at time.Duration) {
	if body := a.cfg.Workload.Body(n); body != nil {
		c.req.SetBodyRaw(body)
	}
	in := a.inFlight.Add(1)
	if in > a.maxIn.Load() {
		a.maxIn.Store(in) // racy max: close enough for a report
	}
	a.sent.Add(1)
	sentAt := time.Since(a.start)
	err := a.client.DoTimeout(c.req, c.resp, a.cfg.Timeout)
	end := time.Since(a.start)
	a.inFlight.Add(-1)

	s := &c.s
	*s = sample{latency: end - at, service: end - sentAt, lag: max(sentAt-at, 0), sentAt: sentAt,
		warmup: at < a.cfg.Warmup, closed: a.cfg.Pacer == nil, err: noError}
	if err != nil {
		s.err = classify(err)
	} else {
		s.status = c.resp.StatusCode()
		if s.status < 200 || s.status > 299 {
			s.err = idxStatus
		} else {
			for i, name := range timingHeaders {
				if v, ok := parseMillis(c.resp.Header.Peek(name)); ok {
					s.parts[i] = v
					s.partsSet |= 1 << i
				}
			}
		}
	}
	a.done.Add(1)
	if s.err != noError {
		a.failed.Add(1)
		if err != nil {
			sh.noteError(s.err, err)
		}
	}
	sh.record(s)
}

// openWorker is one connection of an open-loop run. There is no central
// scheduler handing requests out: a free worker claims the next request
// number, sleeps until that request is due and sends it. Idle workers thus
// hold the next few requests and send them on time; when every worker is
// busy, the next request stays unclaimed past its due time and is sent by
// the first worker to come free — late, which the send lag records and the
// latency (counted from the due time) includes. Claiming costs one atomic
// add, so the generator's cost per request is close to closed-loop's.
func (a *attack) openWorker(ctx context.Context, shardIdx int) {
	cfg := &a.cfg
	c := a.newConn()
	defer c.release()
	sh := a.rec.shards[shardIdx]
	done := ctx.Done()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		n := a.next.Add(1) - 1
		at, ok := cfg.Pacer.SendTime(n)
		if !ok || (a.total > 0 && at >= a.total) {
			return
		}
		if cfg.MaxRequests > 0 && n >= a.firstMeasured+cfg.MaxRequests {
			return
		}
		now := time.Since(a.start)
		if wait := at - now; wait > 0 {
			// Short waits sleep (cheapest wake-up); long ones also watch for
			// cancellation so an interrupted run ends promptly.
			if wait < 20*time.Millisecond {
				sleepUntil(a.start, at)
			} else {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-timer.C:
				case <-done:
					return
				}
				sleepUntil(a.start, at) // the timer's last millisecond
			}
		} else {
			// Overdue before it was even claimed: no worker was free at its
			// due time. With the pool at the connection cap and every other
			// connection in flight, that is the in-flight cap; otherwise the
			// generator itself was slow (the send lag shows it).
			if a.total > 0 && now >= a.total {
				return // a saturated run still ends on time; the rest is unsent
			}
			if wait < -time.Millisecond && a.workers.Load() >= int64(cfg.Connections) &&
				a.inFlight.Load() >= int64(cfg.Connections-1) {
				a.capHits.Add(1)
			}
		}
		select {
		case <-done:
			return
		default:
		}
		// Keep one worker free for the next request: if this send would
		// leave none, start another now rather than when the next request
		// is already late (during a server stall nobody would come free to
		// notice).
		if a.inFlight.Load()+1 >= a.workers.Load() {
			a.spawnOpenWorker(ctx)
		}
		a.do(c, sh, n, at)
		a.noteSent(at)
	}
}

// spawnOpenWorker starts one more open-loop worker unless the pool is at
// the connection cap. Pools start small and grow whenever a send would leave
// no worker free (as vegeta's do): at 5,000/s against a 0.3ms
// server two connections suffice, and hundreds of mostly idle connections
// and sleeping goroutines measurably slowed the generator and the server
// sharing its cores.
func (a *attack) spawnOpenWorker(ctx context.Context) bool {
	for {
		w := a.workers.Load()
		if w >= int64(a.cfg.Connections) {
			return false
		}
		if a.workers.CompareAndSwap(w, w+1) {
			a.wg.Go(func() { a.openWorker(ctx, int(w)%a.nShards) })
			return true
		}
	}
}

// noteSent keeps the latest due time that was sent, for the window of a
// count-bounded run.
func (a *attack) noteSent(at time.Duration) {
	for {
		cur := a.lastAt.Load()
		if int64(at) <= cur || a.lastAt.CompareAndSwap(cur, int64(at)) {
			return
		}
	}
}

// closedWorker is one closed-loop client. Its requests are due the moment
// it is free, so latency equals service time and a stall slows the client
// down instead of showing in the percentiles — the comparison open-loop
// exists to make.
func (a *attack) closedWorker(ctx context.Context, worker, shardIdx int) time.Duration {
	c := a.newConn()
	defer c.release()
	sh := a.rec.shards[shardIdx]
	done := ctx.Done()
	for n := uint64(0); ; n++ {
		select {
		case <-done:
			return time.Since(a.start)
		default:
		}
		now := time.Since(a.start)
		if a.total > 0 && now >= a.total {
			return now
		}
		if now >= a.cfg.Warmup && a.cfg.MaxRequests > 0 && a.measured.Add(1) > a.cfg.MaxRequests {
			return now
		}
		// Each client walks the bodies from its own offset, so the mix is
		// the workload's, not one body per client.
		a.do(c, sh, uint64(worker)*7919+n, now)
	}
}

// ticker closes a timeline slice every interval and reports progress.
func (a *attack) ticker(done <-chan struct{}, stopped chan<- time.Duration) {
	iv := a.cfg.Interval
	var sliceStart time.Duration
	emit := func(end time.Duration) {
		rate := 0.0
		if a.cfg.Pacer != nil {
			rate = a.cfg.Pacer.Rate(sliceStart + (end-sliceStart)/2)
		}
		slice := a.rec.closeSlice(sliceStart, end-sliceStart, rate, a.inFlight.Load())
		if a.cfg.Progress != nil {
			a.cfg.Progress(Progress{Elapsed: end, Total: a.total, Sent: a.sent.Load(),
				Completed: a.done.Load(), Errors: a.failed.Load(), InFlight: a.inFlight.Load(), Slice: slice})
		}
		sliceStart = end
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for k := time.Duration(1); ; k++ {
		select {
		case <-t.C:
			emit(k * iv)
		case <-done:
			if end := time.Since(a.start); end > sliceStart {
				emit(end)
			}
			stopped <- sliceStart
			return
		}
	}
}

func (s *shard) noteError(kind errKindIndex, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.examples == nil {
		s.examples = map[string]string{}
	}
	if _, ok := s.examples[errKinds[kind]]; !ok {
		s.examples[errKinds[kind]] = err.Error()
	}
}

// classify sorts a transport error into one of the reported kinds.
func classify(err error) errKindIndex {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, fasthttp.ErrTLSHandshakeTimeout):
		return idxTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return idxConnRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return idxConnReset
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return idxConnClosed
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return idxNoFreeConns
	case errors.As(err, &ne) && ne.Timeout():
		return idxTimeout
	case errors.As(err, &oe) && oe.Op == "dial":
		return idxDial
	}
	return idxOther
}

// parseMillis reads a header value of milliseconds ("12", "3.25") without
// allocating; anything else is ignored.
func parseMillis(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) > 32 {
		return 0, false
	}
	v, err := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return v, true
}
