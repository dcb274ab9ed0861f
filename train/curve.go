package train

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/kiln-ml/kiln/internal/atomicfile"
	"github.com/kiln-ml/kiln/internal/chart"
)

// curveCharts lays out training_curve.html: loss (training, and evaluation
// loss on the same axis), learning rate, gradient norm, then one panel per
// evaluation metric. Metrics get a panel each because they often coincide
// (accuracy and macro-F1 on balanced data) and one would hide the other.
func curveCharts(hist []LogEntry) []chart.Chart {
	loss := chart.Series{Name: "train loss", Color: chart.Palette[0]}
	lr := chart.Series{Name: "learning rate", Color: chart.Palette[2]}
	norm := chart.Series{Name: "grad norm", Color: chart.Palette[7]}
	evals := map[string]*chart.Series{}
	for _, e := range hist {
		x := float64(e.Step)
		if e.Loss != nil {
			loss.X, loss.Y = append(loss.X, x), append(loss.Y, *e.Loss)
		}
		if e.LR != nil {
			lr.X, lr.Y = append(lr.X, x), append(lr.Y, *e.LR)
		}
		if e.Norm != nil {
			norm.X, norm.Y = append(norm.X, x), append(norm.Y, *e.Norm)
		}
		for k, v := range e.Eval {
			s, ok := evals[k]
			if !ok {
				s = &chart.Series{Name: "eval " + k, Points: true}
				evals[k] = s
			}
			s.X, s.Y = append(s.X, x), append(s.Y, v)
		}
	}
	lossChart := chart.Chart{Title: "Loss", XLabel: "step", YLabel: "loss", Series: []chart.Series{loss}}
	if ev, ok := evals["loss"]; ok {
		ev.Color, ev.Dashed = chart.Palette[1], true
		lossChart.Series = append(lossChart.Series, *ev)
		delete(evals, "loss")
	}
	charts := []chart.Chart{
		lossChart,
		{Title: "Learning rate", XLabel: "step", YLabel: "learning rate", Series: []chart.Series{lr}, Height: 240},
	}
	if len(norm.X) > 0 {
		charts = append(charts, chart.Chart{Title: "Gradient norm (before clipping)", XLabel: "step", YLabel: "L2 norm", Series: []chart.Series{norm}, Height: 240})
	}
	names := make([]string, 0, len(evals))
	for k := range evals {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		s := *evals[k]
		s.Color = chart.Palette[3+i%4] // red, purple, brown, pink: apart from the panels above
		charts = append(charts, chart.Chart{Title: "Evaluation: " + k + best(k, s), XLabel: "step", YLabel: k,
			Series: []chart.Series{s}, FitY: true, Height: 240})
	}
	// One x axis for every panel, so a step lines up across them.
	last := 0.0
	for _, e := range hist {
		last = math.Max(last, float64(e.Step))
	}
	for i := range charts {
		charts[i].XLimits = [2]float64{0, last}
	}
	return charts
}

// best names the best evaluation of a metric: the lowest for errors, the
// highest for scores.
func best(metric string, s chart.Series) string {
	lower := metric == "mse" || strings.HasSuffix(metric, "loss")
	bi := -1
	for i, v := range s.Y {
		if math.IsNaN(v) {
			continue
		}
		if bi < 0 || (lower && v < s.Y[bi]) || (!lower && v > s.Y[bi]) {
			bi = i
		}
	}
	if bi < 0 {
		return ""
	}
	word := "highest"
	if lower {
		word = "lowest"
	}
	return fmt.Sprintf(" (%s %.4g at step %.0f)", word, s.Y[bi], s.X[bi])
}

func writeCurve(path string, hist []LogEntry) error {
	var b bytes.Buffer
	if err := (chart.Page{Title: "kiln training curve", Charts: curveCharts(hist)}).Write(&b); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b.Bytes())
}
