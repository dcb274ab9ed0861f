package tbevents

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/internal/testenv"
)

// TFRecord's masked CRC-32C, against the CRC-32C check value and the mask
// TensorFlow's crc32c::Mask applies.
func TestMaskedCRC(t *testing.T) {
	if c := crc32.Checksum([]byte("123456789"), castagnoli); c != 0xe3069283 {
		t.Fatalf("crc32c check value %#x, want 0xe3069283", c)
	}
	cases := []struct {
		in   string
		want uint32
	}{
		{"123456789", 0xc78ab0e5}, // rotr(0xe3069283, 15) + 0xa282ead8
		{"", 0xa282ead8},          // crc32c("") = 0
	}
	for _, c := range cases {
		if got := maskedCRC([]byte(c.in)); got != c.want {
			t.Errorf("maskedCRC(%q) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

type point struct {
	tag  string
	step int64
	v    float64
}

var points = []point{
	{"train/loss", 10, 0.6931}, {"train/loss", 20, 0.51}, {"train/learning_rate", 10, 2e-5},
	{"train/learning_rate", 20, 1.5e-5}, {"eval/accuracy", 20, 0.875}, {"eval/macro_f1", 20, 0.8745},
	{"train/loss", 30, math.NaN()}, {"train/grad_norm", 0, 1e30}, {"train/loss", 1 << 40, -3.25},
}

func writeEvents(t *testing.T, dir string) *Writer {
	t.Helper()
	w, err := newWriter(dir, func() time.Time { return time.Unix(1700000000, 500_000_000) })
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range points {
		if err := w.Scalar(p.tag, p.step, p.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w
}

// The records are well framed and checksummed: a plain reader of the
// TFRecord format finds one record per event and no trailing bytes.
func TestFraming(t *testing.T) {
	w := writeEvents(t, t.TempDir())
	host, _ := os.Hostname()
	if want := "events.out.tfevents.1700000000." + host; filepath.Base(w.Path()) != want {
		t.Errorf("file name %s, want %s", filepath.Base(w.Path()), want)
	}
	b, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("record %d: %d trailing bytes", n, len(b))
		}
		size := binary.LittleEndian.Uint64(b)
		if got, want := binary.LittleEndian.Uint32(b[8:]), maskedCRC(b[:8]); got != want {
			t.Fatalf("record %d: length crc %#x, want %#x", n, got, want)
		}
		data := b[12 : 12+size]
		if got, want := binary.LittleEndian.Uint32(b[12+size:]), maskedCRC(data); got != want {
			t.Fatalf("record %d: data crc %#x, want %#x", n, got, want)
		}
		b = b[16+size:]
		n++
	}
	if n != len(points)+1 {
		t.Errorf("%d records, want %d (file version + one per scalar)", n, len(points)+1)
	}
	if err := w.Scalar("late", 1, 1); err == nil {
		t.Error("Scalar after Close succeeded")
	}
}

// Two writers in the same second get two files.
func TestSameSecond(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return time.Unix(1700000000, 0) }
	a, err := newWriter(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := newWriter(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Path() == b.Path() {
		t.Fatalf("both writers use %s", a.Path())
	}
}

// TensorBoard's own reader (EventAccumulator, from PyPI tensorboard in the
// reference venv) reads every scalar back: tag, step, and the value as the
// float32 TensorBoard stores.
func TestTensorBoardReadsScalars(t *testing.T) {
	py := testenv.Python(t)
	dir := t.TempDir()
	writeEvents(t, dir)
	out, err := exec.Command(py, "testdata/read_events.py", dir).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		if strings.Contains(stderr, "No module named 'tensorboard'") && !testenv.Require() {
			t.Skip("tensorboard is not installed in the reference venv: run make setup")
		}
		t.Fatalf("read_events.py: %v\n%s", err, stderr)
	}
	var got struct {
		Files       int
		FileVersion float64 `json:"file_version"` // TensorBoard parses "brain.Event:2" to 2
		Scalars     map[string][][3]any
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Files != 1 || got.FileVersion != 2 {
		t.Errorf("files %d, version %v", got.Files, got.FileVersion)
	}
	want := map[string][]point{}
	for _, p := range points {
		want[p.tag] = append(want[p.tag], p)
	}
	if len(got.Scalars) != len(want) {
		t.Errorf("tags %v, want %d tags", got.Scalars, len(want))
	}
	for tag, ps := range want {
		rows := got.Scalars[tag]
		if len(rows) != len(ps) {
			t.Errorf("%s: %d scalars read back, want %d", tag, len(rows), len(ps))
			continue
		}
		for i, p := range ps {
			step := int64(rows[i][0].(float64))
			if step != p.step {
				t.Errorf("%s[%d]: step %d, want %d", tag, i, step, p.step)
			}
			if s, ok := rows[i][1].(string); ok {
				if !math.IsNaN(p.v) || s != "nan" {
					t.Errorf("%s[%d]: value %q, want %v", tag, i, s, p.v)
				}
			} else if v := rows[i][1].(float64); v != float64(float32(p.v)) {
				// exact: both sides hold the same float32
				t.Errorf("%s[%d]: value %v, want float32(%v) = %v", tag, i, v, p.v, float32(p.v))
			}
			if wt := rows[i][2].(float64); math.Abs(wt-1700000000.5) > 1e-6 {
				t.Errorf("%s[%d]: wall time %v, want 1700000000.5", tag, i, wt)
			}
		}
	}
}
