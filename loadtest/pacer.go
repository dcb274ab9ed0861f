package loadtest

import (
	"fmt"
	"math"
	"time"
)

// A Pacer fixes the intended send time of every request of an open-loop
// run. It is pure: no clock, no state, so the rate maths is unit-testable
// and the attacker can compute each request's intended time exactly (the
// time latency is measured from).
type Pacer interface {
	// SendTime returns the offset from the start of the run at which the
	// n-th request (0-based) is due. ok is false when the pacer has no
	// n-th request (a zero rate).
	SendTime(n uint64) (at time.Duration, ok bool)
	// Rate returns the requested rate in requests per second at offset t.
	Rate(t time.Duration) float64
	// String describes the pacer for reports.
	String() string
}

// ConstantPacer sends Freq requests per second, evenly spaced: request n is
// due at n/Freq seconds.
type ConstantPacer struct {
	Freq float64 // requests per second
}

// SendTime implements Pacer.
func (p ConstantPacer) SendTime(n uint64) (time.Duration, bool) {
	if !(p.Freq > 0) || math.IsInf(p.Freq, 0) {
		return 0, false
	}
	return secondsToDuration(float64(n) / p.Freq), true
}

// Rate implements Pacer.
func (p ConstantPacer) Rate(time.Duration) float64 { return p.Freq }

func (p ConstantPacer) String() string { return fmt.Sprintf("constant %g/s", p.Freq) }

// StepPacer starts at Start requests per second and adds Step every
// StepDuration, up to Max (0 = no cap). Within step k the rate is constant,
//
//	r_k = min(Start + k·Step, Max),
//
// so the number of requests due before step k is H(k) = StepDuration·Σ_{j<k} r_j
// and request n, with H(k) ≤ n < H(k+1), is due at
//
//	k·StepDuration + (n − H(k)) / r_k.
//
// Steps whose rate is zero send nothing and are skipped over.
type StepPacer struct {
	Start        float64
	Step         float64
	StepDuration time.Duration
	Max          float64
}

func (p StepPacer) rateOfStep(k int) float64 {
	r := p.Start + float64(k)*p.Step
	if p.Max > 0 && r > p.Max {
		r = p.Max
	}
	if r < 0 {
		r = 0
	}
	return r
}

// SendTime implements Pacer.
func (p StepPacer) SendTime(n uint64) (time.Duration, bool) {
	d := p.StepDuration.Seconds()
	if d <= 0 {
		return ConstantPacer{Freq: p.Start}.SendTime(n)
	}
	target := float64(n)
	before := 0.0 // H(k)
	for k := 0; ; k++ {
		r := p.rateOfStep(k)
		// Once the rate has stopped changing the rest is a constant pacer;
		// this also bounds the loop for a capped or flat pacer.
		flat := p.Step == 0 || (p.Max > 0 && r >= p.Max) || (p.Step < 0 && r == 0)
		if flat {
			if r <= 0 {
				return 0, false
			}
			return secondsToDuration(float64(k)*d + (target-before)/r), true
		}
		in := r * d
		if target < before+in {
			return secondsToDuration(float64(k)*d + (target-before)/r), true
		}
		before += in
		if k > 1<<20 { // a million steps: the parameters make no sense
			return 0, false
		}
	}
}

// Rate implements Pacer.
func (p StepPacer) Rate(t time.Duration) float64 {
	if p.StepDuration <= 0 {
		return p.Start
	}
	return p.rateOfStep(int(t / p.StepDuration))
}

func (p StepPacer) String() string {
	s := fmt.Sprintf("stepped %g/s +%g/s every %s", p.Start, p.Step, p.StepDuration)
	if p.Max > 0 {
		s += fmt.Sprintf(" up to %g/s", p.Max)
	}
	return s
}

// expectedHits returns how many requests the pacer has due in [0, t), by
// bisection over SendTime; used to state the requested count of a run.
func expectedHits(p Pacer, t time.Duration) uint64 {
	if _, ok := p.SendTime(0); !ok {
		return 0
	}
	lo, hi := uint64(0), uint64(1)
	for {
		at, ok := p.SendTime(hi)
		if !ok || at >= t {
			break
		}
		lo = hi
		if hi > 1<<50 {
			return hi
		}
		hi *= 2
	}
	// SendTime(lo) < t (or lo == 0), SendTime(hi) >= t: find the first n with SendTime(n) >= t.
	if at, _ := p.SendTime(lo); at >= t {
		return 0
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		at, ok := p.SendTime(mid)
		if ok && at < t {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

func secondsToDuration(s float64) time.Duration {
	if s >= float64(math.MaxInt64)/1e9 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Round(s * 1e9))
}
