// Package dist is kiln's data-parallel plumbing: where this process sits in a
// job (Env, read from the variables torchrun, Kubeflow's PyTorchJob or Slurm
// set), the process group that averages gradients and broadcasts weights
// between ranks (ProcessGroup, libtorch's c10d through the bridge), and a
// single-machine launcher (Spawn) that starts N copies of the current binary
// the way torchrun does.
//
// The launcher contract is only environment variables, as in PyTorch DDP, so
// the same binary runs under any of those launchers unchanged.
package dist

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultPort is torch.distributed's default MASTER_PORT.
const DefaultPort = 29500

// Env is this process's place in a data-parallel job.
type Env struct {
	Rank           int    // 0..WorldSize-1; rank 0 hosts the rendezvous store and writes outputs
	WorldSize      int    // number of processes in the job; 1 = not distributed
	LocalRank      int    // index among the processes on this machine (picks the GPU)
	LocalWorldSize int    // processes on this machine
	MasterAddr     string // host of rank 0's rendezvous store
	MasterPort     int
	Source         string // "torchrun" (also PyTorchJob), "slurm", or "" for a single process
}

// Distributed reports whether the job has more than one process.
func (e Env) Distributed() bool { return e.WorldSize > 1 }

// IsMain reports whether this process is rank 0, the one that writes
// checkpoints, logs and the progress bar.
func (e Env) IsMain() bool { return e.Rank == 0 }

// Single is the environment of a job of one process.
func Single() Env { return Env{WorldSize: 1, LocalWorldSize: 1} }

// torchrunVars are the variables torchrun sets for each worker; Spawn sets
// them too, and clears them from the environment it inherits.
var torchrunVars = []string{"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}

// Environ is e as torchrun's variables ("NAME=value"), for a worker process.
func (e Env) Environ() []string {
	return []string{
		"RANK=" + strconv.Itoa(e.Rank),
		"WORLD_SIZE=" + strconv.Itoa(e.WorldSize),
		"LOCAL_RANK=" + strconv.Itoa(e.LocalRank),
		"LOCAL_WORLD_SIZE=" + strconv.Itoa(e.LocalWorldSize),
		"MASTER_ADDR=" + e.MasterAddr,
		"MASTER_PORT=" + strconv.Itoa(e.MasterPort),
	}
}

// FromEnv reads the job environment through getenv (os.Getenv in a program,
// a map in tests). torchrun's variables (which Kubeflow's PyTorchJob also
// sets) win over Slurm's; with neither, the job is a single process.
//
//   - torchrun / PyTorchJob: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
//     required; LOCAL_RANK and LOCAL_WORLD_SIZE default to 0 and 1 (a
//     PyTorchJob pod runs one process).
//   - Slurm (srun): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, and
//     SLURM_NTASKS_PER_NODE or SLURM_TASKS_PER_NODE; MASTER_ADDR must be set by
//     the batch script (the first host of the allocation), MASTER_PORT
//     defaults to 29500.
func FromEnv(getenv func(string) string) (Env, error) {
	p := parser{getenv: getenv}
	var e Env
	switch {
	case getenv("WORLD_SIZE") != "":
		e = Env{
			Source:         "torchrun",
			Rank:           p.int("RANK", -1),
			WorldSize:      p.int("WORLD_SIZE", -1),
			LocalRank:      p.int("LOCAL_RANK", 0),
			LocalWorldSize: p.int("LOCAL_WORLD_SIZE", 1),
			MasterAddr:     p.str("MASTER_ADDR", "", "the host name or address of rank 0"),
			MasterPort:     p.int("MASTER_PORT", -1),
		}
	case getenv("SLURM_PROCID") != "" && getenv("SLURM_NTASKS") != "":
		e = Env{
			Source:         "slurm",
			Rank:           p.int("SLURM_PROCID", -1),
			WorldSize:      p.int("SLURM_NTASKS", -1),
			LocalRank:      p.int("SLURM_LOCALID", 0),
			LocalWorldSize: p.slurmTasksPerNode(),
			MasterAddr: p.str("MASTER_ADDR", "",
				"the first host of the allocation, e.g. export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n1)"),
			MasterPort: p.int("MASTER_PORT", DefaultPort),
		}
	default:
		return Single(), nil
	}
	if p.err != nil {
		return Env{}, p.err
	}
	if err := e.validate(); err != nil {
		return Env{}, err
	}
	return e, nil
}

func (e Env) validate() error {
	rankVar, worldVar, localVar := "RANK", "WORLD_SIZE", "LOCAL_RANK"
	if e.Source == "slurm" {
		rankVar, worldVar, localVar = "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"
	}
	switch {
	case e.WorldSize < 1:
		return fmt.Errorf("dist: %s=%d: the job needs at least one process", worldVar, e.WorldSize)
	case e.Rank < 0 || e.Rank >= e.WorldSize:
		return fmt.Errorf("dist: %s=%d is outside 0..%d (%s=%d)", rankVar, e.Rank, e.WorldSize-1, worldVar, e.WorldSize)
	case e.LocalWorldSize < 1:
		return fmt.Errorf("dist: %d processes per machine: need at least one", e.LocalWorldSize)
	case e.LocalRank < 0 || e.LocalRank >= e.LocalWorldSize:
		return fmt.Errorf("dist: %s=%d is outside 0..%d (processes on this machine)", localVar, e.LocalRank, e.LocalWorldSize-1)
	case e.MasterPort < 1 || e.MasterPort > 65535:
		return fmt.Errorf("dist: MASTER_PORT=%d is outside 1..65535", e.MasterPort)
	}
	return nil
}

// parser keeps the first error, so FromEnv reads like a list of fields.
type parser struct {
	getenv func(string) string
	err    error
}

// int reads name; def < 0 means the variable is required.
func (p *parser) int(name string, def int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		if def < 0 && p.err == nil {
			p.err = fmt.Errorf("dist: %s is not set; a distributed launcher sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT together", name)
		}
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("dist: %s=%q is not an integer", name, v)
	}
	return n
}

func (p *parser) str(name, def, what string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" && def == "" && p.err == nil {
		p.err = fmt.Errorf("dist: %s is not set: set it to %s", name, what)
	}
	if v == "" {
		return def
	}
	return v
}

// slurmTasksPerNode is the number of tasks on this node: SLURM_NTASKS_PER_NODE
// when --ntasks-per-node was given, else the leading count of
// SLURM_TASKS_PER_NODE ("4(x2)" = 4 tasks on each of 2 nodes), else 1.
func (p *parser) slurmTasksPerNode() int {
	if p.getenv("SLURM_NTASKS_PER_NODE") != "" {
		return p.int("SLURM_NTASKS_PER_NODE", 1)
	}
	v := strings.TrimSpace(p.getenv("SLURM_TASKS_PER_NODE"))
	if v == "" {
		return 1
	}
	end := strings.IndexAny(v, "(,")
	if end < 0 {
		end = len(v)
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("dist: SLURM_TASKS_PER_NODE=%q: want a count like 4 or 4(x2)", v)
	}
	return n
}
