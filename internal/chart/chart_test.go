package chart

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestFormatTick(t *testing.T) {
	cases := []struct {
		v, step float64
		want    string
	}{
		{0, 0.1, "0"},
		{1e-12, 0.1, "0"},
		{0.30000000000000004, 0.1, "0.3"},
		{0.25, 0.05, "0.25"},
		{1500, 500, "1500"},
		{2e-5, 5e-6, "2e-5"},
		{1.5e-5, 5e-6, "1.5e-5"},
		{-0.2, 0.1, "-0.2"},
		{0.875, 0.025, "0.875"},
	}
	for _, c := range cases {
		if got := FormatTick(c.v, c.step); got != c.want {
			t.Errorf("FormatTick(%v, %v) = %q, want %q", c.v, c.step, got, c.want)
		}
	}
}

func TestNiceStep(t *testing.T) {
	cases := []struct{ span, want float64 }{{6, 1}, {10, 2}, {25, 5}, {60, 10}, {0.0003, 5e-5}, {0, 1}, {math.NaN(), 1}}
	for _, c := range cases {
		if got := NiceStep(c.span); math.Abs(got-c.want) > c.want*1e-9 {
			t.Errorf("NiceStep(%v) = %v, want %v", c.span, got, c.want)
		}
	}
}

var tickText = regexp.MustCompile(`<text x="(\d+)" y="[\d.]+" text-anchor="end" dominant-baseline="middle">([^<]*)</text>`)

// yTicks returns the y tick labels of a rendered chart.
func yTicks(svg string) []string {
	var out []string
	for _, m := range tickText.FindAllStringSubmatch(svg, -1) {
		out = append(out, m[2])
	}
	return out
}

func TestSVG(t *testing.T) {
	warm := []float64{0, 1e-5, 2e-5, 1.5e-5, 1e-5, 5e-6, 0}
	steps := []float64{0, 100, 200, 300, 400, 500, 600}
	cases := []struct {
		name      string
		c         Chart
		want      []string // substrings
		wantTicks []string // exact y tick labels; nil = not checked
	}{
		{"learning rate: no negative tick, round labels",
			Chart{Title: "lr", Series: []Series{{Name: "lr", X: steps, Y: warm}}},
			[]string{"<polyline"}, []string{"0", "5e-6", "1e-5", "1.5e-5", "2e-5"}},
		{"fitted metric axis",
			Chart{Title: "acc", FitY: true, Series: []Series{{Name: "accuracy", X: []float64{100, 200, 300}, Y: []float64{0.81, 0.86, 0.88}, Points: true}}},
			[]string{"<circle"}, []string{"0.80", "0.82", "0.84", "0.86", "0.88"}},
		{"constant fitted series",
			Chart{FitY: true, Series: []Series{{Name: "c", X: []float64{1, 2}, Y: []float64{0.5, 0.5}}}},
			nil, []string{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{"NaN and Inf points are skipped, names escaped",
			Chart{Title: "a & b", Series: []Series{{Name: "<x>", X: []float64{1, 2, 3}, Y: []float64{1, math.NaN(), math.Inf(1)}}}},
			[]string{"a &amp; b", "&lt;x&gt;"}, nil},
		{"empty", Chart{Title: "e", Series: []Series{{Name: "x"}}}, []string{"no data"}, nil},
		{"log axis", Chart{LogY: true, Series: []Series{{Name: "p99", X: []float64{1, 2}, Y: []float64{3, 400}}}},
			nil, []string{"1", "2", "5", "10", "20", "50", "100", "200", "500", "1000"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := string(tc.c.SVG())
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("svg lacks %q", w)
				}
			}
			if strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
				t.Errorf("svg contains a non-finite number")
			}
			if tc.wantTicks != nil {
				if got := yTicks(s); strings.Join(got, " ") != strings.Join(tc.wantTicks, " ") {
					t.Errorf("y ticks %q, want %q", got, tc.wantTicks)
				}
			}
			for _, m := range regexp.MustCompile(`points="([^"]*)"`).FindAllStringSubmatch(s, -1) {
				for _, xy := range strings.Fields(m[1]) {
					x, _ := strconv.ParseFloat(strings.Split(xy, ",")[0], 64)
					if x > 900-padR {
						t.Errorf("line point at x=%v runs into the legend column", x)
					}
				}
			}
		})
	}
}

func TestPage(t *testing.T) {
	var b bytes.Buffer
	p := Page{Title: "run & co", Notes: []string{"best <0.9>"}, Pre: "summary", Charts: []Chart{{Title: "one"}, {Title: "two"}}}
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if n := strings.Count(s, "<svg"); n != 2 {
		t.Errorf("%d charts, want 2", n)
	}
	for _, w := range []string{"run &amp; co", "best &lt;0.9&gt;", "<pre>summary</pre>"} {
		if !strings.Contains(s, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	for _, bad := range []string{"<script", "src=\"http", "href=\"http", "<link"} {
		if strings.Contains(s, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}
