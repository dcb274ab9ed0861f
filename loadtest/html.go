package loadtest

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes a self-contained HTML report: the text summary, latency
// percentiles over time, throughput over time, the latency distribution
// (HdrHistogram's percentile plot) and, for sweeps, the throughput-versus-
// latency curve. Charts are inline SVG drawn here: no script, no CDN, the
// file opens offline and can be attached to a ticket.
func WriteHTML(w io.Writer, r *Result) error {
	var summary bytes.Buffer
	if err := WriteText(&summary, r); err != nil {
		return err
	}
	var charts []template.HTML
	if len(r.Timeline) > 0 {
		charts = append(charts, timelineChart(r), throughputChart(r))
	}
	dist, err := distributionChart(r)
	if err != nil {
		return err
	}
	if dist != "" {
		charts = append(charts, dist)
	}
	if r.Sweep != nil && len(r.Sweep.Steps) > 0 {
		charts = append(charts, sweepChart(r.Sweep))
	}
	title := "kiln loadtest — " + r.Target
	if r.Label != "" {
		title += " (" + r.Label + ")"
	}
	return htmlPage.Execute(w, map[string]any{
		"Title": title, "Start": r.Start.Format("2006-01-02 15:04:05 MST"),
		"Summary": summary.String(), "Charts": charts,
	})
}

var htmlPage = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,sans-serif;margin:2em auto;max-width:960px;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px;line-height:1.35}
h1{font-size:1.3em} figure{margin:1.5em 0} svg{font-size:11px;font-family:inherit}
.grid line{stroke:#e4e4e4} .axis{stroke:#555} .legend text{font-size:12px}
</style></head><body>
<h1>{{.Title}}</h1><p>started {{.Start}}</p>
<pre>{{.Summary}}</pre>
{{range .Charts}}<figure>{{.}}</figure>
{{end}}</body></html>
`))

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}

type series struct {
	name   string
	xs, ys []float64
	points bool
	labels []string // optional, per point
}

type chart struct {
	title, xLabel, yLabel string
	series                []series
	logY                  bool
	xTicks                []tick // custom ticks (x already transformed); nil = automatic
	shadeTo               float64
}

type tick struct {
	v     float64
	label string
}

const (
	chartW, chartH                 = 900, 320
	padL, padR, padT, padB         = 64, 150, 30, 44
	plotW, plotH                   = chartW - padL - padR, chartH - padT - padB
	minLogValue            float64 = 1e-3
)

func (c *chart) render() template.HTML {
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for i := range s.xs {
			xmin, xmax = math.Min(xmin, s.xs[i]), math.Max(xmax, s.xs[i])
			y := s.ys[i]
			if c.logY {
				y = math.Max(y, minLogValue)
			}
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`, padL, html.EscapeString(c.title))
	if math.IsInf(xmin, 0) {
		b.WriteString(`<text x="300" y="150">no data</text></svg>`)
		return template.HTML(b.String())
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	var yticks []tick
	var ty func(float64) float64
	if c.logY {
		lo := math.Floor(math.Log10(ymin))
		hi := math.Ceil(math.Log10(ymax))
		if hi == lo {
			hi = lo + 1
		}
		ty = func(v float64) float64 {
			v = math.Max(v, minLogValue)
			return padT + plotH*(1-(math.Log10(v)-lo)/(hi-lo))
		}
		for e := lo; e <= hi; e++ {
			for _, m := range []float64{1, 2, 5} {
				v := m * math.Pow(10, e)
				if math.Log10(v) <= hi+1e-9 {
					yticks = append(yticks, tick{v, fmtNum(v)})
				}
			}
		}
	} else {
		ymin = math.Min(0, ymin)
		step := niceStep(ymax - ymin)
		ymax = math.Ceil(ymax/step) * step
		if ymax == ymin {
			ymax = ymin + 1
		}
		ty = func(v float64) float64 { return padT + plotH*(1-(v-ymin)/(ymax-ymin)) }
		for v := ymin; v <= ymax+step/2; v += step {
			yticks = append(yticks, tick{v, fmtNum(v)})
		}
	}
	tx := func(v float64) float64 { return padL + plotW*(v-xmin)/(xmax-xmin) }
	xticks := c.xTicks
	if xticks == nil {
		step := niceStep(xmax - xmin)
		for v := math.Ceil(xmin/step) * step; v <= xmax+step/1e6; v += step {
			xticks = append(xticks, tick{v, fmtNum(v)})
		}
	}
	if c.shadeTo > xmin {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#eee"/><text x="%d" y="%d" fill="#888">warm-up</text>`,
			padL, padT, tx(math.Min(c.shadeTo, xmax))-padL, plotH, padL+4, padT+12)
	}
	b.WriteString(`<g class="grid">`)
	for _, t := range yticks {
		y := ty(t.v)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, padL+plotW, y, y)
	}
	for _, t := range xticks {
		if t.v < xmin-1e-9 || t.v > xmax+1e-9 {
			continue
		}
		x := tx(t.v)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, x, x, padT, padT+plotH)
	}
	b.WriteString(`</g>`)
	for _, t := range yticks {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-6, ty(t.v), html.EscapeString(t.label))
	}
	for _, t := range xticks {
		if t.v < xmin-1e-9 || t.v > xmax+1e-9 {
			continue
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, tx(t.v), padT+plotH+16, html.EscapeString(t.label))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>`, padL, padL+plotW, padT+plotH, padT+plotH)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>`, padL, padL, padT, padT+plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, padL+plotW/2, chartH-6, html.EscapeString(c.xLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %d) rotate(-90)" text-anchor="middle">%s</text>`, padT+plotH/2, html.EscapeString(c.yLabel))
	b.WriteString(`<g class="legend">`)
	for i, s := range c.series {
		col := palette[i%len(palette)]
		var pts strings.Builder
		for j := range s.xs {
			fmt.Fprintf(&pts, "%.1f,%.1f ", tx(s.xs[j]), ty(s.ys[j]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"><title>%s</title></polyline>`, col, pts.String(), html.EscapeString(s.name))
		if s.points {
			for j := range s.xs {
				label := ""
				if j < len(s.labels) {
					label = s.labels[j]
				}
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s</title></circle>`, tx(s.xs[j]), ty(s.ys[j]), col, html.EscapeString(label))
			}
		}
		ly := padT + 10 + 18*i
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/><text x="%d" y="%d" dominant-baseline="middle">%s</text>`,
			padL+plotW+12, padL+plotW+30, ly, ly, col, padL+plotW+36, ly, html.EscapeString(s.name))
	}
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}

func niceStep(span float64) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	default:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
	}
}

func sliceEnd(r *Result, i int) float64 {
	if i+1 < len(r.Timeline) {
		return r.Timeline[i+1].T
	}
	return r.Timeline[i].T + r.IntervalS
}

func timelineChart(r *Result) template.HTML {
	names := []string{"p50", "p90", "p99", "max"}
	ss := make([]series, len(names))
	for i := range ss {
		ss[i].name = names[i]
	}
	for i, iv := range r.Timeline {
		if iv.Completed-iv.Errors == 0 {
			continue
		}
		x := sliceEnd(r, i)
		for j, v := range []float64{iv.P50, iv.P90, iv.P99, iv.Max} {
			ss[j].xs = append(ss[j].xs, x)
			ss[j].ys = append(ss[j].ys, v)
		}
	}
	if r.Mode == "open" {
		lag := series{name: "send lag max"}
		for i, iv := range r.Timeline {
			lag.xs = append(lag.xs, sliceEnd(r, i))
			lag.ys = append(lag.ys, iv.SendLagMax)
		}
		ss = append(ss, lag)
	}
	c := chart{title: "Latency over time (per slice, by completion time)", xLabel: "seconds since start",
		yLabel: "latency, ms (log)", series: ss, logY: true, shadeTo: r.WarmupS}
	return c.render()
}

func throughputChart(r *Result) template.HTML {
	got := series{name: "throughput (2xx/s)"}
	errs := series{name: "errors/s"}
	req := series{name: "requested/s"}
	for i, iv := range r.Timeline {
		x := sliceEnd(r, i)
		d := x - iv.T
		got.xs, got.ys = append(got.xs, x), append(got.ys, iv.Throughput)
		if d > 0 {
			errs.xs, errs.ys = append(errs.xs, x), append(errs.ys, float64(iv.Errors)/d)
		}
		if iv.Requested > 0 {
			req.xs, req.ys = append(req.xs, x), append(req.ys, iv.Requested)
		}
	}
	ss := []series{got, errs}
	if len(req.xs) > 0 {
		ss = append(ss, req)
	}
	c := chart{title: "Throughput over time", xLabel: "seconds since start", yLabel: "requests per second",
		series: ss, shadeTo: r.WarmupS}
	return c.render()
}

// distributionChart draws HdrHistogram's percentile plot: x is
// log10(1/(1−p)), so the tail (99%, 99.9%, …) gets as much room as the body.
func distributionChart(r *Result) (template.HTML, error) {
	var ss []series
	maxX := 0.0
	for _, name := range []string{HistLatency, HistServiceTime, HistServerTotal} {
		if name == HistServiceTime && r.Mode != "open" {
			continue // identical to latency in closed loop
		}
		h, err := r.Histogram(name)
		if err != nil {
			return "", fmt.Errorf("html: %s: %w", name, err)
		}
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		s := series{name: strings.ReplaceAll(name, "_", " ")}
		for _, br := range h.CumulativeDistributionWithTicks(5) {
			q := br.Quantile / 100
			if q >= 1 {
				q = 1 - 1/float64(h.TotalCount()) // the max, placed at the last resolvable percentile
			}
			x := math.Log10(1 / (1 - q))
			s.xs = append(s.xs, x)
			s.ys = append(s.ys, float64(br.ValueAt)/1000)
			maxX = math.Max(maxX, x)
		}
		ss = append(ss, s)
	}
	if len(ss) == 0 {
		return "", nil
	}
	var ticks []tick
	for e, label := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"} {
		if float64(e) <= math.Ceil(maxX) {
			ticks = append(ticks, tick{float64(e), label})
		}
	}
	c := chart{title: "Latency by percentile (HdrHistogram)", xLabel: "percentile", yLabel: "latency, ms (log)",
		series: ss, logY: true, xTicks: ticks}
	return c.render(), nil
}

func sweepChart(sw *Sweep) template.HTML {
	p50 := series{name: "p50", points: true}
	p99 := series{name: "p99", points: true}
	for _, st := range sw.Steps {
		x := st.Result.Throughput
		label := fmt.Sprintf("requested %g/s, held=%v", st.Rate, st.Held)
		p50.xs, p50.ys, p50.labels = append(p50.xs, x), append(p50.ys, st.Result.Latency.P50), append(p50.labels, label)
		p99.xs, p99.ys, p99.labels = append(p99.xs, x), append(p99.ys, st.Result.Latency.P99), append(p99.labels, label)
	}
	c := chart{title: fmt.Sprintf("Sweep: throughput vs latency (SLO %s; best %g/s)", sw.SLO, sw.BestRate),
		xLabel: "throughput, 2xx/s", yLabel: "latency, ms (log)", series: []series{p50, p99}, logY: true}
	return c.render()
}
