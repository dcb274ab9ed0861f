package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/models"
	"github.com/kiln-ml/kiln/serve/backend"
	"github.com/kiln-ml/kiln/serve/batcher"
)

// fakeRunner stands in for ONNX Runtime: the logits of a sequence are a
// function of its ids (so a mix-up between inputs shows), and a batch costs
// perToken per padded token, as on a CPU.
type fakeRunner struct {
	labels   int
	perToken time.Duration
	warmed   atomic.Int32
	ran      atomic.Int64 // sequences run
	closed   atomic.Bool
	provider string // "" = FakeExecutionProvider
}

func fakeLogits(ids []int64, labels int) []float32 {
	row := make([]float32, labels)
	for j := range row {
		var s int64
		for k, id := range ids {
			s += id * int64(k+j+1)
		}
		row[j] = float32(s%997)/100 - 5
	}
	return row
}

func (f *fakeRunner) Run(ctx context.Context, in []batcher.Input) ([][]float32, error) {
	longest := 0
	for _, x := range in {
		longest = max(longest, len(x.IDs))
	}
	time.Sleep(f.perToken * time.Duration(longest*len(in)))
	rows := make([][]float32, len(in))
	for i, x := range in {
		rows[i] = fakeLogits(x.IDs, f.labels)
	}
	f.ran.Add(int64(len(in)))
	return rows, nil
}
func (f *fakeRunner) Concurrency() int { return 1 }
func (f *fakeRunner) NumLabels() int   { return f.labels }
func (f *fakeRunner) Provider() string {
	if f.provider == "" {
		return "FakeExecutionProvider"
	}
	return f.provider
}
func (f *fakeRunner) FallbackReason() string { return "" }
func (f *fakeRunner) Warmup(context.Context, []backend.Shape) (time.Duration, error) {
	f.warmed.Add(1)
	return 0, nil
}
func (f *fakeRunner) Close() error { f.closed.Store(true); return nil }

// fakeModelDir holds what serve reads besides the graph: config.json (three
// labels, 64 positions) and the bert-base-uncased tokenizer. There is no
// model.onnx: the fake runner replaces it.
func fakeModelDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := models.DefaultConfig(models.TypeBERT)
	cfg.MaxPositionEmbeddings = 64
	cfg.SetLabels([]string{"neg", "neutral", "pos"})
	cfg.ProblemType = models.ProblemSingleLabel
	if err := cfg.Save(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(bertTokenizerJSON())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tok, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startFake serves the fake model on a loopback port with the given drain
// time; stop cancels Serve and returns its error.
func startFake(t *testing.T, cfg Config, run *fakeRunner, drain time.Duration) (ts *testServer, stop func() error) {
	t.Helper()
	cfg.ModelDir, cfg.Runner = fakeModelDir(t), run
	return serveLoopback(t, cfg, drain)
}

// TestCoreAgreesAcrossTransports: /predict, KServe and Infer.Predict give
// the same scores for the same texts — the fake runner's logits through the
// textbook softmax — with no ONNX Runtime in the process.
func TestCoreAgreesAcrossTransports(t *testing.T) {
	run := &fakeRunner{labels: 3}
	ts, _ := startFake(t, Config{}, run, time.Second)
	if run.warmed.Load() != 1 {
		t.Errorf("warm-up ran %d times, want once", run.warmed.Load())
	}
	texts := []string{"a fine film", "the worst two hours of my life, and the popcorn was stale", "meh"}
	tok, err := LoadTokenizer(fakeModelDir(t))
	if err != nil {
		t.Fatal(err)
	}
	in := make([]TextInput, len(texts))
	for i, x := range texts {
		in[i] = TextInput{Text: x}
	}
	encs, err := tok.Encode(in, EncodeOptions{AddSpecialTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]float64, len(texts))
	for i, e := range encs {
		ids := make([]int64, len(e.IDs))
		for j, id := range e.IDs {
			ids[j] = int64(id)
		}
		l := fakeLogits(ids, 3)
		var sum float64
		for _, v := range l {
			sum += math.Exp(float64(v))
		}
		for _, v := range l {
			want[i] = append(want[i], math.Exp(float64(v))/sum)
		}
	}
	labels := []string{"neg", "neutral", "pos"}
	const tol = 1e-6 // float32 logits, float64 softmax; JSON keeps 15+ digits

	out, err := ts.core.Predict(context.Background(), in, PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var httpOut [][]Prediction
	r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": [][]string{{texts[0]}, {texts[1]}, {texts[2]}}})
	if r.Status != 200 {
		t.Fatal(r)
	}
	if err := json.Unmarshal(r.Body, &httpOut); err != nil {
		t.Fatal(err)
	}
	var ks kserveResponse
	r = do(t, "POST", ts.URL+"/v2/models/"+ts.Model().Name+"/infer", map[string]any{
		"inputs": []map[string]any{{"name": "text", "datatype": "BYTES", "shape": []int{3}, "data": texts}}})
	if r.Status != 200 {
		t.Fatal(r)
	}
	if err := json.Unmarshal(r.Body, &ks); err != nil {
		t.Fatal(err)
	}
	kscores, _ := ks.Outputs[0].Data.([]any)
	for i := range texts {
		for j, l := range labels {
			if d := math.Abs(out.Scores[i][j] - want[i][j]); d > tol {
				t.Errorf("Infer.Predict text %d %s: %v, want %v", i, l, out.Scores[i][j], want[i][j])
			}
			for _, p := range httpOut[i] {
				if p.Label == l && math.Abs(p.Score-want[i][j]) > tol {
					t.Errorf("/predict text %d %s: %v, want %v", i, l, p.Score, want[i][j])
				}
			}
			if k, _ := kscores[i*3+j].(float64); math.Abs(k-want[i][j]) > tol {
				t.Errorf("KServe text %d %s: %v, want %v", i, l, k, want[i][j])
			}
		}
	}
}

// TestServeReturnsListenerError: a listener that fails after warm-up ends
// Serve with an error (it used to stop watching it and hang until SIGTERM).
func TestServeReturnsListenerError(t *testing.T) {
	run := &fakeRunner{labels: 3}
	srv, err := New(Config{ModelDir: fakeModelDir(t), Runner: run, Logger: testLogger(t), Warmup: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), fl, time.Second) }()
	for !srv.Ready() {
		time.Sleep(5 * time.Millisecond)
	}
	fl.fail.Store(true)
	// Wake Accept up with a connection; the listener then reports its error.
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "listener broke") {
			t.Errorf("Serve returned %v, want the listener's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve kept running after its listener failed")
	}
	if !run.closed.Load() {
		t.Error("runner not closed after the listener failed")
	}
}

// failingListener fails Accept once fail is set.
type failingListener struct {
	net.Listener
	fail atomic.Bool
}

func (l *failingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if l.fail.Load() {
		if c != nil {
			c.Close()
		}
		return nil, errors.New("listener broke")
	}
	return c, err
}

// TestTokenBudgets (issue 16.1): a request over the character budget is
// refused before anything is tokenised; an over-long input without
// truncation is refused after tokenising at most one token past the limit;
// a request over the token budget is refused before it is queued.
func TestTokenBudgets(t *testing.T) {
	run := &fakeRunner{labels: 3}
	rec := &recordingTokenizer{}
	ts, _ := startFake(t, Config{MaxRequestChars: 1000, MaxRequestTokens: 100, Tokenizer: rec}, run, time.Second)
	tok, err := LoadTokenizer(fakeModelDir(t))
	if err != nil {
		t.Fatal(err)
	}
	rec.Tokenizer = tok
	words := func(n int) string { return strings.TrimSpace(strings.Repeat("word ", n)) }
	for _, tc := range []struct {
		name        string
		body        map[string]any
		status      int
		errType     string
		tokenized   bool
		maxLength   int // the truncation the tokenizer was asked for
		ranAfterRun bool
	}{
		{"over the character budget", map[string]any{"inputs": [][]string{{words(150)}, {words(150)}, {words(150)}}}, 413, ErrTooLarge, false, 0, false},
		{"over-long without truncate", map[string]any{"inputs": words(190)}, 422, ErrValidation, true, 65, false},
		{"over-long with truncate", map[string]any{"inputs": words(190), "truncate": true}, 200, "", true, 64, true},
		{"over the token budget", map[string]any{"inputs": [][]string{{words(40)}, {words(40)}, {words(40)}}}, 413, ErrTooLarge, true, 65, false},
		{"within every budget", map[string]any{"inputs": [][]string{{words(20)}, {words(20)}}}, 200, "", true, 65, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.reset()
			before := run.ran.Load()
			r := do(t, "POST", ts.URL+"/predict", tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %s, want %d", r, tc.status)
			}
			if tc.errType != "" && r.errorBody(t).ErrorType != tc.errType {
				t.Errorf("error %s, want %s", r, tc.errType)
			}
			calls, maxLen := rec.last()
			if (calls > 0) != tc.tokenized || (tc.tokenized && maxLen != tc.maxLength) {
				t.Errorf("tokenizer called %d times with max length %d, want called=%v with %d", calls, maxLen, tc.tokenized, tc.maxLength)
			}
			if ran := run.ran.Load() > before; ran != tc.ranAfterRun {
				t.Errorf("runner ran: %v, want %v", ran, tc.ranAfterRun)
			}
		})
	}
}

// recordingTokenizer records what it was asked to do.
type recordingTokenizer struct {
	Tokenizer
	mu     sync.Mutex
	calls  int
	maxLen int
}

func (r *recordingTokenizer) Encode(in []TextInput, opt EncodeOptions) ([]Encoding, error) {
	r.mu.Lock()
	r.calls++
	r.maxLen = opt.MaxLength
	tok := r.Tokenizer
	r.mu.Unlock()
	return tok.Encode(in, opt)
}
func (r *recordingTokenizer) VocabSize() int {
	if r.Tokenizer == nil {
		return 30522
	}
	return r.Tokenizer.VocabSize()
}
func (r *recordingTokenizer) reset() { r.mu.Lock(); r.calls, r.maxLen = 0, 0; r.mu.Unlock() }
func (r *recordingTokenizer) last() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, r.maxLen
}

// TestOverloadAnswers429AtOnce (issue 16.2): expensive inputs at several
// times the capacity get 429 with Retry-After at once, not 504 at the
// timeout; what is admitted is answered.
func TestOverloadAnswers429AtOnce(t *testing.T) {
	run := &fakeRunner{labels: 3, perToken: 100 * time.Microsecond} // a 60-token sequence: 6 ms alone
	ts, _ := startFake(t, Config{RequestTimeout: 500 * time.Millisecond, MaxBatchSize: 8}, run, time.Second)
	long := strings.TrimSpace(strings.Repeat("word ", 58))
	// Teach the batcher the cost.
	if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": long}); r.Status != 200 {
		t.Fatal(r)
	}
	const n = 300 // ≈ 3× what fits in the timeout: 500 ms / 6 ms ≈ 80 sequences
	var mu sync.Mutex
	counts := map[int]int{}
	var slow429 int
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": fmt.Sprintf("%s %d", long, i)})
			mu.Lock()
			defer mu.Unlock()
			counts[r.Status]++
			if r.Status == 429 {
				if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("429 without a Retry-After: %v", r.Header)
				}
				// The server's own time (x-total-time, ms): the client's
				// includes waiting for a CPU on a busy test machine.
				if ms, _ := strconv.ParseFloat(r.Header.Get("x-total-time"), 64); ms > 100 {
					slow429++
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("statuses %v, %d slow 429s", counts, slow429)
	if counts[429] == 0 || counts[200] == 0 || counts[200]+counts[429]+counts[504] != n {
		t.Errorf("statuses %v: want 200s and 429s only", counts)
	}
	if counts[504] > n/20 {
		t.Errorf("%d timeouts: overload should be refused at once", counts[504])
	}
	if slow429 > n/20 {
		t.Errorf("%d 429s took the server over 100 ms", slow429)
	}
}

// TestResponseHoldsAdmissionUntilWritten (issue 16.1): a client that does
// not read its (large) response still holds its place in flight and its
// share of the admitted bytes, so further large requests get 429 while
// small ones keep answering; once the client goes, both are released.
func TestResponseHoldsAdmissionUntilWritten(t *testing.T) {
	run := &fakeRunner{labels: 3}
	ts, _ := startFake(t, Config{MaxAdmittedBytes: 200 << 10, MaxRequestChars: 300 << 10, MaxTextChars: 300 << 10}, run, time.Second)
	// /tokenize answers ~60 bytes per token: 100k one-character words make
	// a ~6 MB response, more than the socket buffers hold unread.
	big := fmt.Sprintf(`{"inputs": %q}`, strings.TrimSpace(strings.Repeat("a ", 100_000)))
	d := net.Dialer{Control: smallReceiveBuffer}
	conn, err := d.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(big), big)
	// The handler finishes quickly; the response then waits on the socket.
	deadline := time.Now().Add(20 * time.Second)
	for metricValue(t, ts, `kiln_http_requests_total{route="/tokenize",status="200"}`) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the big /tokenize never finished; requests: %s", metricLines(t, ts, "kiln_http_requests_total"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if v := metricValue(t, ts, "kiln_http_requests_in_flight"); v != 1 {
		t.Errorf("in flight %v while the response is unread, want 1", v)
	}
	second := do(t, "POST", ts.URL+"/tokenize", []byte(big))
	if second.Status != 429 || second.Header.Get("Retry-After") == "" {
		t.Errorf("second big request while the first is unwritten: %s, want 429 with Retry-After", second)
	}
	if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "small requests keep answering"}); r.Status != 200 {
		t.Errorf("small request: %s", r)
	}
	// Reading the response releases it.
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	for deadline := time.Now().Add(5 * time.Second); metricValue(t, ts, "kiln_http_requests_in_flight") != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("admission not released after the response was written")
		}
	}
	if r := do(t, "POST", ts.URL+"/tokenize", []byte(big)); r.Status != 200 {
		t.Errorf("big request after the first was read: %d", r.Status)
	}
}

// TestDrainAnswersBacklog (issue 16.6): with more queued work than the
// drain time allows, every request still gets a response — 200 for what
// finished, 503 with Retry-After for the rest, never a cut connection —
// and Serve returns nil (kiln serve exits 0).
func TestDrainAnswersBacklog(t *testing.T) {
	run := &fakeRunner{labels: 3, perToken: 2 * time.Millisecond} // 8 sequences of ~60 tokens: ~1 s a batch
	ts, stop := startFake(t, Config{MaxBatchSize: 8, RequestTimeout: time.Minute}, run, time.Second)
	long := strings.TrimSpace(strings.Repeat("word ", 58))
	const n = 40
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(ts.URL+"/predict", "application/json", strings.NewReader(fmt.Sprintf(`{"inputs": "%s %d"}`, long, i)))
			if err != nil {
				t.Errorf("request %d: %v (the drain cut it)", i, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
		}()
	}
	for len(ts.slots) < n { // every request admitted (in flight)
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := stop(); err != nil {
		t.Errorf("Serve after a drain with a backlog: %v, want nil (exit 0)", err)
	}
	took := time.Since(start)
	wg.Wait()
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	t.Logf("statuses %v, shutdown took %v", counts, took)
	if counts[503] == 0 || counts[200]+counts[503] != n {
		t.Errorf("statuses %v: want only 200 and 503, some 503", counts)
	}
	if took > 3*time.Second {
		t.Errorf("shutdown took %v with a 1 s drain", took)
	}
}

// smallReceiveBuffer shrinks a client socket's receive buffer, so that an
// unread response fills it (and the server's send buffer) quickly.
func smallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
	return errors.Join(err, serr)
}

// TestBatchTokensByProvider: a zero --max-batch-tokens takes the budget of
// where batches run (small on the CPU, where long batches cost more per
// sequence than they save; TEI's on a GPU); a set one is kept.
func TestBatchTokensByProvider(t *testing.T) {
	for _, tc := range []struct {
		provider string
		set      int
		want     int
	}{
		{"CPUExecutionProvider", 0, CPUMaxBatchTokens},
		{"CUDAExecutionProvider", 0, GPUMaxBatchTokens},
		{"CPUExecutionProvider", 2048, 2048},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.provider, tc.set), func(t *testing.T) {
			inf, err := NewInfer(Config{ModelDir: fakeModelDir(t), Runner: &fakeRunner{labels: 3, provider: tc.provider}, MaxBatchTokens: tc.set}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer inf.Close(context.Background())
			if got := inf.batch.Config().MaxBatchTokens; got != tc.want {
				t.Errorf("batch tokens %d, want %d", got, tc.want)
			}
		})
	}
}
