package loadtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SLO is a conjunction of objectives such as "p99<50ms,errors<1%".
type SLO struct {
	Text       string
	Objectives []Objective
}

// Objective is one "metric op bound" term. Latency bounds are in ms, error
// bounds are fractions (1% = 0.01).
type Objective struct {
	Metric string // p50 p90 p95 p99 p99.9 max mean errors
	Op     string // < or <=
	Bound  float64
}

// ParseSLO parses a comma- or "and"-separated list of objectives:
// pNN (p50, p90, p95, p99, p99.9), max or mean with a duration bound
// ("50ms", "1.5s", a bare number is ms), or errors with a percentage or
// fraction bound ("1%", "0.01").
func ParseSLO(text string) (*SLO, error) {
	slo := &SLO{Text: text}
	text = strings.ReplaceAll(text, " and ", ",")
	for _, term := range strings.Split(text, ",") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		op := ""
		i := strings.IndexAny(term, "<")
		if i < 0 {
			return nil, fmt.Errorf("slo %q: term %q: want metric<bound, e.g. p99<50ms", slo.Text, term)
		}
		op = "<"
		rest := term[i+1:]
		if strings.HasPrefix(rest, "=") {
			op, rest = "<=", rest[1:]
		}
		metric := strings.ToLower(strings.TrimSpace(term[:i]))
		bound := strings.TrimSpace(rest)
		o := Objective{Metric: metric, Op: op}
		switch metric {
		case "p50", "p90", "p95", "p99", "p99.9", "p999", "max", "mean":
			if metric == "p999" {
				o.Metric = "p99.9"
			}
			ms, err := parseLatencyBound(bound)
			if err != nil {
				return nil, fmt.Errorf("slo %q: term %q: %w", slo.Text, term, err)
			}
			o.Bound = ms
		case "errors", "error", "error_rate":
			o.Metric = "errors"
			f, err := parseFraction(bound)
			if err != nil {
				return nil, fmt.Errorf("slo %q: term %q: %w", slo.Text, term, err)
			}
			o.Bound = f
		default:
			return nil, fmt.Errorf("slo %q: unknown metric %q (want p50, p90, p95, p99, p99.9, max, mean or errors)", slo.Text, metric)
		}
		slo.Objectives = append(slo.Objectives, o)
	}
	if len(slo.Objectives) == 0 {
		return nil, fmt.Errorf("slo %q: no objectives", slo.Text)
	}
	return slo, nil
}

func parseLatencyBound(s string) (float64, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bound %q is not a duration like 50ms", s)
	}
	return float64(d) / float64(time.Millisecond), nil
}

func parseFraction(s string) (float64, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return 0, fmt.Errorf("bound %q is not a percentage", s)
		}
		return v / 100, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bound %q is not a fraction or percentage", s)
	}
	return v, nil
}

func (o Objective) value(r *Result) float64 {
	switch o.Metric {
	case "errors":
		return r.ErrorRate
	case "mean":
		return r.Latency.Mean
	case "max":
		return r.Latency.Max
	case "p50":
		return r.Latency.P50
	case "p90":
		return r.Latency.P90
	case "p95":
		return r.Latency.P95
	case "p99":
		return r.Latency.P99
	case "p99.9":
		return r.Latency.P999
	}
	return 0
}

func (o Objective) String() string {
	if o.Metric == "errors" {
		return fmt.Sprintf("errors%s%g%%", o.Op, o.Bound*100)
	}
	return fmt.Sprintf("%s%s%gms", o.Metric, o.Op, o.Bound)
}

// Check returns the violated objectives, described with the measured value.
// A run with no successful request violates every latency objective.
func (s *SLO) Check(r *Result) []string {
	var out []string
	for _, o := range s.Objectives {
		v := o.value(r)
		held := v < o.Bound || (o.Op == "<=" && v == o.Bound)
		if o.Metric != "errors" && r.Successes == 0 {
			held = false
		}
		if !held {
			if o.Metric == "errors" {
				out = append(out, fmt.Sprintf("%s broken: errors %.2f%%", o, v*100))
			} else {
				out = append(out, fmt.Sprintf("%s broken: %s %.2fms", o, o.Metric, v))
			}
		}
	}
	return out
}

// SweepConfig steps the rate from Start by Step (added; or multiplied by
// Factor when Factor > 1) until the SLO breaks, the generator saturates,
// or Max is passed. Each step is one open-loop run of StepDuration after
// Warmup, with Base's target, workload and connection settings.
type SweepConfig struct {
	Base         Config
	SLO          *SLO
	Start, Step  float64
	Factor       float64
	Max          float64
	StepDuration time.Duration
	// OnStep is called after each step (progress, logging).
	OnStep func(SweepStep)
}

// RunSweep performs the sweep. The returned result holds every step, and
// its top-level figures are those of the highest rate that held (or of the
// first step when none held).
func RunSweep(ctx context.Context, sc SweepConfig) (*Result, error) {
	if sc.SLO == nil {
		return nil, fmt.Errorf("sweep: no SLO (e.g. --slo 'p99<50ms,errors<1%%')")
	}
	if !(sc.Start > 0) {
		return nil, fmt.Errorf("sweep: start rate must be positive")
	}
	if sc.Factor <= 1 && !(sc.Step > 0) {
		return nil, fmt.Errorf("sweep: need a positive step or a factor above 1")
	}
	if sc.StepDuration <= 0 && sc.Base.MaxRequests == 0 {
		return nil, fmt.Errorf("sweep: need a step duration")
	}
	sw := &Sweep{SLO: sc.SLO.Text}
	var best, first *Result
	for rate := sc.Start; sc.Max <= 0 || rate <= sc.Max*(1+1e-9); {
		cfg := sc.Base
		cfg.Clients = 0
		cfg.Pacer = ConstantPacer{Freq: rate}
		cfg.Duration = sc.StepDuration
		cfg.Progress = nil
		if cfg.Label == "" {
			cfg.Label = fmt.Sprintf("%g/s", rate)
		}
		r, err := Run(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("sweep: rate %g/s: %w", rate, err)
		}
		step := SweepStep{Rate: rate, Result: r, Violations: sc.SLO.Check(r)}
		if r.Saturation.Saturated {
			for _, reason := range r.Saturation.Reasons {
				step.Violations = append(step.Violations, "generator saturated: "+reason)
			}
		}
		step.Held = len(step.Violations) == 0 && !r.Interrupted
		sw.Steps = append(sw.Steps, step)
		if sc.OnStep != nil {
			sc.OnStep(step)
		}
		if first == nil {
			first = r
		}
		if r.Interrupted {
			sw.Reason = "interrupted"
			break
		}
		if !step.Held {
			sw.BrokenAt = rate
			sw.Reason = strings.Join(step.Violations, "; ")
			break
		}
		best = r
		sw.BestRate = rate
		if sc.Factor > 1 {
			rate *= sc.Factor
		} else {
			rate += sc.Step
		}
	}
	if sw.Reason == "" {
		sw.Reason = fmt.Sprintf("held up to the maximum rate %g/s", sc.Max)
	}
	top := best
	if top == nil {
		top = first
	}
	out := *top
	out.Label = sc.Base.Label
	out.Sweep = sw
	return &out, nil
}
