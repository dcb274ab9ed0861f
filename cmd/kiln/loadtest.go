package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kiln-ml/kiln/internal/atomicfile"
	"github.com/kiln-ml/kiln/loadtest"
)

func init() { addCommand(newLoadtestCmd()) }

// loadtestFlags holds everything `kiln loadtest` parses; the command only
// turns it into a loadtest.Config and hands it to the library.
type loadtestFlags struct {
	url, method, contentType, label string
	headers                         []string
	rate, rateStep, rateMax         string
	stepEvery                       time.Duration
	clients, connections            int
	noKeepAlive, insecure           bool
	timeout, warmup, duration       time.Duration
	requests                        uint64
	interval, saturationLag         time.Duration

	data, column, template, bodyTemplate, bodyFile, model string
	batch, distinct                                       int
	seed                                                  uint64

	sweep        bool
	slo          string
	sweepFactor  float64
	jsonOut      string
	hgrmOut      string
	htmlOut      string
	textOut      string
	quiet        bool
	allowSLOFail bool
}

func newLoadtestCmd() *cobra.Command {
	var f loadtestFlags
	cmd := &cobra.Command{
		Use:   "loadtest [URL]",
		Short: "Open-loop HTTP load test with full latency histograms (text, JSON, .hgrm, HTML)",
		Long: `loadtest sends HTTP load at a target and reports what the users would see.

Open-loop (--rate): requests are due on a fixed schedule whatever the server does, and
each latency counts from the request's intended send time, so a stalled server shows up
in the percentiles (no coordinated omission). --rate-step/--step-every make the rate climb.
Closed-loop (--clients N): N clients each send the next request when the last one is
answered: the classic tool's view, which hides stalls; use it for comparison.

Every run stops by itself: --duration and/or --requests bound it (after --warmup, which
is sent but excluded from the results). If the generator cannot keep the schedule (every
connection busy, requests leaving late) the report says SATURATED and keeps that client
delay apart from the server's service time.

Workloads: --data FILE (csv/tsv/jsonl) --column text samples texts (seeded) into bodies
for kiln serve's /predict (--template predict: {"inputs": ...}), the KServe v2 route
(--template kserve --model NAME: POST /v2/models/NAME/infer, BYTES input "text"), or a Go
--body-template; --batch-per-request N puts N texts in each body. --body FILE sends one
raw body to any endpoint.

--sweep steps the rate up (--rate start, --rate-step or --sweep-factor, --rate-max) until
--slo (e.g. 'p99<50ms,errors<1%') or the generator breaks; it reports the highest rate
that held. Outputs: a text summary on stdout, --json (histograms included; merge and
compare read it), --hgrm (HdrHistogram percentile text), --html (self-contained charts).

  kiln loadtest http://127.0.0.1:8080/predict --rate 200 --duration 30s --warmup 5s \
      --data testdata/data/sst2/dev.csv --json run.json --html run.html
  kiln loadtest compare before.json after.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if f.url != "" && f.url != args[0] {
					return fmt.Errorf("loadtest: URL given twice (%q and --url %q)", args[0], f.url)
				}
				f.url = args[0]
			}
			return runLoadtest(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "target URL (or the first argument)")
	fl.StringVar(&f.method, "method", "", "HTTP method (default POST with a body, GET without)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "extra request header 'Name: value' (repeatable)")
	fl.StringVar(&f.contentType, "content-type", "", "Content-Type of the bodies (default from the template)")
	fl.StringVar(&f.rate, "rate", "", "open-loop arrival rate, e.g. 200, 200/s, 6000/m (the sweep's start rate with --sweep)")
	fl.StringVar(&f.rateStep, "rate-step", "", "add this rate every --step-every (stepped load), or per sweep step")
	fl.DurationVar(&f.stepEvery, "step-every", 0, "how long each rate of a stepped run lasts")
	fl.StringVar(&f.rateMax, "rate-max", "", "highest rate of a stepped run or sweep")
	fl.IntVar(&f.clients, "clients", 0, "closed-loop: this many clients, each waiting for its answer")
	fl.IntVar(&f.connections, "connections", 0, "open-loop: most connections (= requests in flight), default 256")
	fl.BoolVar(&f.noKeepAlive, "no-keepalive", false, "close the connection after every request")
	fl.BoolVar(&f.insecure, "insecure", false, "accept any TLS certificate")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "per-request timeout")
	fl.DurationVar(&f.warmup, "warmup", 0, "load sent first and excluded from the results")
	fl.DurationVar(&f.duration, "duration", 0, "measured duration (after the warm-up); per step with --sweep")
	fl.Uint64Var(&f.requests, "requests", 0, "stop after this many measured requests")
	fl.DurationVar(&f.interval, "interval", time.Second, "timeline slice and progress interval")
	fl.DurationVar(&f.saturationLag, "saturation-lag", 5*time.Millisecond, "send-lag p99 above this reports the generator saturated")
	fl.StringVar(&f.data, "data", "", "texts to send: a csv, tsv or jsonl file")
	fl.StringVar(&f.column, "column", "text", "column (csv/tsv header) or field (jsonl) holding the texts")
	fl.Uint64Var(&f.seed, "seed", 1, "seed for sampling texts")
	fl.IntVar(&f.batch, "batch-per-request", 1, "texts per request")
	fl.IntVar(&f.distinct, "distinct-bodies", 4096, "distinct bodies prepared from the texts")
	fl.StringVar(&f.template, "template", "predict", "body layout for --data: predict, kserve or raw")
	fl.StringVar(&f.bodyTemplate, "body-template", "", "Go text/template for the body ({{json .Texts}}, {{json .Text}}, .N, .Model); @FILE reads it")
	fl.StringVar(&f.model, "model", "", "model name for the KServe route and templates")
	fl.StringVar(&f.bodyFile, "body", "", "send this file as every request's body (any endpoint)")
	fl.BoolVar(&f.sweep, "sweep", false, "step the rate up until --slo breaks; report the highest rate that held")
	fl.StringVar(&f.slo, "slo", "", "objectives, e.g. 'p99<50ms,errors<1%' (a plain run exits 1 when broken)")
	fl.Float64Var(&f.sweepFactor, "sweep-factor", 0, "multiply the rate by this each sweep step (instead of --rate-step)")
	fl.StringVar(&f.jsonOut, "json", "", "write the result as JSON (histograms included) to this file")
	fl.StringVar(&f.hgrmOut, "hgrm", "", "write HdrHistogram's percentile distribution (.hgrm) of the latency here")
	fl.StringVar(&f.htmlOut, "html", "", "write a self-contained HTML report here")
	fl.StringVar(&f.textOut, "text", "", "also write the text summary to this file")
	fl.StringVar(&f.label, "label", "", "name of this run in reports and comparisons")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no live progress line on stderr")
	fl.BoolVar(&f.allowSLOFail, "no-fail", false, "exit 0 even when --slo is broken")

	cmd.AddCommand(newLoadtestCompareCmd(), newLoadtestMergeCmd(), newLoadtestReportCmd())
	return cmd
}

// parseRate reads "200", "200/s", "6000/m" or "2/ms" as requests per second.
func parseRate(flag, s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	num, unit, found := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("--%s %q: want a rate like 200, 200/s or 6000/m", flag, s)
	}
	if !found {
		return v, nil
	}
	unit = strings.TrimSpace(unit)
	if unit != "" && (unit[0] < '0' || unit[0] > '9') {
		unit = "1" + unit
	}
	per, err := time.ParseDuration(unit)
	if err != nil || per <= 0 {
		return 0, fmt.Errorf("--%s %q: unknown time unit %q (s, m, ms, …)", flag, s, unit)
	}
	return v / per.Seconds(), nil
}

func parseHeaders(hs []string) ([][2]string, error) {
	var out [][2]string
	for _, h := range hs {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		out = append(out, [2]string{name, strings.TrimSpace(value)})
	}
	return out, nil
}

// targetURL fills in the route when the user gave only a server address,
// so `kiln loadtest http://host:8080 --template kserve --model m` works.
func targetURL(raw, template, model string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("loadtest: URL %q: %w", raw, err)
	}
	if u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("loadtest: URL %q: want http://host:port/path", raw)
	}
	if u.Path == "" || u.Path == "/" {
		switch template {
		case "kserve":
			if model == "" {
				return "", errors.New("loadtest: --template kserve needs --model NAME (the route is /v2/models/NAME/infer) or a full URL")
			}
			u.Path = "/v2/models/" + url.PathEscape(model) + "/infer"
		case "predict":
			u.Path = "/predict"
		}
	}
	return u.String(), nil
}

func buildWorkload(f *loadtestFlags) (*loadtest.Workload, error) {
	if f.bodyFile != "" && f.data != "" {
		return nil, errors.New("loadtest: --body and --data exclude each other")
	}
	if f.bodyFile != "" {
		body, err := os.ReadFile(f.bodyFile)
		if err != nil {
			return nil, fmt.Errorf("loadtest: --body: %w", err)
		}
		ct := f.contentType
		if ct == "" && json.Valid(body) {
			ct = "application/json"
		}
		return loadtest.StaticWorkload(body, ct), nil
	}
	if f.data == "" {
		if f.bodyTemplate != "" {
			return nil, errors.New("loadtest: --body-template needs --data")
		}
		return nil, nil
	}
	texts, err := loadtest.LoadTexts(f.data, f.column)
	if err != nil {
		return nil, fmt.Errorf("loadtest: --data: %w", err)
	}
	bt := f.bodyTemplate
	if file, ok := strings.CutPrefix(bt, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("loadtest: --body-template: %w", err)
		}
		bt = string(b)
	}
	w, err := loadtest.NewTextWorkload(texts, loadtest.TextWorkloadOptions{
		Template: loadtest.Template(f.template), BodyTemplate: bt, Batch: f.batch,
		Seed: f.seed, Distinct: f.distinct, Model: f.model,
	})
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	if f.contentType != "" {
		w.ContentType = f.contentType
	}
	slog.Debug("loadtest workload", "texts", len(texts), "bodies", w.Len(), "mean_bytes", w.MeanBodyBytes())
	return w, nil
}

func runLoadtest(cmd *cobra.Command, f *loadtestFlags) error {
	if f.url == "" {
		return errors.New("loadtest: no target URL (give it as the first argument or --url)")
	}
	if f.batch < 1 {
		return fmt.Errorf("loadtest: --batch-per-request %d: want ≥ 1", f.batch)
	}
	// The route is filled in only for the built-in body layouts: a raw
	// body or the user's own template may be meant for any endpoint.
	tmpl := ""
	if f.data != "" && f.bodyTemplate == "" {
		tmpl = f.template
	}
	target, err := targetURL(f.url, tmpl, f.model)
	if err != nil {
		return err
	}
	headers, err := parseHeaders(f.headers)
	if err != nil {
		return err
	}
	rate, err := parseRate("rate", f.rate)
	if err != nil {
		return err
	}
	step, err := parseRate("rate-step", f.rateStep)
	if err != nil {
		return err
	}
	rmax, err := parseRate("rate-max", f.rateMax)
	if err != nil {
		return err
	}
	var slo *loadtest.SLO
	if f.slo != "" {
		if slo, err = loadtest.ParseSLO(f.slo); err != nil {
			return fmt.Errorf("loadtest: --slo: %w", err)
		}
	}
	work, err := buildWorkload(f)
	if err != nil {
		return err
	}
	cfg := loadtest.Config{
		URL: target, Method: f.method, Headers: headers, Workload: work,
		Clients: f.clients, Connections: f.connections, DisableKeepAlive: f.noKeepAlive,
		Timeout: f.timeout, InsecureTLS: f.insecure, Warmup: f.warmup, Duration: f.duration,
		MaxRequests: f.requests, Interval: f.interval, SaturationLag: f.saturationLag, Label: f.label,
	}
	progress := newProgressPrinter(cmd.ErrOrStderr(), f.quiet)
	ctx := cmd.Context()

	var res *loadtest.Result
	if f.sweep {
		if slo == nil {
			return errors.New("loadtest: --sweep needs --slo, e.g. --slo 'p99<50ms,errors<1%'")
		}
		if f.clients > 0 {
			return errors.New("loadtest: --sweep is open-loop; drop --clients")
		}
		if rate <= 0 {
			return errors.New("loadtest: --sweep needs --rate (the first step's rate)")
		}
		if f.duration <= 0 {
			return errors.New("loadtest: --sweep needs --duration (per step)")
		}
		if step <= 0 && f.sweepFactor <= 1 {
			return errors.New("loadtest: --sweep needs --rate-step or --sweep-factor > 1")
		}
		if rmax <= 0 && !f.quiet {
			slog.Info("loadtest: sweep without --rate-max runs until the SLO or the generator breaks")
		}
		res, err = loadtest.RunSweep(ctx, loadtest.SweepConfig{
			Base: cfg, SLO: slo, Start: rate, Step: step, Factor: f.sweepFactor, Max: rmax,
			StepDuration: f.duration,
			OnStep: func(st loadtest.SweepStep) {
				progress.done()
				held := "held"
				if !st.Held {
					held = "BROKEN: " + strings.Join(st.Violations, "; ")
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "sweep %g/s: p50 %.2fms p99 %.2fms errors %.2f%% — %s\n",
					st.Rate, st.Result.Latency.P50, st.Result.Latency.P99, 100*st.Result.ErrorRate, held)
			},
		})
	} else {
		switch {
		case rate > 0 && f.clients > 0:
			return errors.New("loadtest: --rate (open-loop) and --clients (closed-loop) exclude each other")
		case rate > 0 && step != 0:
			if f.stepEvery <= 0 {
				return errors.New("loadtest: --rate-step needs --step-every")
			}
			cfg.Pacer = loadtest.StepPacer{Start: rate, Step: step, StepDuration: f.stepEvery, Max: rmax}
		case rate > 0:
			cfg.Pacer = loadtest.ConstantPacer{Freq: rate}
		case f.clients <= 0:
			return errors.New("loadtest: give --rate (open-loop) or --clients (closed-loop)")
		}
		if f.duration <= 0 && f.requests == 0 {
			return errors.New("loadtest: give --duration or --requests: every run must stop by itself")
		}
		cfg.Progress = progress.show
		res, err = loadtest.Run(ctx, cfg)
		progress.done()
	}
	if err != nil {
		return err
	}
	if err := writeLoadtestOutputs(cmd.OutOrStdout(), res, f); err != nil {
		return err
	}
	if slo != nil && !f.sweep && !f.allowSLOFail {
		if v := slo.Check(res); len(v) > 0 {
			return fmt.Errorf("loadtest: SLO broken: %s", strings.Join(v, "; "))
		}
	}
	return nil
}

func writeLoadtestOutputs(stdout io.Writer, res *loadtest.Result, f *loadtestFlags) error {
	var text bytes.Buffer
	if err := loadtest.WriteText(&text, res); err != nil {
		return err
	}
	if _, err := stdout.Write(text.Bytes()); err != nil {
		return err
	}
	if f.textOut != "" {
		if err := atomicfile.WriteFile(f.textOut, text.Bytes()); err != nil {
			return err
		}
	}
	if f.jsonOut != "" {
		if err := res.WriteJSON(f.jsonOut); err != nil {
			return err
		}
	}
	if f.hgrmOut != "" {
		var b bytes.Buffer
		if err := loadtest.WriteHGRM(&b, res, loadtest.HistLatency); err != nil {
			return fmt.Errorf("loadtest: --hgrm: %w", err)
		}
		if err := atomicfile.WriteFile(f.hgrmOut, b.Bytes()); err != nil {
			return err
		}
	}
	if f.htmlOut != "" {
		var b bytes.Buffer
		if err := loadtest.WriteHTML(&b, res); err != nil {
			return fmt.Errorf("loadtest: --html: %w", err)
		}
		if err := atomicfile.WriteFile(f.htmlOut, b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// progressPrinter draws the live progress line: rewritten in place on a
// terminal, one line per interval otherwise (CI logs).
type progressPrinter struct {
	w       io.Writer
	quiet   bool
	tty     bool
	printed bool
}

func newProgressPrinter(w io.Writer, quiet bool) *progressPrinter {
	p := &progressPrinter{w: w, quiet: quiet}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *progressPrinter) show(pr loadtest.Progress) {
	if p.quiet {
		return
	}
	line := loadtest.FormatProgress(pr)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.printed = true
}

func (p *progressPrinter) done() {
	if p.printed && p.tty {
		fmt.Fprintln(p.w)
	}
	p.printed = false
}

func newLoadtestCompareCmd() *cobra.Command {
	var (
		threshold float64
		jsonOut   string
		fail      bool
	)
	cmd := &cobra.Command{
		Use:   "compare A.json B.json",
		Short: "Show how run B differs from run A, metric by metric",
		Long: `compare lines up two --json results: counts, rates, error rate, every latency
percentile (and service time, send lag and server timing parts when both runs have them),
status codes and error kinds, with B−A, B/A and a verdict. Changes within --threshold
(relative) count as noise. --json writes the comparison for scripts; --fail exits 1 when
any metric got worse beyond the threshold (a CI gate).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := loadtest.ReadResult(args[0])
			if err != nil {
				return err
			}
			b, err := loadtest.ReadResult(args[1])
			if err != nil {
				return err
			}
			nameA, nameB := args[0], args[1]
			if a.Label != "" {
				nameA += " (" + a.Label + ")"
			}
			if b.Label != "" {
				nameB += " (" + b.Label + ")"
			}
			c := loadtest.Compare(a, b, nameA, nameB, threshold/100)
			if err := loadtest.WriteComparisonText(cmd.OutOrStdout(), c); err != nil {
				return err
			}
			if jsonOut != "" {
				data, err := json.MarshalIndent(c, "", "  ")
				if err != nil {
					return fmt.Errorf("compare: %w", err)
				}
				if err := atomicfile.WriteFile(jsonOut, append(data, '\n')); err != nil {
					return err
				}
			}
			if fail && len(c.Worse) > 0 {
				return fmt.Errorf("compare: %d metrics worse by more than %g%%: %s", len(c.Worse), threshold, strings.Join(c.Worse, ", "))
			}
			return nil
		},
	}
	cmd.Flags().Float64Var(&threshold, "threshold", 5, "relative change in percent below which a difference is noise")
	cmd.Flags().StringVar(&jsonOut, "json", "", "write the comparison as JSON to this file")
	cmd.Flags().BoolVar(&fail, "fail", false, "exit 1 when a metric is worse beyond the threshold")
	return cmd
}

func newLoadtestMergeCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "merge -o OUT.json A.json B.json…",
		Short: "Merge results of generators that ran at the same time (histograms add up exactly)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("merge: -o OUT.json is required")
			}
			var rs []*loadtest.Result
			for _, p := range args {
				r, err := loadtest.ReadResult(p)
				if err != nil {
					return err
				}
				rs = append(rs, r)
			}
			m, err := loadtest.Merge(rs...)
			if err != nil {
				return err
			}
			if err := loadtest.WriteText(cmd.OutOrStdout(), m); err != nil {
				return err
			}
			return m.WriteJSON(out)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "merged result file")
	return cmd
}

func newLoadtestReportCmd() *cobra.Command {
	var f loadtestFlags
	var hist string
	cmd := &cobra.Command{
		Use:   "report RESULT.json",
		Short: "Render a saved result again: text, --hgrm, --html",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := loadtest.ReadResult(args[0])
			if err != nil {
				return err
			}
			if hist != loadtest.HistLatency && f.hgrmOut != "" {
				var b bytes.Buffer
				if err := loadtest.WriteHGRM(&b, r, hist); err != nil {
					return fmt.Errorf("report: --hgrm: %w", err)
				}
				if err := atomicfile.WriteFile(f.hgrmOut, b.Bytes()); err != nil {
					return err
				}
				f.hgrmOut = ""
			}
			return writeLoadtestOutputs(cmd.OutOrStdout(), r, &f)
		},
	}
	cmd.Flags().StringVar(&f.hgrmOut, "hgrm", "", "write the .hgrm percentile distribution here")
	cmd.Flags().StringVar(&hist, "histogram", loadtest.HistLatency, "histogram for --hgrm: latency, service_time, send_lag, server_total, queue, tokenization, inference")
	cmd.Flags().StringVar(&f.htmlOut, "html", "", "write the HTML report here")
	return cmd
}
