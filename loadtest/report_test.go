package loadtest

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// syntheticResult records known samples through the real recorder, without
// a network: latencies 1, 2, …, n ms (service time = latency − lag, lag
// 0.1ms), every tenth answered 503, and the server's parts in ratio
// queue:tokenization:inference = 1:1:2 of 80% of the latency.
func syntheticResult(t *testing.T, n int, label string) *Result {
	t.Helper()
	rec := newRecorder(2, time.Second, 0)
	for i := 1; i <= n; i++ {
		lat := time.Duration(i) * time.Millisecond
		s := sample{latency: lat, service: lat - 100*time.Microsecond, lag: 100 * time.Microsecond,
			sentAt: time.Duration(i) * time.Millisecond, status: 200, err: noError}
		if i%10 == 0 {
			s.status, s.err = 503, idxStatus
		} else {
			server := 0.8 * float64(i)
			s.parts = [numParts]float64{server, server / 4, server / 4, server / 2}
			s.partsSet = 1<<numParts - 1
		}
		rec.shards[i%2].record(&s)
		if i%(n/4) == 0 {
			rec.closeSlice(time.Duration(i/(n/4)-1)*time.Second, time.Second, 100, 3)
		}
	}
	res := &Result{Kind: ResultKind, Version: ResultVersion, Label: label, Target: "http://x/predict",
		Method: "POST", Mode: "open", Pacer: "constant 100/s", Connections: 8, KeepAlive: true,
		IntervalS: 1, DurationS: float64(n) / 1000, RequestedRate: 1000, Start: time.Unix(0, 0).UTC()}
	if err := rec.fill(res); err != nil {
		t.Fatal(err)
	}
	return res
}

// within checks v against want with the HDR histogram's resolution (3
// significant digits: 0.1%) plus one bucket.
func within(t *testing.T, what string, v, want float64) {
	t.Helper()
	if math.Abs(v-want) > want*0.002+0.001 {
		t.Errorf("%s = %g, want %g (±0.2%%)", what, v, want)
	}
}

func TestRecorderTotals(t *testing.T) {
	res := syntheticResult(t, 1000, "")
	if res.Requests != 1000 || res.Errors != 100 || res.Successes != 900 {
		t.Fatalf("requests/errors/successes = %d/%d/%d, want 1000/100/900", res.Requests, res.Errors, res.Successes)
	}
	if res.StatusCodes["503"] != 100 || res.StatusCodes["200"] != 900 || res.ErrorKinds[ErrKindStatus] != 100 {
		t.Errorf("codes %v kinds %v", res.StatusCodes, res.ErrorKinds)
	}
	within(t, "error rate", res.ErrorRate, 0.1)
	// Successful latencies are 1..1000ms without multiples of 10: 900 values.
	// p50 is the 450th: 500ms minus the 49 multiples of ten below it → 499.
	within(t, "p50", res.Latency.P50, 499)
	within(t, "max", res.Latency.Max, 999)
	within(t, "min", res.Latency.Min, 1)
	within(t, "p99", res.Latency.P99, 989)
	within(t, "send lag p50", res.Saturation.SendLag.P50, 0.1)
	if res.Latency.Count != 900 {
		t.Errorf("latency count %d, want 900 (errors are not latencies)", res.Latency.Count)
	}
	st := res.ServerTiming
	if st == nil || st.Requests != 900 {
		t.Fatalf("server timing %+v", st)
	}
	for _, bd := range st.Breakdown {
		// Within each band the parts keep their ratios and sum to the total.
		if math.Abs(bd.Queue+bd.Tokenization+bd.Inference-bd.ServerTotal) > 1e-6*bd.ServerTotal+1e-9 {
			t.Errorf("%s: parts %g+%g+%g ≠ total %g", percentileName(bd.Percentile), bd.Queue, bd.Tokenization, bd.Inference, bd.ServerTotal)
		}
		if rel := bd.ServerTotal / bd.Latency; rel < 0.76 || rel > 0.84 {
			t.Errorf("%s: server total %g of latency %g, want ≈80%%", percentileName(bd.Percentile), bd.ServerTotal, bd.Latency)
		}
	}
	if len(res.Timeline) != 4 {
		t.Fatalf("timeline has %d slices, want 4", len(res.Timeline))
	}
	var completed int64
	for _, iv := range res.Timeline {
		completed += iv.Completed
	}
	if completed != 1000 {
		t.Errorf("timeline counts %d requests, want 1000", completed)
	}
}

func TestJSONRoundTripAndMerge(t *testing.T) {
	a := syntheticResult(t, 1000, "a")
	path := filepath.Join(t.TempDir(), "a.json")
	if err := a.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Latency != a.Latency || back.Requests != a.Requests || len(back.Timeline) != len(a.Timeline) {
		t.Errorf("round trip changed the result: %+v vs %+v", back.Latency, a.Latency)
	}
	h, err := back.Histogram(HistLatency)
	if err != nil || h.TotalCount() != 900 {
		t.Fatalf("decoded latency histogram: %v, %v", h, err)
	}

	// Two identical generators: counts double, percentiles stay.
	m, err := Merge(a, back)
	if err != nil {
		t.Fatal(err)
	}
	if m.Requests != 2000 || m.Latency.Count != 1800 || m.Generators != 2 {
		t.Errorf("merged requests %d latency count %d generators %d", m.Requests, m.Latency.Count, m.Generators)
	}
	within(t, "merged p50", m.Latency.P50, a.Latency.P50)
	within(t, "merged requested rate", m.RequestedRate, 2000)
	// A generator with slower requests moves the merged tail.
	slow := syntheticResult(t, 4000, "slow")
	m2, err := Merge(a, slow)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "merged max", m2.Latency.Max, 3999)

	// Corrupt or foreign files are errors, not panics.
	for name, content := range map[string]string{
		"not json":  "{",
		"foreign":   `{"kind":"other","version":1}`,
		"future":    `{"kind":"kiln-loadtest","version":99}`,
		"bad hist":  `{"kind":"kiln-loadtest","version":1,"histograms":{"latency":"HISTFAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}`,
		"short hst": `{"kind":"kiln-loadtest","version":1,"histograms":{"latency":"x"}}`,
	} {
		p := filepath.Join(t.TempDir(), "r.json")
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := ReadResult(p); err == nil {
			t.Errorf("%s: ReadResult accepted %s", name, content)
		}
	}
}

func TestWriteText(t *testing.T) {
	res := syntheticResult(t, 1000, "")
	res.Saturation.Saturated = true
	res.Saturation.Reasons = []string{"in-flight cap hit: test"}
	var b bytes.Buffer
	if err := WriteText(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"open-loop, constant 100/s", "Requests     1000", "503: 100", "http_status 100",
		"p99.9", "service time", "send lag", "Where the time goes", "tokenization", "SATURATED", "in-flight cap hit: test"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteHGRM(t *testing.T) {
	res := syntheticResult(t, 1000, "")
	var b bytes.Buffer
	if err := WriteHGRM(&b, res, HistLatency); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	// HdrHistogram's format: a header, rows of value/percentile/count/
	// 1/(1-p), and a footer with mean, stddev, max and totals.
	if !strings.Contains(lines[0], "Value") || !strings.Contains(lines[0], "Percentile") || !strings.Contains(lines[0], "TotalCount") {
		t.Errorf("header %q", lines[0])
	}
	row := regexp.MustCompile(`^\s*[0-9.]+\s+[0-9.]+\s+[0-9]+\s+([0-9.]+|inf)$`)
	rows, lastCount := 0, ""
	for _, l := range lines[1:] {
		if row.MatchString(l) {
			rows++
			lastCount = strings.Fields(l)[2]
		}
	}
	if rows < 20 || lastCount != "900" {
		t.Errorf("%d percentile rows, last total count %q; want ≥ 20 rows ending at 900", rows, lastCount)
	}
	if !strings.Contains(b.String(), "#[Mean") || !strings.Contains(b.String(), "#[Max") {
		t.Errorf("footer missing:\n%s", lines[len(lines)-3:])
	}
	if err := WriteHGRM(&b, res, "nonexistent"); err == nil {
		t.Error("missing histogram accepted")
	}
}

func TestWriteHTML(t *testing.T) {
	res := syntheticResult(t, 1000, "<script>alert(1)</script>")
	res.Sweep = &Sweep{SLO: "p99<50ms", BestRate: 100, Steps: []SweepStep{
		{Rate: 50, Held: true, Result: syntheticResult(t, 100, "")},
		{Rate: 100, Held: true, Result: syntheticResult(t, 200, "")},
		{Rate: 150, Result: syntheticResult(t, 400, "")},
	}}
	var b bytes.Buffer
	if err := WriteHTML(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, "<svg"); n != 4 {
		t.Errorf("%d charts, want 4 (latency over time, throughput, distribution, sweep)", n)
	}
	for _, want := range []string{"Latency over time", "Latency by percentile", "Sweep: throughput vs latency", "99.9%"} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// Self-contained: nothing fetched from elsewhere, and the label escaped.
	for _, bad := range []string{"<script", "src=\"http", "href=\"http", "<link"} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML contains %q", bad)
		}
	}
}

func TestSLO(t *testing.T) {
	res := syntheticResult(t, 1000, "") // p99 ≈ 989ms, errors 10%
	cases := []struct {
		text    string
		broken  int
		wantErr bool
	}{
		{"p99<1s", 0, false},
		{"p99<500ms", 1, false},
		{"p99 < 500, errors<20%", 1, false},
		{"p50<=600ms and errors<5%", 1, false},
		{"max<2s,errors<0.2", 0, false},
		{"p99.9<10ms,mean<1ms,errors<1%", 3, false},
		{"p42<1ms", 0, true},
		{"p99>1ms", 0, true},
		{"p99<fast", 0, true},
		{"errors<lots", 0, true},
		{"", 0, true},
	}
	for _, tc := range cases {
		slo, err := ParseSLO(tc.text)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseSLO(%q) accepted", tc.text)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSLO(%q): %v", tc.text, err)
			continue
		}
		if got := slo.Check(res); len(got) != tc.broken {
			t.Errorf("%q: broken %v, want %d objectives broken", tc.text, got, tc.broken)
		}
	}
}

func TestCompare(t *testing.T) {
	a := syntheticResult(t, 1000, "a")
	b := syntheticResult(t, 2000, "b") // every latency percentile about doubles
	c := Compare(a, b, "a.json", "b.json", 0.05)
	byName := map[string]Change{}
	for _, ch := range c.Changes {
		byName[ch.Metric] = ch
	}
	p99 := byName["latency p99"]
	if p99.Verdict != "worse" || p99.Ratio < 1.9 || p99.Ratio > 2.1 {
		t.Errorf("latency p99 change %+v, want worse ×2", p99)
	}
	if byName["error rate"].Verdict != "same" {
		t.Errorf("error rate %+v, want same (10%% both)", byName["error rate"])
	}
	if byName["requests"].Verdict != "better" {
		t.Errorf("requests %+v, want better (more)", byName["requests"])
	}
	if len(c.Worse) == 0 {
		t.Error("no metric reported worse")
	}
	self := Compare(a, a, "a", "a", 0.05)
	if len(self.Worse) != 0 {
		t.Errorf("a run compared with itself got worse: %v", self.Worse)
	}
	var out bytes.Buffer
	if err := WriteComparisonText(&out, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "WORSE") || !strings.Contains(out.String(), "latency p99.9") {
		t.Errorf("comparison text:\n%s", out.String())
	}
	// The comparison is JSON-encodable for scripts.
	if _, err := json.Marshal(c); err != nil {
		t.Fatal(err)
	}
}
