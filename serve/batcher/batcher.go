// Package batcher is serve's queue and dynamic batcher. Requests put their
// tokenised sequences in a bounded queue; one goroutine owns the queue and,
// whenever a backend worker is free, closes a batch on a sequence count, a
// padded-token budget or the oldest sequence's delay, groups sequences of
// similar length to cut padding, runs the batch and fans the rows back to
// their requests. Sequences whose request has gone (client left, deadline
// passed, a sibling batch failed) are dropped before their batch starts.
//
// The shape follows text-embeddings-inference's queue.rs: the state has one
// owner that answers "append" and "next batch", and batch size, batch tokens
// and queue depth are recorded where they are decided.
package batcher

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Input is one tokenised sequence, unpadded.
type Input struct {
	IDs     []int64
	TypeIDs []int64 // nil or the same length as IDs
}

// Runner executes one batch and returns one row per sequence, in order. It
// is called from up to Config.Workers goroutines at once.
type Runner interface {
	Run(ctx context.Context, in []Input) ([][]float32, error)
}

// Observer receives the batcher's measurements (serve turns them into
// Prometheus metrics). Calls come from the batcher's goroutines and must be
// cheap and safe for concurrent use.
type Observer interface {
	QueueDepth(sequences int)
	// BatchStarted: size sequences, tokens = padded length × size, and the
	// time each sequence waited in the queue.
	BatchStarted(size, tokens int, waits []time.Duration)
	BatchDone(size int, took time.Duration, err error)
	// Dropped counts sequences removed before their batch started.
	Dropped(n int, reason string)
}

// Drop reasons passed to Observer.Dropped.
const (
	DropClientGone = "client_gone"
	DropCancelled  = "cancelled" // deadline passed or the request failed elsewhere
)

// Errors returned by Submit.
var (
	ErrQueueFull = errors.New("queue full")
	ErrClosed    = errors.New("batcher is shutting down")
	ErrTooLarge  = errors.New("request has more sequences than the queue holds")
	// ErrClientGone is the error a request gets when its client left.
	ErrClientGone = errors.New("client went away")
	// ErrDeadline is the error of a request dropped from the queue because
	// its deadline passed, or would pass before its batch could finish.
	ErrDeadline = fmt.Errorf("deadline too close to run: %w", context.DeadlineExceeded)
)

// OverloadedError refuses a request at once because the work queued ahead
// of it would not finish before its deadline.
type OverloadedError struct {
	Wait, Left time.Duration // estimated queue wait; time left before the deadline
}

func (e *OverloadedError) Error() string {
	return fmt.Sprintf("overloaded: the queued work needs about %v, the request has %v left", e.Wait.Round(time.Millisecond), e.Left.Round(time.Millisecond))
}

// RetryAfter is a whole number of seconds after which the queue should have
// room, at least 1.
func (e *OverloadedError) RetryAfter() int {
	return max(1, int(math.Ceil((e.Wait - e.Left).Seconds())))
}

// BackendError wraps an error of the Runner: the batch this request's
// sequences ran in failed.
type BackendError struct{ Err error }

func (e *BackendError) Error() string { return "inference failed: " + e.Err.Error() }
func (e *BackendError) Unwrap() error { return e.Err }

// Config sets the batching policy.
type Config struct {
	// MaxBatchSize caps sequences per batch (1 turns batching off).
	MaxBatchSize int
	// MaxBatchTokens caps padded tokens per batch (longest sequence × count).
	// A sequence longer than this on its own still runs, alone.
	MaxBatchTokens int
	// MaxPadding is the largest fraction of a batch's padded tokens that may
	// be padding (0 = no limit). On CPUs every padded token costs about what
	// a real one does, so a batch that is mostly padding is slower than
	// running its sequences apart; sequences that would push a batch past
	// this wait for a batch of their own length.
	MaxPadding float64
	// Window bounds how far batches reorder the queue for length grouping:
	// the oldest Window queued sequences are closed into a window, batches
	// are grouped by length within it, and sequences that arrived later
	// wait until every sequence of the window has started, so no sequence
	// is overtaken by more than Window-1 later ones. 0 groups over the whole
	// queue (a sequence of an unusual length may then wait behind many
	// later ones of common lengths: a latency tail). A window smaller than
	// MaxBatchSize is raised to it.
	Window int
	// MaxDelay is how long the oldest queued sequence may wait for a batch
	// to fill while a worker is free. 0 runs whatever is queued at once.
	MaxDelay time.Duration
	// QueueSize bounds the queued sequences; Submit fails with ErrQueueFull
	// past it.
	QueueSize int
	// Workers is how many batches run at once (the backend's sessions).
	Workers int
	// Observer may be nil.
	Observer Observer
}

func (c *Config) normalize() error {
	if c.MaxBatchSize <= 0 {
		return fmt.Errorf("max batch size %d: must be positive", c.MaxBatchSize)
	}
	if c.MaxBatchTokens <= 0 {
		return fmt.Errorf("max batch tokens %d: must be positive", c.MaxBatchTokens)
	}
	if c.MaxDelay < 0 {
		return fmt.Errorf("max batch delay %v: must not be negative", c.MaxDelay)
	}
	if c.MaxPadding < 0 || c.MaxPadding >= 1 {
		return fmt.Errorf("max padding %v: must be in [0, 1)", c.MaxPadding)
	}
	if c.QueueSize <= 0 {
		return fmt.Errorf("queue size %d: must be positive", c.QueueSize)
	}
	if c.Window < 0 {
		return fmt.Errorf("batch window %d: must not be negative", c.Window)
	}
	if c.Window > 0 && c.Window < c.MaxBatchSize {
		// A smaller window would cap batches below MaxBatchSize.
		c.Window = c.MaxBatchSize
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return nil
}

type nopObserver struct{}

func (nopObserver) QueueDepth(int)                         {}
func (nopObserver) BatchStarted(int, int, []time.Duration) {}
func (nopObserver) BatchDone(int, time.Duration, error)    {}
func (nopObserver) Dropped(int, string)                    {}

// Result is what a request gets back.
type Result struct {
	Rows [][]float32 // one per submitted sequence, in order
	// Queue is the longest time one of its sequences waited for its batch;
	// Inference spans from its first batch's start to its last batch's end.
	Queue, Inference time.Duration
	Batches          int // batches its sequences ran in
}

// request is one Submit call; its sequences may run in several batches.
type request struct {
	ctx      context.Context
	deadline time.Time // zero: none
	gone     func() bool
	enqueued time.Time
	done     chan struct{}

	mu        sync.Mutex
	rows      [][]float32
	remaining int
	err       error
	firstRun  time.Time
	lastEnd   time.Time
	maxWait   time.Duration
	batches   int
	failed    bool // set before done is closed; read by the loop to drop siblings
	checkedAt uint64
	alive     bool
}

type entry struct {
	req *request
	idx int
	in  Input
	n   int // sequence length
}

// Batcher is the queue plus the batching loop. Create with New, stop with
// Close.
type Batcher struct {
	cfg          Config
	run          Runner
	in           chan []*entry
	queued       atomic.Int64 // sequences submitted and not yet in a batch or dropped
	queuedTokens atomic.Int64 // their tokens
	runTokens    atomic.Int64 // padded tokens of the batches running now
	// secPerToken is the measured cost of one padded token (float64 bits),
	// an exponential average over batches; 0 until the first batch ran.
	secPerToken atomic.Uint64

	live sync.Map // *request → struct{}: submitted and not yet answered

	closeMu   sync.RWMutex
	closed    bool
	stop      chan struct{} // closed by Close: drain and exit
	flushOnce sync.Once
	flush     chan struct{} // closed by Flush: stop waiting for batches to fill
	exited    chan struct{}
}

// New starts the batching loop.
func New(cfg Config, run Runner) (*Batcher, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	b := &Batcher{
		cfg: cfg, run: run,
		in:     make(chan []*entry, cfg.QueueSize),
		stop:   make(chan struct{}),
		flush:  make(chan struct{}),
		exited: make(chan struct{}),
	}
	go b.loop()
	return b, nil
}

// Config returns the normalised configuration.
func (b *Batcher) Config() Config { return b.cfg }

// QueueDepth is the number of sequences waiting for a batch.
func (b *Batcher) QueueDepth() int { return int(b.queued.Load()) }

// QueuedTokens is the number of tokens waiting for a batch.
func (b *Batcher) QueuedTokens() int { return int(b.queuedTokens.Load()) }

// EstimatedWait is how long tokens more would take to run after what is
// queued and running now, from the measured cost per padded token (0 before
// any batch ran: nothing is known yet).
func (b *Batcher) EstimatedWait(tokens int) time.Duration {
	spt := math.Float64frombits(b.secPerToken.Load())
	q := float64(b.queuedTokens.Load()+b.runTokens.Load()+int64(tokens)) / float64(b.cfg.Workers)
	return time.Duration(spt * q * float64(time.Second))
}

// measure folds one batch's cost per padded token into the average.
func (b *Batcher) measure(tokens int, took time.Duration) {
	if tokens <= 0 {
		return
	}
	x := took.Seconds() / float64(tokens)
	for {
		old := b.secPerToken.Load()
		v := math.Float64frombits(old)
		if v == 0 {
			v = x
		} else {
			v = 0.8*v + 0.2*x
		}
		if b.secPerToken.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

// Submit queues the sequences and waits for their rows. gone, if not nil,
// reports whether the client has left; it is asked just before a batch
// starts. Submit returns ctx's error when ctx ends first (its sequences are
// then dropped, not run), ErrQueueFull when the queue cannot take them all,
// an *OverloadedError at once when ctx's deadline comes before the queued
// work ahead could finish, ErrDeadline when the deadline came while queued,
// ErrClientGone when gone said so, ErrClosed when Abort ended it, and a
// *BackendError when a batch failed.
func (b *Batcher) Submit(ctx context.Context, in []Input, gone func() bool) (*Result, error) {
	if len(in) == 0 {
		return &Result{}, nil
	}
	if len(in) > b.cfg.QueueSize {
		return nil, fmt.Errorf("%d sequences, queue size %d: %w", len(in), b.cfg.QueueSize, ErrTooLarge)
	}
	r := &request{
		ctx: ctx, gone: gone, enqueued: time.Now(), done: make(chan struct{}),
		rows: make([][]float32, len(in)), remaining: len(in),
	}
	r.deadline, _ = ctx.Deadline()
	es := make([]*entry, len(in))
	tokens := 0
	for i, x := range in {
		es[i] = &entry{req: r, idx: i, in: x, n: len(x.IDs)}
		tokens += len(x.IDs)
	}
	b.closeMu.RLock()
	if b.closed {
		b.closeMu.RUnlock()
		return nil, ErrClosed
	}
	// Reserve room first: the channel then never blocks, because it holds at
	// most QueueSize messages of at least one sequence each.
	if n := b.queued.Add(int64(len(in))); n > int64(b.cfg.QueueSize) {
		b.queued.Add(-int64(len(in)))
		b.closeMu.RUnlock()
		return nil, ErrQueueFull
	}
	// Reserve the tokens before estimating, so that concurrent Submits
	// each see the others' work.
	b.queuedTokens.Add(int64(tokens))
	if !r.deadline.IsZero() {
		// A quarter of margin: the estimate is an average, and a request
		// admitted on the edge would only time out after its work ran.
		if wait, left := b.EstimatedWait(0), time.Until(r.deadline); wait+wait/4 > left {
			b.queuedTokens.Add(-int64(tokens))
			b.queued.Add(-int64(len(in)))
			b.closeMu.RUnlock()
			return nil, &OverloadedError{Wait: wait, Left: left}
		}
	}
	b.live.Store(r, struct{}{})
	defer b.live.Delete(r)
	b.in <- es
	b.closeMu.RUnlock()

	select {
	case <-r.done:
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.err != nil {
			return nil, r.err
		}
		return &Result{Rows: r.rows, Queue: r.maxWait, Inference: r.lastEnd.Sub(r.firstRun), Batches: r.batches}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Flush stops waiting for batches to fill (MaxDelay): from now on whatever
// is queued runs as soon as a worker is free. Submit still accepts work. A
// draining server calls it so that in-flight requests finish sooner.
func (b *Batcher) Flush() { b.flushOnce.Do(func() { close(b.flush) }) }

// Abort ends every request submitted and not yet answered with ErrClosed
// (queued sequences are dropped; rows of batches already running are thrown
// away), so that a server out of drain time can answer them at once.
func (b *Batcher) Abort() {
	b.closeMu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.closeMu.Unlock()
	b.live.Range(func(k, _ any) bool {
		k.(*request).fail(ErrClosed)
		return true
	})
}

// Close stops accepting sequences, runs everything already queued (without
// waiting for batches to fill) and returns when the last batch has finished
// or ctx ends.
func (b *Batcher) Close(ctx context.Context) error {
	b.closeMu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.closeMu.Unlock()
	select {
	case <-b.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("batcher: draining: %w", ctx.Err())
	}
}

// loop owns pending and the count of free workers.
func (b *Batcher) loop() {
	defer close(b.exited)
	var (
		pending  []*entry // arrival order
		tokens   int      // sum of pending lengths
		window   int      // the first window entries of pending are the open window
		free     = b.cfg.Workers
		finished = make(chan struct{}, b.cfg.Workers)
		timer    = time.NewTimer(time.Hour)
		stopping bool
		flushing bool
		gen      uint64
	)
	timer.Stop()
	add := func(es []*entry) {
		for _, e := range es {
			pending = append(pending, e)
			tokens += e.n
		}
	}
	for {
		// Take whatever has arrived without blocking, so a batch sees
		// everything queued when it closes.
	drain:
		for {
			select {
			case es := <-b.in:
				add(es)
			default:
				break drain
			}
		}
		if stopping && len(pending) == 0 && free == b.cfg.Workers && len(b.in) == 0 {
			return
		}
		var wait <-chan time.Time
		if free > 0 && len(pending) > 0 {
			now := time.Now()
			deadline := pending[0].req.enqueued.Add(b.cfg.MaxDelay)
			full := len(pending) >= b.cfg.MaxBatchSize || tokens >= b.cfg.MaxBatchTokens
			if full || stopping || flushing || !now.Before(deadline) {
				gen++
				var batch []*entry
				pending, batch, window = b.form(pending, window, gen)
				tokens = 0
				for _, e := range pending {
					tokens += e.n
				}
				b.cfg.Observer.QueueDepth(int(b.queued.Load()))
				if len(batch) > 0 {
					free--
					go b.execute(batch, finished)
				}
				continue
			}
			timer.Reset(deadline.Sub(now))
			wait = timer.C
		}
		select {
		case es := <-b.in:
			add(es)
			b.cfg.Observer.QueueDepth(int(b.queued.Load()))
		case <-finished:
			free++
		case <-wait:
		case <-b.stopChan(stopping):
			stopping = true
		case <-b.flushChan(flushing):
			flushing = true
		}
		if wait != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// stopChan returns the stop channel until it has been seen once.
func (b *Batcher) stopChan(seen bool) <-chan struct{} {
	if seen {
		return nil
	}
	return b.stop
}

// flushChan returns the flush channel until it has been seen once.
func (b *Batcher) flushChan(seen bool) <-chan struct{} {
	if seen {
		return nil
	}
	return b.flush
}

// live reports whether r still wants its rows; gone() (a system call for a
// real connection) is asked at most once per batch formation.
func (r *request) live(gen uint64, now time.Time, minRun time.Duration) (bool, string) {
	if r.ctx.Err() != nil {
		return false, DropCancelled
	}
	if !r.deadline.IsZero() && r.deadline.Before(now.Add(minRun)) {
		// It cannot finish in time: running it would only waste the
		// batch's time on an answer nobody gets.
		r.fail(ErrDeadline)
		return false, DropCancelled
	}
	if r.gone != nil {
		if r.alive || r.checkedAt == 0 {
			if r.checkedAt != gen {
				r.checkedAt, r.alive = gen, !r.gone()
				if !r.alive {
					r.fail(ErrClientGone)
				}
			}
		}
		if !r.alive {
			return false, DropClientGone
		}
	}
	r.mu.Lock()
	failed := r.failed
	r.mu.Unlock()
	if failed {
		return false, DropCancelled
	}
	return true, ""
}

// form drops dead entries, then builds one batch around the oldest live
// sequence: the others of the window (the first window entries of pending;
// a new one opens when it is spent) are taken in order of how close their
// length is to its length, while the batch stays within the size, token and
// padding budgets. The oldest always goes first, so no sequence waits
// behind ever-newer ones. It returns what is left of the window.
func (b *Batcher) form(pending []*entry, window int, gen uint64) (rest, batch []*entry, left int) {
	live := pending[:0]
	dropped := map[string]int{}
	droppedTokens := 0
	now := time.Now()
	spt := math.Float64frombits(b.secPerToken.Load())
	for i, e := range pending {
		// A sequence alone is the shortest batch it can run in.
		minRun := time.Duration(spt * float64(e.n) * float64(time.Second))
		if ok, why := e.req.live(gen, now, minRun); !ok {
			dropped[why]++
			droppedTokens += e.n
			if i < window {
				window--
			}
			continue
		}
		live = append(live, e)
	}
	for i := len(live); i < len(pending); i++ {
		pending[i] = nil
	}
	b.queuedTokens.Add(-int64(droppedTokens))
	for why, n := range dropped {
		b.queued.Add(-int64(n))
		b.cfg.Observer.Dropped(n, why)
	}
	if len(live) == 0 {
		return live, nil, 0
	}
	switch {
	case b.cfg.Window == 0:
		window = len(live)
	case window <= 0:
		window = min(len(live), b.cfg.Window)
	}
	oldest := live[0]
	order := make([]int, window-1)
	for i := range order {
		order[i] = i + 1
	}
	dist := func(e *entry) int {
		if e.n > oldest.n {
			return e.n - oldest.n
		}
		return oldest.n - e.n
	}
	slices.SortStableFunc(order, func(x, y int) int { return dist(live[x]) - dist(live[y]) })
	take := make([]bool, len(live))
	take[0] = true
	count, longest, real := 1, oldest.n, oldest.n
	for _, i := range order {
		if count == b.cfg.MaxBatchSize {
			break
		}
		l := max(longest, live[i].n)
		padded := l * (count + 1)
		if padded > b.cfg.MaxBatchTokens {
			continue
		}
		if b.cfg.MaxPadding > 0 && float64(padded-real-live[i].n) > b.cfg.MaxPadding*float64(padded) {
			continue
		}
		take[i] = true
		count, longest, real = count+1, l, real+live[i].n
	}
	batch = make([]*entry, 0, count)
	rest = live[:0]
	for i, e := range live {
		if take[i] {
			batch = append(batch, e)
		} else {
			rest = append(rest, e)
		}
	}
	for i := len(rest); i < len(live); i++ {
		live[i] = nil
	}
	b.queued.Add(-int64(len(batch)))
	b.queuedTokens.Add(-int64(real))
	return rest, batch, window - len(batch)
}

// execute runs one batch and hands each row to its request.
func (b *Batcher) execute(batch []*entry, finished chan<- struct{}) {
	defer func() { finished <- struct{}{} }()
	start := time.Now()
	in := make([]Input, len(batch))
	waits := make([]time.Duration, len(batch))
	longest := 0
	for i, e := range batch {
		in[i] = e.in
		waits[i] = start.Sub(e.req.enqueued)
		longest = max(longest, e.n)
	}
	b.cfg.Observer.BatchStarted(len(batch), longest*len(batch), waits)
	b.runTokens.Add(int64(longest * len(batch)))
	rows, err := b.runSafely(in)
	end := time.Now()
	b.runTokens.Add(-int64(longest * len(batch)))
	if err == nil {
		b.measure(longest*len(batch), end.Sub(start))
	}
	b.cfg.Observer.BatchDone(len(batch), end.Sub(start), err)
	if err == nil && len(rows) != len(batch) {
		err = fmt.Errorf("backend returned %d rows for %d sequences", len(rows), len(batch))
	}
	seen := make(map[*request]bool, len(batch))
	for i, e := range batch {
		r := e.req
		if err != nil {
			r.fail(&BackendError{Err: err})
			continue
		}
		r.mu.Lock()
		if r.failed {
			r.mu.Unlock()
			continue
		}
		r.rows[e.idx] = rows[i]
		if !seen[r] {
			seen[r] = true
			r.batches++
		}
		if r.firstRun.IsZero() || start.Before(r.firstRun) {
			r.firstRun = start
		}
		r.lastEnd = end
		r.maxWait = max(r.maxWait, waits[i])
		r.remaining--
		if r.remaining == 0 {
			close(r.done)
		}
		r.mu.Unlock()
	}
}

// runSafely turns a panic in the runner into an error for this batch, so a
// bug in one batch cannot take the server down.
func (b *Batcher) runSafely(in []Input) (rows [][]float32, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("backend panicked: %v", p)
		}
	}()
	return b.run.Run(context.Background(), in)
}

// fail ends the request with err unless it has already ended.
func (r *request) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed || r.remaining == 0 {
		return
	}
	r.failed, r.err = true, err
	close(r.done)
}
