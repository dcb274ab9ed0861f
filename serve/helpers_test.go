package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
)

// Tiny BERT classifiers, drawn at random in Go and exported with kiln's own
// export package (no Python), once per test binary.

type tinySpec struct {
	problem string
	labels  []string
	vocab   int // 0 = the tokenizer's; smaller makes ONNX Runtime fail on ids past it
	maxPos  int
	dtype   string // export dtype: "" (fp32) or "fp16"
	// config, when set, replaces the tiny BERT (deberta_test.go).
	config func() *models.Config
}

var tinySpecs = map[string]tinySpec{
	"sentiment":  {problem: models.ProblemSingleLabel, labels: []string{"neg", "neutral", "pos"}, maxPos: 64},
	"multilabel": {problem: models.ProblemMultiLabel, labels: []string{"toxic", "insult", "threat", "spam"}, maxPos: 64},
	"regression": {problem: models.ProblemRegression, labels: []string{"score"}, maxPos: 64},
	// Ids of common words ("the" 1996, "a" 1037) are below 3000, "movie"
	// (3185) is not: feeding it makes ONNX Runtime's Gather fail.
	"smallvocab": {problem: models.ProblemSingleLabel, labels: []string{"neg", "pos"}, vocab: 3000, maxPos: 64},
	"fp16":       {problem: models.ProblemSingleLabel, labels: []string{"neg", "pos"}, maxPos: 64, dtype: "fp16"},
	"deberta-v3": {problem: models.ProblemSingleLabel, labels: []string{"human", "ai"}, maxPos: 64, config: tinyDebertaV3},
}

var (
	tinyMu   sync.Mutex
	tinyRoot string
	tinyDirs = map[string]string{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tinyRoot != "" {
		os.RemoveAll(tinyRoot)
	}
	os.Exit(code)
}

func bertTokenizerJSON() string {
	return testenv.Testdata("tokenizers/bert-base-uncased/tokenizer.json")
}

// tinyModel returns the export directory of the named tiny model.
func tinyModel(t *testing.T, name string) string {
	t.Helper()
	tinyMu.Lock()
	defer tinyMu.Unlock()
	if d, ok := tinyDirs[name]; ok {
		return d
	}
	spec, ok := tinySpecs[name]
	if !ok {
		t.Fatalf("no tiny model %q", name)
	}
	if tinyRoot == "" {
		d, err := os.MkdirTemp("", "kiln-serve-test-")
		if err != nil {
			t.Fatal(err)
		}
		tinyRoot = d
	}
	src := filepath.Join(tinyRoot, name+"-ckpt")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := models.DefaultConfig(models.TypeBERT)
	if spec.config != nil {
		cfg = spec.config()
	}
	cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 32, 2, 4, 48
	cfg.MaxPositionEmbeddings = spec.maxPos
	if spec.vocab > 0 {
		cfg.VocabSize = spec.vocab
	}
	// A wide initialisation separates the random logits, so that a score
	// mix-up between inputs cannot hide inside the tolerance.
	cfg.InitializerRange = 0.5
	cfg.SetLabels(spec.labels)
	cfg.ProblemType = spec.problem
	sd, err := models.InitStateDict(cfg, 7, "F32")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Save(filepath.Join(src, "config.json")); err != nil {
		t.Fatal(err)
	}
	if err := models.WriteSafetensors(filepath.Join(src, "model.safetensors"), sd, nil); err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(bertTokenizerJSON())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "tokenizer.json"), tok, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tinyRoot, name)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := export.Export(context.Background(), src, out, export.Options{Logger: quiet, DType: spec.dtype}); err != nil {
		t.Fatalf("export %s: %v", name, err)
	}
	tinyDirs[name] = out
	return out
}

// testLogger keeps server logs out of the test output unless -v.
func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testServer is a real server on a loopback port.
type testServer struct {
	*Server
	URL string
}

// startServer loads model with cfg (defaults filled in), serves it on
// 127.0.0.1:0 and waits for /ready.
func startServer(t *testing.T, model string, cfg Config) *testServer {
	t.Helper()
	cfg.ModelDir = tinyModel(t, model)
	cfg.ORTLibrary = testenv.ORTLibrary(t)
	if cfg.IntraOpThreads == 0 {
		cfg.IntraOpThreads = 1 // the machine is shared; keep tests polite
	}
	ts, _ := serveLoopback(t, cfg, 5*time.Second)
	return ts
}

// serveLoopback starts New(cfg) (warm-up on, test logger) on 127.0.0.1:0
// with the given drain time and waits for /ready. stop cancels Serve and
// returns its error; cleanup stops it too, failing the test on an error
// if stop was not called.
func serveLoopback(t *testing.T, cfg Config, drain time.Duration) (*testServer, func() error) {
	t.Helper()
	cfg.Warmup, cfg.Logger = true, testLogger(t)
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, drain) }()
	var once sync.Once
	var serveErr error
	stopped := false
	stop := func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil && !stopped {
			t.Errorf("Serve: %v", err)
		}
	})
	ts := &testServer{Server: srv, URL: "http://" + ln.Addr().String()}
	waitReady(t, ts.URL, nil)
	return ts, func() error { stopped = true; return stop() }
}

// waitReady polls url/ready until it answers 200; a value on exited (a
// server process that ended) fails the test at once.
func waitReady(t *testing.T, url string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("server exited before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 60s (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// errorBody decodes an error response.
func (r response) errorBody(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.Body, err)
	}
	return e
}

func do(t testing.TB, method, url string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// metricValue reads one sample from the Prometheus text at /metrics.
func metricValue(t *testing.T, ts *testServer, series string, header ...string) float64 {
	t.Helper()
	r := do(t, "GET", ts.URL+"/metrics", nil, header...)
	for _, line := range strings.Split(string(r.Body), "\n") {
		if name, val, ok := strings.Cut(line, " "); ok && name == series {
			var v float64
			if _, err := fmt.Sscan(val, &v); err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// metricLines returns the /metrics lines of one metric family, for failure messages.
func metricLines(t *testing.T, ts *testServer, family string) string {
	t.Helper()
	r := do(t, "GET", ts.URL+"/metrics", nil)
	var out []string
	for _, line := range strings.Split(string(r.Body), "\n") {
		if strings.HasPrefix(line, family) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "; ")
}
