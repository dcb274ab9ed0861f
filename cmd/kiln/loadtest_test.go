package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kiln-ml/kiln/loadtest"
)

func TestParseRate(t *testing.T) {
	cases := []struct {
		in   string
		want float64
		bad  bool
	}{
		{"200", 200, false},
		{"200/s", 200, false},
		{"6000/m", 100, false},
		{"2/ms", 2000, false},
		{"30/10s", 3, false},
		{"", 0, false},
		{"fast", 0, true},
		{"-3", 0, true},
		{"5/fortnight", 0, true},
	}
	for _, tc := range cases {
		got, err := parseRate("rate", tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("parseRate(%q) = %g, %v; want %g (error %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestTargetURL(t *testing.T) {
	cases := []struct {
		raw, template, model, want string
		bad                        bool
	}{
		{"http://h:8080", "predict", "", "http://h:8080/predict", false},
		{"http://h:8080/", "kserve", "sst2", "http://h:8080/v2/models/sst2/infer", false},
		{"http://h:8080/custom", "kserve", "", "http://h:8080/custom", false},
		{"http://h:8080", "", "", "http://h:8080", false},
		{"http://h:8080", "kserve", "", "", true},
		{"h:8080/predict", "predict", "", "", true},
	}
	for _, tc := range cases {
		got, err := targetURL(tc.raw, tc.template, tc.model)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("targetURL(%q, %q, %q) = %q, %v; want %q", tc.raw, tc.template, tc.model, got, err, tc.want)
		}
	}
}

// runLoadtestCmd executes a fresh `kiln loadtest` command tree (flags do
// not leak between runs) and returns its stdout.
func runLoadtestCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newLoadtestCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestLoadtestCommand runs the front end to end against a loopback server
// that checks each body is a /predict batch of SST-2 sentences and answers
// with kiln serve's timing headers.
func TestLoadtestCommand(t *testing.T) {
	var bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Inputs [][]string } // a TEI batch: [[text], [text]]
		if r.URL.Path != "/predict" || json.NewDecoder(r.Body).Decode(&body) != nil || len(body.Inputs) != 2 {
			bad.Add(1)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Total-Time", "0.5")
		w.Header().Set("X-Queue-Time", "0.1")
		w.Header().Set("X-Tokenization-Time", "0.1")
		w.Header().Set("X-Inference-Time", "0.3")
		w.Write([]byte(`[{"label":"positive","score":0.9}]`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	data := filepath.Join("..", "..", "testdata", "data", "sst2", "dev.csv")
	js, html, hgrm := filepath.Join(dir, "a.json"), filepath.Join(dir, "a.html"), filepath.Join(dir, "a.hgrm")
	out, err := runLoadtestCmd(t, srv.URL, "--rate", "100/s", "--requests", "50", "--data", data,
		"--batch-per-request", "2", "--json", js, "--html", html, "--hgrm", hgrm, "-q")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if bad.Load() != 0 {
		t.Fatalf("server rejected %d bodies", bad.Load())
	}
	for _, want := range []string{"Requests     50", "open-loop, constant 100/s", "Where the time goes"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	res, err := loadtest.ReadResult(js)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 50 || res.Successes != 50 || res.ServerTiming == nil {
		t.Errorf("result: requests %d successes %d timing %v", res.Requests, res.Successes, res.ServerTiming)
	}
	for _, p := range []string{html, hgrm} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", p, err)
		}
	}

	// A second, closed-loop run, then compare the two with --json and --fail.
	js2 := filepath.Join(dir, "b.json")
	if out, err := runLoadtestCmd(t, srv.URL+"/predict", "--clients", "2", "--requests", "40", "--data", data,
		"--batch-per-request", "2", "--json", js2, "-q"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cmpJSON := filepath.Join(dir, "cmp.json")
	cmd := newLoadtestCmd()
	var cmpOut bytes.Buffer
	cmd.SetOut(&cmpOut)
	cmd.SetArgs([]string{"compare", js, js2, "--json", cmpJSON, "--threshold", "1"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("compare: %v", err)
	}
	if !strings.Contains(cmpOut.String(), "modes differ") || !strings.Contains(cmpOut.String(), "latency p99") {
		t.Errorf("compare output:\n%s", cmpOut.String())
	}
	var c loadtest.Comparison
	if b, err := os.ReadFile(cmpJSON); err != nil || json.Unmarshal(b, &c) != nil || len(c.Changes) == 0 {
		t.Errorf("comparison JSON unreadable: %v", err)
	}

	// Usage errors name the problem; a broken SLO fails the run.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{srv.URL, "--rate", "10"}, "--duration or --requests"},
		{[]string{srv.URL, "--rate", "10", "--clients", "2", "--requests", "5"}, "exclude each other"},
		{[]string{"--requests", "5", "--rate", "10"}, "no target URL"},
		{[]string{srv.URL, "--rate", "10", "--requests", "5", "--data", data, "--column", "nope"}, `no "nope" column (columns: text, label); set --column`},
		{[]string{srv.URL, "--rate", "50", "--requests", "5", "--data", data, "--batch-per-request", "2", "--slo", "p50<1us"}, "SLO broken"},
		{[]string{srv.URL, "--sweep", "--rate", "10", "--duration", "1s", "--rate-step", "10"}, "--sweep needs --slo"},
	} {
		if _, err := runLoadtestCmd(t, append(tc.args, "-q")...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}
