package train

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/dataset"
)

// Rebatch keeps the epoch's row order: the rows after Skip, cut anew.
func TestRebatchApply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batches [][]int
		rb      Rebatch
		size    int
		want    [][]int
	}{
		{"halve", [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}, Rebatch{4, 4}, 2, [][]int{{4, 5}, {6, 7}, {8, 9}}},
		{"double mid-batch", [][]int{{5, 4}, {3, 2}, {1, 0}}, Rebatch{2, 1}, 4, [][]int{{4, 3, 2, 1}, {0}}},
		{"all done", [][]int{{0, 1}, {2}}, Rebatch{2, 3}, 2, nil},
		{"past the end", [][]int{{0, 1}}, Rebatch{2, 5}, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rb.apply(tc.batches, tc.size); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("apply = %v, want %v", got, tc.want)
			}
		})
	}
}

// A state resumed with another global batch continues the epoch at the
// same row of the same order; with the same global batch nothing changes.
func TestResumeLayout(t *testing.T) {
	data := make([]dataset.Encoded, 40)
	for i := range data {
		data[i].IDs = make([]int, 1+i%7)
	}
	for _, tc := range []struct {
		name              string
		saved             State
		batch, world      int
		shuffle           bool
		wantEpoch         int
		wantRebatch       *Rebatch
		wantFirst         []int // the next global batch
		wantBatchInEpoch  int
		wantSampleInEpoch int
	}{
		{name: "2x8 as 1x16: unchanged", saved: State{WorldSize: 2, GlobalBatch: 16, SampleInEpoch: 16, BatchInEpoch: 1},
			batch: 16, world: 1, wantBatchInEpoch: 1, wantSampleInEpoch: 16, wantFirst: seq(16, 32)},
		{name: "2x8 as 1x8", saved: State{WorldSize: 2, GlobalBatch: 16, SampleInEpoch: 16, BatchInEpoch: 1},
			batch: 8, world: 1, wantRebatch: &Rebatch{16, 16}, wantSampleInEpoch: 16, wantFirst: seq(16, 24)},
		{name: "1x8 as 2x8 mid-batch of the new size", saved: State{WorldSize: 1, GlobalBatch: 8, SampleInEpoch: 24, BatchInEpoch: 3},
			batch: 8, world: 2, wantRebatch: &Rebatch{8, 24}, wantSampleInEpoch: 24, wantFirst: seq(24, 40)},
		{name: "a rebatched epoch rebatched again", saved: State{WorldSize: 1, GlobalBatch: 8, SampleInEpoch: 32, BatchInEpoch: 1, Rebatch: &Rebatch{16, 24}},
			batch: 4, world: 1, wantRebatch: &Rebatch{16, 32}, wantSampleInEpoch: 32, wantFirst: seq(32, 36)},
		{name: "epoch over: next epoch", saved: State{WorldSize: 2, GlobalBatch: 16, SampleInEpoch: 40, BatchInEpoch: 3},
			batch: 8, world: 1, wantEpoch: 1, wantFirst: seq(0, 8)},
		{name: "shuffled", saved: State{WorldSize: 2, GlobalBatch: 16, SampleInEpoch: 16, BatchInEpoch: 1}, shuffle: true,
			batch: 4, world: 1, wantRebatch: &Rebatch{16, 16}, wantSampleInEpoch: 16,
			wantFirst: flat(EpochBatches(data, 16, 7, 0, true, false))[16:20]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.saved
			r := &run{cfg: Config{BatchSize: tc.batch, Seed: 7, NoShuffle: !tc.shuffle}, st: &st, trainData: data, world: tc.world}
			r.resumeLayout()
			if st.Epoch != tc.wantEpoch || st.BatchInEpoch != tc.wantBatchInEpoch || st.SampleInEpoch != tc.wantSampleInEpoch ||
				!reflect.DeepEqual(st.Rebatch, tc.wantRebatch) {
				t.Fatalf("state: epoch %d batch %d sample %d rebatch %+v, want %d %d %d %+v", st.Epoch, st.BatchInEpoch, st.SampleInEpoch, st.Rebatch,
					tc.wantEpoch, tc.wantBatchInEpoch, tc.wantSampleInEpoch, tc.wantRebatch)
			}
			if st.WorldSize != tc.world || st.GlobalBatch != tc.batch*tc.world {
				t.Fatalf("layout %d ranks × %d rows, want %d × %d", st.WorldSize, st.GlobalBatch, tc.world, tc.batch*tc.world)
			}
			r.batches = r.epochBatches(st.Epoch)
			if got := r.batches[st.BatchInEpoch]; !reflect.DeepEqual(got, tc.wantFirst) {
				t.Fatalf("next global batch %v, want %v", got, tc.wantFirst)
			}
			// The epoch shown in logs goes on from where it was (all 40
			// rows are in every epoch here), not from 0.
			if want := float64(st.Epoch) + float64(st.SampleInEpoch)/40; st.Rebatch != nil && r.epoch() != want {
				t.Fatalf("epoch() = %v, want %v", r.epoch(), want)
			}
		})
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func flat(batches [][]int) []int {
	var out []int
	for _, b := range batches {
		out = append(out, b...)
	}
	return out
}

// evalWorkerVar makes a rank worker evaluate the freshly built model on
// its shard instead of training, and print the gathered metrics.
const evalWorkerVar = "KILN_TRAIN_TEST_EVAL"

func evalWorker(cfg Config) error {
	cfg.Defaults()
	leave, err := joinJob(&cfg)
	if err != nil {
		return err
	}
	defer leave()
	trainDS, validDS, err := readData(cfg)
	if err != nil {
		return err
	}
	r, err := setup(cfg, trainDS, validDS)
	if err != nil {
		return err
	}
	defer r.close()
	m, err := r.evalMetrics()
	if err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	fmt.Printf("EVAL %s\n", b)
	return nil
}

// Sharded evaluation: 2 ranks each score half of the batches and the
// metrics (ROC-AUC and macro-F1 included) equal one process's exactly.
func TestDataParallelEvaluationMatchesOneProcess(t *testing.T) {
	needGloo(t)
	train := smallSST2(t, 32)
	cfg := ddpConfig(t, train, t.TempDir(), 8, 1)
	cfg.ValidFile = "../testdata/data/sst2/dev.csv"
	metrics := func(nproc int) map[string]float64 {
		cfg.OutputDir = t.TempDir()
		out, err := runRanks(t, nproc, cfg, evalWorkerVar+"=1", "OMP_NUM_THREADS=1")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(out, "\n") {
			if i := strings.Index(l, "EVAL "); i >= 0 && (nproc == 1 || strings.Contains(l, "[rank 0]")) {
				var m map[string]float64
				if err := json.Unmarshal([]byte(l[i+5:]), &m); err != nil {
					t.Fatal(err)
				}
				return m
			}
		}
		t.Fatalf("no metrics in the output of %d ranks", nproc)
		return nil
	}
	one, two := metrics(1), metrics(2)
	if len(one) < 4 || one["roc_auc"] == 0 {
		t.Fatalf("one process's metrics %v lack accuracy/macro_f1/roc_auc/loss", one)
	}
	if !reflect.DeepEqual(one, two) {
		t.Fatalf("2 ranks' metrics %v, one process's %v: want equal", two, one)
	}
}

// --resume with another number of ranks: a 2-rank run's checkpoint
// continued by one process with the same global batch (2 × 8 → 1 × 16)
// ends where one process training all along does (1e-5, as 2 ranks vs
// one); with another global batch (1 × 8) the epoch continues at the row
// where the 2 ranks stopped.
func TestDataParallelResumeWithOtherRanks(t *testing.T) {
	needGloo(t)
	train := smallSST2(t, 96)
	alone := t.TempDir()
	c := ddpConfig(t, train, alone, 16, 1)
	c.MaxSteps = 4
	if _, err := Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	two := t.TempDir()
	c = ddpConfig(t, train, two, 8, 1)
	c.MaxSteps, c.SaveSteps = 4, 2
	if _, err := runRanks(t, 2, c); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(two, "checkpoint-2")
	var saved State
	readJSON(t, filepath.Join(ckpt, "trainer_state.json"), &saved)
	if saved.WorldSize != 2 || saved.GlobalBatch != 16 || saved.SampleInEpoch != 32 {
		t.Fatalf("checkpoint-2 layout: %d ranks, global batch %d, %d rows into the epoch; want 2, 16, 32", saved.WorldSize, saved.GlobalBatch, saved.SampleInEpoch)
	}
	for _, tc := range []struct {
		name     string
		batch    int
		wantRows int
		wantSame bool
	}{
		{"1 x 16", 16, 64, true},
		{"1 x 8", 8, 48, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			c := ddpConfig(t, train, out, tc.batch, 1)
			c.MaxSteps, c.Resume = 4, ckpt
			if _, err := Run(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			var st State
			readJSON(t, filepath.Join(out, "trainer_state.json"), &st)
			if st.GlobalStep != 4 || st.SampleInEpoch != tc.wantRows || st.WorldSize != 1 {
				t.Fatalf("resumed run ended at step %d, %d rows into the epoch, %d ranks; want 4, %d, 1", st.GlobalStep, st.SampleInEpoch, st.WorldSize, tc.wantRows)
			}
			if !tc.wantSame {
				return
			}
			d := maxAbsDiff(t, finalParams(t, alone), finalParams(t, out))
			t.Logf("max |Δw| between 2 ranks resumed as 1 and one process: %g", d)
			if d > 1e-5 {
				t.Fatalf("max |Δw| = %g, want <= 1e-5", d)
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
