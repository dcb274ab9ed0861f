package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/serve"
)

func init() { addCommand(newServeCmd()) }

// newServeCmd is `kiln serve`. It needs no libtorch: it builds with
// -tags notorch into bin/kiln-serve.
func newServeCmd() *cobra.Command {
	cfg := serve.Defaults()
	var (
		addr, logFormat, logLevel string
		drain                     time.Duration
		noWarmup                  bool
	)
	cmd := &cobra.Command{
		Use:   "serve --model EXPORT_DIR [--addr :8080]",
		Short: "HTTP server with dynamic batching over ONNX Runtime",
		Long: `serve loads a directory written by kiln export (model.onnx, config.json,
tokenizer.json) and answers:

  POST /predict    text-embeddings-inference compatible classification
                   (also POST / and /invocations, as TEI routes a classifier)
  POST /tokenize   POST /decode
  GET  /health /ready /info /metrics /openapi.json  (GET / and /ping: health)
  KServe v2:       /v2/health/ready  /v2/models/NAME[/config]  POST /v2/models/NAME/infer
                   (JSON or Triton binary tensors, as tritonclient sends them)

Requests are tokenised in parallel, queued and run in dynamic batches of at
most --max-batch-size sequences and --max-batch-tokens padded tokens. A batch
closes as soon as an ONNX Runtime session is free (--max-batch-delay 0) and
takes the oldest queued sequence with others of similar length from the
oldest --batch-window, within --max-batch-padding. The defaults are chosen
for CPUs by measurement (bench/serve: small batches of similar length, one
thread per session); on a GPU, --max-batch-padding 0 --batch-window 0 lets
batches grow. Work is bounded by tokens and bytes, not only by requests: a
request over --max-request-chars or --max-request-tokens gets 413 before it
costs much; one that the queued work would not let finish within
--request-timeout (estimated from the measured cost per token), a full
queue, too many concurrent requests or too many large bodies in flight
(--max-admitted-bytes, held until each response is written) get 429 with
Retry-After at once. SIGTERM stops accepting, drains in-flight
requests for at most --drain-timeout, answers what cannot finish in time with
503 and exits 0.

--device auto tries CUDA and falls back to the CPU, saying why; --device cuda
fails if CUDA cannot be used. ONNX Runtime comes from --onnxruntime-lib,
$ONNXRUNTIME_LIB, next to the binary, or make setup's build/onnxruntime.
The bearer token of --api-key may also come from $KILN_API_KEY.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.ModelDir == "" {
				return fmt.Errorf("serve: --model is required (a directory written by kiln export)")
			}
			log, err := newLogger(logFormat, logLevel)
			if err != nil {
				return err
			}
			slog.SetDefault(log)
			cfg.Logger = log
			cfg.Version = version
			cfg.Warmup = !noWarmup
			if cfg.APIKey == "" {
				cfg.APIKey = os.Getenv("KILN_API_KEY")
			}
			srv, err := serve.New(cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				srv.Shutdown(time.Second)
				return fmt.Errorf("serve: listen %s: %w", addr, err)
			}
			return srv.Serve(cmd.Context(), ln, drain)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ModelDir, "model", "", "exported model directory (kiln export)")
	f.StringVar(&cfg.ModelName, "model-name", "", "name in /info and the KServe URLs (default: the directory's name)")
	f.StringVar(&addr, "addr", ":8080", "listen address")
	f.StringVar(&cfg.Device, "device", cfg.Device, "auto, cpu, cuda or cuda:N")
	f.StringVar(&cfg.ORTLibrary, "onnxruntime-lib", "", "path of libonnxruntime.so (default $ONNXRUNTIME_LIB, next to the binary, build/onnxruntime/lib)")
	f.IntVar(&cfg.IntraOpThreads, "intra-op-threads", 0, "ONNX Runtime threads inside one operator, per session (0 = the cores divided between the sessions)")
	f.IntVar(&cfg.InterOpThreads, "inter-op-threads", 0, "ONNX Runtime threads across operators, per session (0 = ONNX Runtime's choice)")
	f.IntVar(&cfg.Sessions, "sessions", cfg.Sessions, "concurrent ONNX Runtime sessions (batches run in parallel; each holds a copy of the weights); 0 = 1 on CUDA, min(cores, 4) on the CPU")
	f.BoolVar(&cfg.DisableGraphOptimization, "disable-graph-optimization", false, "turn ONNX Runtime's graph rewrites off (debugging)")
	f.BoolVar(&noWarmup, "no-warmup", false, "mark /ready at once instead of running the common batch shapes first")
	f.IntVar(&cfg.MaxBatchSize, "max-batch-size", cfg.MaxBatchSize, "sequences per batch (1 turns dynamic batching off)")
	f.IntVar(&cfg.MaxBatchTokens, "max-batch-tokens", cfg.MaxBatchTokens, "padded tokens per batch (longest sequence × sequences); 0 = 512 on the CPU, where longer batches cost more per sequence than they save, 16384 on CUDA")
	f.DurationVar(&cfg.MaxBatchDelay, "max-batch-delay", cfg.MaxBatchDelay, "longest wait for a batch to fill while a session is idle (0: run what is queued at once; batches still form while sessions are busy)")
	f.Float64Var(&cfg.MaxBatchPadding, "max-batch-padding", cfg.MaxBatchPadding, "largest fraction of a batch's tokens that may be padding (0 = no cap, better on a GPU); longer or shorter sequences wait for a batch of their own length")
	f.IntVar(&cfg.BatchWindow, "batch-window", cfg.BatchWindow, "group batches by length among the oldest N queued sequences (at least --max-batch-size); later ones wait until those have started, so none is overtaken by more than N-1 (0 = the whole queue)")
	f.IntVar(&cfg.MaxQueue, "max-queue", cfg.MaxQueue, "queued sequences before requests get 429")
	f.IntVar(&cfg.MaxInputLength, "max-input-length", 0, "tokens per sequence (default: the model's maximum)")
	f.IntVar(&cfg.MaxConcurrentRequests, "max-concurrent-requests", cfg.MaxConcurrentRequests, "requests handled at once before 429")
	f.IntVar(&cfg.MaxInputsPerRequest, "max-client-batch-size", cfg.MaxInputsPerRequest, "inputs per request (more: 413)")
	f.IntVar(&cfg.MaxTextChars, "max-text-chars", cfg.MaxTextChars, "characters per input (more: 413)")
	f.IntVar(&cfg.MaxRequestChars, "max-request-chars", cfg.MaxRequestChars, "characters of all inputs of one request, checked before tokenising (more: 413)")
	f.IntVar(&cfg.MaxRequestTokens, "max-request-tokens", 0, "tokens of one request after truncation (more: 413; default --max-client-batch-size × the input length)")
	f.IntVar(&cfg.MaxAdmittedBytes, "max-admitted-bytes", cfg.MaxAdmittedBytes, "request bodies over 4 KiB handled at once, held until each response is written (more: 429)")
	f.IntVar(&cfg.BodyLimit, "body-limit", cfg.BodyLimit, "request body bytes (more: 413)")
	f.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "a request not answered by then gets 504")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "time to read a request (slow clients)")
	f.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "time to write a response")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "keep-alive connections idle longer are closed")
	f.DurationVar(&drain, "drain-timeout", 30*time.Second, "on SIGTERM, wait at most this long for in-flight requests")
	f.BoolVar(&cfg.AutoTruncate, "auto-truncate", cfg.AutoTruncate, "truncate over-long inputs when the request does not say (truncate: false → 422)")
	f.StringVar(&cfg.APIKey, "api-key", "", "require Authorization: Bearer KEY (also $KILN_API_KEY); probes stay open")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	f.StringVar(&logLevel, "log-level", "info", "debug (one line per request), info, warn or error")
	return cmd
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
