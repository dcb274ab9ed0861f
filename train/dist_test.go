package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/train/dist"
)

// The data-parallel tests start real ranks: this test binary re-executed
// by dist.Launcher with torchrun's variables set, rankWorkerVar holding the
// run's Config as JSON, and dieVar (optionally) "RANK:STEP", the rank that
// kills itself with SIGKILL when it starts that step.
const (
	rankWorkerVar = "KILN_TRAIN_TEST_RANK_CONFIG"
	dieVar        = "KILN_TRAIN_TEST_DIE"
)

func rankWorker() int {
	var cfg Config
	if err := json.Unmarshal([]byte(os.Getenv(rankWorkerVar)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "worker config:", err)
		return 2
	}
	if v := os.Getenv(dieVar); v != "" {
		var rank, step int
		if _, err := fmt.Sscanf(v, "%d:%d", &rank, &step); err != nil {
			fmt.Fprintln(os.Stderr, dieVar, err)
			return 2
		}
		if os.Getenv("RANK") == fmt.Sprint(rank) {
			testFailure = func(s int) {
				if s+1 == step {
					fmt.Println("killing myself at step", step)
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
	}
	run := func() error { _, err := Run(context.Background(), cfg); return err }
	if cfg.Folds > 1 {
		run = func() error { _, err := RunKFold(context.Background(), cfg); return err }
	}
	if os.Getenv(evalWorkerVar) != "" {
		run = func() error { return evalWorker(cfg) }
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker error:", err)
		return 1
	}
	return 0
}

func needGloo(t *testing.T) {
	t.Helper()
	if err := dist.Available(dist.Gloo); err != nil {
		if testenv.Require() {
			t.Fatalf("KILN_REQUIRE_REFS=1: %v", err)
		}
		t.Skip(err)
	}
}

// runRanks trains cfg on nproc ranks and returns the launcher's error and
// the ranks' output.
func runRanks(t *testing.T, nproc int, cfg Config, extraEnv ...string) (string, error) {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	l := &dist.Launcher{NProc: nproc, Env: append([]string{rankWorkerVar + "=" + string(b)}, extraEnv...),
		Stdout: &out, Stderr: &out, Grace: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err = l.Run(ctx)
	t.Logf("ranks' output:\n%s", out.String())
	return out.String(), err
}

// ddpConfig is a run whose result depends only on which rows each step
// sees: no dropout, file order, no length grouping.
func ddpConfig(t *testing.T, train, out string, batch, accum int) Config {
	cfg := tinyConfig(t, train, out)
	cfg.Dropout, cfg.NoShuffle, cfg.GroupByLength = 0, true, false
	cfg.BatchSize, cfg.GradAccum, cfg.MaxSteps = batch, accum, 3
	cfg.DistTimeout = time.Minute
	return cfg
}

// DDP's contract: N ranks × batch B train exactly like one process with
// batch N·B (the same rows per step, gradients averaged), with or without
// accumulation. Tolerance 1e-5: the ranks sum two half-batch gradients
// where one process sums the whole batch, so float32 rounding differs.
func TestDataParallelMatchesOneProcess(t *testing.T) {
	needGloo(t)
	train := smallSST2(t, 96)
	alone := t.TempDir()
	if _, err := Run(context.Background(), ddpConfig(t, train, alone, 16, 1)); err != nil {
		t.Fatal(err)
	}
	want := finalParams(t, alone)
	for _, tc := range []struct {
		name         string
		batch, accum int
		noOverlap    bool // --dist-no-overlap: one all-reduce after backward
	}{
		{"2 ranks x batch 8", 8, 1, false},
		{"2 ranks x batch 4 x accum 2", 4, 2, false},
		{"2 ranks x batch 8, after backward", 8, 1, true},
		{"2 ranks x batch 4 x accum 2, after backward", 4, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			cfg := ddpConfig(t, train, out, tc.batch, tc.accum)
			cfg.DistNoOverlap = tc.noOverlap
			if _, err := runRanks(t, 2, cfg); err != nil {
				t.Fatal(err)
			}
			d := maxAbsDiff(t, want, finalParams(t, out))
			t.Logf("max |Δw| between 2 ranks and one process: %g", d)
			if d > 1e-5 {
				t.Fatalf("max |Δw| = %g between 2 ranks and one process, want <= 1e-5", d)
			}
			// The weights did move: the comparison is not of two untrained models.
			init := t.TempDir()
			c := ddpConfig(t, train, init, 16, 1)
			c.LR = 1e-12
			if _, err := Run(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(t, want, finalParams(t, init)); d < 1e-4 {
				t.Fatalf("3 steps moved the weights by only %g", d)
			}
			// Rank 0 alone wrote the run, with the global step count and samples.
			var m map[string]any
			readJSON(t, out+"/metrics.json", &m)
			if m["global_step"] != 3.0 || m["train_samples"] != 48.0 {
				t.Fatalf("metrics.json: global_step %v, train_samples %v; want 3 and 48 (3 steps × 16 rows over both ranks)", m["global_step"], m["train_samples"])
			}
			// The path under test is the one that ran: c10d's Reducer inside
			// backward, or the all-reduce after it.
			if _, overlapped := m["allreduce_overlapped"]; overlapped == tc.noOverlap {
				t.Fatalf("metrics.json: allreduce_overlapped present = %v, want %v (without it, is the bridge older than the Reducer? the ranks' log says; rebuild it with scripts/setup/bridge.sh)", overlapped, !tc.noOverlap)
			}
		})
	}
}

// k-fold on 2 ranks: each fold trains on both ranks, and the out-of-fold
// scores equal one process's with the same global batch (tolerance 1e-5 on
// probabilities, as for the weights above: only the summation order of the
// gradients differs).
func TestDataParallelKFoldMatchesOneProcess(t *testing.T) {
	needGloo(t)
	train := smallSST2(t, 64)
	oof := func(out string) []OOFRow {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(out, "oof.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var rows []OOFRow
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r OOFRow
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r)
		}
		return rows
	}
	alone := ddpConfig(t, train, t.TempDir(), 8, 1)
	alone.Folds = 2
	if _, err := RunKFold(context.Background(), alone); err != nil {
		t.Fatal(err)
	}
	ranks := ddpConfig(t, train, t.TempDir(), 4, 1)
	ranks.Folds = 2
	if _, err := runRanks(t, 2, ranks); err != nil {
		t.Fatal(err)
	}
	want, got := oof(alone.OutputDir), oof(ranks.OutputDir)
	if len(want) != 64 || len(got) != len(want) {
		t.Fatalf("oof.jsonl: %d rows on 2 ranks, %d alone; want 64", len(got), len(want))
	}
	worst := 0.0
	for i := range want {
		if got[i].Line != want[i].Line || got[i].Fold != want[i].Fold || len(got[i].Scores) != len(want[i].Scores) {
			t.Fatalf("row %d: line/fold %d/%d on 2 ranks, %d/%d alone", i, got[i].Line, got[i].Fold, want[i].Line, want[i].Fold)
		}
		for j := range want[i].Scores {
			worst = max(worst, math.Abs(got[i].Scores[j]-want[i].Scores[j]))
		}
	}
	t.Logf("max |Δscore| between 2 ranks and one process: %g", worst)
	if worst > 1e-5 {
		t.Fatalf("out-of-fold scores differ by %g between 2 ranks and one process, want <= 1e-5", worst)
	}
	var cv KFoldResult
	readJSON(t, filepath.Join(ranks.OutputDir, "cv_metrics.json"), &cv)
	if len(cv.Folds) != 2 || cv.OOF["accuracy"] == 0 {
		t.Fatalf("cv_metrics.json of 2 ranks: %+v", cv)
	}
	for f := 0; f < 2; f++ {
		var m map[string]any
		readJSON(t, filepath.Join(ranks.OutputDir, fmt.Sprintf("fold-%d", f), "metrics.json"), &m)
		if m["global_step"] != 3.0 || m["train_samples"] != 24.0 {
			t.Fatalf("fold %d metrics.json: global_step %v, train_samples %v; want 3 and 24 (3 steps × 8 rows over both ranks)", f, m["global_step"], m["train_samples"])
		}
	}
}

// A rank killed mid-run ends the job with an error naming it, quickly, not
// a hang; rank 0's checkpoint from before stays loadable.
func TestDataParallelKilledRankEndsJob(t *testing.T) {
	needGloo(t)
	train := smallSST2(t, 96)
	out := t.TempDir()
	cfg := ddpConfig(t, train, out, 8, 1)
	cfg.MaxSteps, cfg.SaveSteps = 6, 2
	start := time.Now()
	log, err := runRanks(t, 2, cfg, dieVar+"=1:4")
	var we *dist.WorkerError
	if !errors.As(err, &we) || we.Rank != 1 || !strings.Contains(err.Error(), "rank 1 failed (signal: killed)") {
		t.Fatalf("launcher error = %v, want rank 1 killed", err)
	}
	if took := time.Since(start); took > 2*time.Minute {
		t.Fatalf("the job took %s to end after rank 1 died", took)
	}
	if !strings.Contains(log, "[rank 1] killing myself at step 4") {
		t.Fatalf("rank 1 did not die where the test asked")
	}
	finalParams(t, out+"/checkpoint-2") // loads, or fails the test
}

// Under torchrun or a PyTorchJob no launcher of ours stops the job: rank 0
// itself must fail within the timeout, naming the rank that died.
func TestDataParallelSurvivorNamesDeadRank(t *testing.T) {
	needGloo(t)
	train := smallSST2(t, 96)
	cfg := ddpConfig(t, train, t.TempDir(), 8, 1)
	cfg.MaxSteps = 6
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var outs [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for r := range cmds {
		env := dist.Env{Rank: r, WorldSize: 2, LocalRank: r, LocalWorldSize: 2, MasterAddr: "127.0.0.1", MasterPort: port}
		cmds[r] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[r].Env = append(append(os.Environ(), env.Environ()...), rankWorkerVar+"="+string(b), dieVar+"=1:4")
		cmds[r].Stdout, cmds[r].Stderr = &outs[r], &outs[r]
		if err := cmds[r].Start(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	err1, err0 := cmds[1].Wait(), cmds[0].Wait()
	t.Logf("rank 0:\n%s\nrank 1:\n%s", outs[0].String(), outs[1].String())
	if err1 == nil || !strings.Contains(err1.Error(), "killed") {
		t.Fatalf("rank 1 exited with %v, want killed", err1)
	}
	if err0 == nil {
		t.Fatal("rank 0 exited 0 after rank 1 died")
	}
	if !strings.Contains(outs[0].String(), "rank 1 is gone") {
		t.Fatalf("rank 0's error does not name rank 1")
	}
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("rank 0 took %s to fail (timeout 1m)", took)
	}
}

// NCCL reduces CUDA tensors only: a CPU run that asks for it is refused
// before any rendezvous, with what to do instead.
func TestJoinJobRefusesNCCLOnCPU(t *testing.T) {
	for k, v := range map[string]string{"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"} {
		t.Setenv(k, v)
	}
	cfg := Config{Device: "cpu", DistBackend: "nccl"}
	leave, err := joinJob(&cfg)
	leave()
	if err == nil || !strings.Contains(err.Error(), "--dist-backend gloo") {
		t.Fatalf("joinJob with nccl on the CPU: %v, want a refusal naming gloo", err)
	}
}
