package backend

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/export"
	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
	"github.com/kiln-ml/kiln/models"
)

// exportTiny writes a random 2-layer BERT classifier (vocabulary 1000) and
// exports it with kiln's export; outputs nil means logits.
func exportTiny(t *testing.T, outputs []string) string {
	t.Helper()
	if err := ort.Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	cfg := models.DefaultConfig(models.TypeBERT)
	cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 32, 2, 4, 48
	cfg.VocabSize, cfg.MaxPositionEmbeddings, cfg.InitializerRange = 1000, 64, 0.5
	cfg.SetLabels([]string{"a", "b", "c"})
	sd, err := models.InitStateDict(cfg, 3, "F32")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Save(filepath.Join(src, "config.json")); err != nil {
		t.Fatal(err)
	}
	if err := models.WriteSafetensors(filepath.Join(src, "model.safetensors"), sd, nil); err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(testenv.Testdata("tokenizers/bert-base-uncased/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "tokenizer.json"), tok, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "export")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := export.Export(context.Background(), src, out, export.Options{Outputs: outputs, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, "model.onnx")
}

func ids(n int, seed int64) []int64 {
	v := make([]int64, n)
	v[0] = 101
	for i := 1; i < n; i++ {
		v[i] = 1000 + (seed*31+int64(i)*17)%900 - 900 // 100..999
	}
	v[n-1] = 102
	return v
}

// TestPaddingDoesNotChangeLogits: a batch of mixed lengths gives each
// sequence the logits it gets alone (the mask hides the padding), from
// several sessions at once.
func TestPaddingDoesNotChangeLogits(t *testing.T) {
	o, err := Open(Options{ModelPath: exportTiny(t, nil), Sessions: 2, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.NumLabels() != 3 || o.Concurrency() != 2 || o.Provider() != ort.CPUProvider {
		t.Fatalf("labels %d, sessions %d, provider %s", o.NumLabels(), o.Concurrency(), o.Provider())
	}
	batch := []Input{{IDs: ids(5, 1)}, {IDs: ids(17, 2), TypeIDs: make([]int64, 17)}, {IDs: ids(9, 3)}}
	alone := make([][]float32, len(batch))
	for i, in := range batch {
		rows, err := o.Run(context.Background(), []Input{in})
		if err != nil {
			t.Fatal(err)
		}
		alone[i] = rows[0]
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows, err := o.Run(context.Background(), batch)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range batch {
				for j := range rows[i] {
					if d := math.Abs(float64(rows[i][j] - alone[i][j])); d > 1e-4 {
						t.Errorf("sequence %d logit %d: batched %v, alone %v", i, j, rows[i][j], alone[i][j])
					}
				}
			}
		}()
	}
	wg.Wait()
	if _, err := o.Warmup(context.Background(), []Shape{{1, 8}, {4, 64}}); err != nil {
		t.Fatal(err)
	}
}

// TestWarmupBorrowsSessions: warm-up takes sessions from the pool as Run
// does, so it never runs on a session a request is using (traffic is
// admitted during warm-up), waits for a busy one, and gives them all back.
func TestWarmupBorrowsSessions(t *testing.T) {
	o, err := Open(Options{ModelPath: exportTiny(t, nil), Sessions: 2, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	busy := <-o.pool // a request holds one session
	done := make(chan error, 1)
	go func() {
		_, err := o.Warmup(context.Background(), []Shape{{1, 8}})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("warm-up finished (%v) while a session was busy: it did not borrow it", err)
	case <-time.After(200 * time.Millisecond):
	}
	o.pool <- busy
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("warm-up did not finish after the session came back")
	}
	if len(o.pool) != 2 {
		t.Errorf("%d sessions in the pool after warm-up, want 2", len(o.pool))
	}
	// A cancelled warm-up waiting for a session returns, and returns what it took.
	busy = <-o.pool
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := o.Warmup(ctx, []Shape{{1, 8}}); err == nil {
		t.Error("warm-up waiting for a busy session ignored its context")
	}
	o.pool <- busy
	if len(o.pool) != 2 {
		t.Errorf("%d sessions in the pool after a cancelled warm-up, want 2", len(o.pool))
	}
}

// TestRunErrorIsReturned: ids past the vocabulary make ONNX Runtime fail;
// the error comes back and the session keeps working.
func TestRunErrorIsReturned(t *testing.T) {
	o, err := Open(Options{ModelPath: exportTiny(t, nil), IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.Run(context.Background(), []Input{{IDs: []int64{101, 5000, 102}}}); err == nil {
		t.Fatal("id 5000 in a 1000-word vocabulary ran without error")
	}
	if _, err := o.Run(context.Background(), []Input{{IDs: ids(4, 1)}}); err != nil {
		t.Fatalf("after a failed run: %v", err)
	}
	if _, err := o.Run(context.Background(), []Input{{IDs: []int64{1, 2}, TypeIDs: []int64{0}}}); err == nil {
		t.Error("mismatched type ids accepted")
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  func() Options
		want string
	}{
		{"encoder-only export", func() Options {
			return Options{ModelPath: exportTiny(t, []string{export.OutputLastHiddenState})}
		}, "no \"logits\" output"},
		{"missing file", func() Options { return Options{ModelPath: filepath.Join(t.TempDir(), "none.onnx")} }, "none.onnx"},
		{"bad device", func() Options { return Options{ModelPath: exportTiny(t, nil), Device: "tpu"} }, "tpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.opt())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestDevice: --device cuda fails fast where CUDA is unusable, and auto
// falls back to the CPU with the reason recorded.
func TestDevice(t *testing.T) {
	path := exportTiny(t, nil)
	if reason := ort.CUDAUnavailableReason(); reason == "" {
		t.Skip("CUDA is usable here: the fallback path cannot be exercised")
	}
	if _, err := Open(Options{ModelPath: path, Device: "cuda"}); err == nil || !strings.Contains(err.Error(), "cuda") {
		t.Errorf("--device cuda without CUDA: %v", err)
	}
	o, err := Open(Options{ModelPath: path, Device: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Provider() != ort.CPUProvider || o.FallbackReason() == "" {
		t.Errorf("auto: provider %s, fallback reason %q", o.Provider(), o.FallbackReason())
	}
}

// TestSplit: sessions and intra-op threads left open divide the cores
// without oversubscribing them; what the user set is kept.
func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		cores, sessions, threads int
		wantS, wantT             int
	}{
		{1, 0, 0, 1, 1},
		{2, 0, 0, 2, 1},
		{8, 0, 0, 4, 2},
		{16, 0, 0, 4, 4},
		{6, 0, 0, 4, 1},
		{8, 1, 0, 1, 8},   // one session gets every core
		{8, 3, 0, 3, 2},   // an explicit count shares the cores
		{8, 16, 0, 16, 1}, // more sessions than cores: one thread each
		{8, 0, 3, 4, 3},   // explicit threads are kept
		{0, 0, 0, 1, 1},   // a broken core count still gives one session
	} {
		s, th := Split(tc.cores, tc.sessions, tc.threads)
		if s != tc.wantS || th != tc.wantT {
			t.Errorf("Split(%d cores, %d sessions, %d threads) = %d×%d, want %d×%d", tc.cores, tc.sessions, tc.threads, s, th, tc.wantS, tc.wantT)
		}
	}
}

// TestOpenChoosesSessions: Sessions 0 on the CPU opens Split's count.
func TestOpenChoosesSessions(t *testing.T) {
	o, err := Open(Options{ModelPath: exportTiny(t, nil), Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	want, _ := Split(runtime.GOMAXPROCS(0), 0, 0)
	if o.Concurrency() != want || len(o.pool) != want {
		t.Errorf("%d sessions (%d in the pool), want %d for %d cores", o.Concurrency(), len(o.pool), want, runtime.GOMAXPROCS(0))
	}
}
