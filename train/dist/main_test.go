package dist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// The tests start real worker processes: this test binary, re-executed with
// roleVar naming what the worker does (see roles) and torchrun's variables
// set by Launcher.
const roleVar = "KILN_DIST_TEST_ROLE"

// roles are the worker bodies; a non-nil error exits the worker with status 1.
// group_test.go adds the ones that need libtorch.
var roles = map[string]func(Env) error{
	"hello": func(e Env) error {
		fmt.Printf("hello from rank %d of %d, local %d/%d, master %s:%d\n", e.Rank, e.WorldSize, e.LocalRank, e.LocalWorldSize, e.MasterAddr, e.MasterPort)
		fmt.Fprintf(os.Stderr, "threads=%s\n", os.Getenv("OMP_NUM_THREADS"))
		return nil
	},
	// Rank 1 fails at once; rank 0 would run for a minute unless stopped.
	"rank1-fails": func(e Env) error {
		if e.Rank == 1 {
			time.Sleep(100 * time.Millisecond)
			fmt.Println("rank 1 giving up")
			os.Exit(7)
		}
		time.Sleep(time.Minute)
		return nil
	},
}

func TestMain(m *testing.M) {
	if role := os.Getenv(roleVar); role != "" {
		f, ok := roles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown %s %q\n", roleVar, role)
			os.Exit(2)
		}
		env, err := FromEnv(os.Getenv)
		if err == nil {
			err = f(env)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "worker error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// launch runs role on nproc workers and returns their combined, rank-prefixed
// output.
func launch(t *testing.T, nproc int, role string, extraEnv ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	l := &Launcher{NProc: nproc, Env: append([]string{roleVar + "=" + role}, extraEnv...), Stdout: &out, Stderr: &out, Grace: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := l.Run(ctx)
	t.Logf("workers' output:\n%s", out.String())
	return out.String(), err
}

func TestSpawnSetsTorchrunEnv(t *testing.T) {
	t.Setenv("OMP_NUM_THREADS", "") // Launcher must default it to 1, as torchrun does
	t.Setenv("RANK", "9")           // a launcher's own placement must not leak into its workers
	out, err := launch(t, 2, "hello")
	if err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	for r := 0; r < 2; r++ {
		want := fmt.Sprintf("[rank %d] hello from rank %d of 2, local %d/2, master 127.0.0.1:", r, r, r)
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
		if want := fmt.Sprintf("[rank %d] threads=1", r); !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestSpawnStopsJobWhenWorkerFails(t *testing.T) {
	start := time.Now()
	out, err := launch(t, 2, "rank1-fails")
	took := time.Since(start)
	var we *WorkerError
	if !errors.As(err, &we) {
		t.Fatalf("Spawn error = %v, want a *WorkerError", err)
	}
	if we.Rank != 1 || we.Code != 7 || !strings.Contains(err.Error(), "rank 1 failed (exit status 7)") {
		t.Fatalf("Spawn error = %v (rank %d, code %d), want rank 1 with exit status 7", err, we.Rank, we.Code)
	}
	// Rank 0 sleeps a minute: it must have been stopped, not waited for.
	if took > 20*time.Second {
		t.Fatalf("Spawn took %s: rank 0 was not stopped after rank 1 failed", took)
	}
	if !strings.Contains(out, "[rank 1] rank 1 giving up") {
		t.Errorf("rank 1's output was not streamed with its prefix")
	}
}

func TestSpawnRejectsNoWorkers(t *testing.T) {
	if err := Spawn(context.Background(), 0, nil); err == nil || !strings.Contains(err.Error(), "need at least 1") {
		t.Fatalf("Spawn(0) = %v, want an error", err)
	}
}
