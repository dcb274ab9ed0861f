// Package tbevents writes TensorBoard event files (the format
// torch.utils.tensorboard.SummaryWriter and HF Trainer's
// --report_to tensorboard produce), so `tensorboard --logdir` plots kiln's
// training scalars. Only scalars are written, so the few protobuf fields
// involved are encoded by hand instead of depending on TensorFlow's protos.
//
// An event file is a TFRecord stream: each record is
//
//	uint64 length | uint32 masked CRC-32C of length | data | uint32 masked CRC-32C of data
//
// (little-endian), and each record's data is a serialised tensorflow.Event:
// the first names the file version, the rest carry a Summary with one
// simple_value per scalar.
package tbevents

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Writer appends events to one event file. It is safe for concurrent use.
// Unlike kiln's other outputs the file is not written atomically: event
// files are append-only logs that TensorBoard reads while they grow; every
// Scalar reaches the file before it returns and Close syncs it.
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	path string
	now  func() time.Time
}

// NewWriter creates dir (if needed) and a new event file in it, named as
// TensorFlow names them: events.out.tfevents.<unix seconds>.<host>.
func NewWriter(dir string) (*Writer, error) {
	return newWriter(dir, time.Now)
}

func newWriter(dir string, now func() time.Time) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard log dir: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	t := now()
	path := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s", t.Unix(), host))
	// O_EXCL: two writers started in the same second must not interleave
	// records in one file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	for i := 1; os.IsExist(err) && i < 100; i++ {
		path = filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s.%d", t.Unix(), host, i))
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("tensorboard event file: %w", err)
	}
	w := &Writer{f: f, w: bufio.NewWriter(f), path: path, now: now}
	// TensorBoard identifies the format by the first event's file_version.
	var ev []byte
	ev = appendDouble(ev, 1, wallTime(t))
	ev = appendBytes(ev, 3, []byte("brain.Event:2"))
	if err := w.write(ev); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return w, nil
}

// Path is the event file's path.
func (w *Writer) Path() string { return w.path }

// Scalar records value v of the series tag at a step (as HF Trainer names
// them: "train/loss", "eval/accuracy", …). TensorBoard stores scalars as
// float32; NaN and ±Inf are kept.
func (w *Writer) Scalar(tag string, step int64, v float64) error {
	var val []byte
	val = appendBytes(val, 1, []byte(tag))
	val = appendFloat(val, 2, float32(v))
	var sum []byte
	sum = appendBytes(sum, 1, val)
	var ev []byte
	ev = appendDouble(ev, 1, wallTime(w.now()))
	ev = appendVarintField(ev, 2, uint64(step))
	ev = appendBytes(ev, 5, sum)
	return w.write(ev)
}

// Close flushes, syncs and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.w.Flush()
	if serr := w.f.Sync(); err == nil {
		err = serr
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		return fmt.Errorf("tensorboard event file %s: %w", w.path, err)
	}
	return nil
}

// write frames one record and flushes it to the file.
func (w *Writer) write(data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("tensorboard event file %s: write after Close", w.path)
	}
	var head [12]byte
	binary.LittleEndian.PutUint64(head[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(head[8:], maskedCRC(head[:8]))
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], maskedCRC(data))
	w.w.Write(head[:])
	w.w.Write(data)
	w.w.Write(tail[:])
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("tensorboard event file %s: %w", w.path, err)
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's checksum: CRC-32C, rotated and offset so that a
// CRC stored inside CRC'd data does not checksum to a trivial value.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

func wallTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Protobuf wire encoding of the fields used (field number << 3 | wire type).
func appendVarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendVarintField(b []byte, field int, v uint64) []byte {
	return appendVarint(appendVarint(b, uint64(field)<<3|0), v)
}

func appendDouble(b []byte, field int, v float64) []byte {
	b = appendVarint(b, uint64(field)<<3|1)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

func appendFloat(b []byte, field int, v float32) []byte {
	b = appendVarint(b, uint64(field)<<3|5)
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
}

func appendBytes(b []byte, field int, v []byte) []byte {
	b = appendVarint(b, uint64(field)<<3|2)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}
