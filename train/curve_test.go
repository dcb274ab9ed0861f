package train

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var curveOut = flag.String("curve-out", "", "also write the rendered training curve here, to look at it")

// syntheticHistory is a run shaped like a real one: warm-up then linear
// decay of the learning rate, a noisy falling loss, and evaluations every
// 100 steps where accuracy and macro-F1 nearly coincide.
func syntheticHistory() []LogEntry {
	var hist []LogEntry
	const steps, warm, peak = 1000, 100, 3e-5
	for s := 10; s <= steps; s += 10 {
		lr := peak * float64(s) / warm
		if s > warm {
			lr = peak * float64(steps-s) / float64(steps-warm)
		}
		loss := 0.25 + 0.45*math.Exp(-float64(s)/200) + 0.04*math.Sin(float64(s))
		norm := 2 + math.Cos(float64(s)/7)
		hist = append(hist, LogEntry{Step: s, Loss: &loss, LR: &lr, Norm: &norm})
		if s%100 == 0 {
			acc := 0.88 - 0.1*math.Exp(-float64(s)/250)
			hist = append(hist, LogEntry{Step: s, Eval: map[string]float64{
				"accuracy": acc, "macro_f1": acc - 0.001, "loss": loss + 0.05, "roc_auc": acc + 0.06,
			}})
		}
	}
	return hist
}

func TestTrainingCurve(t *testing.T) {
	path := filepath.Join(t.TempDir(), "training_curve.html")
	if *curveOut != "" {
		path = *curveOut
	}
	if err := writeCurve(path, syntheticHistory()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	svgs := regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(page, -1)
	titles := []string{"Loss", "Learning rate", "Gradient norm", "Evaluation: accuracy", "Evaluation: macro_f1", "Evaluation: roc_auc"}
	if len(svgs) != len(titles) {
		t.Fatalf("%d charts, want %d (%v)", len(svgs), len(titles), titles)
	}
	for i, want := range titles {
		if !strings.Contains(svgs[i], ">"+want) {
			t.Errorf("chart %d is not %q", i, want)
		}
	}
	// Every evaluation metric has its own line; eval loss shares the loss axis.
	for _, s := range []string{"eval accuracy", "eval macro_f1", "eval roc_auc", "eval loss", "train loss"} {
		if !strings.Contains(page, "<title>"+s+"</title>") {
			t.Errorf("no line for %s", s)
		}
	}
	if !strings.Contains(svgs[3], "highest 0.8") || !strings.Contains(svgs[3], "at step 1000") {
		t.Errorf("accuracy chart does not name the best evaluation")
	}
	// Round ticks, none negative on the learning-rate axis.
	ticks := regexp.MustCompile(`text-anchor="end" dominant-baseline="middle">([^<]*)<`)
	for i, svg := range svgs {
		for _, m := range ticks.FindAllStringSubmatch(svg, -1) {
			v, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				t.Errorf("chart %d: tick %q is not a number", i, m[1])
				continue
			}
			if v < 0 {
				t.Errorf("chart %d (%s): negative tick %q", i, titles[i], m[1])
			}
			if len(m[1]) > 6 {
				t.Errorf("chart %d: tick %q is not round", i, m[1])
			}
		}
	}
	for _, bad := range []string{"<script", "src=\"http", "href=\"http", "NaN"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: must be self-contained and finite", bad)
		}
	}
}
