//go:build !notorch

package dist

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/internal/testenv"
)

const timeoutVar = "KILN_DIST_TEST_TIMEOUT"

// needGloo skips (or, when every check is required, fails) where the bridge
// was built without c10d, e.g. on a machine without libgloo-dev.
func needGloo(t *testing.T) {
	t.Helper()
	if err := Available(Gloo); err != nil {
		if testenv.Require() {
			t.Fatalf("KILN_REQUIRE_REFS=1: %v", err)
		}
		t.Skip(err)
	}
}

func init() {
	roles["collectives"] = roleCollectives
	roles["peer-exits"] = rolePeerExits
	roles["peer-hangs"] = rolePeerHangs
	roles["bench-allreduce"] = roleBenchAllReduce
	roles["reducer"] = roleReducer
}

func join(e Env) (*ProcessGroup, error) {
	timeout := 20 * time.Second
	if v := os.Getenv(timeoutVar); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, err
		}
		timeout = d
	}
	return NewProcessGroup(e, Gloo, timeout)
}

func tensor(vals []float32, shape ...int64) *ts.Tensor {
	return ts.MustOfSlice(vals).MustView(shape, true)
}

func expect(name string, t *ts.Tensor, want []float64) error {
	got := t.Float64Values()
	if len(got) != len(want) {
		return fmt.Errorf("%s = %v, want %v", name, got, want)
	}
	for i := range got {
		// Sums of a few small integers and halves: exact in float32.
		if got[i] != want[i] {
			return fmt.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	return nil
}

// Every rank r holds tensors derived from r; after the collectives every rank
// must hold the mean (or sum, or rank 0's copy) computed here in closed form.
func roleCollectives(e Env) error {
	g, err := join(e)
	if err != nil {
		return err
	}
	defer g.Close()
	r, w := float32(e.Rank), float64(e.WorldSize)
	a := tensor([]float32{r + 1, 2 * (r + 1), 3 * (r + 1)}, 3)
	b := tensor([]float32{4 * r, 4*r + 1, 4*r + 2, 4*r + 3}, 2, 2)
	c := ts.MustOfSlice([]float64{10 * float64(r+1)}) // a second dtype: its own bucket
	base := tensor([]float32{r, r, r, r, r, r}, 2, 3)
	d := base.MustT(false) // non-contiguous: the result must land in base's storage
	for _, x := range []*ts.Tensor{a, b, c, base} {
		defer x.MustDrop()
	}
	if err := g.AllReduceMean([]*ts.Tensor{a, b, c, d}); err != nil {
		return err
	}
	m := (w + 1) / 2 // mean of 1..W
	if err := expect("mean a", a, []float64{m, 2 * m, 3 * m}); err != nil {
		return err
	}
	off := 4 * (w - 1) / 2
	if err := expect("mean b", b, []float64{off, off + 1, off + 2, off + 3}); err != nil {
		return err
	}
	if err := expect("mean c", c, []float64{10 * m}); err != nil {
		return err
	}
	mr := m - 1 // mean of 0..W-1
	if err := expect("mean of a transposed view", base, []float64{mr, mr, mr, mr, mr, mr}); err != nil {
		return err
	}

	s := tensor([]float32{1, r}, 2)
	defer s.MustDrop()
	if err := g.AllReduceSum([]*ts.Tensor{s}); err != nil {
		return err
	}
	if err := expect("sum", s, []float64{w, w * (w - 1) / 2}); err != nil {
		return err
	}

	p := tensor([]float32{r + 0.5, -r, 7}, 3)
	q := tensor([]float32{100 * r}, 1)
	defer p.MustDrop()
	defer q.MustDrop()
	if err := g.Broadcast([]*ts.Tensor{p, q}, 0); err != nil {
		return err
	}
	if err := expect("broadcast p", p, []float64{0.5, 0, 7}); err != nil {
		return err
	}
	if err := expect("broadcast q", q, []float64{0}); err != nil {
		return err
	}
	if err := g.Barrier(); err != nil {
		return err
	}
	fmt.Printf("collectives ok on rank %d\n", e.Rank)
	return nil
}

// expectPeerFailure runs an all-reduce on rank 0 that cannot complete and
// checks that it fails, in time, with an error containing want.
func expectPeerFailure(g *ProcessGroup, within time.Duration, want string) error {
	x := tensor([]float32{1, 2}, 2)
	defer x.MustDrop()
	start := time.Now()
	err := g.AllReduceMean([]*ts.Tensor{x})
	took := time.Since(start)
	if err == nil {
		return fmt.Errorf("all-reduce without rank 1 succeeded")
	}
	fmt.Printf("rank 0 got, after %s: %v\n", took.Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), want) {
		return fmt.Errorf("error does not say %q: %v", want, err)
	}
	if took > within {
		return fmt.Errorf("all-reduce took %s to fail, want at most %s", took, within)
	}
	fmt.Println("peer failure detected on rank 0")
	return nil
}

// Rank KILN_DIST_TEST_DEAD exits (cleanly, so the launcher leaves the others
// running) right after joining; the others' next all-reduce must fail naming
// it. Survivors stay up a while after, so that a slower survivor's check does
// not count them as gone too.
func rolePeerExits(e Env) error {
	dead, err := strconv.Atoi(os.Getenv("KILN_DIST_TEST_DEAD"))
	if err != nil {
		return fmt.Errorf("KILN_DIST_TEST_DEAD: %w", err)
	}
	g, err := join(e)
	if err != nil {
		return err
	}
	if e.Rank == dead {
		fmt.Printf("rank %d leaving without a word\n", e.Rank)
		os.Exit(0)
	}
	defer g.Close()
	time.Sleep(500 * time.Millisecond)
	x := tensor([]float32{1, 2}, 2)
	defer x.MustDrop()
	start := time.Now()
	err = g.AllReduceMean([]*ts.Tensor{x})
	took := time.Since(start)
	defer time.Sleep(2 * heartbeatWindow)
	if err == nil {
		return fmt.Errorf("all-reduce without rank %d succeeded", dead)
	}
	fmt.Printf("rank %d got, after %s: %v\n", e.Rank, took.Round(time.Millisecond), err)
	want := fmt.Sprintf("rank %d is gone (no heartbeat", dead)
	if dead == 0 {
		want = "rank 0 is gone (its rendezvous store does not answer)"
	}
	if !strings.Contains(err.Error(), want) {
		return fmt.Errorf("error does not say %q: %v", want, err)
	}
	if took > 15*time.Second {
		return fmt.Errorf("all-reduce took %s to fail, want at most 15s", took)
	}
	fmt.Printf("rank %d detected the failure\n", e.Rank)
	return nil
}

// Rank 1 stays alive but never calls the collective: rank 0 must give up
// after the timeout rather than wait forever.
func rolePeerHangs(e Env) error {
	g, err := join(e)
	if err != nil {
		return err
	}
	if e.Rank == 1 {
		time.Sleep(8 * time.Second)
		os.Exit(0)
	}
	defer g.Close()
	return expectPeerFailure(g, 3*time.Second+heartbeatWindow+2*time.Second, "rank 1 is alive but did not reach the same all-reduce within the 3s timeout")
}

// All-reduce (mean) of a float32 bucket of KILN_DIST_BENCH_FLOATS values
// (default 22.7M, all-MiniLM-L6-v2's parameter count), timed on each rank.
func roleBenchAllReduce(e Env) error {
	n := 22_713_216
	if v := os.Getenv("KILN_DIST_BENCH_FLOATS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			return err
		}
	}
	g, err := join(e)
	if err != nil {
		return err
	}
	defer g.Close()
	// KILN_DIST_BENCH_TENSORS > 1 splits the bucket into that many tensors,
	// as a model's gradients are: the wrapper then packs and unpacks them.
	parts := 1
	if v := os.Getenv("KILN_DIST_BENCH_TENSORS"); v != "" {
		if parts, err = strconv.Atoi(v); err != nil || parts < 1 {
			return fmt.Errorf("KILN_DIST_BENCH_TENSORS=%q: want a positive count", v)
		}
	}
	var xs []*ts.Tensor
	for i := 0; i < parts; i++ {
		size := n / parts
		if i == parts-1 {
			size = n - (parts-1)*(n/parts)
		}
		x := ts.MustOnes([]int64{int64(size)}, gotch.Float, gotch.CPU)
		defer x.MustDrop()
		xs = append(xs, x)
	}
	if err := g.AllReduceMean(xs); err != nil { // warm-up: connections, buffers
		return err
	}
	const iters = 10
	var times []float64
	for i := 0; i < iters; i++ {
		if err := g.Barrier(); err != nil {
			return err
		}
		start := time.Now()
		if err := g.AllReduceMean(xs); err != nil {
			return err
		}
		times = append(times, float64(time.Since(start).Microseconds())/1000)
	}
	mean, best := 0.0, math.Inf(1)
	for _, t := range times {
		mean += t / iters
		best = math.Min(best, t)
	}
	fmt.Printf("all-reduce of %d float32 (%.1f MB) in %d tensors over %d ranks (gloo, loopback, OMP_NUM_THREADS=%s): mean %.1f ms, best %.1f ms over %d runs\n",
		n, float64(n)*4/1e6, parts, e.WorldSize, os.Getenv("OMP_NUM_THREADS"), mean, best, iters)
	return nil
}

// c10d's Reducer: a prepared backward returns the ranks' mean gradient, in
// several buckets; an unprepared one accumulates locally (no_sync) and the
// next prepared one averages the accumulated sum; with findUnused a
// parameter outside the loss's graph keeps no gradient and does not stall
// the reduction.
func roleReducer(e Env) error {
	g, err := join(e)
	if err != nil {
		return err
	}
	defer g.Close()
	r, w := float64(e.Rank), float64(e.WorldSize)
	for _, findUnused := range []bool{false, true} {
		a := tensor([]float32{1, 2, 3}, 3).MustSetRequiresGrad(true, true)
		b := tensor([]float32{1, 1, 1, 1}, 2, 2).MustSetRequiresGrad(true, true)
		params := []*ts.Tensor{a, b}
		var c *ts.Tensor
		if findUnused {
			c = tensor([]float32{5}, 1).MustSetRequiresGrad(true, true)
			params = append(params, c)
		}
		red, err := g.NewReducer(params, 8, findUnused) // 8 bytes: a bucket per parameter
		if err != nil {
			return err
		}
		// loss = (r+1)·Σa + 2r·Σb: dloss/da = r+1, dloss/db = 2r.
		backward := func(prepare bool) error {
			la := a.MustSum(gotch.Float, false).MustMulScalar(ts.FloatScalar(r+1), true)
			lb := b.MustSum(gotch.Float, false).MustMulScalar(ts.FloatScalar(2*r), true)
			loss := la.MustAdd(lb, true)
			lb.MustDrop()
			defer loss.MustDrop()
			if prepare {
				if err := red.Prepare(loss); err != nil {
					return err
				}
			}
			return loss.Backward()
		}
		check := func(what string, times float64) error {
			ga, gb := a.MustGrad(false), b.MustGrad(false)
			defer ga.MustDrop()
			defer gb.MustDrop()
			ma, mb := times*(w+1)/2, times*(w-1) // means over the ranks of (r+1) and 2r
			if err := expect(what+" a.grad", ga, []float64{ma, ma, ma}); err != nil {
				return err
			}
			return expect(what+" b.grad", gb, []float64{mb, mb, mb, mb})
		}
		if err := backward(true); err != nil {
			return err
		}
		if err := check("reduced", 1); err != nil {
			return err
		}
		a.ZeroGrad()
		b.ZeroGrad()
		if err := backward(false); err != nil { // no_sync: local only
			return err
		}
		if err := backward(true); err != nil {
			return err
		}
		if err := check("accumulated then reduced", 2); err != nil {
			return err
		}
		if c != nil {
			gc := c.MustGrad(false)
			defined := gc.MustDefined()
			gc.MustDrop()
			if defined {
				return fmt.Errorf("the unused parameter got a gradient")
			}
		}
		red.Free()
		for _, p := range params {
			p.MustDrop()
		}
	}
	fmt.Printf("reducer ok on rank %d\n", e.Rank)
	return nil
}

func TestReducer(t *testing.T) { runRoleOnRanks(t, "reducer") }

func TestAllReduceAndBroadcast(t *testing.T) { runRoleOnRanks(t, "collectives") }

// runRoleOnRanks runs role on 2 and on 3 ranks; each rank must print
// "<role> ok on rank <r>".
func runRoleOnRanks(t *testing.T, role string) {
	needGloo(t)
	for _, nproc := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d ranks", nproc), func(t *testing.T) {
			out, err := launch(t, nproc, role)
			if err != nil {
				t.Fatalf("workers: %v", err)
			}
			for r := 0; r < nproc; r++ {
				if want := fmt.Sprintf("[rank %d] %s ok on rank %d", r, role, r); !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
		})
	}
}

// Rank 0 of a 2-rank job whose rank 1 never starts: the rendezvous gives up
// after the timeout with an error saying what to check.
func TestRendezvousTimesOut(t *testing.T) {
	needGloo(t)
	port, err := freePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Rank: 0, WorldSize: 2, LocalWorldSize: 1, MasterAddr: "127.0.0.1", MasterPort: port}
	start := time.Now()
	g, err := NewProcessGroup(env, Gloo, 2*time.Second)
	if err == nil {
		g.Close()
		t.Fatal("NewProcessGroup without rank 1 succeeded")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("gave up after %s, want about the 2s timeout", took)
	}
	if want := "rendezvous at 127.0.0.1:"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "check that every rank started") {
		t.Errorf("error = %v, want the rendezvous address and what to check", err)
	}
}

func TestPeerExitFailsOtherRanks(t *testing.T) {
	needGloo(t)
	for _, tc := range []struct{ nproc, dead int }{{2, 1}, {3, 2}, {3, 1}, {2, 0}} {
		t.Run(fmt.Sprintf("rank %d of %d", tc.dead, tc.nproc), func(t *testing.T) {
			out, err := launch(t, tc.nproc, "peer-exits", timeoutVar+"=10s", fmt.Sprintf("KILN_DIST_TEST_DEAD=%d", tc.dead))
			if err != nil {
				t.Fatalf("workers: %v", err)
			}
			for r := 0; r < tc.nproc; r++ {
				if want := fmt.Sprintf("[rank %d] rank %d detected the failure", r, r); r != tc.dead && !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
		})
	}
}

func TestPeerHangTimesOut(t *testing.T) {
	needGloo(t)
	out, err := launch(t, 2, "peer-hangs", timeoutVar+"=3s")
	if err != nil {
		t.Fatalf("workers: %v", err)
	}
	if !strings.Contains(out, "[rank 0] peer failure detected on rank 0") {
		t.Fatalf("rank 0 did not time out on rank 1")
	}
}

func TestNewProcessGroupRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		env     Env
		backend string
		want    string
	}{
		{"unknown backend", Env{WorldSize: 1, LocalWorldSize: 1, MasterAddr: "127.0.0.1", MasterPort: 1}, "mpi", `backend "mpi"`},
		{"rank outside world", Env{Rank: 2, WorldSize: 2, LocalWorldSize: 1, MasterAddr: "127.0.0.1", MasterPort: 1}, Gloo, "outside 0..1"},
		{"nccl on a CPU libtorch", Env{WorldSize: 1, LocalWorldSize: 1, MasterAddr: "127.0.0.1", MasterPort: 1}, NCCL, "NCCL backend is not available"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.backend == NCCL {
				needGloo(t) // c10d itself; without it the error is about c10d
				if Available(NCCL) == nil {
					t.Skip("this bridge has NCCL")
				}
			}
			g, err := NewProcessGroup(tc.env, tc.backend, time.Second)
			if err == nil {
				g.Close()
				t.Fatalf("NewProcessGroup succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewProcessGroup error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Timing, not a check: KILN_DIST_BENCH=1 go test -run TestAllReduceTime -v ./train/dist
func TestAllReduceTime(t *testing.T) {
	if os.Getenv("KILN_DIST_BENCH") == "" {
		t.Skip("set KILN_DIST_BENCH=1 to time a MiniLM-sized gradient all-reduce")
	}
	needGloo(t)
	if _, err := launch(t, 2, "bench-allreduce"); err != nil {
		t.Fatalf("workers: %v", err)
	}
}
