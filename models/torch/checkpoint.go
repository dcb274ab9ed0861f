package torch

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kiln-ml/kiln/models"
)

// LoadOptions tune Load.
type LoadOptions struct {
	Device gotch.Device // zero value: CPU
	// Labels, when set, names the classes the caller will train on. By
	// default they replace the checkpoint's id2label (fine-tuning a base
	// model or changing the label set); a head whose shape no longer fits is
	// re-initialised and reported in LoadReport.Mismatched.
	Labels []string
	// MatchLabels maps Labels onto a trained head instead of renaming its
	// rows: a label the head's id2label names keeps its row (and the
	// config keeps its id2label), integer labels are taken as the head's
	// class ids, and a label the head lacks is an error wrapping
	// ErrHeadLabels. LoadReport.LabelRows says where each label went.
	// A head with HF's placeholder names (LABEL_0…) is renamed as without
	// MatchLabels: its rows carry no names to match.
	MatchLabels bool
	// ReinitHead initialises the classification head fresh for Labels,
	// whatever the checkpoint holds.
	ReinitHead bool
	// Pooling overrides config "pooling" (cls, mean, max) when non-empty.
	Pooling string
	// ProblemType overrides config "problem_type" when non-empty.
	ProblemType string
	// AllowMissing accepts missing encoder parameters (initialised fresh);
	// AllowUnexpected accepts unknown tensors (ignored). A missing
	// classification head is always accepted and announced.
	AllowMissing, AllowUnexpected bool
	// Seed for the parameters initialised fresh (0: random).
	Seed uint64
}

// LoadReport says how the checkpoint matched the model.
type LoadReport struct {
	File       string   // the file read
	Missing    []string // parameters initialised fresh
	Unexpected []string // checkpoint tensors ignored
	Dropped    []string // pre-training heads and buffers dropped, as HF does
	Mismatched []string // head parameters whose shape changed with the labels
	FreshHead  bool     // the classification head was initialised fresh
	// LabelRows[i] is the head row (class id) of LoadOptions.Labels[i].
	LabelRows []int
}

// ErrHeadLabels: the data names labels the checkpoint's trained head lacks.
var ErrHeadLabels = errors.New("labels not in the checkpoint's classification head")

// Load reads config.json and model.safetensors (else pytorch_model.bin)
// with HF names, in F32, F16 or BF16 on disk. A base checkpoint (BertModel
// etc.) gets a fresh head; any other missing or unexpected key is an error
// unless allowed in opts.
func Load(dir string, opts LoadOptions) (*Model, *LoadReport, error) {
	cfg, err := models.LoadConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	if opts.Pooling != "" {
		cfg.Pooling = opts.Pooling
	}
	if opts.ProblemType != "" {
		cfg.ProblemType = opts.ProblemType
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	raw, err := models.LoadStateDict(dir)
	if err != nil {
		return nil, nil, err
	}
	rep := &LoadReport{File: "model.safetensors"}
	if _, statErr := os.Stat(filepath.Join(dir, rep.File)); statErr != nil {
		rep.File = "pytorch_model.bin"
	}
	sd, keys := models.NormalizeStateDict(cfg, raw)
	rep.Unexpected, rep.Dropped = keys.Unexpected, keys.Dropped
	if opts.ReinitHead {
		for name := range sd {
			if models.IsHeadParam(cfg.ModelType, name) {
				delete(sd, name)
			}
		}
	}
	if len(opts.Labels) > 0 {
		_, trained := sd[headOutWeight(cfg.ModelType)]
		if rep.LabelRows, err = placeLabels(cfg, opts.Labels, opts.MatchLabels && trained); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", dir, err)
		}
	}

	// Shapes: a head that no longer fits the labels is re-initialised;
	// any other mismatch is an error (wrong config for these weights).
	specs := models.ParamSpecs(cfg)
	for _, s := range specs {
		t, ok := sd[s.Name]
		if !ok || slices.Equal(t.Shape, s.Shape) {
			continue
		}
		if models.IsHeadParam(cfg.ModelType, s.Name) && len(opts.Labels) > 0 {
			rep.Mismatched = append(rep.Mismatched, s.Name)
			delete(sd, s.Name)
			continue
		}
		return nil, nil, fmt.Errorf("%s: tensor %s has shape %v, config.json implies %v", dir, s.Name, t.Shape, s.Shape)
	}
	var encoderMissing []string
	headMissing := false
	for _, s := range specs {
		if _, ok := sd[s.Name]; ok {
			continue
		}
		rep.Missing = append(rep.Missing, s.Name)
		if models.IsHeadParam(cfg.ModelType, s.Name) {
			headMissing = true
		} else {
			encoderMissing = append(encoderMissing, s.Name)
		}
	}
	if len(encoderMissing) > 0 && !opts.AllowMissing {
		return nil, nil, fmt.Errorf("%s: %d encoder parameters missing from the checkpoint (e.g. %s); is model_type right? (allow with AllowMissing)", dir, len(encoderMissing), encoderMissing[0])
	}
	if len(rep.Unexpected) > 0 && !opts.AllowUnexpected {
		return nil, nil, fmt.Errorf("%s: %d unexpected tensors in the checkpoint (e.g. %s) (allow with AllowUnexpected)", dir, len(rep.Unexpected), rep.Unexpected[0])
	}
	if len(rep.Missing) > 0 {
		seed := opts.Seed
		if seed == 0 {
			seed = rand.Uint64()
		}
		fresh, err := models.InitStateDict(cfg, seed, "F32")
		if err != nil {
			return nil, nil, err
		}
		for _, name := range rep.Missing {
			sd[name] = fresh[name]
		}
	}
	rep.FreshHead = headMissing
	if headMissing {
		slog.Info("classification head initialised fresh (normal when fine-tuning a base checkpoint)",
			"dir", dir, "params", strings.Join(headNames(rep.Missing, cfg.ModelType), ","), "labels", cfg.NumLabels())
	}
	if len(encoderMissing) > 0 {
		slog.Warn("encoder parameters missing, initialised fresh", "dir", dir, "count", len(encoderMissing))
	}
	if len(rep.Unexpected) > 0 {
		slog.Warn("unexpected checkpoint tensors ignored", "dir", dir, "keys", rep.Unexpected)
	}
	if len(rep.Dropped) > 0 {
		slog.Debug("pre-training heads and buffers dropped", "dir", dir, "keys", rep.Dropped)
	}
	m, err := fromStateDict(cfg, sd, opts.Device)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, rep, nil
}

// headOutWeight is the weight of the head's last layer, the one whose rows
// are the classes.
func headOutWeight(modelType string) string {
	if modelType == models.TypeRoBERTa || modelType == models.TypeELECTRA {
		return "classifier.out_proj.weight"
	}
	return "classifier.weight"
}

// placeLabels decides each label's head row and sets cfg's label maps.
// Without match (or with a head whose names are HF's LABEL_i
// placeholders) the labels are the rows in order; with match a trained
// head keeps its rows and names, so fine-tuning never silently swaps
// classes whose names it knows.
func placeLabels(cfg *models.Config, labels []string, match bool) ([]int, error) {
	inOrder := func() []int {
		cfg.SetLabels(labels)
		rows := make([]int, len(labels))
		for i := range rows {
			rows[i] = i
		}
		return rows
	}
	if !match {
		return inOrder(), nil
	}
	n := cfg.NumLabels()
	if len(cfg.ID2Label) == 0 {
		cfg.SetNumLabels(n)
	}
	named := false
	for id, name := range cfg.ID2Label {
		if name != "LABEL_"+strconv.Itoa(id) {
			named = true
		}
	}
	rows := make([]int, len(labels))
	var missing []string
	for i, l := range labels {
		if id, ok := cfg.Label2ID[l]; ok && named {
			rows[i] = id
			continue
		}
		// Integer labels are class ids, as in HF's datasets and Trainer.
		if id, err := strconv.Atoi(l); err == nil && id >= 0 && id < n && strconv.Itoa(id) == l {
			rows[i] = id
			continue
		}
		missing = append(missing, l)
	}
	if len(missing) == 0 {
		if !named { // placeholders: the data's names are better ones
			for i, l := range labels {
				delete(cfg.Label2ID, cfg.ID2Label[rows[i]])
				cfg.ID2Label[rows[i]] = l
				cfg.Label2ID[l] = rows[i]
			}
		}
		return rows, nil
	}
	if !named {
		return inOrder(), nil
	}
	head := make([]string, n)
	for id, name := range cfg.ID2Label {
		if id >= 0 && id < n {
			head[id] = name
		}
	}
	return nil, fmt.Errorf("%w: the head's id2label is %q, the data also has %q", ErrHeadLabels, head, missing)
}

func headNames(names []string, mt string) []string {
	var out []string
	for _, n := range names {
		if models.IsHeadParam(mt, n) {
			out = append(out, n)
		}
	}
	return out
}

// StateDict copies the parameters out as HF-named tensors of dtype F32, F16 or BF16.
func (m *Model) StateDict(dtype string) (models.StateDict, error) {
	sd := make(models.StateDict, len(m.params))
	for _, p := range m.params {
		vals, shape, err := Float32Values(p.Tensor)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", p.Name, err)
		}
		t, err := models.FromFloat32s(dtype, shape, vals)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", p.Name, err)
		}
		sd[p.Name] = t
	}
	return sd, nil
}

// cpuFloat32 is t detached, on the CPU, float32 and contiguous: t's own
// storage when it already is all that (no copy). Detached first, so no
// graph is built and grad mode does not matter (toggling it here would be
// unsafe: see gradmode.go). The caller drops it.
func cpuFloat32(t *ts.Tensor) (*ts.Tensor, error) {
	c, err := t.Detach(false)
	if err == nil { // each step below drops its input, also when it fails
		c, err = c.To(gotch.CPU, true)
	}
	if err == nil {
		c, err = c.Totype(gotch.Float, true)
	}
	if err == nil {
		c, err = c.Contiguous(true)
	}
	return c, err
}

// float32Data views a tensor from cpuFloat32 as a slice over its libtorch
// memory, valid until the tensor is dropped. gotch's CopyData is avoided:
// it checks the destination by reflecting over every element, seconds for
// a model's worth of parameters.
func float32Data(c *ts.Tensor) ([]float32, error) {
	n := c.Numel()
	if n == 0 {
		return nil, nil
	}
	ptr, err := c.DataPtr()
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*float32)(ptr), n), nil
}

// Float32Values copies a float tensor (any device, any layout) to Go.
func Float32Values(t *ts.Tensor) ([]float32, []int64, error) {
	shape, err := t.Size()
	if err != nil {
		return nil, nil, err
	}
	c, err := cpuFloat32(t)
	if err != nil {
		return nil, nil, err
	}
	defer c.MustDrop()
	data, err := float32Data(c)
	if err != nil {
		return nil, nil, err
	}
	return slices.Clone(data), shape, nil
}

// littleEndian: safetensors is little-endian, so on such a host a float32
// tensor's memory is already its F32 bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Streamed describes tensor t (any device, float dtype) as a safetensors
// entry in dtype (F32, F16 or BF16) whose bytes are written straight from
// libtorch's memory when the file is written: one tensor at a time, with no
// copy in Go for F32 on a little-endian host, so saving a model and its
// optimiser state costs neither seconds of copying nor their size in RSS.
func Streamed(name string, t *ts.Tensor, dtype string) (models.StreamedTensor, error) {
	shape, err := t.Size()
	if err != nil {
		return models.StreamedTensor{}, fmt.Errorf("tensor %s: %w", name, err)
	}
	return models.StreamedTensor{Name: name, DType: dtype, Shape: shape, Write: func(w io.Writer) error {
		c, err := cpuFloat32(t)
		if err != nil {
			return err
		}
		defer c.MustDrop()
		data, err := float32Data(c)
		if err != nil {
			return err
		}
		if dtype == "F32" && littleEndian {
			_, err = w.Write(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), 4*len(data)))
			return err
		}
		enc, err := models.FromFloat32s(dtype, shape, data)
		if err != nil {
			return err
		}
		_, err = w.Write(enc.Data)
		return err
	}}, nil
}

// Save writes config.json and model.safetensors (float32) atomically with
// HF names, loadable by transformers' from_pretrained with no missing or
// unexpected keys.
func (m *Model) Save(dir string) error { return m.SaveAs(dir, "F32") }

// SaveAs is Save with the on-disk dtype (F32, F16 or BF16).
func (m *Model) SaveAs(dir, dtype string) error {
	if _, ok := map[string]bool{"F32": true, "F16": true, "BF16": true}[dtype]; !ok {
		return fmt.Errorf("save %s: dtype %q: want F32, F16 or BF16", dir, dtype)
	}
	tensors := make([]models.StreamedTensor, 0, len(m.params))
	for _, p := range m.params {
		st, err := Streamed(p.Name, p.Tensor, dtype)
		if err != nil {
			return fmt.Errorf("save %s: parameter %w", dir, err)
		}
		tensors = append(tensors, st)
	}
	cfg := *m.Config
	cfg.Architectures = []string{models.ArchitectureName(cfg.ModelType)}
	// torch_dtype tells from_pretrained(torch_dtype="auto") what is on disk.
	cfg.Extra = maps.Clone(cfg.Extra)
	if cfg.Extra == nil {
		cfg.Extra = map[string]json.RawMessage{}
	}
	cfg.Extra["torch_dtype"] = json.RawMessage(map[string]string{"F32": `"float32"`, "F16": `"float16"`, "BF16": `"bfloat16"`}[dtype])
	if err := models.StreamSafetensors(filepath.Join(dir, "model.safetensors"), tensors, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return cfg.Save(dir)
}
