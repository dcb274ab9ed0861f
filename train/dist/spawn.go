package dist

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Launcher starts the workers of a single-machine job, as torchrun
// --nproc-per-node does: NProc copies of a program with torchrun's variables
// set, their output line-prefixed with the rank, and the whole job stopped as
// soon as one worker fails.
type Launcher struct {
	NProc      int
	Program    string   // "" = this executable
	Args       []string // arguments after the program name
	Env        []string // extra "NAME=value" for every worker, after the inherited environment
	MasterAddr string   // "" = 127.0.0.1
	MasterPort int      // 0 = a free port on MasterAddr
	Stdout     io.Writer
	Stderr     io.Writer
	Grace      time.Duration // between SIGTERM and SIGKILL when stopping the others; 0 = 5s
	Log        *slog.Logger
}

// Spawn runs nproc copies of the current executable with args and waits for
// them; see Launcher.
func Spawn(ctx context.Context, nproc int, args []string) error {
	return (&Launcher{NProc: nproc, Args: args}).Run(ctx)
}

// WorkerError is a worker that exited unsuccessfully.
type WorkerError struct {
	Rank   int
	Status string // as os.ProcessState prints it: "exit status 3", "signal: killed"
	Code   int    // exit code, -1 when killed by a signal
}

func (e *WorkerError) Error() string {
	return fmt.Sprintf("dist: rank %d failed (%s); the other ranks were stopped — its output above, prefixed [rank %d], says why", e.Rank, e.Status, e.Rank)
}

// Run starts the workers and waits for all of them. It returns nil when all
// exit 0, the *WorkerError of the first that fails (the others are sent
// SIGTERM, then SIGKILL after Grace), or ctx's error when ctx ends first.
// Run returns only once every worker has exited.
func (l *Launcher) Run(ctx context.Context) error {
	if l.NProc < 1 {
		return fmt.Errorf("dist: --nproc-per-node %d: need at least 1", l.NProc)
	}
	prog := l.Program
	if prog == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("dist: finding this executable to start workers: %w", err)
		}
		prog = exe
	}
	addr := l.MasterAddr
	if addr == "" {
		addr = "127.0.0.1"
	}
	port := l.MasterPort
	if port == 0 {
		p, err := freePort(addr)
		if err != nil {
			return err
		}
		port = p
	}
	stdout, stderr := l.Stdout, l.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	grace := l.Grace
	if grace == 0 {
		grace = 5 * time.Second
	}
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	base := inheritedEnv()
	if os.Getenv("OMP_NUM_THREADS") == "" && l.NProc > 1 {
		// torchrun's default too: N workers each using every core would
		// oversubscribe the machine.
		base = append(base, "OMP_NUM_THREADS=1")
	}

	var outMu sync.Mutex
	exits := make(chan workerExit, l.NProc)
	cmds := make([]*exec.Cmd, 0, l.NProc)
	var pipes sync.WaitGroup
	for rank := 0; rank < l.NProc; rank++ {
		env := Env{Rank: rank, WorldSize: l.NProc, LocalRank: rank, LocalWorldSize: l.NProc, MasterAddr: addr, MasterPort: port}
		cmd := exec.Command(prog, l.Args...)
		cmd.Env = append(append(append([]string{}, base...), env.Environ()...), l.Env...)
		prefix := fmt.Sprintf("[rank %d] ", rank)
		so, err := cmd.StdoutPipe()
		if err != nil {
			return l.abort(cmds, exits, fmt.Errorf("dist: rank %d: %w", rank, err))
		}
		se, err := cmd.StderrPipe()
		if err != nil {
			return l.abort(cmds, exits, fmt.Errorf("dist: rank %d: %w", rank, err))
		}
		if err := cmd.Start(); err != nil {
			return l.abort(cmds, exits, fmt.Errorf("dist: starting rank %d (%s): %w", rank, prog, err))
		}
		cmds = append(cmds, cmd)
		var streams sync.WaitGroup
		streams.Add(2)
		pipes.Add(2)
		go func() { defer pipes.Done(); defer streams.Done(); prefixLines(so, stdout, prefix, &outMu) }()
		go func() { defer pipes.Done(); defer streams.Done(); prefixLines(se, stderr, prefix, &outMu) }()
		go func() {
			streams.Wait() // Wait closes the pipes: read them to the end first
			exits <- workerExit{rank, cmd.Wait()}
		}()
	}
	log.Info("started workers", "nproc", l.NProc, "master", fmt.Sprintf("%s:%d", addr, port))

	var first error
	stopping := false
	stop := func() {
		if stopping {
			return
		}
		stopping = true
		for _, c := range cmds {
			if c.ProcessState == nil {
				_ = c.Process.Signal(syscall.SIGTERM)
			}
		}
		go func() {
			time.Sleep(grace)
			for _, c := range cmds {
				_ = c.Process.Kill() // an error means it already exited
			}
		}()
	}
	done := ctx.Done()
	for left := len(cmds); left > 0; {
		select {
		case <-done:
			done = nil
			if first == nil {
				first = fmt.Errorf("dist: job stopped: %w", ctx.Err())
			}
			stop()
		case x := <-exits:
			left--
			if x.err == nil || stopping {
				continue
			}
			we := &WorkerError{Rank: x.rank, Status: x.err.Error(), Code: -1}
			var ee *exec.ExitError
			if errors.As(x.err, &ee) {
				we.Status = ee.ProcessState.String()
				we.Code = ee.ExitCode()
			}
			first = we
			log.Error("worker failed; stopping the others", "rank", x.rank, "status", we.Status)
			stop()
		}
	}
	pipes.Wait()
	return first
}

type workerExit struct {
	rank int
	err  error
}

// abort stops the workers already started when a later one cannot start.
func (l *Launcher) abort(cmds []*exec.Cmd, exits <-chan workerExit, err error) error {
	for _, c := range cmds {
		_ = c.Process.Kill()
	}
	for range cmds {
		<-exits
	}
	return err
}

// inheritedEnv is this process's environment without the variables that
// place a process in a job, so a launcher started under another launcher
// does not leak its own rank to its workers.
func inheritedEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		skip := strings.HasPrefix(name, "SLURM_")
		for _, v := range torchrunVars {
			skip = skip || name == v
		}
		if !skip {
			out = append(out, kv)
		}
	}
	return out
}

func prefixLines(r io.Reader, w io.Writer, prefix string, mu *sync.Mutex) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		mu.Lock()
		fmt.Fprintf(w, "%s%s\n", prefix, sc.Bytes())
		mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r) // a line over 4 MiB: drain so the worker does not block
}

// freePort asks the kernel for a free TCP port on addr. Like torchrun's, the
// port is free when chosen; rank 0 binds it a moment later.
func freePort(addr string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("dist: finding a free port on %s for the rendezvous: %w", addr, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
