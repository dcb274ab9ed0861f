// Command kiln-bridge builds libkilntorch.so, kiln's libtorch bridge, for the
// libtorch named by LIBTORCH (default: Debian's libtorch-dev), caches it under
// $KILN_CACHE/bridge and links build/lib/libkilntorch.so to it. It is what
// scripts/setup/bridge.sh runs; with -check it only reports.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/kiln-ml/kiln/internal/torchbridge"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kiln-bridge:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		check    = flag.Bool("check", false, "only report whether the current bridge is built and linked")
		force    = flag.Bool("force", false, "rebuild even if the cache holds this bridge")
		libtorch = flag.String("libtorch", os.Getenv("LIBTORCH"), "libtorch root (zip layout or a PyTorch torch/ dir); empty = Debian's libtorch-dev")
		cache    = flag.String("cache", os.Getenv("KILN_CACHE"), "cache directory (default $XDG_CACHE_HOME/kiln or ~/.cache/kiln)")
		repo     = flag.String("repo", "", "repository root (default: the directory holding go.mod, searched upwards)")
		link     = flag.String("link", "", "where to link the bridge (default <repo>/build/lib/libkilntorch.so); an experiment can point elsewhere")
		jobs     = flag.Int("jobs", 0, "parallel compiler processes (default: number of CPUs)")
		asJSON   = flag.Bool("json", false, "print the result as JSON")
		quiet    = flag.Bool("quiet", false, "no progress messages")
		cpuOnly  = flag.Bool("cpu-only", false, "link only libtorch_cpu and libc10 (a CUDA wheel's bridge that runs on the CPU without the nvidia-* libraries)")
	)
	flag.Parse()
	if *cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no cache directory (set KILN_CACHE): %w", err)
		}
		*cache = filepath.Join(dir, "kiln")
	}
	if *repo == "" {
		r, err := findRepo()
		if err != nil {
			return err
		}
		*repo = r
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts := torchbridge.Options{RepoRoot: *repo, Cache: *cache, Libtorch: *libtorch, Link: *link, Jobs: *jobs, Force: *force, CPUOnly: *cpuOnly, Log: log}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var (
		res *torchbridge.Result
		err error
	)
	if *check {
		res, err = torchbridge.Check(opts)
	} else {
		res, err = torchbridge.Build(ctx, opts)
	}
	if *asJSON && res != nil {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Println(string(b))
	}
	if err != nil {
		return err
	}
	if !*asJSON {
		state := "built"
		if res.Cached {
			state = "cached"
		}
		fmt.Printf("bridge: ok (libtorch %s at %s, %s, %d wrappers stubbed) %s -> %s\n",
			res.Libtorch.Version, res.Libtorch.LibDir, state, len(res.Stubs), res.Link, res.Library)
	}
	return nil
}

func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/kiln-ml/kiln\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the kiln repository root (run from inside it or pass -repo)")
		}
		dir = parent
	}
}
