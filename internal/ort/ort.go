// Package ort is kiln's thin layer over ONNX Runtime (github.com/yalue/onnxruntime_go).
//
// ONNX Runtime is loaded with dlopen at Init, so nothing here links libtorch
// or ONNX Runtime at build time: the serving binary runs on a machine that has
// only libonnxruntime.so. Sessions take int64 inputs (token ids, masks) and
// return float32 outputs, which is all a text encoder needs.
package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"
)

// LibraryFile is the file name of ONNX Runtime's shared library.
const LibraryFile = "libonnxruntime.so.1"

// Provider names as ONNX Runtime spells them.
const (
	CPUProvider  = "CPUExecutionProvider"
	CUDAProvider = "CUDAExecutionProvider"
)

var (
	initMu   sync.Mutex
	initPath string
	initErr  error
	initDone bool
)

// Init loads ONNX Runtime from libPath ("" means DefaultLibraryPath) and
// creates the process-wide environment. It is idempotent; calling it again
// with another path after a successful Init is an error, because ONNX Runtime
// cannot be loaded twice into one process.
func Init(libPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if libPath == "" {
		libPath = DefaultLibraryPath()
	}
	if initDone {
		if initErr == nil && libPath != initPath {
			return fmt.Errorf("onnxruntime: already initialised from %s, cannot also load %s", initPath, libPath)
		}
		return initErr
	}
	initDone, initPath = true, libPath
	if _, err := os.Stat(libPath); err != nil {
		initErr = fmt.Errorf("onnxruntime: library %s not found (set --onnxruntime-lib or ONNXRUNTIME_LIB, or run `make setup`): %w", libPath, err)
		return initErr
	}
	onnx.SetSharedLibraryPath(libPath)
	if err := onnx.InitializeEnvironment(onnx.WithLogLevelError()); err != nil {
		initErr = fmt.Errorf("onnxruntime: initialising %s: %w", libPath, err)
		return initErr
	}
	return nil
}

// LibraryPath returns the path Init loaded (or tried to load).
func LibraryPath() string {
	initMu.Lock()
	defer initMu.Unlock()
	return initPath
}

// DefaultLibraryPath finds ONNX Runtime: $ONNXRUNTIME_LIB, then next to the
// executable (bin/, bin/../lib, a deployment image's /usr/local/lib), then
// build/onnxruntime-cuda/lib and build/onnxruntime/lib as `make setup` leaves
// them, searched upwards from the
// executable and the working directory. It falls back to the bare file name,
// which lets the dynamic loader search its usual paths.
func DefaultLibraryPath() string {
	if p := os.Getenv("ONNXRUNTIME_LIB"); p != "" {
		return p
	}
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		candidates = append(candidates,
			filepath.Join(dir, LibraryFile),
			filepath.Join(dir, "..", "lib", LibraryFile))
		candidates = append(candidates, upwards(dir)...)
	}
	if wd, err := os.Getwd(); err == nil {
		candidates = append(candidates, upwards(wd)...)
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return filepath.Clean(c)
		}
	}
	return LibraryFile
}

func upwards(dir string) []string {
	var out []string
	for range 8 {
		// make setup on a CUDA machine adds onnxruntime-gpu's build (its core
		// runs CPU sessions too); CPU machines only have build/onnxruntime.
		out = append(out, filepath.Join(dir, "build", "onnxruntime-cuda", "lib", LibraryFile),
			filepath.Join(dir, "build", "onnxruntime", "lib", LibraryFile))
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return out
}

// Version returns ONNX Runtime's version string, or "" before Init.
func Version() string {
	if !onnx.IsInitialized() {
		return ""
	}
	return onnx.GetVersion()
}

// AvailableProviders reports the execution providers this ONNX Runtime can
// actually use here. The CPU provider is always present; CUDA is listed only
// if a session on it can be created (provider library loads, its CUDA
// libraries load, a device accepts it), which is the same test NewSession's
// "auto" applies.
func AvailableProviders() ([]string, error) {
	if !onnx.IsInitialized() {
		return nil, errors.New("onnxruntime: not initialised")
	}
	out := []string{CPUProvider}
	if err := probeCUDA(0); err == nil {
		out = append(out, CUDAProvider)
	}
	return out, nil
}

// CUDAUnavailableReason returns why the CUDA provider cannot be used, or ""
// if it can.
func CUDAUnavailableReason() string {
	if !onnx.IsInitialized() {
		return "onnxruntime not initialised"
	}
	if err := probeCUDA(0); err != nil {
		return err.Error()
	}
	return ""
}

// probeCUDA creates a CUDA session on a one-node model. Appending the
// provider succeeds as soon as its library loads; missing cuDNN/cuBLAS, no
// device or a driver too old for the CUDA runtime only show when a session is
// created, so that is what the probe does.
func probeCUDA(device int) error {
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return err
	}
	defer so.Destroy()
	if err := appendCUDA(so, device, false); err != nil {
		return err
	}
	ds, err := onnx.NewDynamicAdvancedSessionWithONNXData(probeModel(), []string{"x"}, []string{"y"}, so)
	if err != nil {
		return fmt.Errorf("CUDA session: %w", err)
	}
	return ds.Destroy()
}

func appendCUDA(so *onnx.SessionOptions, device int, strictFP32 bool) error {
	co, err := onnx.NewCUDAProviderOptions()
	if err != nil {
		return fmt.Errorf("CUDA provider options: %w", err)
	}
	defer co.Destroy()
	opts := map[string]string{"device_id": strconv.Itoa(device)}
	if strictFP32 {
		opts["use_tf32"] = "0"
	}
	if err := co.Update(opts); err != nil {
		return fmt.Errorf("CUDA provider options: %w", err)
	}
	if err := so.AppendExecutionProviderCUDA(co); err != nil {
		return fmt.Errorf("CUDA execution provider: %w", err)
	}
	return nil
}

// Options configures a session.
type Options struct {
	// Device is "cpu", "cuda", "cuda:N" or "auto" ("" means "cpu"). "auto"
	// tries CUDA device 0 and falls back to CPU; Session.FallbackReason says why.
	Device string
	// IntraOpThreads and InterOpThreads: 0 lets ONNX Runtime decide.
	IntraOpThreads, InterOpThreads int
	// DisableGraphOptimization turns ONNX Runtime's graph rewrites off; they
	// are on (ORT_ENABLE_ALL) by default.
	DisableGraphOptimization bool
	// StrictFP32 keeps the CUDA provider's float32 matrix products in full
	// float32: by default it uses TF32 tensor cores (use_tf32=1), whose
	// 10-bit mantissa moves results by ~1e-3, too much for a 1e-4 parity
	// check. Serving keeps TF32; export verification turns it off.
	StrictFP32 bool
}

// ParseDevice splits "cpu", "auto", "cuda" or "cuda:N" into kind and index.
func ParseDevice(s string) (kind string, index int, err error) {
	switch s {
	case "", "cpu":
		return "cpu", 0, nil
	case "auto":
		return "auto", 0, nil
	case "cuda", "gpu":
		return "cuda", 0, nil
	}
	if rest, ok := strings.CutPrefix(s, "cuda:"); ok {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 {
			return "", 0, fmt.Errorf("device %q: want cuda:N with N a device index", s)
		}
		return "cuda", n, nil
	}
	return "", 0, fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N", s)
}

// Int64Tensor is a dense row-major int64 tensor.
type Int64Tensor struct {
	Shape []int64
	Data  []int64
}

// Float32Tensor is a dense row-major float32 tensor.
type Float32Tensor struct {
	Shape []int64
	Data  []float32
}

// IOInfo describes one model input or output.
type IOInfo struct {
	Name     string
	DataType string  // e.g. "int64", "float"
	Shape    []int64 // -1 for dynamic axes
}

// Session is one ONNX Runtime inference session. Run is safe for concurrent
// use, as ONNX Runtime's own Run is.
type Session struct {
	s              *onnx.DynamicAdvancedSession
	inputs         []IOInfo
	outputs        []IOInfo
	provider       string
	fallbackReason string
}

// NewSession loads the model at path. Init must have succeeded.
func NewSession(path string, opt Options) (*Session, error) {
	if !onnx.IsInitialized() {
		return nil, errors.New("onnxruntime: not initialised (call ort.Init)")
	}
	kind, device, err := ParseDevice(opt.Device)
	if err != nil {
		return nil, err
	}
	ins, outs, err := onnx.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: reading %s: %w", path, err)
	}
	s := &Session{inputs: convertInfo(ins), outputs: convertInfo(outs), provider: CPUProvider}

	names := func(infos []IOInfo) []string {
		out := make([]string, len(infos))
		for i, in := range infos {
			out[i] = in.Name
		}
		return out
	}
	create := func(cuda bool) (*onnx.DynamicAdvancedSession, error) {
		so, err := sessionOptions(opt, cuda, device)
		if err != nil {
			return nil, err
		}
		defer so.Destroy()
		ds, err := onnx.NewDynamicAdvancedSession(path, names(s.inputs), names(s.outputs), so)
		if err != nil {
			return nil, fmt.Errorf("onnxruntime: creating session for %s: %w", path, err)
		}
		return ds, nil
	}
	var ds *onnx.DynamicAdvancedSession
	switch kind {
	case "cuda":
		if ds, err = create(true); err != nil {
			return nil, fmt.Errorf("onnxruntime: --device cuda:%d requested but unavailable: %w", device, err)
		}
		s.provider = CUDAProvider
	case "auto":
		ds, s.provider, s.fallbackReason, err = withFallback(create)
	default:
		ds, err = create(false)
	}
	if err != nil {
		return nil, err
	}
	s.s = ds
	return s, nil
}

// withFallback creates a CUDA session and, when that fails at any stage
// (provider library, CUDA libraries, device, session creation), a CPU one;
// reason says why CUDA was not used.
func withFallback[S any](create func(cuda bool) (S, error)) (sess S, provider, reason string, err error) {
	sess, err = create(true)
	if err == nil {
		return sess, CUDAProvider, "", nil
	}
	reason = err.Error()
	sess, err = create(false)
	if err != nil {
		return sess, "", reason, fmt.Errorf("%w (CUDA failed first: %s)", err, reason)
	}
	return sess, CPUProvider, reason, nil
}

// sessionOptions builds ONNX Runtime options for opt, with the CUDA provider
// on device when cuda is set. The caller destroys them.
func sessionOptions(opt Options, cuda bool, device int) (*onnx.SessionOptions, error) {
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: session options: %w", err)
	}
	fail := func(what string, err error) (*onnx.SessionOptions, error) {
		so.Destroy()
		return nil, fmt.Errorf("onnxruntime: %s: %w", what, err)
	}
	if opt.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(opt.IntraOpThreads); err != nil {
			return fail("intra-op threads", err)
		}
	}
	if opt.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(opt.InterOpThreads); err != nil {
			return fail("inter-op threads", err)
		}
	}
	level := onnx.GraphOptimizationLevel(onnx.GraphOptimizationLevelEnableAll)
	if opt.DisableGraphOptimization {
		level = onnx.GraphOptimizationLevel(onnx.GraphOptimizationLevelDisableAll)
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return fail("graph optimisation", err)
	}
	if cuda {
		if err := appendCUDA(so, device, opt.StrictFP32); err != nil {
			so.Destroy()
			return nil, err
		}
	}
	return so, nil
}

func convertInfo(in []onnx.InputOutputInfo) []IOInfo {
	out := make([]IOInfo, len(in))
	for i, x := range in {
		out[i] = IOInfo{Name: x.Name, DataType: elementName(x.DataType), Shape: append([]int64(nil), x.Dimensions...)}
	}
	return out
}

func elementName(t onnx.TensorElementDataType) string {
	switch t {
	case onnx.TensorElementDataTypeFloat:
		return "float"
	case onnx.TensorElementDataTypeFloat16:
		return "float16"
	case onnx.TensorElementDataTypeInt64:
		return "int64"
	case onnx.TensorElementDataTypeInt32:
		return "int32"
	default:
		return strings.ToLower(strings.TrimPrefix(t.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
	}
}

// Provider is the execution provider the session runs on.
func (s *Session) Provider() string { return s.provider }

// FallbackReason says why an "auto" session fell back to CPU ("" if it did not).
func (s *Session) FallbackReason() string { return s.fallbackReason }

// Inputs and Outputs describe the model's signature.
func (s *Session) Inputs() []IOInfo  { return s.inputs }
func (s *Session) Outputs() []IOInfo { return s.outputs }

// InputNames lists the model's input names in order.
func (s *Session) InputNames() []string {
	out := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		out[i] = in.Name
	}
	return out
}

// OutputNames lists the model's output names in order.
func (s *Session) OutputNames() []string {
	out := make([]string, len(s.outputs))
	for i, o := range s.outputs {
		out[i] = o.Name
	}
	return out
}

// Run feeds every model input from inputs (all must be int64, all must be
// present) and returns every output as float32.
func (s *Session) Run(inputs map[string]Int64Tensor) (map[string]Float32Tensor, error) {
	if s.s == nil {
		return nil, errors.New("onnxruntime: session is closed")
	}
	vals := make([]onnx.Value, len(s.inputs))
	defer func() {
		for _, v := range vals {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, in := range s.inputs {
		t, ok := inputs[in.Name]
		if !ok {
			return nil, fmt.Errorf("onnxruntime: input %q missing (model wants %s)", in.Name, strings.Join(s.InputNames(), ", "))
		}
		if in.DataType != "int64" {
			return nil, fmt.Errorf("onnxruntime: input %q is %s, only int64 inputs are supported", in.Name, in.DataType)
		}
		if n := onnx.NewShape(t.Shape...).FlattenedSize(); n != int64(len(t.Data)) {
			return nil, fmt.Errorf("onnxruntime: input %q: shape %v holds %d values, data has %d", in.Name, t.Shape, n, len(t.Data))
		}
		v, err := onnx.NewTensor(onnx.NewShape(t.Shape...), t.Data)
		if err != nil {
			return nil, fmt.Errorf("onnxruntime: input %q: %w", in.Name, err)
		}
		vals[i] = v
	}
	if len(inputs) != len(s.inputs) {
		for name := range inputs {
			if !s.hasInput(name) {
				return nil, fmt.Errorf("onnxruntime: model has no input %q (inputs: %s)", name, strings.Join(s.InputNames(), ", "))
			}
		}
	}
	outs := make([]onnx.Value, len(s.outputs))
	if err := s.s.Run(vals, outs); err != nil {
		return nil, fmt.Errorf("onnxruntime: run: %w", err)
	}
	defer func() {
		for _, v := range outs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	res := make(map[string]Float32Tensor, len(outs))
	for i, v := range outs {
		t, ok := v.(*onnx.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("onnxruntime: output %q is %s, want float32", s.outputs[i].Name, s.outputs[i].DataType)
		}
		// Copy: the tensor's memory belongs to ONNX Runtime and is freed above.
		res[s.outputs[i].Name] = Float32Tensor{
			Shape: append([]int64(nil), t.GetShape()...),
			Data:  append([]float32(nil), t.GetData()...),
		}
	}
	return res, nil
}

func (s *Session) hasInput(name string) bool {
	for _, in := range s.inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

// Close releases the session.
func (s *Session) Close() error {
	if s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	return err
}
