package serve

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// Contract tests: text-embeddings-inference's API as its clients use it
// (huggingface_hub's InferenceClient, tritonclient, TEI's own wire shapes),
// against a real server on a kiln-exported model.

// runClient runs serve/testdata/tei_clients.py and decodes its JSON.
func runClient(t *testing.T, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(testenv.Python(t), append([]string{filepath.Join("testdata", "tei_clients.py")}, args...)...)
	cmd.Env = append(os.Environ(), "HF_HUB_DISABLE_TELEMETRY=1", "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("tei_clients.py %s: %v\n%s", args[0], err, stderr.String())
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("tei_clients.py %s: output %q: %v", args[0], data, err)
	}
}

func predictOne(t *testing.T, ts *testServer, text string, header ...string) []Prediction {
	t.Helper()
	r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": text}, header...)
	var p []Prediction
	if r.Status != 200 || json.Unmarshal(r.Body, &p) != nil {
		t.Fatalf("predict %q: %s", text, r)
	}
	return p
}

// TestInferenceClientTextClassification (issue 15.8): huggingface_hub's
// InferenceClient(model=URL) posts to /; TEI routes / and /invocations to
// /predict for a classifier. The client authenticates with the API key;
// its health_check and get_endpoint_info read /health and TEI's /info.
func TestInferenceClientTextClassification(t *testing.T) {
	ts := startServer(t, "sentiment", Config{APIKey: "s3cret"})
	texts := sst2Texts(t, 3)
	var res struct {
		Results [][]Prediction
		Healthy bool
		Info    map[string]any
	}
	runClient(t, &res, append([]string{"hub", ts.URL, "s3cret"}, texts...)...)
	got := res.Results
	if !res.Healthy || res.Info["model_id"] != "sentiment" || res.Info["max_input_length"] != 64.0 {
		t.Errorf("health_check %v, get_endpoint_info %v", res.Healthy, res.Info)
	}
	if len(got) != len(texts) {
		t.Fatalf("%d results for %d texts", len(got), len(texts))
	}
	if v := metricValue(t, ts, `kiln_http_requests_total{route="/",status="200"}`, "Authorization", "Bearer s3cret"); v != float64(len(texts)) {
		t.Errorf("the client's requests reached POST / %v times, want %d", v, len(texts))
	}
	for i, text := range texts {
		want := predictOne(t, ts, text, "Authorization", "Bearer s3cret")
		// TEI's single-text answer is a flat list; the client keeps its
		// first (top) entry.
		if len(got[i]) == 0 || got[i][0].Label != want[0].Label || math.Abs(got[i][0].Score-want[0].Score) > 1e-6 {
			t.Errorf("text %d: InferenceClient %v, /predict %v", i, got[i], want[0])
		}
		for _, path := range []string{"/", "/invocations"} {
			r := do(t, "POST", ts.URL+path, map[string]any{"inputs": text}, "Authorization", "Bearer s3cret")
			var p []Prediction
			if r.Status != 200 || json.Unmarshal(r.Body, &p) != nil || !reflect.DeepEqual(p, want) {
				t.Errorf("POST %s: %s, want /predict's %v", path, r, want)
			}
		}
	}
	if r := do(t, "POST", ts.URL+"/", map[string]any{"inputs": "x"}); r.Status != http.StatusUnauthorized {
		t.Errorf("POST / without the key: %s, want 401", r)
	}
	// GET / and GET /ping are TEI's open health probes.
	for _, p := range []string{"/", "/ping"} {
		if r := do(t, "GET", ts.URL+p, nil); r.Status != 200 {
			t.Errorf("GET %s: %s", p, r)
		}
	}
}

// TestTokenizeDecodeTEI (issue 15.9): /tokenize's list is a batch, start
// and stop are byte offsets, a pair's second-text tokens are cut from the
// second text with or without special tokens, and /decode always answers a
// list. The oracle is HF tokenizers (Python) on the same tokenizer.json,
// its character offsets turned into bytes.
func TestTokenizeDecodeTEI(t *testing.T) {
	ts := startServer(t, "sentiment", Config{})
	want := tokenizeMatchesHF(t, ts, filepath.Join(ts.Model().Dir, "tokenizer.json"))
	// The same contract for byte-level BPE (RoBERTa: offsets trimmed of the
	// space marker) and Unigram (T5: a pair template without [SEP]-like
	// separators between the texts' special tokens).
	for _, name := range []string{"roberta-base", "t5-small"} {
		t.Run(name, func(t *testing.T) {
			tok, err := LoadTokenizer(testenv.Testdata("tokenizers/" + name))
			if err != nil {
				t.Fatal(err)
			}
			other := startServer(t, "sentiment", Config{Tokenizer: tok})
			tokenizeMatchesHF(t, other, testenv.Testdata("tokenizers/"+name+"/tokenizer.json"))
		})
	}

	// A list of strings is a batch (TEI), not a pair.
	r := do(t, "POST", ts.URL+"/tokenize", map[string]any{"inputs": []string{"Hello world", "héllo"}})
	var batch [][]simpleToken
	if r.Status != 200 || json.Unmarshal(r.Body, &batch) != nil || len(batch) != 2 {
		t.Fatalf(`/tokenize ["a", "b"]: %s, want a batch of two`, r)
	}
	if !reflect.DeepEqual(batch[0], want[0]) {
		t.Errorf("batch item 0 %v, want %v", batch[0], want[0])
	}

	// /decode answers a list, for one id list too.
	var ids []int
	for _, tk := range want[0] {
		ids = append(ids, tk.ID)
	}
	for _, tc := range []struct {
		body map[string]any
		want []string
	}{
		{map[string]any{"ids": ids}, []string{"hello world"}},
		{map[string]any{"ids": [][]int{ids, ids[1:3]}, "skip_special_tokens": false}, []string{"[CLS] hello world [SEP]", "hello world"}},
	} {
		r := do(t, "POST", ts.URL+"/decode", tc.body)
		var got []string
		if r.Status != 200 || json.Unmarshal(r.Body, &got) != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("decode %v: %s, want %q", tc.body, r, tc.want)
		}
	}
}

// tokenizeMatchesHF checks /tokenize on texts and pairs, with and without
// special tokens and truncation, against HF tokenizers on tokenizerJSON,
// and returns HF's answers.
func tokenizeMatchesHF(t *testing.T, ts *testServer, tokenizerJSON string) [][]simpleToken {
	t.Helper()
	type tcase struct {
		Text             string  `json:"text"`
		Pair             *string `json:"pair,omitempty"`
		AddSpecialTokens bool    `json:"add_special_tokens"`
		MaxLength        int     `json:"max_length,omitempty"` // truncate to the model's 64 tokens
		Direction        string  `json:"direction,omitempty"`
	}
	long := strings.Repeat("the quick brown fox jumps over the lazy dog ", 12)
	str := func(s string) *string { return &s }
	cases := []tcase{
		{Text: "Hello world", AddSpecialTokens: true},
		{Text: "héllo wörld — naïve café", AddSpecialTokens: true},
		{Text: "日本語 text", AddSpecialTokens: false},
		{Text: "Is it raining?", Pair: str("Nein, es schneit in München."), AddSpecialTokens: true},
		{Text: "Is it raining?", Pair: str("Nein, es schneit in München."), AddSpecialTokens: false},
		{Text: "same same", Pair: str("same"), AddSpecialTokens: false},
		{Text: long, Pair: str("a short question?"), AddSpecialTokens: true, MaxLength: 64},
		{Text: "lazy lazy dog", Pair: str(long), AddSpecialTokens: false, MaxLength: 64, Direction: "left"},
		{Text: long, Pair: str(long + "fin"), AddSpecialTokens: true, MaxLength: 64, Direction: "left"},
	}
	casesPath := filepath.Join(t.TempDir(), "cases.json")
	data, _ := json.Marshal(cases)
	if err := os.WriteFile(casesPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var want [][]simpleToken
	runClient(t, &want, "tokenize", tokenizerJSON, casesPath)

	for i, c := range cases {
		body := map[string]any{"inputs": c.Text, "add_special_tokens": c.AddSpecialTokens}
		if c.MaxLength > 0 {
			body["truncate"], body["truncation_direction"] = true, c.Direction
		}
		if c.Pair != nil {
			body["inputs"] = []any{[]string{c.Text, *c.Pair}} // kiln extension: a pair in a batch
		}
		r := do(t, "POST", ts.URL+"/tokenize", body)
		var got [][]simpleToken
		if r.Status != 200 || json.Unmarshal(r.Body, &got) != nil || len(got) != 1 {
			t.Fatalf("case %d: %s", i, r)
		}
		if !reflect.DeepEqual(got[0], want[i]) {
			g, _ := json.Marshal(got[0])
			w, _ := json.Marshal(want[i])
			t.Errorf("case %d %+v:\n kiln %s\n   HF %s", i, c, g, w)
		}
	}
	return want
}

// TestPredictListShapes (issue 15.10): two strings are a pair, three are
// refused with 422 as TEI refuses them; a list of lists is a batch.
func TestPredictListShapes(t *testing.T) {
	ts := startServer(t, "sentiment", Config{})
	pair := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": []string{"it rains", "it pours"}})
	obj := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": map[string]string{"text": "it rains", "text_pair": "it pours"}})
	if pair.Status != 200 || string(pair.Body) != string(obj.Body) {
		t.Errorf(`["a", "b"] %s, want the pair's %s`, pair, obj)
	}
	r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": []string{"a", "b", "c"}})
	if r.Status != http.StatusUnprocessableEntity || r.errorBody(t).ErrorType != ErrValidation {
		t.Errorf(`["a", "b", "c"]: %s, want 422 Validation`, r)
	}
	r = do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": [][]string{{"a"}, {"b"}, {"c"}}})
	var batch [][]Prediction
	if r.Status != 200 || json.Unmarshal(r.Body, &batch) != nil || len(batch) != 3 {
		t.Errorf(`[["a"], ["b"], ["c"]]: %s, want a batch of three`, r)
	}
}

// TestInfoTEI (issue 15.12): /info carries TEI's fields with TEI's types.
func TestInfoTEI(t *testing.T) {
	for _, tc := range []struct{ model, dtype string }{{"sentiment", "float32"}, {"fp16", "float16"}} {
		t.Run(tc.model, func(t *testing.T) {
			ts := startServer(t, tc.model, Config{MaxBatchSize: 8, MaxBatchTokens: 4096, MaxInputsPerRequest: 16, MaxConcurrentRequests: 100, MaxBatchPadding: 0.15, BatchWindow: 12})
			if bc := ts.core.batch.Config(); bc.Window != 12 || bc.MaxPadding != 0.15 {
				t.Errorf("batcher window %d, padding %v: want the configured 12 and 0.15", bc.Window, bc.MaxPadding)
			}
			r := do(t, "GET", ts.URL+"/info", nil)
			var info map[string]any
			if err := json.Unmarshal(r.Body, &info); err != nil {
				t.Fatal(r)
			}
			labels := ts.Model().Labels
			id2label, label2id := map[string]any{}, map[string]any{}
			for i, l := range labels {
				id2label[strconv.Itoa(i)] = l
				label2id[l] = float64(i)
			}
			want := map[string]any{
				"model_id": tc.model, "model_sha": nil, "model_dtype": tc.dtype,
				"model_type":              map[string]any{"classifier": map[string]any{"id2label": id2label, "label2id": label2id}},
				"max_concurrent_requests": 100.0, "max_input_length": 64.0, "max_batch_tokens": 4096.0,
				"max_batch_requests": 8.0, "max_client_batch_size": 16.0, "auto_truncate": false,
				"docker_label": nil,
				// kiln's own
				"max_batch_padding": 0.15, "batch_window": 12.0,
			}
			for k, v := range want {
				if !reflect.DeepEqual(info[k], v) {
					t.Errorf("%s = %#v, want %#v", k, info[k], v)
				}
			}
			if w, ok := info["tokenization_workers"].(float64); !ok || w < 1 {
				t.Errorf("tokenization_workers %v", info["tokenization_workers"])
			}
			semverRE := regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
			if v, _ := info["version"].(string); !semverRE.MatchString(v) {
				t.Errorf("version %q is not semver", info["version"])
			}
		})
	}
	for _, tc := range []struct{ in, version string }{
		{"v0.3.1", "0.3.1"}, {"1.2.3-rc.1", "1.2.3-rc.1"}, {"v0.3.0-4-g1a2b3c4-dirty", "0.3.0-4-g1a2b3c4-dirty"},
		{"110a4af-dirty", "0.0.0+110a4af-dirty"}, {"dev", "0.0.0+dev"}, {"", "0.0.0+unknown"}, {"a b/c", "0.0.0+a-b-c"},
	} {
		if got, _ := semver(tc.in); got != tc.version {
			t.Errorf("semver(%q) = %q, want %q", tc.in, got, tc.version)
		}
	}
}

// TestStatusCodesTEI (issue 15.11): TEI's status and error_type for empty
// input (400 Empty), too many inputs (413 Validation, TEI's mapping of its
// Validation type), a failed model run (424 Backend) and overload (429
// Overloaded, see TestOverload).
func TestStatusCodesTEI(t *testing.T) {
	ts := startServer(t, "smallvocab", Config{MaxInputsPerRequest: 2})
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		errType    string
	}{
		{"empty string", "/predict", `{"inputs": ""}`, 400, ErrEmpty},
		{"empty batch", "/predict", `{"inputs": []}`, 400, ErrEmpty},
		{"empty tokenize batch", "/tokenize", `{"inputs": []}`, 400, ErrEmpty},
		{"empty decode", "/decode", `{"ids": []}`, 400, ErrEmpty},
		{"too many inputs", "/predict", `{"inputs": [["a"], ["b"], ["c"]]}`, 413, ErrValidation},
		{"too many to tokenize", "/tokenize", `{"inputs": ["a", "b", "c"]}`, 413, ErrValidation},
		{"too many to decode", "/decode", `{"ids": [[1], [2], [3]]}`, 413, ErrValidation},
		{"model run fails", "/predict", `{"inputs": "a movie"}`, 424, ErrBackend}, // id 3185 ≥ the vocabulary of 3000
	} {
		r := do(t, "POST", ts.URL+tc.path, tc.body)
		if r.Status != tc.status || r.errorBody(t).ErrorType != tc.errType {
			t.Errorf("%s: %s, want %d %s", tc.name, r, tc.status, tc.errType)
		}
	}
}

// TestInvalidUTF8IsRefused (issue 16.7): encoding/json would turn bytes
// that are not UTF-8, and lone surrogate escapes, into U+FFFD and the
// request would be answered 200 for a text nobody sent; they get 422.
func TestInvalidUTF8IsRefused(t *testing.T) {
	ts := startServer(t, "sentiment", Config{})
	for _, tc := range []struct {
		name, path, body string
		status           int
	}{
		{"latin-1 byte", "/predict", "{\"inputs\": \"caf\xe9\"}", 422},
		{"truncated sequence", "/tokenize", "{\"inputs\": [\"ok\", \"\xe2\x82\"]}", 422},
		{"invalid in a key", "/predict", "{\"inputs\": \"a\", \"x\xff\": 1}", 422},
		{"lone high surrogate", "/predict", `{"inputs": "a\ud83d b"}`, 422},
		{"lone low surrogate", "/predict", `{"inputs": "\ude00"}`, 422},
		{"reversed pair", "/predict", `{"inputs": "\ude00\ud83d"}`, 422},
		{"kserve JSON", "/v2/models/sentiment/infer", "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"\xc3\"]}]}", 422},
		{"surrogate pair is fine", "/predict", `{"inputs": "smile \ud83d\ude00"}`, 200},
		{"escaped backslash before u", "/predict", `{"inputs": "a\\ud800"}`, 200},
		{"literal U+FFFD is fine", "/predict", "{\"inputs\": \"\xef\xbf\xbd\"}", 200},
	} {
		r := do(t, "POST", ts.URL+tc.path, tc.body)
		if r.Status != tc.status {
			t.Errorf("%s: %s, want %d", tc.name, r, tc.status)
			continue
		}
		if tc.status != 200 && r.errorBody(t).ErrorType != ErrValidation {
			t.Errorf("%s: %s, want error_type Validation", tc.name, r)
		}
	}
}

// TestHTTPEdges (issue 16.8): the bearer scheme is case-insensitive;
// /HEALTH and /health/ are the probe and need no key; a body refused by
// its Content-Length gets its 413 read by a client still uploading,
// instead of a connection reset.
func TestHTTPEdges(t *testing.T) {
	ts := startServer(t, "sentiment", Config{APIKey: "s3cret", BodyLimit: 4096})
	for _, h := range []string{"Bearer s3cret", "bearer s3cret", "BEARER  s3cret", " Bearer s3cret "} {
		if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "hi"}, "Authorization", h); r.Status != 200 {
			t.Errorf("Authorization %q: %s", h, r)
		}
	}
	for _, h := range []string{"Basic s3cret", "Bearer S3CRET", "Bearers3cret", "s3cret"} {
		if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": "hi"}, "Authorization", h); r.Status != 401 {
			t.Errorf("Authorization %q: %s, want 401", h, r)
		}
	}
	for _, p := range []string{"/HEALTH", "/health/", "/Ready", "/v2/health/LIVE"} {
		if r := do(t, "GET", ts.URL+p, nil); r.Status != 200 {
			t.Errorf("GET %s without the key: %s", p, r)
		}
	}
	for _, p := range []string{"/PREDICT", "/predict/"} {
		if r := do(t, "POST", ts.URL+p, map[string]any{"inputs": "hi"}); r.Status != 401 {
			t.Errorf("POST %s without the key: %s, want 401", p, r)
		}
	}

	// An upload of 8 MiB against a 4 KiB limit: the server answers 413 after
	// the headers; the client keeps writing, then reads.
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const size = 8 << 20
	fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
	time.Sleep(100 * time.Millisecond) // the 413 is on its way; the server has closed its side
	chunk := make([]byte, 64<<10)
	var writeErr error
	for sent := 0; sent < size && writeErr == nil; sent += len(chunk) {
		_, writeErr = conn.Write(chunk)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to an oversized upload: %v (write: %v)", err, writeErr)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), ErrTooLarge) {
		t.Errorf("oversized upload: %d %s, want 413 %s", resp.StatusCode, body, ErrTooLarge)
	}
	if writeErr != nil {
		t.Errorf("the upload was cut: %v", writeErr)
	}
}

// TestTEIMetrics (issue 15.14): TEI's series, names, labels and buckets,
// next to kiln's own.
func TestTEIMetrics(t *testing.T) {
	ts := startServer(t, "sentiment", Config{MaxInputsPerRequest: 4})
	texts := sst2Texts(t, 4)
	for _, s := range texts {
		if r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": s}); r.Status != 200 {
			t.Fatal(r)
		}
	}
	do(t, "POST", ts.URL+"/", map[string]any{"inputs": [][]string{{texts[0]}, {texts[1], texts[2]}}})
	do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}}) // too many
	do(t, "POST", ts.URL+"/tokenize", map[string]any{"inputs": "not counted"})
	for series, want := range map[string]float64{
		`te_request_count{method="single"}`:                       4,
		`te_request_count{method="batch"}`:                        2,
		`te_request_success{method="single"}`:                     4,
		`te_request_success{method="batch"}`:                      1,
		`te_request_failure{err="batch_size"}`:                    1,
		`te_request_duration_count`:                               5,
		`te_request_tokenization_duration_count`:                  5,
		`te_request_queue_duration_count`:                         5,
		`te_request_inference_duration_count`:                     5,
		`te_request_input_length_count`:                           6,
		`te_predict_count`:                                        6,
		`te_predict_success`:                                      6,
		`te_predict_queue_duration_count`:                         6,
		`te_predict_inference_duration_count`:                     6,
		`te_batch_next_size_sum`:                                  6,
		`te_queue_size`:                                           0,
		`te_request_input_length_bucket{le="64"}`:                 6, // powers of two up to max_input_length
		`kiln_http_requests_total{route="/predict",status="200"}`: 4,
	} {
		if got := metricValue(t, ts, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	text := string(do(t, "GET", ts.URL+"/metrics", nil).Body)
	for _, line := range []string{
		"# TYPE te_request_count counter", "# TYPE te_request_duration histogram", "# TYPE te_queue_size gauge",
		"# TYPE te_batch_next_size histogram", "# TYPE te_batch_next_tokens histogram",
		`te_batch_next_size_bucket{le="4096"}`, `te_batch_next_tokens_bucket{le="1.048576e+06"}`,
	} {
		if !strings.Contains(text, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	// TEI's duration buckets: 1e-5 s × 1.5^k, k = 1…35.
	var les []float64
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, `te_request_duration_bucket{le="`); ok {
			if v, err := strconv.ParseFloat(rest[:strings.IndexByte(rest, '"')], 64); err == nil && !math.IsInf(v, 1) {
				les = append(les, v)
			}
		}
	}
	if len(les) != 35 || math.Abs(les[0]-1.5e-5) > 1e-12 || math.Abs(les[34]-1e-5*math.Pow(1.5, 35)) > 1e-6 {
		t.Errorf("te_request_duration buckets %v, want 1e-5 × 1.5^k for k = 1…35", les)
	}
	if strings.Contains(text, `te_request_input_length_bucket{le="128"}`) {
		t.Error("te_request_input_length has buckets past max_input_length (64)")
	}
}

// TestTritonClient (issue 15.13): tritonclient[http] with its defaults
// (binary tensor data in and out, the Inference-Header-Content-Length
// extension), with JSON tensors, with only some outputs requested, with
// the classification extension, on the versioned routes, and its model
// config call. Scores must be /predict's.
func TestTritonClient(t *testing.T) {
	ts := startServer(t, "sentiment", Config{})
	texts := append(sst2Texts(t, 3), "naïve café ☕")
	type tensor struct {
		Shape  []int `json:"shape"`
		Binary bool  `json:"binary"`
		Data   []any `json:"data"`
	}
	var res struct {
		Live, Ready, ModelReady, ModelReadyV1 bool
		Metadata                              map[string]any
		Config                                struct {
			Name  string `json:"name"`
			Input []struct {
				Name     string `json:"name"`
				DataType string `json:"data_type"`
			} `json:"input"`
			Output []struct {
				Name     string `json:"name"`
				DataType string `json:"data_type"`
				Dims     []int  `json:"dims"`
			} `json:"output"`
		}
		Server                                                         map[string]any
		Default, ScoresOnly, JSON, Raw, Top2, Versioned, Gzip, Deflate map[string]tensor
		UnknownModelError                                              *string
	}
	var raw map[string]json.RawMessage
	runClient(t, &raw, append([]string{"triton", strings.TrimPrefix(ts.URL, "http://"), "sentiment"}, texts...)...)
	// The script's keys are snake_case.
	fix := map[string]any{}
	for k, v := range raw {
		fix[strings.ReplaceAll(k, "_", "")] = v
	}
	data, _ := json.Marshal(fix)
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Live || !res.Ready || !res.ModelReady || !res.ModelReadyV1 {
		t.Errorf("health: live %v ready %v model %v v1 %v", res.Live, res.Ready, res.ModelReady, res.ModelReadyV1)
	}
	if res.Config.Name != "sentiment" || len(res.Config.Input) != 2 || res.Config.Input[0].DataType != "TYPE_STRING" ||
		len(res.Config.Output) != 2 || res.Config.Output[0].DataType != "TYPE_FP32" || !reflect.DeepEqual(res.Config.Output[0].Dims, []int{-1, 3}) {
		t.Errorf("config %+v", res.Config)
	}
	if res.UnknownModelError == nil || !strings.Contains(*res.UnknownModelError, "not served here") {
		t.Errorf("unknown model: %v", res.UnknownModelError)
	}

	labels := ts.Model().Labels
	var probs, logits [][]float64
	var top []string
	for _, text := range texts {
		p := predictOne(t, ts, text)
		byLabel := map[string]float64{}
		for _, x := range p {
			byLabel[x.Label] = x.Score
		}
		r := do(t, "POST", ts.URL+"/predict", map[string]any{"inputs": text, "raw_scores": true})
		var rp []Prediction
		json.Unmarshal(r.Body, &rp)
		byLabelRaw := map[string]float64{}
		for _, x := range rp {
			byLabelRaw[x.Label] = x.Score
		}
		var pr, lg []float64
		for _, l := range labels {
			pr, lg = append(pr, byLabel[l]), append(lg, byLabelRaw[l])
		}
		probs, logits, top = append(probs, pr), append(logits, lg), append(top, p[0].Label)
	}
	n := len(texts)
	checkScores := func(name string, got tensor, want [][]float64, binary bool) {
		t.Helper()
		if !reflect.DeepEqual(got.Shape, []int{n, 3}) || got.Binary != binary {
			t.Errorf("%s: shape %v binary %v, want [%d 3] binary %v", name, got.Shape, got.Binary, n, binary)
			return
		}
		for i := range n {
			for j := range 3 {
				if v, _ := got.Data[i*3+j].(float64); math.Abs(v-want[i][j]) > 1e-6 {
					t.Errorf("%s[%d][%d] = %v, /predict %v", name, i, j, got.Data[i*3+j], want[i][j])
				}
			}
		}
	}
	checkLabels := func(name string, got tensor, binary bool) {
		t.Helper()
		if !reflect.DeepEqual(got.Shape, []int{n}) || got.Binary != binary {
			t.Errorf("%s: shape %v binary %v", name, got.Shape, got.Binary)
			return
		}
		for i := range n {
			if got.Data[i] != top[i] {
				t.Errorf("%s[%d] = %v, /predict %v", name, i, got.Data[i], top[i])
			}
		}
	}
	checkScores("default scores", res.Default["scores"], probs, true)
	checkLabels("default label", res.Default["label"], true)
	checkScores("scores only", res.ScoresOnly["scores"], probs, true)
	if _, has := res.ScoresOnly["label"]; has || len(res.ScoresOnly) != 1 {
		t.Errorf("asked for scores only, got %v", res.ScoresOnly)
	}
	checkScores("JSON scores", res.JSON["scores"], probs, false)
	checkLabels("JSON label", res.JSON["label"], false)
	checkScores("raw scores", res.Raw["scores"], logits, true)
	checkLabels("versioned label", res.Versioned["label"], true)
	checkScores("gzip request", res.Gzip["scores"], probs, true)
	checkScores("deflate request", res.Deflate["scores"], probs, true)
	// classification: "score:index:label", best first.
	if got := res.Top2["scores"]; !reflect.DeepEqual(got.Shape, []int{n, 2}) {
		t.Errorf("classification shape %v", got.Shape)
	} else {
		for i := range n {
			parts := strings.SplitN(fmt.Sprint(got.Data[i*2]), ":", 3)
			j := slices.Index(labels, top[i])
			if len(parts) != 3 || parts[1] != strconv.Itoa(j) || parts[2] != top[i] {
				t.Errorf("classification[%d] = %v, want index %d label %s", i, got.Data[i*2], j, top[i])
			} else if v, _ := strconv.ParseFloat(parts[0], 64); math.Abs(v-probs[i][j]) > 1e-6 {
				t.Errorf("classification[%d] score %v, /predict %v", i, v, probs[i][j])
			}
		}
	}
}

// TestKServeBinaryBadInputs: malformed binary tensor bodies are 400s with
// a message, never a panic or a 5xx.
func TestKServeBinaryBadInputs(t *testing.T) {
	ts := startServer(t, "sentiment", Config{})
	header := func(js string) string { return strconv.Itoa(len(js)) }
	elem := func(s string) string {
		var b [4]byte
		b[0] = byte(len(s))
		return string(b[:]) + s
	}
	js := `{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 9}}]}`
	for _, tc := range []struct {
		name, body, length string
		status             int
	}{
		{"good", js + elem("hello"), header(js), 200},
		{"header past the body", js, "99999", 400},
		{"header not a number", js, "x", 400},
		{"tensor shorter than its size", js + elem("hel"), header(js), 400},
		{"element longer than the tensor", js + "\x09\x00\x00\x00hello", header(js), 400},
		{"bytes left over", js + elem("hello") + "zz", header(js), 400},
		{"shape disagrees", strings.Replace(js, "[1]", "[2]", 1) + elem("hello"), header(js), 422},
		{"negative size", strings.Replace(js, "9}", "-9}", 1) + elem("hello"), header(strings.Replace(js, "9}", "-9}", 1)), 400},
		{"not UTF-8", js + elem("h\xffllo"), header(js), 422},
	} {
		r := do(t, "POST", ts.URL+"/v2/models/sentiment/infer", tc.body, "Inference-Header-Content-Length", tc.length)
		if r.Status != tc.status {
			t.Errorf("%s: %s, want %d", tc.name, r, tc.status)
		}
	}
}

// TestCompressedBodies: gzip, deflate and brotli request bodies are
// inflated (tritonclient compresses on request), within --body-limit: an
// inflation bomb is a 413, not gigabytes of memory.
func TestCompressedBodies(t *testing.T) {
	ts := startServer(t, "sentiment", Config{BodyLimit: 256 << 10})
	plain := []byte(`{"inputs": "a charming and often affecting journey"}`)
	want := do(t, "POST", ts.URL+"/predict", plain)
	pack := func(newWriter func(io.Writer) io.WriteCloser) func([]byte) []byte {
		return func(b []byte) []byte {
			var buf bytes.Buffer
			w := newWriter(&buf)
			w.Write(b)
			w.Close()
			return buf.Bytes()
		}
	}
	gz := pack(func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) })
	zl := pack(func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) })
	br := pack(func(w io.Writer) io.WriteCloser { return brotli.NewWriter(w) })
	// 32 MiB of JSON whitespace in 32 KiB of gzip: valid JSON, so only the
	// limit on the inflated size refuses it.
	bomb := gz([]byte(`{"inputs": "a"` + strings.Repeat(" ", 32<<20) + `}`))
	for _, tc := range []struct {
		name, encoding string
		body           []byte
		status         int
	}{
		{"gzip", "gzip", gz(plain), 200},
		{"deflate", "deflate", zl(plain), 200},
		{"brotli", "br", br(plain), 200},
		{"identity", "identity", plain, 200},
		{"bomb", "gzip", bomb, 413},
		{"corrupt", "gzip", plain, 400},
		{"unknown", "compress", plain, 415},
	} {
		r := do(t, "POST", ts.URL+"/predict", tc.body, "Content-Encoding", tc.encoding)
		if r.Status != tc.status {
			t.Errorf("%s (%d bytes): %s, want %d", tc.name, len(tc.body), r, tc.status)
		} else if tc.status == 200 && string(r.Body) != string(want.Body) {
			t.Errorf("%s: %s, uncompressed %s", tc.name, r.Body, want.Body)
		}
	}
}
