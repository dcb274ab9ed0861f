package train

import (
	"math"
	"strings"
	"testing"
)

func TestRenderCurvesHTML(t *testing.T) {
	charts := []Chart{
		{Title: "loss", YLabel: "loss", Series: []Series{
			{Name: "train", Points: []Point{{1, 0.7}, {2, 0.5}, {3, math.NaN()}, {4, 0.3}}},
			{Name: "eval <dev>", Points: []Point{{2, 0.6}, {4, 0.4}}},
		}},
		{Title: "empty", Series: []Series{{Name: "x"}}},
	}
	html, err := RenderCurvesHTML("run & co", charts, []string{"best accuracy 0.9"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(html)
	for _, want := range []string{"<svg", "polyline", "run &amp; co", "eval &lt;dev&gt;", "no data", "best accuracy 0.9"} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://", "NaN"} {
		if strings.Contains(strings.ReplaceAll(s, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("page contains %q: must be self-contained and finite", bad)
		}
	}
}
