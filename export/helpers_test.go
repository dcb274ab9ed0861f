package export

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kiln-ml/kiln/internal/ort"
	"github.com/kiln-ml/kiln/internal/testenv"
)

// tokenizerFor picks the real tokenizer.json whose vocabulary the tiny
// model of arch is sized to.
func tokenizerFor(arch string) string {
	if arch == "roberta" {
		return testenv.Testdata("tokenizers/roberta-base/tokenizer.json")
	}
	return testenv.Testdata("tokenizers/bert-base-uncased/tokenizer.json")
}

// tiny is one tiny checkpoint and the transformers process serving its
// reference forwards; both live for the whole test binary, so every test
// that uses the same (arch, pooling, act) shares one interpreter start.
type tiny struct {
	once sync.Once
	dir  string
	ref  *pyReference
	err  error
}

var (
	tinyMu    sync.Mutex
	tinyDir   string
	tinyCache = map[string]*tiny{}
)

// makeTiny returns a tiny random HF checkpoint made by transformers (the
// library whose forward is the reference), created once per test binary.
func makeTiny(t *testing.T, arch, pooling, act string) string {
	t.Helper()
	return getTiny(t, arch, pooling, act).dir
}

// startReference returns the transformers reference of a makeTiny directory.
func startReference(t *testing.T, dir string) *pyReference {
	t.Helper()
	tinyMu.Lock()
	defer tinyMu.Unlock()
	for _, e := range tinyCache {
		if e.dir == dir && e.ref != nil {
			return e.ref
		}
	}
	t.Fatalf("no reference process for %s", dir)
	return nil
}

func getTiny(t *testing.T, arch, pooling, act string) *tiny {
	t.Helper()
	py := testenv.Python(t)
	key := arch + "-" + pooling + "-" + act
	tinyMu.Lock()
	if tinyDir == "" {
		d, err := os.MkdirTemp("", "kiln-export-test-")
		if err != nil {
			tinyMu.Unlock()
			t.Fatal(err)
		}
		tinyDir = d
	}
	e, ok := tinyCache[key]
	if !ok {
		e = &tiny{}
		tinyCache[key] = e
	}
	base := tinyDir
	tinyMu.Unlock()
	e.once.Do(func() {
		dir := filepath.Join(base, key)
		e.ref, e.err = launchReference(py, dir, "--make", arch, pooling, tokenizerFor(arch), "0", act)
		if e.err == nil {
			tinyMu.Lock()
			e.dir = dir
			tinyMu.Unlock()
		}
	})
	if e.err != nil {
		t.Fatalf("tiny checkpoint %s: %v", key, e.err)
	}
	return e
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, e := range tinyCache {
		if e.ref != nil {
			e.ref.close()
		}
	}
	if tinyDir != "" {
		os.RemoveAll(tinyDir)
	}
	os.Exit(code)
}

// pyReference runs testdata/ref_forward.py (HF transformers) as a
// long-lived process and caches its answers by input, so the four export
// variants of one checkpoint share one set of reference forwards.
type pyReference struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	cache map[string]*RefOutput
}

// launchReference starts ref_forward.py on dir (with --make …, creating the
// checkpoint first) and waits for its "ready" line.
func launchReference(py, dir string, makeArgs ...string) (*pyReference, error) {
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", "ref_forward.py"), dir}, makeArgs...)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &pyReference{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20), cache: map[string]*RefOutput{}}
	line, err := r.out.ReadString('\n')
	if err != nil || line != "ready\n" {
		r.close()
		return nil, fmt.Errorf("ref_forward.py %s did not start (%q): %v", dir, line, err)
	}
	return r, nil
}

func (r *pyReference) close() {
	r.in.Close()
	r.cmd.Wait()
}

func (r *pyReference) Name() string { return "transformers (PyTorch eager)" }

func (r *pyReference) Forward(_ context.Context, b Batch) (*RefOutput, error) {
	req, err := json.Marshal(map[string]any{
		"batch": b.Batch, "seq": b.Seq, "input_ids": b.InputIDs,
		"attention_mask": b.AttentionMask, "token_type_ids": b.TokenTypeIDs,
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if o, ok := r.cache[string(req)]; ok {
		return o, nil
	}
	if _, err := r.in.Write(append(req, '\n')); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	line, err := r.out.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	var resp map[string]string
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	o := &RefOutput{}
	for name, dst := range map[string]*[]float32{"logits": &o.Logits, "last_hidden_state": &o.LastHiddenState, "pooled": &o.Pooled} {
		raw, err := base64.StdEncoding.DecodeString(resp[name])
		if err != nil {
			return nil, fmt.Errorf("reference %s: %w", name, err)
		}
		v := make([]float32, len(raw)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		*dst = v
	}
	r.cache[string(req)] = o
	return o, nil
}

// initORT points internal/ort at the library testenv finds.
func initORT(t *testing.T) string {
	t.Helper()
	lib := testenv.ORTLibrary(t)
	if err := ort.Init(lib); err != nil {
		t.Fatalf("ort.Init(%s): %v", lib, err)
	}
	return lib
}

// runORT runs model.onnx in dir on b and returns its outputs.
func runORT(t *testing.T, path string, b Batch, opt ort.Options) map[string]ort.Float32Tensor {
	t.Helper()
	s, err := ort.NewSession(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	shape := []int64{int64(b.Batch), int64(b.Seq)}
	feeds := map[string]ort.Int64Tensor{
		InputIDs: {Shape: shape, Data: b.InputIDs}, AttentionMask: {Shape: shape, Data: b.AttentionMask},
	}
	for _, n := range s.InputNames() {
		if n == TokenTypeIDs {
			tt := b.TokenTypeIDs
			if tt == nil {
				tt = make([]int64, len(b.InputIDs))
			}
			feeds[TokenTypeIDs] = ort.Int64Tensor{Shape: shape, Data: tt}
		}
	}
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = math.Max(m, d)
	}
	return m
}
