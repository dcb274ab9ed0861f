package loadtest

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Direction says which way a metric is better.
type Direction string

const (
	LowerIsBetter  Direction = "lower"
	HigherIsBetter Direction = "higher"
)

// Change is one metric of a comparison.
type Change struct {
	Metric string    `json:"metric"`
	Unit   string    `json:"unit"`
	A      float64   `json:"a"`
	B      float64   `json:"b"`
	Delta  float64   `json:"delta"`           // B − A
	Ratio  float64   `json:"ratio,omitempty"` // B / A; 0 when A is 0
	Better Direction `json:"better"`
	// Verdict is "better", "worse" or "same" (the relative change is within
	// the threshold, or both values are zero).
	Verdict string `json:"verdict"`
}

// Comparison is what `kiln loadtest compare a.json b.json` prints and, with
// --json, writes: every metric side by side, so a script can diff runs.
type Comparison struct {
	Kind      string   `json:"kind"` // "kiln-loadtest-compare"
	A         string   `json:"a"`
	B         string   `json:"b"`
	Threshold float64  `json:"threshold"` // relative change below which a metric is "same"
	Changes   []Change `json:"changes"`
	Worse     []string `json:"worse"` // metrics that got worse beyond the threshold
	Notes     []string `json:"notes,omitempty"`
}

// Compare lines up the metrics of two runs. threshold is the relative
// change (0.05 = 5%) below which a difference counts as noise; latency
// differences under 0.01ms are always noise (below the clock's honesty).
func Compare(a, b *Result, nameA, nameB string, threshold float64) *Comparison {
	c := &Comparison{Kind: "kiln-loadtest-compare", A: nameA, B: nameB, Threshold: threshold}
	add := func(metric, unit string, va, vb float64, better Direction) {
		ch := Change{Metric: metric, Unit: unit, A: va, B: vb, Delta: vb - va, Better: better, Verdict: "same"}
		if va != 0 {
			ch.Ratio = vb / va
		}
		rel := math.Inf(1)
		if va != 0 {
			rel = math.Abs(vb-va) / math.Abs(va)
		} else if vb == 0 {
			rel = 0
		}
		noise := rel <= threshold || (unit == "ms" && math.Abs(vb-va) < 0.01)
		if !noise {
			up := vb > va
			if (up && better == HigherIsBetter) || (!up && better == LowerIsBetter) {
				ch.Verdict = "better"
			} else {
				ch.Verdict = "worse"
				c.Worse = append(c.Worse, metric)
			}
		}
		c.Changes = append(c.Changes, ch)
	}
	add("requests", "", float64(a.Requests), float64(b.Requests), HigherIsBetter)
	if a.RequestedRate > 0 || b.RequestedRate > 0 {
		add("requested rate", "/s", a.RequestedRate, b.RequestedRate, HigherIsBetter)
	}
	add("sent rate", "/s", a.AchievedRate, b.AchievedRate, HigherIsBetter)
	add("throughput", "/s", a.Throughput, b.Throughput, HigherIsBetter)
	add("error rate", "%", 100*a.ErrorRate, 100*b.ErrorRate, LowerIsBetter)
	stats := func(prefix string, sa, sb Stats) {
		add(prefix+" p50", "ms", sa.P50, sb.P50, LowerIsBetter)
		add(prefix+" p90", "ms", sa.P90, sb.P90, LowerIsBetter)
		add(prefix+" p95", "ms", sa.P95, sb.P95, LowerIsBetter)
		add(prefix+" p99", "ms", sa.P99, sb.P99, LowerIsBetter)
		add(prefix+" p99.9", "ms", sa.P999, sb.P999, LowerIsBetter)
		add(prefix+" max", "ms", sa.Max, sb.Max, LowerIsBetter)
		add(prefix+" mean", "ms", sa.Mean, sb.Mean, LowerIsBetter)
	}
	stats("latency", a.Latency, b.Latency)
	if a.Mode == "open" && b.Mode == "open" {
		stats("service time", a.ServiceTime, b.ServiceTime)
		add("send lag p99", "ms", a.Saturation.SendLag.P99, b.Saturation.SendLag.P99, LowerIsBetter)
	}
	if a.ServerTiming != nil && b.ServerTiming != nil {
		for _, name := range []string{HistServerTotal, HistQueue, HistTokenize, HistInference} {
			pa, okA := a.ServerTiming.Parts[name]
			pb, okB := b.ServerTiming.Parts[name]
			if okA && okB {
				add("server "+name+" p50", "ms", pa.P50, pb.P50, LowerIsBetter)
				add("server "+name+" p99", "ms", pa.P99, pb.P99, LowerIsBetter)
			}
		}
	}
	for _, k := range sortedKeys(unionKeys(a.StatusCodes, b.StatusCodes)) {
		better := LowerIsBetter
		if strings.HasPrefix(k, "2") {
			better = HigherIsBetter
		}
		add("status "+k, "", float64(a.StatusCodes[k]), float64(b.StatusCodes[k]), better)
	}
	for _, k := range sortedKeys(unionKeys(a.ErrorKinds, b.ErrorKinds)) {
		add("errors "+k, "", float64(a.ErrorKinds[k]), float64(b.ErrorKinds[k]), LowerIsBetter)
	}
	if a.Sweep != nil && b.Sweep != nil {
		add("sweep best rate", "/s", a.Sweep.BestRate, b.Sweep.BestRate, HigherIsBetter)
	}

	// Differences in how the runs were made explain differences in what
	// they measured; say so rather than let the reader guess.
	if a.Mode != b.Mode {
		c.Notes = append(c.Notes, fmt.Sprintf("modes differ: %s-loop vs %s-loop (closed-loop hides stalls)", a.Mode, b.Mode))
	}
	if a.Target != b.Target {
		c.Notes = append(c.Notes, fmt.Sprintf("targets differ: %s vs %s", a.Target, b.Target))
	}
	if a.Pacer != b.Pacer || a.Clients != b.Clients {
		c.Notes = append(c.Notes, fmt.Sprintf("load differs: %s vs %s", loadName(a), loadName(b)))
	}
	if a.Connections != b.Connections {
		c.Notes = append(c.Notes, fmt.Sprintf("connections differ: %d vs %d", a.Connections, b.Connections))
	}
	if a.Workload != b.Workload {
		c.Notes = append(c.Notes, fmt.Sprintf("workloads differ: %q vs %q", a.Workload, b.Workload))
	}
	for i, r := range []*Result{a, b} {
		name := []string{nameA, nameB}[i]
		if r.Saturation.Saturated {
			c.Notes = append(c.Notes, fmt.Sprintf("%s: the generator was saturated; its latencies include client-side delay", name))
		}
		if r.Interrupted {
			c.Notes = append(c.Notes, fmt.Sprintf("%s: the run was interrupted", name))
		}
	}
	return c
}

func loadName(r *Result) string {
	if r.Mode == "open" {
		return "open-loop " + r.Pacer
	}
	return fmt.Sprintf("closed-loop %d clients", r.Clients)
}

func unionKeys(a, b map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(a)+len(b))
	for k := range a {
		out[k] = 0
	}
	for k := range b {
		out[k] = 0
	}
	return out
}

// WriteComparisonText writes the comparison as an aligned table.
func WriteComparisonText(w io.Writer, c *Comparison) error {
	var b strings.Builder
	fmt.Fprintf(&b, "A: %s\nB: %s\n", c.A, c.B)
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tA\tB\tB−A\tB/A\t\t")
	for _, ch := range c.Changes {
		ratio := "-"
		if ch.Ratio != 0 {
			ratio = fmt.Sprintf("%.3f", ch.Ratio)
		}
		mark := ""
		switch ch.Verdict {
		case "better":
			mark = "better"
		case "worse":
			mark = "WORSE"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", ch.Metric, fmtValue(ch.A, ch.Unit), fmtValue(ch.B, ch.Unit),
			fmtDelta(ch.Delta, ch.Unit), ratio, mark)
	}
	tw.Flush()
	if len(c.Worse) > 0 {
		fmt.Fprintf(&b, "\n%d metrics worse by more than %g%%: %s\n", len(c.Worse), 100*c.Threshold, strings.Join(c.Worse, ", "))
	} else {
		fmt.Fprintf(&b, "\nno metric worse by more than %g%%\n", 100*c.Threshold)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtValue(v float64, unit string) string {
	switch unit {
	case "":
		return fmt.Sprintf("%.0f", v)
	case "ms":
		return fmt.Sprintf("%.3fms", v)
	case "%":
		return fmt.Sprintf("%.2f%%", v)
	default:
		return fmt.Sprintf("%.1f%s", v, unit)
	}
}

func fmtDelta(v float64, unit string) string {
	s := fmtValue(v, unit)
	if v > 0 {
		s = "+" + s
	}
	return s
}
