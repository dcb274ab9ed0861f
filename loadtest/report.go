package loadtest

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// WriteText writes the human summary of a run (and of a sweep's steps).
func WriteText(w io.Writer, r *Result) error {
	var b strings.Builder
	mode := "closed-loop, " + plural(r.Clients, "client")
	if r.Mode == "open" {
		mode = "open-loop, " + r.Pacer
	}
	ka := "keep-alive"
	if !r.KeepAlive {
		ka = "no keep-alive"
	}
	fmt.Fprintf(&b, "kiln loadtest: %s %s\n", r.Method, r.Target)
	fmt.Fprintf(&b, "  %s, %s, %s, timeout %gs\n", mode, plural(r.Connections, "connection"), ka, r.TimeoutS)
	fmt.Fprintf(&b, "  measured %.1fs", r.DurationS)
	if r.WarmupS > 0 {
		fmt.Fprintf(&b, " after %.1fs warm-up (excluded)", r.WarmupS)
	}
	if r.Workload != "" {
		fmt.Fprintf(&b, "; workload %s", r.Workload)
	}
	if r.Generators > 1 {
		fmt.Fprintf(&b, "; merged from %d generators", r.Generators)
	}
	if r.Interrupted {
		b.WriteString("; INTERRUPTED")
	}
	b.WriteString("\n\n")

	fmt.Fprintf(&b, "Requests     %d", r.Requests)
	if r.RequestedRate > 0 {
		fmt.Fprintf(&b, "   requested %.1f/s", r.RequestedRate)
	}
	fmt.Fprintf(&b, "   sent %.1f/s   throughput %.1f/s (2xx)\n", r.AchievedRate, r.Throughput)
	fmt.Fprintf(&b, "Errors       %d (%.2f%%)", r.Errors, 100*r.ErrorRate)
	for _, k := range sortedKeys(r.ErrorKinds) {
		fmt.Fprintf(&b, "   %s %d", k, r.ErrorKinds[k])
	}
	b.WriteString("\n")
	if len(r.StatusCodes) > 0 {
		b.WriteString("Status codes")
		for _, k := range sortedKeys(r.StatusCodes) {
			fmt.Fprintf(&b, "   %s: %d", k, r.StatusCodes[k])
		}
		b.WriteString("\n")
	}
	for _, k := range sortedKeys(mapKeysInt(r.ErrorExamples)) {
		fmt.Fprintf(&b, "  e.g. %s: %s\n", k, r.ErrorExamples[k])
	}
	b.WriteString("\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	what := "from the actual send"
	if r.Mode == "open" {
		what = "latency from the intended send time; service time from the actual send"
	}
	fmt.Fprintf(&b, "Latency, ms (%s, successful requests)\n", what)
	fmt.Fprintln(tw, "\tcount\tmin\tmean\tp50\tp90\tp95\tp99\tp99.9\tmax\t")
	row := func(name string, s Stats) {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			name, s.Count, s.Min, s.Mean, s.P50, s.P90, s.P95, s.P99, s.P999, s.Max)
	}
	row("latency", r.Latency)
	if r.Mode == "open" {
		row("service time", r.ServiceTime)
		row("send lag", r.Saturation.SendLag)
	}
	if st := r.ServerTiming; st != nil {
		for _, name := range []string{HistServerTotal, HistQueue, HistTokenize, HistInference} {
			if s, ok := st.Parts[name]; ok {
				row("server "+name, s)
			}
		}
	}
	tw.Flush()

	if st := r.ServerTiming; st != nil && len(st.Breakdown) > 0 {
		fmt.Fprintf(&b, "\nWhere the time goes (ms; mean of the server's timing headers over the requests within ±2.5%% of each percentile; %d requests carried headers)\n", st.Requests)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tlatency\tqueue\ttokenization\tinference\tserver total\tclient+network\tsamples\t")
		for _, bd := range st.Breakdown {
			fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t\n", percentileName(bd.Percentile),
				bd.Latency, bd.Queue, bd.Tokenization, bd.Inference, bd.ServerTotal, bd.ClientNetwork, bd.Samples)
		}
		tw.Flush()
	}

	b.WriteString("\n")
	s := r.Saturation
	switch {
	case r.Mode != "open":
		fmt.Fprintf(&b, "Generator: closed-loop (the server sets the pace; stalls are hidden by design), max in flight %d\n", s.MaxInFlight)
	case s.Saturated:
		fmt.Fprintf(&b, "Generator: SATURATED — the requested schedule was not kept; client-side delay is NOT server latency\n")
		for _, reason := range s.Reasons {
			fmt.Fprintf(&b, "  - %s\n", reason)
		}
	default:
		fmt.Fprintf(&b, "Generator: kept the schedule (send lag p99 %.3fms ≤ %.1fms, in-flight cap hits %d, max in flight %d, %d of %d connections opened)\n",
			s.SendLag.P99, s.LagThresholdMs, s.InFlightCapHits, s.MaxInFlight, s.Workers, s.InFlightCap)
	}

	if sw := r.Sweep; sw != nil {
		fmt.Fprintf(&b, "\nSweep against SLO %q\n", sw.SLO)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "rate/s\tsent/s\tthroughput/s\tp50 ms\tp99 ms\tmax ms\terrors\theld\t")
		for _, st := range sw.Steps {
			x := st.Result
			held := "yes"
			if !st.Held {
				held = "NO"
			}
			fmt.Fprintf(tw, "%g\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f%%\t%s\t\n", st.Rate, x.AchievedRate, x.Throughput,
				x.Latency.P50, x.Latency.P99, x.Latency.Max, 100*x.ErrorRate, held)
		}
		tw.Flush()
		if sw.BestRate > 0 {
			fmt.Fprintf(&b, "Highest rate that held: %g/s", sw.BestRate)
		} else {
			b.WriteString("No rate held")
		}
		fmt.Fprintf(&b, " (%s)\n", sw.Reason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mapKeysInt(m map[string]string) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k := range m {
		out[k] = 0
	}
	return out
}

func percentileName(p float64) string {
	if p == 100 {
		return "max"
	}
	return fmt.Sprintf("p%g", p)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// FormatProgress renders the live progress line.
func FormatProgress(p Progress) string {
	var b strings.Builder
	if p.Total > 0 {
		fmt.Fprintf(&b, "[%5.1fs/%.0fs]", p.Elapsed.Seconds(), p.Total.Seconds())
	} else {
		fmt.Fprintf(&b, "[%5.1fs]", p.Elapsed.Seconds())
	}
	if p.Slice.Warmup {
		b.WriteString(" warm-up")
	}
	fmt.Fprintf(&b, " sent %d done %d err %d in-flight %d | last %.1fs: %.0f/s", p.Sent, p.Completed, p.Errors,
		p.InFlight, p.Elapsed.Seconds()-p.Slice.T, p.Slice.Throughput)
	if p.Slice.Requested > 0 {
		fmt.Fprintf(&b, " (of %.0f/s)", p.Slice.Requested)
	}
	fmt.Fprintf(&b, " p50 %s p99 %s max %s", fmtMs(p.Slice.P50), fmtMs(p.Slice.P99), fmtMs(p.Slice.Max))
	return b.String()
}

func fmtMs(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.2fms", ms)
	}
}

// WriteHGRM writes HdrHistogram's percentile-distribution text (the .hgrm
// format HdrHistogram's plotter and hdr-plot read) for the named histogram,
// values in milliseconds.
func WriteHGRM(w io.Writer, r *Result, name string) error {
	h, err := r.Histogram(name)
	if err != nil {
		return err
	}
	if h == nil {
		return fmt.Errorf("hgrm: result has no %q histogram", name)
	}
	return writeHGRM(w, h)
}

func writeHGRM(w io.Writer, h *hdr.Histogram) error {
	// Values are µs; a scale of 1000 prints ms, as HdrHistogram's own
	// tools do with outputValueUnitRatio.
	_, err := h.PercentilesPrint(w, 5, 1000)
	return err
}
