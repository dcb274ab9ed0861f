package batcher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRunner is a backend whose row for a sequence is [len, sum of ids], so
// a test can check every row reached its own request. It records batches.
type fakeRunner struct {
	mu      sync.Mutex
	batches [][]int // lengths per batch
	seen    map[int64]bool
	gate    chan struct{} // when set, each Run waits for a token
	started chan struct{} // when set, each Run signals its start
	delay   time.Duration
	// perToken adds a cost per padded token (longest × count), as a CPU
	// backend has.
	perToken time.Duration
	startAt  map[int64]time.Time // when each tag's batch started
	failIf   func(in []Input) error
	panicIf  func(in []Input) bool
}

func (f *fakeRunner) Run(_ context.Context, in []Input) ([][]float32, error) {
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	start := time.Now()
	longest := 0
	for _, x := range in {
		longest = max(longest, len(x.IDs))
	}
	time.Sleep(f.delay + f.perToken*time.Duration(longest*len(in)))
	lens := make([]int, len(in))
	rows := make([][]float32, len(in))
	f.mu.Lock()
	if f.seen == nil {
		f.seen = map[int64]bool{}
	}
	for i, x := range in {
		lens[i] = len(x.IDs)
		var sum int64
		for _, id := range x.IDs {
			sum += id
		}
		f.seen[x.IDs[0]] = true
		if f.startAt == nil {
			f.startAt = map[int64]time.Time{}
		}
		f.startAt[x.IDs[0]] = start
		rows[i] = []float32{float32(len(x.IDs)), float32(sum)}
	}
	f.batches = append(f.batches, lens)
	f.mu.Unlock()
	if f.panicIf != nil && f.panicIf(in) {
		panic("fake backend exploded")
	}
	if f.failIf != nil {
		if err := f.failIf(in); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

func (f *fakeRunner) batchLens() [][]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]int(nil), f.batches...)
}

// seq makes a sequence of n ids whose first id tags it.
func seq(tag int64, n int) Input {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = tag
	}
	return Input{IDs: ids}
}

type countingObserver struct {
	mu      sync.Mutex
	sizes   []int
	tokens  []int
	dropped map[string]int
	errs    int
}

func (o *countingObserver) QueueDepth(int) {}
func (o *countingObserver) BatchStarted(size, tokens int, _ []time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sizes = append(o.sizes, size)
	o.tokens = append(o.tokens, tokens)
}
func (o *countingObserver) BatchDone(_ int, _ time.Duration, err error) {
	if err != nil {
		o.mu.Lock()
		o.errs++
		o.mu.Unlock()
	}
}
func (o *countingObserver) Dropped(n int, why string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dropped == nil {
		o.dropped = map[string]int{}
	}
	o.dropped[why] += n
}

func newBatcher(t *testing.T, cfg Config, r Runner) *Batcher {
	t.Helper()
	b, err := New(cfg, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"zero batch size", Config{MaxBatchTokens: 10, QueueSize: 1}},
		{"zero tokens", Config{MaxBatchSize: 1, QueueSize: 1}},
		{"negative delay", Config{MaxBatchSize: 1, MaxBatchTokens: 1, QueueSize: 1, MaxDelay: -1}},
		{"zero queue", Config{MaxBatchSize: 1, MaxBatchTokens: 1}},
		{"padding of 1", Config{MaxBatchSize: 1, MaxBatchTokens: 1, QueueSize: 1, MaxPadding: 1}},
		{"negative window", Config{MaxBatchSize: 1, MaxBatchTokens: 1, QueueSize: 1, Window: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, &fakeRunner{}); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

// TestConcurrentRequestsAreBatched: many concurrent single-sequence
// requests against a slow backend end up in batches larger than one, and
// every request gets its own row back.
func TestConcurrentRequestsAreBatched(t *testing.T) {
	for _, tc := range []struct {
		name    string
		delay   time.Duration
		workers int
	}{
		{"no delay, one worker", 0, 1},
		{"2ms delay, two workers", 2 * time.Millisecond, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRunner{delay: 10 * time.Millisecond}
			obs := &countingObserver{}
			b := newBatcher(t, Config{MaxBatchSize: 8, MaxBatchTokens: 1000, MaxDelay: tc.delay, QueueSize: 100, Workers: tc.workers, Observer: obs}, r)
			const n = 64
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					in := seq(int64(i+1), 1+i%7)
					res, err := b.Submit(context.Background(), []Input{in}, nil)
					if err != nil {
						errs <- err
						return
					}
					want := []float32{float32(len(in.IDs)), float32(int64(len(in.IDs)) * int64(i+1))}
					if got := res.Rows[0]; got[0] != want[0] || got[1] != want[1] {
						errs <- fmt.Errorf("request %d got row %v, want %v", i, got, want)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			maxSize, total := 0, 0
			for _, s := range obs.sizes {
				maxSize = max(maxSize, s)
				total += s
				if s > 8 {
					t.Errorf("batch of %d exceeds max batch size 8", s)
				}
			}
			if total != n {
				t.Errorf("batches held %d sequences, want %d", total, n)
			}
			if maxSize < 2 {
				t.Errorf("largest batch %d: concurrent requests were not batched (sizes %v)", maxSize, obs.sizes)
			}
		})
	}
}

// TestBudgetsAndLengthGrouping: with the worker held, sequences of two very
// different lengths pile up; the batches formed afterwards respect the size
// and token budgets and do not mix the short with the long ones.
func TestBudgetsAndLengthGrouping(t *testing.T) {
	r := &fakeRunner{gate: make(chan struct{}), started: make(chan struct{}, 100)}
	obs := &countingObserver{}
	b := newBatcher(t, Config{MaxBatchSize: 4, MaxBatchTokens: 4 * 40, QueueSize: 100, Workers: 1, Observer: obs}, r)
	// Occupy the only worker.
	first := make(chan error, 1)
	go func() {
		_, err := b.Submit(context.Background(), []Input{seq(1000, 3)}, nil)
		first <- err
	}()
	<-r.started
	var wg sync.WaitGroup
	for i := range 16 {
		n := 3
		if i%2 == 1 {
			n = 40
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Submit(context.Background(), []Input{seq(int64(i+1), n)}, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	for b.QueueDepth() < 16 {
		time.Sleep(time.Millisecond)
	}
	go func() {
		for range 100 {
			<-r.started
		}
	}()
	close(r.gate)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, lens := range r.batchLens() {
		longest, mixed := 0, false
		for _, l := range lens {
			longest = max(longest, l)
			if l != lens[0] {
				mixed = true
			}
		}
		if len(lens) > 4 {
			t.Errorf("batch %d has %d sequences > 4", i, len(lens))
		}
		if longest*len(lens) > 160 {
			t.Errorf("batch %d: %d padded tokens > budget 160 (%v)", i, longest*len(lens), lens)
		}
		if mixed {
			t.Errorf("batch %d mixes lengths %v although enough of each length were queued", i, lens)
		}
	}
}

// TestMaxPadding: a sequence that would make the batch mostly padding is
// left for a later batch; with a window, later arrivals do not overtake it.
func TestMaxPadding(t *testing.T) {
	for _, tc := range []struct {
		name         string
		size, window int
		want         [][]int
	}{
		// 30 would make a batch with the others 47% padding: it waits, and
		// every later sequence of a common length overtakes it.
		{"whole queue", 8, 0, [][]int{{2}, {10, 11, 12, 10, 10}, {30}}},
		// The window [10 30 11] runs before anything that came later.
		{"window of 3", 3, 3, [][]int{{2}, {10, 11}, {30}, {12, 10, 10}}},
		{"window of 3, batches of 2", 2, 3, [][]int{{2}, {10, 11}, {30}, {12, 10}, {10}}},
		// A window below the batch size is raised to it.
		{"window of 1, batches of 3", 3, 1, [][]int{{2}, {10, 11}, {30}, {12, 10, 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRunner{gate: make(chan struct{}), started: make(chan struct{}, 100)}
			b := newBatcher(t, Config{MaxBatchSize: tc.size, MaxBatchTokens: 1000, MaxPadding: 0.2, Window: tc.window, QueueSize: 100}, r)
			first := make(chan error, 1)
			go func() {
				_, err := b.Submit(context.Background(), []Input{seq(99, 2)}, nil)
				first <- err
			}()
			<-r.started
			lens := []int{10, 30, 11, 12, 10, 10} // queued in this order
			done := make(chan error, len(lens))
			for i, n := range lens {
				go func() {
					_, err := b.Submit(context.Background(), []Input{seq(int64(i+1), n)}, nil)
					done <- err
				}()
				for b.QueueDepth() < i+1 {
					time.Sleep(time.Millisecond)
				}
			}
			close(r.gate)
			for range lens {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			if got := r.batchLens(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("batches %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOversizedSequenceRunsAlone(t *testing.T) {
	r := &fakeRunner{}
	b := newBatcher(t, Config{MaxBatchSize: 4, MaxBatchTokens: 10, QueueSize: 10}, r)
	res, err := b.Submit(context.Background(), []Input{seq(1, 50)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows[0][0] != 50 {
		t.Fatalf("row %v", res.Rows[0])
	}
}

// TestMultiSequenceRequest: a request larger than a batch is split and its
// rows come back in order.
func TestMultiSequenceRequest(t *testing.T) {
	r := &fakeRunner{}
	b := newBatcher(t, Config{MaxBatchSize: 3, MaxBatchTokens: 100, QueueSize: 20}, r)
	var in []Input
	for i := range 10 {
		in = append(in, seq(int64(i+1), 1+i%4))
	}
	res, err := b.Submit(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range res.Rows {
		if want := float32(len(in[i].IDs) * (i + 1)); row[1] != want {
			t.Errorf("row %d = %v, want sum %v", i, row, want)
		}
	}
	if res.Batches < 4 {
		t.Errorf("10 sequences with max batch size 3 ran in %d batches", res.Batches)
	}
}

func TestQueueFull(t *testing.T) {
	r := &fakeRunner{gate: make(chan struct{}), started: make(chan struct{}, 10)}
	b := newBatcher(t, Config{MaxBatchSize: 1, MaxBatchTokens: 100, QueueSize: 3}, r)
	defer close(r.gate)
	go b.Submit(context.Background(), []Input{seq(1, 2)}, nil) // occupies the worker
	<-r.started
	go b.Submit(context.Background(), []Input{seq(2, 2), seq(3, 2)}, nil)
	for b.QueueDepth() < 2 {
		time.Sleep(time.Millisecond)
	}
	_, err := b.Submit(context.Background(), []Input{seq(4, 2), seq(5, 2)}, nil)
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Submit into a full queue: %v, want ErrQueueFull", err)
	}
	_, err = b.Submit(context.Background(), make([]Input, 4), nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Submit larger than the queue: %v, want ErrTooLarge", err)
	}
}

// TestAbandonedRequestsAreDropped: requests whose context ended or whose
// client left while queued never reach the backend.
func TestAbandonedRequestsAreDropped(t *testing.T) {
	r := &fakeRunner{gate: make(chan struct{}), started: make(chan struct{}, 10)}
	obs := &countingObserver{}
	b := newBatcher(t, Config{MaxBatchSize: 8, MaxBatchTokens: 100, QueueSize: 10, Observer: obs}, r)
	blocker := make(chan error, 1)
	go func() {
		_, err := b.Submit(context.Background(), []Input{seq(1, 2)}, nil)
		blocker <- err
	}()
	<-r.started

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := b.Submit(ctx, []Input{seq(2, 2)}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out Submit: %v", err)
	}
	var left atomic.Bool
	goneErr := make(chan error, 1)
	go func() {
		_, err := b.Submit(context.Background(), []Input{seq(3, 2), seq(4, 2)}, func() bool { return left.Load() })
		goneErr <- err
	}()
	okErr := make(chan error, 1)
	go func() {
		_, err := b.Submit(context.Background(), []Input{seq(5, 2)}, func() bool { return false })
		okErr <- err
	}()
	for b.QueueDepth() < 4 {
		time.Sleep(time.Millisecond)
	}
	left.Store(true)
	close(r.gate)
	if err := <-goneErr; !errors.Is(err, ErrClientGone) {
		t.Errorf("request whose client left: %v, want ErrClientGone", err)
	}
	if err := <-okErr; err != nil {
		t.Errorf("live request: %v", err)
	}
	if err := <-blocker; err != nil {
		t.Error(err)
	}
	r.mu.Lock()
	for _, tag := range []int64{2, 3, 4} {
		if r.seen[tag] {
			t.Errorf("sequence %d of an abandoned request reached the backend", tag)
		}
	}
	if !r.seen[5] {
		t.Error("live sequence never ran")
	}
	r.mu.Unlock()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.dropped[DropCancelled] != 1 || obs.dropped[DropClientGone] != 2 {
		t.Errorf("dropped %v, want cancelled 1, client_gone 2", obs.dropped)
	}
	if d := b.QueueDepth(); d != 0 {
		t.Errorf("queue depth %d after everything finished", d)
	}
}

// TestBackendFailureIsContained: a failing or panicking batch fails only its
// own requests, and the batcher keeps serving.
func TestBackendFailureIsContained(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *fakeRunner
	}{
		{"error", &fakeRunner{failIf: func(in []Input) error {
			if in[0].IDs[0] == 666 {
				return errors.New("onnxruntime: bad input")
			}
			return nil
		}}},
		{"panic", &fakeRunner{panicIf: func(in []Input) bool { return in[0].IDs[0] == 666 }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &countingObserver{}
			b := newBatcher(t, Config{MaxBatchSize: 1, MaxBatchTokens: 100, QueueSize: 10, Observer: obs}, tc.r)
			_, err := b.Submit(context.Background(), []Input{seq(666, 3)}, nil)
			var be *BackendError
			if !errors.As(err, &be) {
				t.Fatalf("failing batch: %v, want *BackendError", err)
			}
			res, err := b.Submit(context.Background(), []Input{seq(7, 3)}, nil)
			if err != nil || res.Rows[0][1] != 21 {
				t.Fatalf("after a failed batch: %v %v", res, err)
			}
			if obs.errs != 1 {
				t.Errorf("observer saw %d failed batches, want 1", obs.errs)
			}
		})
	}
}

func TestMaxDelay(t *testing.T) {
	r := &fakeRunner{}
	b := newBatcher(t, Config{MaxBatchSize: 4, MaxBatchTokens: 100, MaxDelay: 150 * time.Millisecond, QueueSize: 10}, r)
	start := time.Now()
	if _, err := b.Submit(context.Background(), []Input{seq(1, 2)}, nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("a lone request ran after %v, before the 150ms batch delay", took)
	}
	// A full batch does not wait for the delay.
	b2 := newBatcher(t, Config{MaxBatchSize: 4, MaxBatchTokens: 100, MaxDelay: 5 * time.Second, QueueSize: 10}, r)
	start = time.Now()
	if _, err := b2.Submit(context.Background(), []Input{seq(1, 2), seq(2, 2), seq(3, 2), seq(4, 2)}, nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a full batch waited %v", took)
	}
}

// TestCloseDrains: Close runs what is queued and refuses new work.
func TestCloseDrains(t *testing.T) {
	r := &fakeRunner{gate: make(chan struct{}), started: make(chan struct{}, 100)}
	b, err := New(Config{MaxBatchSize: 2, MaxBatchTokens: 100, MaxDelay: time.Hour, QueueSize: 20}, r)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 6)
	for i := range 6 {
		go func() {
			_, err := b.Submit(context.Background(), []Input{seq(int64(i+1), 2)}, nil)
			errs <- err
		}()
	}
	<-r.started // the first batch is running; the rest wait on the hour-long delay or the worker
	for b.QueueDepth() != 4 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close(context.Background()) }()
	for !b.isClosed() {
		time.Sleep(time.Millisecond)
	}
	if _, err := b.Submit(context.Background(), []Input{seq(9, 2)}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v, want ErrClosed", err)
	}
	go func() {
		for range 100 {
			<-r.started
		}
	}()
	close(r.gate)
	for range 6 {
		if err := <-errs; err != nil {
			t.Errorf("queued request during drain: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

func (b *Batcher) isClosed() bool {
	b.closeMu.RLock()
	defer b.closeMu.RUnlock()
	return b.closed
}

// TestOverloadIsRefusedAtOnce (issue 16.2): with expensive sequences at
// several times the capacity, work that cannot finish before its deadline
// is refused at Submit (an *OverloadedError with Retry-After, in well under
// the timeout) instead of queueing until the deadline; no sequence starts a
// batch after its deadline; and little work is computed for requests that
// then time out.
func TestOverloadIsRefusedAtOnce(t *testing.T) {
	r := &fakeRunner{perToken: 2 * time.Millisecond}
	b := newBatcher(t, Config{MaxBatchSize: 4, MaxBatchTokens: 1000, QueueSize: 1000}, r)
	// One batch teaches the batcher the cost per token (40 ms per
	// 20-token sequence alone, 160 ms for a full batch of 4).
	if _, err := b.Submit(context.Background(), []Input{seq(1, 20)}, nil); err != nil {
		t.Fatal(err)
	}
	const n, timeout = 40, 400 * time.Millisecond // capacity ≈ 10 sequences per timeout
	type result struct {
		err      error
		took     time.Duration
		deadline time.Time
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			dl, _ := ctx.Deadline()
			start := time.Now()
			_, err := b.Submit(ctx, []Input{seq(int64(100+i), 20)}, nil)
			results[i] = result{err, time.Since(start), dl}
		}()
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	var ok, refused, late int
	for i, res := range results {
		var oe *OverloadedError
		switch {
		case res.err == nil:
			ok++
		case errors.As(res.err, &oe):
			refused++
			if res.took > 50*time.Millisecond {
				t.Errorf("request %d refused after %v, want at once", i, res.took)
			}
			if oe.RetryAfter() < 1 {
				t.Errorf("Retry-After %d", oe.RetryAfter())
			}
		case errors.Is(res.err, context.DeadlineExceeded):
			late++
			t.Logf("request %d timed out after %v (%v)", i, res.took, res.err)
		default:
			t.Errorf("request %d: %v", i, res.err)
		}
		r.mu.Lock()
		at, ran := r.startAt[int64(100+i)]
		r.mu.Unlock()
		if ran && at.After(res.deadline) {
			t.Errorf("request %d started its batch %v after its deadline", i, at.Sub(res.deadline))
		}
		if ran && res.err != nil && !errors.Is(res.err, context.DeadlineExceeded) {
			t.Errorf("request %d ran but got %v", i, res.err)
		}
	}
	t.Logf("%d answered, %d refused at once, %d timed out", ok, refused, late)
	if refused < n/2 || ok < 5 {
		t.Errorf("%d answered, %d refused, %d timed out: want most refused at once and the capacity served", ok, refused, late)
	}
	if late > 4 {
		t.Errorf("%d requests timed out (computed for nobody or queued to the deadline), want at most one batch's worth", late)
	}
}

// TestFlushAndAbort: Flush stops waiting for a batch to fill; Abort answers
// every pending request with ErrClosed at once.
func TestFlushAndAbort(t *testing.T) {
	r := &fakeRunner{}
	b := newBatcher(t, Config{MaxBatchSize: 8, MaxBatchTokens: 100, MaxDelay: time.Hour, QueueSize: 10}, r)
	done := make(chan error, 1)
	go func() {
		_, err := b.Submit(context.Background(), []Input{seq(1, 2)}, nil)
		done <- err
	}()
	for b.QueueDepth() == 0 {
		time.Sleep(time.Millisecond)
	}
	b.Flush()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Flush did not run the waiting batch")
	}

	r.gate = make(chan struct{})
	defer close(r.gate)
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := b.Submit(context.Background(), []Input{seq(int64(10+i), 2)}, nil)
			errs <- err
		}()
	}
	for b.QueueDepth()+len(r.batchLens()) < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // one of them may be in a running (gated) batch
	b.Abort()
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("aborted request: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Abort did not answer a request")
		}
	}
}
