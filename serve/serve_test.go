package serve

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/tokenizers"
)

// sst2Texts reads n sentences from the SST-2 dev slice.
func sst2Texts(t *testing.T, n int) []string {
	t.Helper()
	f, err := os.Open(testenv.Testdata("data/sst2/dev.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows[1:] {
		out = append(out, r[0])
		if len(out) == n {
			break
		}
	}
	return out
}

// offlineLogits is the oracle: the tokenizers package and an ONNX Runtime
// session called directly, one input at a time (so no padding), with no
// serve code in between.
func offlineLogits(t *testing.T, dir string, in []TextInput, maxLen int) [][]float32 {
	t.Helper()
	if err := ort.Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizers.FromFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	tok = tok.WithPadding(nil).WithTruncation(&tokenizers.Truncation{MaxLength: maxLen, Strategy: "longest_first", Direction: "right"})
	s, err := ort.NewSession(filepath.Join(dir, "model.onnx"), ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make([][]float32, len(in))
	for i, x := range in {
		var enc *tokenizers.Encoding
		if x.IsPair {
			enc, err = tok.EncodePair(x.Text, x.Pair, true)
		} else {
			enc, err = tok.Encode(x.Text, true)
		}
		if err != nil {
			t.Fatal(err)
		}
		n := len(enc.IDs)
		ids, mask, types := make([]int64, n), make([]int64, n), make([]int64, n)
		for j := range n {
			ids[j], mask[j], types[j] = int64(enc.IDs[j]), 1, int64(enc.TypeIDs[j])
		}
		shape := []int64{1, int64(n)}
		feeds := map[string]ort.Int64Tensor{"input_ids": {Shape: shape, Data: ids}, "attention_mask": {Shape: shape, Data: mask}}
		if slices.Contains(s.InputNames(), "token_type_ids") { // not in DeBERTa-v3's graph
			feeds["token_type_ids"] = ort.Int64Tensor{Shape: shape, Data: types}
		}
		res, err := s.Run(feeds)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = res["logits"].Data
	}
	return out
}

// expectedScores applies the score function by its textbook definition.
func expectedScores(fn string, labels []string, logits []float32) map[string]float64 {
	out := map[string]float64{}
	switch fn {
	case "softmax":
		sum := 0.0
		for _, v := range logits {
			sum += math.Exp(float64(v))
		}
		for i, v := range logits {
			out[labels[i]] = math.Exp(float64(v)) / sum
		}
	case "sigmoid":
		for i, v := range logits {
			out[labels[i]] = 1 / (1 + math.Exp(-float64(v)))
		}
	default:
		for i, v := range logits {
			out[labels[i]] = float64(v)
		}
	}
	return out
}

// TestPredictMatchesOfflineORT: for each kind of model, /predict (batched
// and one request per text, concurrently) gives the scores of the direct
// ONNX Runtime run, sorted by descending score.
func TestPredictMatchesOfflineORT(t *testing.T) {
	texts := sst2Texts(t, 24)
	for _, tc := range []struct {
		model, fn string
		labels    []string
	}{
		{"sentiment", "softmax", []string{"neg", "neutral", "pos"}},
		{"multilabel", "sigmoid", []string{"toxic", "insult", "threat", "spam"}},
		{"regression", "none", []string{"score"}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			ts := startServer(t, tc.model, Config{MaxBatchSize: 8, MaxBatchDelay: 2 * time.Millisecond, AutoTruncate: true})
			if ts.Model().Function != tc.fn {
				t.Fatalf("score function %s, want %s", ts.Model().Function, tc.fn)
			}
			inputs := make([]TextInput, 0, len(texts)+2)
			for _, s := range texts {
				inputs = append(inputs, TextInput{Text: s})
			}
			inputs = append(inputs,
				TextInput{Text: texts[0], Pair: texts[1], IsPair: true},
				TextInput{Text: strings.Repeat("a long sentence that must be truncated ", 20)}) // > 64 tokens
			want := offlineLogits(t, ts.Model().Dir, inputs, ts.Model().MaxLength)

			check := func(where string, got []Prediction, logits []float32) {
				t.Helper()
				exp := expectedScores(tc.fn, tc.labels, logits)
				if len(got) != len(exp) {
					t.Fatalf("%s: %d predictions, want %d", where, len(got), len(exp))
				}
				for i, p := range got {
					if math.Abs(p.Score-exp[p.Label]) > 1e-4 {
						t.Errorf("%s: %s = %.6f, offline ONNX Runtime %.6f", where, p.Label, p.Score, exp[p.Label])
					}
					if i > 0 && p.Score > got[i-1].Score {
						t.Errorf("%s: not sorted by descending score: %v", where, got)
					}
				}
			}
			// One batch request: texts as [text], the pair as [a, b], the
			// long one as an object.
			var batch []any
			for _, in := range inputs {
				switch {
				case in.IsPair:
					batch = append(batch, []string{in.Text, in.Pair})
				case len(batch)%3 == 2:
					batch = append(batch, map[string]string{"text": in.Text})
				default:
					batch = append(batch, []string{in.Text})
				}
			}
			r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": batch})
			if r.Status != http.StatusOK {
				t.Fatalf("batch predict: %s", r)
			}
			var got [][]Prediction
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(inputs) {
				t.Fatalf("%d results for %d inputs", len(got), len(inputs))
			}
			for i := range inputs {
				check(fmt.Sprintf("batch input %d", i), got[i], want[i])
			}
			// One request per input, all at once, so they share batches.
			var wg sync.WaitGroup
			for i, in := range inputs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var body any = in.Text
					if in.IsPair {
						body = []string{in.Text, in.Pair}
					}
					r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": body})
					if r.Status != http.StatusOK {
						t.Errorf("predict %d: %s", i, r)
						return
					}
					var one []Prediction
					if err := json.Unmarshal(r.Body, &one); err != nil {
						t.Error(err)
						return
					}
					check(fmt.Sprintf("single input %d", i), one, want[i])
				}()
			}
			wg.Wait()
			// raw_scores gives the logits themselves, top_k cuts the list.
			r = do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": inputs[0].Text, "raw_scores": true, "top_k": 1})
			var raw []Prediction
			if err := json.Unmarshal(r.Body, &raw); err != nil || r.Status != 200 {
				t.Fatalf("raw_scores: %s", r)
			}
			exp := expectedScores("none", tc.labels, want[0])
			best := ""
			for l, v := range exp {
				if best == "" || v > exp[best] {
					best = l
				}
			}
			if len(raw) != 1 || raw[0].Label != best || math.Abs(raw[0].Score-exp[best]) > 1e-4 {
				t.Errorf("raw_scores top_k=1: %v, want %s=%v", raw, best, exp[best])
			}
		})
	}
}

// TestBatchesUnderConcurrency: concurrent clients end up sharing batches,
// as the batch-size histogram shows.
func TestBatchesUnderConcurrency(t *testing.T) {
	ts := startServer(t, "sentiment", Config{MaxBatchSize: 16, MaxBatchDelay: 5 * time.Millisecond})
	texts := sst2Texts(t, 64)
	var wg sync.WaitGroup
	for i, s := range texts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": s}); r.Status != 200 {
				t.Errorf("request %d: %s", i, r)
			}
		}()
	}
	wg.Wait()
	batches := metricValue(t, ts, "kiln_batch_size_count")
	sequences := metricValue(t, ts, "kiln_batch_size_sum")
	singles := metricValue(t, ts, `kiln_batch_size_bucket{le="1"}`)
	if sequences != float64(len(texts)) {
		t.Errorf("batch_size_sum %v, want %d sequences", sequences, len(texts))
	}
	if singles >= batches {
		t.Errorf("all %v batches held one sequence: no batching under concurrency", batches)
	}
	t.Logf("%d requests ran in %v batches (mean size %.1f)", len(texts), batches, sequences/batches)
	if v := metricValue(t, ts, `kiln_http_requests_total{route="/predict",status="200"}`); v != float64(len(texts)) {
		t.Errorf("requests_total{/predict,200} = %v, want %d", v, len(texts))
	}
}

// TestBadInputs: each bad request gets its status and a JSON error body,
// and the server answers a good request after every one of them.
func TestBadInputs(t *testing.T) {
	ts := startServer(t, "sentiment", Config{MaxInputsPerRequest: 4, MaxTextChars: 500, BodyLimit: 4096, AutoTruncate: false})
	long := strings.Repeat("word ", 90) // 90 words > 64 tokens, < 500 chars
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		errType            string
	}{
		{"malformed JSON", "POST", "/predict", `{"inputs": "a"`, 400, ErrMalformed},
		{"not JSON", "POST", "/predict", `inputs=hello`, 400, ErrMalformed},
		{"empty body", "POST", "/predict", ``, 400, ErrMalformed},
		{"missing inputs", "POST", "/predict", `{"raw_scores": true}`, 422, ErrValidation},
		{"inputs a number", "POST", "/predict", `{"inputs": 42}`, 422, ErrValidation},
		{"empty list", "POST", "/predict", `{"inputs": []}`, 400, ErrEmpty},
		{"empty text", "POST", "/predict", `{"inputs": ""}`, 400, ErrEmpty},
		{"empty pair half", "POST", "/predict", `{"inputs": ["a", ""]}`, 400, ErrEmpty},
		{"three strings", "POST", "/predict", `{"inputs": ["a", "b", "c"]}`, 422, ErrValidation},
		{"string then list", "POST", "/predict", `{"inputs": ["a", ["b"]]}`, 422, ErrValidation},
		{"triple in batch", "POST", "/predict", `{"inputs": [["a", "b", "c"]]}`, 422, ErrValidation},
		{"number in batch", "POST", "/predict", `{"inputs": [["a"], [1]]}`, 422, ErrValidation},
		{"object without text", "POST", "/predict", `{"inputs": {"txt": "a"}}`, 422, ErrValidation},
		{"text_pair not a string", "POST", "/predict", `{"inputs": {"text": "a", "text_pair": 3}}`, 422, ErrValidation},
		{"raw_scores not a bool", "POST", "/predict", `{"inputs": "a", "raw_scores": "yes"}`, 422, ErrValidation},
		{"top_k zero", "POST", "/predict", `{"inputs": "a", "top_k": 0}`, 422, ErrValidation},
		{"bad direction", "POST", "/predict", `{"inputs": "a", "truncation_direction": "up"}`, 422, ErrValidation},
		{"over-long without truncation", "POST", "/predict", map[string]any{"inputs": long}, 422, ErrValidation},
		{"over-long, truncate false", "POST", "/predict", map[string]any{"inputs": long, "truncate": false}, 422, ErrValidation},
		{"too many inputs", "POST", "/predict", `{"inputs": [["a"], ["b"], ["c"], ["d"], ["e"]]}`, 413, ErrValidation},
		{"not UTF-8", "POST", "/predict", "{\"inputs\": \"\xff\"}", 422, ErrValidation},
		{"text too long", "POST", "/predict", map[string]any{"inputs": strings.Repeat("x", 501)}, 413, ErrTooLarge},
		{"body too large", "POST", "/predict", map[string]any{"inputs": strings.Repeat("x ", 3000)}, 413, ErrTooLarge},
		{"wrong method", "GET", "/predict", nil, 405, ErrMethod},
		{"unknown route", "GET", "/nope", nil, 404, ErrNotFound},
		{"decode id out of vocab", "POST", "/decode", `{"ids": [101, 99999999]}`, 422, ErrValidation},
		{"decode wrong type", "POST", "/decode", `{"ids": "abc"}`, 422, ErrValidation},
		{"tokenize malformed", "POST", "/tokenize", `{"inputs": [}`, 400, ErrMalformed},
		{"kserve unknown model", "POST", "/v2/models/other/infer", `{"inputs": []}`, 404, ErrNotFound},
		{"kserve wrong datatype", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1]}]}`, 422, ErrValidation},
		{"kserve shape mismatch", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a"]}]}`, 422, ErrValidation},
		{"kserve no text", "POST", "/v2/models/sentiment/infer", `{"inputs": []}`, 400, ErrEmpty},
		{"kserve unknown output", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a"]}], "outputs": [{"name": "logits"}]}`, 422, ErrValidation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, ts.URL+tc.path, tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %s, want %d", r, tc.status)
			}
			if e := r.errorBody(t); e.ErrorType != tc.errType || e.Error == "" {
				t.Errorf("error body %+v, want error_type %s and a message", e, tc.errType)
			}
			if r.Header.Get("x-total-time") == "" || r.Header.Get("X-Request-Id") == "" {
				t.Errorf("error response lacks timing / request id headers: %v", r.Header)
			}
			if ok := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "still serving?"}); ok.Status != 200 {
				t.Fatalf("server stopped answering after %q: %s", tc.name, ok)
			}
		})
	}
	// truncate: true makes the over-long input acceptable.
	if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": long, "truncate": true, "truncation_direction": "Left"}); r.Status != 200 {
		t.Errorf("truncate: true: %s", r)
	}
}

// TestOverload: far more concurrent requests than the cap get 429s with
// Retry-After, never timeouts or crashes, and the server recovers.
func TestOverload(t *testing.T) {
	ts := startServer(t, "sentiment", Config{MaxConcurrentRequests: 4, MaxQueue: 8, MaxInputsPerRequest: 8, MaxBatchSize: 4, MaxBatchDelay: 10 * time.Millisecond})
	texts := sst2Texts(t, 8)
	const n = 200
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": [][]string{{texts[i%8]}, {texts[(i+1)%8]}}})
			mu.Lock()
			counts[r.Status]++
			mu.Unlock()
			if r.Status == http.StatusTooManyRequests {
				if r.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
				if e := r.errorBody(t); e.ErrorType != ErrOverloaded {
					t.Errorf("429 error_type %q", e.ErrorType)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("statuses under overload: %v", counts)
	if counts[200]+counts[429] != n {
		t.Errorf("statuses %v: want only 200 and 429", counts)
	}
	if counts[429] == 0 || counts[200] == 0 {
		t.Errorf("statuses %v: want both served and refused requests", counts)
	}
	if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "after the storm"}); r.Status != 200 {
		t.Errorf("after overload: %s", r)
	}
	if v := metricValue(t, ts, `kiln_rejected_requests_total{reason="concurrency"}`) + metricValue(t, ts, `kiln_rejected_requests_total{reason="queue_full"}`); v != float64(counts[429]) {
		t.Errorf("rejected metric %v, want %d", v, counts[429])
	}
}

// TestRequestTimeout: a request still queued at --request-timeout gets 504
// and its sequence is dropped, not run.
func TestRequestTimeout(t *testing.T) {
	ts := startServer(t, "sentiment", Config{RequestTimeout: 50 * time.Millisecond, MaxBatchDelay: 400 * time.Millisecond})
	r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "slow"})
	if r.Status != http.StatusGatewayTimeout || r.errorBody(t).ErrorType != ErrTimeout {
		t.Fatalf("status %s, want 504 Timeout", r)
	}
	time.Sleep(500 * time.Millisecond) // the batch deadline passes; the dead entry is dropped
	if r := do(t, "POST", ts.URL+"/tokenize", map[string]any{"inputs": "x"}); r.Status != 200 {
		t.Fatal(r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, ts, `kiln_dropped_sequences_total{reason="cancelled"}`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("timed-out sequence was not dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := metricValue(t, ts, "kiln_batch_size_sum"); v != 0 {
		t.Errorf("%v sequences ran although the only request timed out", v)
	}
}

// TestClientGoneIsDropped: a client that disconnects while its request is
// queued does not cost an inference.
func TestClientGoneIsDropped(t *testing.T) {
	ts := startServer(t, "sentiment", Config{MaxBatchDelay: 300 * time.Millisecond})
	conn, err := (&net.Dialer{}).Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"inputs": "nobody will read this"}`
	fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	time.Sleep(50 * time.Millisecond)
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, ts, `kiln_dropped_sequences_total{reason="client_gone"}`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned request was not dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := metricValue(t, ts, "kiln_batch_size_sum"); v != 0 {
		t.Errorf("%v sequences ran although the only client left", v)
	}
}

// TestBackendErrorKeepsServing: a batch ONNX Runtime rejects (token ids past
// the small model's vocabulary) fails with 424 (TEI's status for a failed
// model run); the next request works.
func TestBackendErrorKeepsServing(t *testing.T) {
	ts := startServer(t, "smallvocab", Config{})
	r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "a movie"})
	if r.Status != http.StatusFailedDependency || r.errorBody(t).ErrorType != ErrBackend {
		t.Fatalf("id past the vocabulary: %s, want 424 Backend", r)
	}
	if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "the a"}); r.Status != 200 {
		t.Fatalf("after a failed batch: %s", r)
	}
	if v := metricValue(t, ts, "kiln_batch_errors_total"); v != 1 {
		t.Errorf("batch_errors_total %v, want 1", v)
	}
}

func TestHeadersAndAuth(t *testing.T) {
	ts := startServer(t, "sentiment", Config{APIKey: "s3cret"})
	r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "hi"})
	if r.Status != http.StatusUnauthorized || r.errorBody(t).ErrorType != ErrUnauthorized {
		t.Fatalf("no token: %s", r)
	}
	if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "hi"}, "Authorization", "Bearer wrong"); r.Status != 401 {
		t.Fatalf("wrong token: %s", r)
	}
	for _, p := range []string{"/health", "/ready", "/v2/health/ready", "/v2/health/live"} {
		if r := do(t, "GET", ts.URL+p, nil); r.Status != 200 {
			t.Errorf("probe %s without token: %s", p, r)
		}
	}
	r = do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "hi"}, "Authorization", "Bearer s3cret", "X-Request-Id", "abc-123")
	if r.Status != 200 {
		t.Fatal(r)
	}
	if got := r.Header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("X-Request-Id %q, want the client's abc-123", got)
	}
	for _, h := range []string{"x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time"} {
		var v float64
		if _, err := fmt.Sscan(r.Header.Get(h), &v); err != nil || v < 0 {
			t.Errorf("header %s = %q", h, r.Header.Get(h))
		}
	}
	var total, inf float64
	fmt.Sscan(r.Header.Get("x-total-time"), &total)
	fmt.Sscan(r.Header.Get("x-inference-time"), &inf)
	if inf <= 0 || inf > total {
		t.Errorf("inference %vms, total %vms", inf, total)
	}
	r2 := do(t, "GET", ts.URL+"/health", nil)
	if id := r2.Header.Get("X-Request-Id"); id == "" || id == "abc-123" {
		t.Errorf("generated request id %q", id)
	}
}

func TestKServe(t *testing.T) {
	ts := startServer(t, "sentiment", Config{})
	r := do(t, "GET", ts.URL+"/v2/models/sentiment", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"BYTES"`) {
		t.Fatalf("metadata: %s", r)
	}
	if r := do(t, "GET", ts.URL+"/v2/models/sentiment/ready", nil); r.Status != 200 {
		t.Fatalf("model ready: %s", r)
	}
	texts := sst2Texts(t, 3)
	r = do(t, "POST", ts.URL+"/v2/models/sentiment/infer", map[string]any{
		"id":     "req-1",
		"inputs": []map[string]any{{"name": "text", "shape": []int{3}, "datatype": "BYTES", "data": texts}},
	})
	if r.Status != 200 {
		t.Fatal(r)
	}
	var resp kserveResponse
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.ID != "req-1" || resp.ModelName != "sentiment" || len(resp.Outputs) != 2 {
		t.Fatalf("response %s", r.Body)
	}
	scores := resp.Outputs[0].Data.([]any)
	labels := resp.Outputs[1].Data.([]any)
	if len(scores) != 9 || len(labels) != 3 {
		t.Fatalf("outputs %s", r.Body)
	}
	for i, text := range texts {
		p := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": text})
		var preds []Prediction
		json.Unmarshal(p.Body, &preds)
		if preds[0].Label != labels[i] {
			t.Errorf("text %d: KServe label %v, /predict %v", i, labels[i], preds[0].Label)
		}
		for _, pr := range preds {
			j := map[string]int{"neg": 0, "neutral": 1, "pos": 2}[pr.Label]
			if math.Abs(scores[i*3+j].(float64)-pr.Score) > 1e-5 {
				t.Errorf("text %d %s: KServe %v, /predict %v", i, pr.Label, scores[i*3+j], pr.Score)
			}
		}
	}
}

// TestOpenAPICoversRoutes: /openapi.json documents exactly the routes the
// server registers.
func TestOpenAPICoversRoutes(t *testing.T) {
	ts := startServer(t, "sentiment", Config{})
	r := do(t, "GET", ts.URL+"/openapi.json", nil)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil || doc.OpenAPI == "" {
		t.Fatalf("openapi.json: %v", err)
	}
	registered := map[string]bool{}
	for _, rt := range ts.App().GetRoutes(true) {
		if rt.Method == "HEAD" {
			continue
		}
		p := rt.Path
		for _, seg := range strings.Split(p, "/") {
			if strings.HasPrefix(seg, ":") {
				p = strings.Replace(p, seg, "{"+seg[1:]+"}", 1)
			}
		}
		key := strings.ToLower(rt.Method) + " " + p
		registered[key] = true
		if _, ok := doc.Paths[p][strings.ToLower(rt.Method)]; !ok {
			t.Errorf("route %s is not in openapi.json", key)
		}
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if !registered[m+" "+p] {
				t.Errorf("openapi.json documents %s %s, which the server does not serve", m, p)
			}
		}
	}
}

func TestReadyOnlyAfterWarmup(t *testing.T) {
	srv, err := New(Config{ModelDir: tinyModel(t, "sentiment"), ORTLibrary: testenv.ORTLibrary(t), Logger: testLogger(t), Warmup: true, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(time.Second)
	get := func(path string) int {
		resp, err := srv.App().Test(httptest.NewRequest("GET", path, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("/ready"); s != 503 {
		t.Errorf("/ready before warm-up: %d", s)
	}
	if s := get("/health"); s != 200 {
		t.Errorf("/health before warm-up: %d", s)
	}
	if err := srv.Warmup(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := get("/ready"); s != 200 {
		t.Errorf("/ready after warm-up: %d", s)
	}
	if len(srv.WarmupShapes()) < 2 {
		t.Errorf("warm-up shapes %v", srv.WarmupShapes())
	}
}

// TestSlowClientIsCut: a client that sends half a request and stalls is
// disconnected after --read-timeout instead of holding a connection forever.
func TestSlowClientIsCut(t *testing.T) {
	ts := startServer(t, "sentiment", Config{ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("connection of a stalled client still open after 10s")
			}
			break // closed by the server (with or without a 408 first)
		}
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("connection closed after %v, before the 300ms read timeout", took)
	}
	if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "others still served"}); r.Status != 200 {
		t.Fatal(r)
	}
}
