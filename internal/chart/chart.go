// Package chart draws line charts as inline SVG for the self-contained HTML
// reports kiln writes (the training curve, the load-test report): no
// script, no network, the file opens offline and can be attached to a
// ticket or archived with a model.
package chart

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// Palette is the default series colours (matplotlib's tab10), in order.
var Palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// Series is one named line. Points that are NaN or infinite are left out.
type Series struct {
	Name   string
	Color  string // "" = Palette by position
	X, Y   []float64
	Points bool     // mark every point (sparse series: evaluations, sweep steps)
	Labels []string // optional tooltip per point
	Dashed bool
}

// Tick is an axis tick at V, drawn as Label.
type Tick struct {
	V     float64
	Label string
}

// Chart is one panel. The y axis includes zero unless FitY is set (then it
// spans the data, rounded out to whole ticks); LogY draws a log10 axis.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	LogY, FitY            bool
	XTicks                []Tick     // custom ticks (x already transformed); nil = automatic
	XLimits               [2]float64 // x range; zero = the data's (panels that share an x axis align)
	ShadeTo               float64    // shade x < ShadeTo (a warm-up)
	ShadeLabel            string
	Width, Height         int // 0 = 900 × 320
}

const (
	padL, padR, padT, padB = 72, 170, 30, 44 // the legend lives in padR, outside the plot
	minLogValue            = 1e-3
)

// SVG renders the chart.
func (c Chart) SVG() template.HTML {
	w, h := c.Width, c.Height
	if w == 0 {
		w = 900
	}
	if h == 0 {
		h = 320
	}
	plotW, plotH := float64(w-padL-padR), float64(h-padT-padB)
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for i := range s.X {
			if i >= len(s.Y) || !finite(s.X[i]) || !finite(s.Y[i]) {
				continue
			}
			y := s.Y[i]
			if c.LogY {
				y = math.Max(y, minLogValue)
			}
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" font-family="system-ui,sans-serif" font-size="12">`, w, h, w, h)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`, padL, html.EscapeString(c.Title))
	if c.XLimits != [2]float64{} && !math.IsInf(xmin, 0) {
		xmin, xmax = c.XLimits[0], c.XLimits[1]
	}
	if math.IsInf(xmin, 0) {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no data</text></svg>`, padL+int(plotW/2)-20, padT+int(plotH/2))
		return template.HTML(b.String())
	}
	if xmax == xmin {
		xmin, xmax = xmin-0.5, xmax+0.5
	}
	var yticks []Tick
	var ty func(float64) float64
	if c.LogY {
		lo, hi := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
		if hi == lo {
			hi = lo + 1
		}
		ty = func(v float64) float64 {
			return padT + plotH*(1-(math.Log10(math.Max(v, minLogValue))-lo)/(hi-lo))
		}
		for e := lo; e <= hi; e++ {
			for _, m := range []float64{1, 2, 5} {
				if v := m * math.Pow(10, e); math.Log10(v) <= hi+1e-9 {
					yticks = append(yticks, Tick{v, strconv.FormatFloat(v, 'f', -1, 64)})
				}
			}
		}
	} else {
		if !c.FitY {
			ymin, ymax = math.Min(0, ymin), math.Max(0, ymax)
		}
		if ymax == ymin {
			ymin, ymax = ymin-0.5, ymax+0.5
			if c.FitY && ymin < 0 && ymax-1 >= 0 {
				ymin = 0
			}
		}
		step := NiceStep(ymax - ymin)
		ymin, ymax = math.Floor(ymin/step+1e-9)*step, math.Ceil(ymax/step-1e-9)*step
		ty = func(v float64) float64 { return padT + plotH*(1-(v-ymin)/(ymax-ymin)) }
		for k := 0; ymin+float64(k)*step <= ymax+step/2; k++ {
			v := ymin + float64(k)*step
			yticks = append(yticks, Tick{v, FormatTick(v, step)})
		}
	}
	tx := func(v float64) float64 { return padL + plotW*(v-xmin)/(xmax-xmin) }
	xticks := c.XTicks
	if xticks == nil {
		step := NiceStep(xmax - xmin)
		for k := math.Ceil(xmin/step - 1e-9); k*step <= xmax+step*1e-6; k++ {
			xticks = append(xticks, Tick{k * step, FormatTick(k*step, step)})
		}
	}
	inX := func(v float64) bool { return v >= xmin-1e-9 && v <= xmax+1e-9 }
	if c.ShadeTo > xmin {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.0f" fill="#eee"/><text x="%d" y="%d" fill="#888">%s</text>`,
			padL, padT, tx(math.Min(c.ShadeTo, xmax))-padL, plotH, padL+4, padT+12, html.EscapeString(c.ShadeLabel))
	}
	b.WriteString(`<g stroke="#e4e4e4">`)
	for _, t := range yticks {
		fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f"/>`, padL, padL+plotW, ty(t.V), ty(t.V))
	}
	for _, t := range xticks {
		if inX(t.V) {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.0f"/>`, tx(t.V), tx(t.V), padT, padT+plotH)
		}
	}
	b.WriteString(`</g>`)
	for _, t := range yticks {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-6, ty(t.V), html.EscapeString(t.Label))
	}
	for _, t := range xticks {
		if inX(t.V) {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, tx(t.V), padT+plotH+16, html.EscapeString(t.Label))
		}
	}
	fmt.Fprintf(&b, `<g stroke="#555"><line x1="%d" x2="%.0f" y1="%.0f" y2="%.0f"/><line x1="%d" x2="%d" y1="%d" y2="%.0f"/></g>`,
		padL, padL+plotW, padT+plotH, padT+plotH, padL, padL, padT, padT+plotH)
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">%s</text>`, padL+plotW/2, h-6, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %.0f) rotate(-90)" text-anchor="middle">%s</text>`, padT+plotH/2, html.EscapeString(c.YLabel))
	for i, s := range c.Series {
		col := s.Color
		if col == "" {
			col = Palette[i%len(Palette)]
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts strings.Builder
		var marks []int
		for j := range s.X {
			if j >= len(s.Y) || !finite(s.X[j]) || !finite(s.Y[j]) {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", tx(s.X[j]), ty(s.Y[j]))
			marks = append(marks, j)
		}
		name := html.EscapeString(s.Name)
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"><title>%s</title></polyline>`, col, dash, strings.TrimSpace(pts.String()), name)
		if s.Points {
			for _, j := range marks {
				label := s.Name
				if j < len(s.Labels) {
					label = s.Labels[j]
				}
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s</title></circle>`, tx(s.X[j]), ty(s.Y[j]), col, html.EscapeString(label))
			}
		}
		ly := padT + 10 + 18*i
		lx := padL + int(plotW) + 12
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"%s/><text x="%d" y="%d" dominant-baseline="middle">%s</text>`,
			lx, lx+18, ly, ly, col, dash, lx+24, ly, name)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// NiceStep is a 1-2-5 tick step giving about six ticks over span.
func NiceStep(span float64) float64 {
	if span <= 0 || math.IsNaN(span) || math.IsInf(span, 0) {
		return 1
	}
	raw := span / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// FormatTick writes v with as many decimals as a tick step needs: 0.25,
// 1500, 2e-5 (small steps in scientific notation), never 1.0000000002.
func FormatTick(v, step float64) string {
	if math.Abs(v) < step*1e-6 {
		return "0"
	}
	d := 0 // the decimals that write the step itself exactly: 0.025 → 3
	for ; d < 12; d++ {
		scaled := step * math.Pow(10, float64(d))
		if math.Abs(scaled-math.Round(scaled)) < 1e-6*scaled {
			break
		}
	}
	if d <= 4 {
		return strconv.FormatFloat(v, 'f', d, 64)
	}
	p := d + int(math.Floor(math.Log10(math.Abs(v))))
	if p < 0 {
		p = 0
	}
	s := strconv.FormatFloat(v, 'e', p, 64) // 1.50e-05
	mant, exp, _ := strings.Cut(s, "e")
	if strings.Contains(mant, ".") {
		mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	}
	e, _ := strconv.Atoi(exp)
	return mant + "e" + strconv.Itoa(e)
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:960px;padding:0 12px;color:#222}
h1{font-size:1.3em} .note{color:#555;margin:2px 0} figure{margin:1.2em 0}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px;line-height:1.35}
svg{display:block;max-width:100%;height:auto;background:#fff} svg text{fill:#333}
</style></head><body>
<h1>{{.Title}}</h1>
{{range .Notes}}<p class="note">{{.}}</p>
{{end}}{{if .Pre}}<pre>{{.Pre}}</pre>
{{end}}{{range .Charts}}<figure>{{.}}</figure>
{{end}}</body></html>
`))

// Page is a self-contained HTML report: a title, lines of notes, an
// optional preformatted block (a text summary) and the charts.
type Page struct {
	Title  string
	Notes  []string
	Pre    string
	Charts []Chart
}

// Write renders the page.
func (p Page) Write(w io.Writer) error {
	svgs := make([]template.HTML, len(p.Charts))
	for i, c := range p.Charts {
		svgs[i] = c.SVG()
	}
	return page.Execute(w, struct {
		Title, Pre string
		Notes      []string
		Charts     []template.HTML
	}{p.Title, p.Pre, p.Notes, svgs})
}
