package loadtest

import (
	"math"
	"testing"
	"time"
)

// The pacers are pure, so their maths is checked exactly: send times are
// compared to the nanosecond (the only rounding is float → Duration).

func TestConstantPacer(t *testing.T) {
	cases := []struct {
		freq float64
		n    uint64
		want time.Duration
		ok   bool
	}{
		{100, 0, 0, true},
		{100, 1, 10 * time.Millisecond, true},
		{100, 250, 2500 * time.Millisecond, true},
		{3, 1, 333333333, true},
		{0.5, 3, 6 * time.Second, true},
		{0, 1, 0, false},
		{-5, 1, 0, false},
		{math.Inf(1), 1, 0, false},
	}
	for _, tc := range cases {
		got, ok := ConstantPacer{Freq: tc.freq}.SendTime(tc.n)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ConstantPacer{%g}.SendTime(%d) = %v, %v; want %v, %v", tc.freq, tc.n, got, ok, tc.want, tc.ok)
		}
	}
}

func TestStepPacer(t *testing.T) {
	// 10/s for 1s, 20/s for 1s, 30/s capped at 30: requests 0-9 in step 0,
	// 10-29 in step 1, 30… in the capped step 2.
	p := StepPacer{Start: 10, Step: 10, StepDuration: time.Second, Max: 30}
	cases := []struct {
		n    uint64
		want time.Duration
	}{
		{0, 0},
		{9, 900 * time.Millisecond},
		{10, time.Second},
		{11, time.Second + 50*time.Millisecond},
		{29, time.Second + 950*time.Millisecond},
		{30, 2 * time.Second},
		{60, 3 * time.Second},
		{3030, 102 * time.Second}, // flat after the cap: 30 + 100·30
	}
	for _, tc := range cases {
		got, ok := p.SendTime(tc.n)
		if !ok || got != tc.want {
			t.Errorf("SendTime(%d) = %v, %v; want %v", tc.n, got, ok, tc.want)
		}
	}
	rates := []struct {
		t    time.Duration
		want float64
	}{{0, 10}, {999 * time.Millisecond, 10}, {time.Second, 20}, {5 * time.Second, 30}}
	for _, tc := range rates {
		if got := p.Rate(tc.t); got != tc.want {
			t.Errorf("Rate(%v) = %g, want %g", tc.t, got, tc.want)
		}
	}
	// Send times never decrease and each step holds rate × duration requests.
	prev := time.Duration(-1)
	for n := uint64(0); n < 200; n++ {
		at, ok := p.SendTime(n)
		if !ok || at < prev {
			t.Fatalf("SendTime(%d) = %v after %v", n, at, prev)
		}
		prev = at
	}
	if got := expectedHits(p, 2*time.Second); got != 30 {
		t.Errorf("expectedHits(2s) = %d, want 30", got)
	}

	// A step starting at zero sends nothing until the rate turns positive.
	z := StepPacer{Start: 0, Step: 5, StepDuration: time.Second}
	if at, ok := z.SendTime(0); !ok || at != time.Second {
		t.Errorf("zero-start SendTime(0) = %v, %v; want 1s", at, ok)
	}
	// A falling rate that reaches zero ends the run.
	down := StepPacer{Start: 2, Step: -1, StepDuration: time.Second}
	for n, want := range []bool{true, true, true, false} {
		if _, ok := down.SendTime(uint64(n)); ok != want {
			t.Errorf("falling pacer SendTime(%d) ok = %v, want %v", n, ok, want)
		}
	}
}

func TestExpectedHits(t *testing.T) {
	cases := []struct {
		p    Pacer
		t    time.Duration
		want uint64
	}{
		{ConstantPacer{Freq: 100}, 0, 0},
		{ConstantPacer{Freq: 100}, time.Second, 100},
		{ConstantPacer{Freq: 100}, time.Second + time.Nanosecond, 101},
		{ConstantPacer{Freq: 7}, 10 * time.Second, 70},
		{ConstantPacer{Freq: 0}, time.Second, 0},
		{StepPacer{Start: 10, Step: 10, StepDuration: time.Second}, 3 * time.Second, 60},
	}
	for _, tc := range cases {
		if got := expectedHits(tc.p, tc.t); got != tc.want {
			t.Errorf("expectedHits(%s, %v) = %d, want %d", tc.p, tc.t, got, tc.want)
		}
	}
}
