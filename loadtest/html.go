package loadtest

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/kiln-ml/kiln/internal/chart"
)

// WriteHTML writes a self-contained HTML report: the text summary, latency
// percentiles over time, throughput over time, the latency distribution
// (HdrHistogram's percentile plot) and, for sweeps, the throughput-versus-
// latency curve. Charts are inline SVG (internal/chart): no script, no CDN, the
// file opens offline and can be attached to a ticket.
func WriteHTML(w io.Writer, r *Result) error {
	var summary bytes.Buffer
	if err := WriteText(&summary, r); err != nil {
		return err
	}
	var charts []chart.Chart
	if len(r.Timeline) > 0 {
		charts = append(charts, timelineChart(r), throughputChart(r))
	}
	dist, err := distributionChart(r)
	if err != nil {
		return err
	}
	if dist != nil {
		charts = append(charts, *dist)
	}
	if r.Sweep != nil && len(r.Sweep.Steps) > 0 {
		charts = append(charts, sweepChart(r.Sweep))
	}
	title := "kiln loadtest — " + r.Target
	if r.Label != "" {
		title += " (" + r.Label + ")"
	}
	return chart.Page{Title: title, Notes: []string{"started " + r.Start.Format("2006-01-02 15:04:05 MST")},
		Pre: summary.String(), Charts: charts}.Write(w)
}

func sliceEnd(r *Result, i int) float64 {
	if i+1 < len(r.Timeline) {
		return r.Timeline[i+1].T
	}
	return r.Timeline[i].T + r.IntervalS
}

func timelineChart(r *Result) chart.Chart {
	names := []string{"p50", "p90", "p99", "max"}
	ss := make([]chart.Series, len(names))
	for i := range ss {
		ss[i].Name = names[i]
	}
	for i, iv := range r.Timeline {
		if iv.Completed-iv.Errors == 0 {
			continue
		}
		x := sliceEnd(r, i)
		for j, v := range []float64{iv.P50, iv.P90, iv.P99, iv.Max} {
			ss[j].X = append(ss[j].X, x)
			ss[j].Y = append(ss[j].Y, v)
		}
	}
	if r.Mode == "open" {
		lag := chart.Series{Name: "send lag max"}
		for i, iv := range r.Timeline {
			lag.X = append(lag.X, sliceEnd(r, i))
			lag.Y = append(lag.Y, iv.SendLagMax)
		}
		ss = append(ss, lag)
	}
	return chart.Chart{Title: "Latency over time (per slice, by completion time)", XLabel: "seconds since start",
		YLabel: "latency, ms (log)", Series: ss, LogY: true, ShadeTo: r.WarmupS, ShadeLabel: "warm-up"}
}

func throughputChart(r *Result) chart.Chart {
	got := chart.Series{Name: "throughput (2xx/s)"}
	errs := chart.Series{Name: "errors/s"}
	req := chart.Series{Name: "requested/s"}
	for i, iv := range r.Timeline {
		x := sliceEnd(r, i)
		d := x - iv.T
		got.X, got.Y = append(got.X, x), append(got.Y, iv.Throughput)
		if d > 0 {
			errs.X, errs.Y = append(errs.X, x), append(errs.Y, float64(iv.Errors)/d)
		}
		if iv.Requested > 0 {
			req.X, req.Y = append(req.X, x), append(req.Y, iv.Requested)
		}
	}
	ss := []chart.Series{got, errs}
	if len(req.X) > 0 {
		ss = append(ss, req)
	}
	return chart.Chart{Title: "Throughput over time", XLabel: "seconds since start", YLabel: "requests per second",
		Series: ss, ShadeTo: r.WarmupS, ShadeLabel: "warm-up"}
}

// distributionChart draws HdrHistogram's percentile plot: x is
// log10(1/(1−p)), so the tail (99%, 99.9%, …) gets as much room as the body.
func distributionChart(r *Result) (*chart.Chart, error) {
	var ss []chart.Series
	maxX := 0.0
	for _, name := range []string{HistLatency, HistServiceTime, HistServerTotal} {
		if name == HistServiceTime && r.Mode != "open" {
			continue // identical to latency in closed loop
		}
		h, err := r.Histogram(name)
		if err != nil {
			return nil, fmt.Errorf("html: %s: %w", name, err)
		}
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		s := chart.Series{Name: strings.ReplaceAll(name, "_", " ")}
		for _, br := range h.CumulativeDistributionWithTicks(5) {
			q := br.Quantile / 100
			if q >= 1 {
				q = 1 - 1/float64(h.TotalCount()) // the max, placed at the last resolvable percentile
			}
			x := math.Log10(1 / (1 - q))
			s.X = append(s.X, x)
			s.Y = append(s.Y, float64(br.ValueAt)/1000)
			maxX = math.Max(maxX, x)
		}
		ss = append(ss, s)
	}
	if len(ss) == 0 {
		return nil, nil
	}
	var ticks []chart.Tick
	for e, label := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"} {
		if float64(e) <= math.Ceil(maxX) {
			ticks = append(ticks, chart.Tick{V: float64(e), Label: label})
		}
	}
	return &chart.Chart{Title: "Latency by percentile (HdrHistogram)", XLabel: "percentile", YLabel: "latency, ms (log)",
		Series: ss, LogY: true, XTicks: ticks}, nil
}

func sweepChart(sw *Sweep) chart.Chart {
	p50 := chart.Series{Name: "p50", Points: true}
	p99 := chart.Series{Name: "p99", Points: true}
	for _, st := range sw.Steps {
		x := st.Result.Throughput
		label := fmt.Sprintf("requested %g/s, held=%v", st.Rate, st.Held)
		p50.X, p50.Y, p50.Labels = append(p50.X, x), append(p50.Y, st.Result.Latency.P50), append(p50.Labels, label)
		p99.X, p99.Y, p99.Labels = append(p99.X, x), append(p99.Y, st.Result.Latency.P99), append(p99.Labels, label)
	}
	return chart.Chart{Title: fmt.Sprintf("Sweep: throughput vs latency (SLO %s; best %g/s)", sw.SLO, sw.BestRate),
		XLabel: "throughput, 2xx/s", YLabel: "latency, ms (log)", Series: []chart.Series{p50, p99}, LogY: true}
}
