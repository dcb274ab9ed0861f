package train

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
)

// Point is one (step, value) sample of a curve.
type Point struct {
	Step  int
	Value float64
}

// Series is a named line in a chart.
type Series struct {
	Name   string
	Color  string
	Points []Point
}

// Chart is one SVG panel.
type Chart struct {
	Title  string
	YLabel string
	Series []Series
}

// RenderCurvesHTML returns a self-contained HTML page (inline SVG, no
// scripts, no network) with one chart per panel, so the training curve can
// be opened anywhere, attached to a ticket, or archived with the model.
func RenderCurvesHTML(title string, charts []Chart, notes []string) ([]byte, error) {
	var panels []template.HTML
	for _, c := range charts {
		panels = append(panels, template.HTML(renderChartSVG(c, 720, 300)))
	}
	var buf bytes.Buffer
	err := curveTmpl.Execute(&buf, struct {
		Title  string
		Notes  []string
		Panels []template.HTML
	}{title, notes, panels})
	return buf.Bytes(), err
}

var curveTmpl = template.Must(template.New("curve").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:780px}
h1{font-size:20px} .note{color:#555;margin:2px 0} svg{display:block;margin:18px 0;background:#fff;border:1px solid #ddd}
svg text{font:12px system-ui,sans-serif;fill:#333}
</style></head><body>
<h1>{{.Title}}</h1>
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
{{range .Panels}}{{.}}{{end}}
</body></html>
`))

// renderChartSVG draws the series as polylines with axes and a legend.
func renderChartSVG(c Chart, w, h int) string {
	const left, right, top, bottom = 64, 16, 30, 40
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	minX, maxX := math.Inf(1), math.Inf(-1)
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
				continue
			}
			minX, maxX = math.Min(minX, float64(p.Step)), math.Max(maxX, float64(p.Step))
			minY, maxY = math.Min(minY, p.Value), math.Max(maxY, p.Value)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`, w, h, w, h)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-weight="bold">%s</text>`, left, template.HTMLEscapeString(c.Title))
	if math.IsInf(minX, 1) {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no data</text></svg>`, left, top+int(ph/2))
		return b.String()
	}
	if maxX == minX {
		maxX = minX + 1
	}
	if maxY == minY {
		maxY, minY = maxY+0.5, minY-0.5
	}
	pad := (maxY - minY) * 0.05
	minY, maxY = minY-pad, maxY+pad
	x := func(v float64) float64 { return left + (v-minX)/(maxX-minX)*pw }
	y := func(v float64) float64 { return top + (1-(v-minY)/(maxY-minY))*ph }
	// Grid and tick labels.
	for i := 0; i <= 4; i++ {
		v := minY + (maxY-minY)*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>`, left, w-right, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-6, y(v)+4, formatTick(v))
		sv := minX + (maxX-minX)*float64(i)/4
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`, x(sv), h-bottom+16, int(math.Round(sv)))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">step</text>`, left+pw/2, h-6)
	fmt.Fprintf(&b, `<text transform="translate(14,%.0f) rotate(-90)" text-anchor="middle">%s</text>`, top+ph/2, template.HTMLEscapeString(c.YLabel))
	for i, s := range c.Series {
		pts := append([]Point(nil), s.Points...)
		sort.Slice(pts, func(a, b int) bool { return pts[a].Step < pts[b].Step })
		var coords []string
		for _, p := range pts {
			if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
				continue
			}
			coords = append(coords, fmt.Sprintf("%.1f,%.1f", x(float64(p.Step)), y(p.Value)))
		}
		color := s.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`, color, strings.Join(coords, " "))
		if len(coords) <= 50 {
			for _, c := range coords {
				xy := strings.SplitN(c, ",", 2)
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`, xy[0], xy[1], color)
			}
		}
		lx := left + 10 + i*150
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/><text x="%d" y="%d">%s</text>`,
			lx, top+10, color, lx+16, top+15, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"}

func formatTick(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1000 || a < 0.01:
		return fmt.Sprintf("%.2g", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
