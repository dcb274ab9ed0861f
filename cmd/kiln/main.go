// Command kiln takes a transformer text encoder from training to production:
// train, export, serve, loadtest and tokenizers in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// rootCmd is the top of the command tree. Each subcommand lives in its own
// file and attaches itself with addCommand in an init function, so the
// serving-only build (-tags notorch) simply leaves the libtorch files out.
var rootCmd = &cobra.Command{
	Use:   "kiln",
	Short: "Fine-tune, export, serve and load-test transformer text classifiers",
	Long: `kiln takes a BERT-family text encoder from training to production with no Python:

  kiln train       fine-tune a classifier on CSV/TSV/JSONL (libtorch)
  kiln predict     offline batch prediction (libtorch or ONNX Runtime)
  kiln export      write a verified ONNX model + tokenizer.json + config.json
  kiln serve       HTTP server with dynamic batching over ONNX Runtime
  kiln loadtest    open-loop load testing with full latency histograms
  kiln tokenizer   train, inspect and run HuggingFace-compatible tokenizers
  kiln models      create and inspect checkpoints
  kiln doctor      check libtorch, CUDA, the libtorch bridge and ONNX Runtime`,
	SilenceUsage:  true,
	SilenceErrors: true,
	Version:       version,
}

func addCommand(c *cobra.Command) { rootCmd.AddCommand(c) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "kiln:", err)
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}
