package serve

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/kiln-ml/kiln/internal/ort"
)

// The KServe v2 (Open Inference Protocol) endpoints, so that standard
// inference tooling (tritonclient, KServe) can talk to kiln. The model takes
// a BYTES tensor "text" of shape [N] (and optionally "text_pair"), and
// returns "scores" (FP32 [N, labels], probabilities in label order, logits
// with the raw_scores parameter) and "label" (BYTES [N], the top label).
// Tensors travel as JSON or in Triton's binary tensor data extension (the
// body is the JSON header, Inference-Header-Content-Length bytes long,
// followed by the raw tensors), which tritonclient uses by default; the
// response holds the requested outputs only, and Triton's classification
// extension turns "scores" into its top-k "score:index:label" strings.

const (
	kserveText   = "text"
	kservePair   = "text_pair"
	kserveScores = "scores"
	kserveLabel  = "label"
	kserveVer    = "1"

	// kserveHeaderLength is the binary tensor data extension's header: the
	// length of the JSON part of a body that binary tensors follow.
	kserveHeaderLength = "Inference-Header-Content-Length"
)

type kserveTensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (s *Server) kserveServer(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"name": "kiln", "version": s.cfg.Version, "extensions": []string{"binary_tensor_data", "classification"}})
}

// kserveName checks the {name} and {version} path parameters.
func (s *Server) kserveName(c *fiber.Ctx) error {
	if name := c.Params("name"); name != s.model.Name {
		return newErr(http.StatusNotFound, ErrNotFound, "model %q is not served here (this server serves %q)", name, s.model.Name)
	}
	if v := c.Params("version"); v != "" && v != kserveVer {
		return newErr(http.StatusNotFound, ErrNotFound, "model %q has no version %q (versions: [%s])", s.model.Name, v, kserveVer)
	}
	return nil
}

func (s *Server) kserveModel(c *fiber.Ctx) error {
	if err := s.kserveName(c); err != nil {
		return err
	}
	return c.JSON(fiber.Map{
		"name": s.model.Name, "versions": []string{kserveVer}, "platform": "onnxruntime_onnx",
		"inputs": []kserveTensorMeta{
			{Name: kserveText, Datatype: "BYTES", Shape: []int64{-1}},
			{Name: kservePair, Datatype: "BYTES", Shape: []int64{-1}},
		},
		"outputs": []kserveTensorMeta{
			{Name: kserveScores, Datatype: "FP32", Shape: []int64{-1, int64(len(s.model.Labels))}},
			{Name: kserveLabel, Datatype: "BYTES", Shape: []int64{-1}},
		},
		"parameters": fiber.Map{"labels": s.model.Labels, "execution_provider": s.backend.Provider(), "onnxruntime_version": ort.Version()},
	})
}

func (s *Server) kserveModelReady(c *fiber.Ctx) error {
	if err := s.kserveName(c); err != nil {
		return err
	}
	return s.readyHandler(c)
}

// kserveConfig is Triton's model configuration (GET .../config), which
// tritonclient's get_model_config reads.
func (s *Server) kserveConfig(c *fiber.Ctx) error {
	if err := s.kserveName(c); err != nil {
		return err
	}
	type tensor struct {
		Name     string  `json:"name"`
		DataType string  `json:"data_type"`
		Dims     []int64 `json:"dims"`
		Optional bool    `json:"optional,omitempty"`
	}
	return c.JSON(fiber.Map{
		"name": s.model.Name, "platform": "onnxruntime_onnx", "backend": "onnxruntime",
		"version_policy": fiber.Map{"latest": fiber.Map{"num_versions": 1}},
		// Batching is kiln's own (max_batch_size 0: the batch is the
		// tensors' first and only dimension).
		"max_batch_size": 0,
		"input": []tensor{
			{Name: kserveText, DataType: "TYPE_STRING", Dims: []int64{-1}},
			{Name: kservePair, DataType: "TYPE_STRING", Dims: []int64{-1}, Optional: true},
		},
		"output": []tensor{
			{Name: kserveScores, DataType: "TYPE_FP32", Dims: []int64{-1, int64(len(s.model.Labels))}},
			{Name: kserveLabel, DataType: "TYPE_STRING", Dims: []int64{-1}},
		},
		"parameters": fiber.Map{"labels": fiber.Map{"string_value": strings.Join(s.model.Labels, ",")}},
	})
}

type kserveInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Data       json.RawMessage `json:"data"`
	Parameters map[string]any  `json:"parameters,omitempty"`
}

type kserveRequestedOutput struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

type kserveRequest struct {
	ID         string                  `json:"id,omitempty"`
	Inputs     []kserveInput           `json:"inputs"`
	Outputs    []kserveRequestedOutput `json:"outputs,omitempty"`
	Parameters map[string]any          `json:"parameters,omitempty"`
}

type kserveOutput struct {
	Name       string         `json:"name"`
	Datatype   string         `json:"datatype"`
	Shape      []int64        `json:"shape"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Data       any            `json:"data,omitempty"`
}

type kserveResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id,omitempty"`
	Outputs      []kserveOutput `json:"outputs"`
}

// flattenStrings reads a BYTES tensor's JSON data: a flat or nested list of
// strings in row-major order.
func flattenStrings(raw json.RawMessage, where string) ([]string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, newErr(http.StatusBadRequest, ErrMalformed, "%s: %v", where, err)
	}
	var out []string
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		default:
			return newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: BYTES data must be strings, got %T", where, v)
		}
		return nil
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	return out, nil
}

// splitBinaryBody separates a binary-extension body into its JSON header
// and the tensor bytes after it.
func splitBinaryBody(c *fiber.Ctx, body []byte) (header, tensors []byte, err error) {
	h := c.Get(kserveHeaderLength)
	if h == "" {
		return body, nil, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n < 0 || n > len(body) {
		return nil, nil, newErr(http.StatusBadRequest, ErrMalformed, "%s: %q is not a length within the %d-byte body", kserveHeaderLength, h, len(body))
	}
	return body[:n], body[n:], nil
}

// binarySize reads a tensor's binary_data_size parameter; ok is false when
// its data is JSON.
func binarySize(params map[string]any, where string) (int, bool, error) {
	v, has := params["binary_data_size"]
	if !has || v == nil {
		return 0, false, nil
	}
	f, isNum := v.(float64)
	if !isNum || f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, false, newErr(http.StatusBadRequest, ErrMalformed, "%s: binary_data_size %v is not a byte count", where, v)
	}
	return int(f), true, nil
}

// decodeBinaryBytes reads a BYTES tensor in the binary format: each element
// a 4-byte little-endian length and that many bytes.
func decodeBinaryBytes(b []byte, where string) ([]string, error) {
	var out []string
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, newErr(http.StatusBadRequest, ErrMalformed, "%s: %d stray bytes where a 4-byte element length belongs", where, len(b))
		}
		l := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(l) > uint64(len(b)) {
			return nil, newErr(http.StatusBadRequest, ErrMalformed, "%s: element of %d bytes, only %d left", where, l, len(b))
		}
		out = append(out, string(b[:l]))
		b = b[l:]
	}
	return out, nil
}

// appendBinaryBytes writes strings as a binary BYTES tensor.
func appendBinaryBytes(dst []byte, vals []string) []byte {
	for _, v := range vals {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// shapeElements is the element count of a shape, or -1 if a dimension is
// negative or the product overflows.
func shapeElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return -1
		}
		n *= d
	}
	return n
}

// parseKServeInputs reads the text (and pair) tensors from JSON data or
// from the binary part of the body, in input order.
func parseKServeInputs(req *kserveRequest, tensors []byte) ([]TextInput, error) {
	var texts, pairs []string
	for i, in := range req.Inputs {
		where := fmt.Sprintf("inputs[%d] (%q)", i, in.Name)
		if in.Datatype != "BYTES" {
			return nil, newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: datatype %q, want BYTES", where, in.Datatype)
		}
		size, isBinary, err := binarySize(in.Parameters, where)
		if err != nil {
			return nil, err
		}
		var vals []string
		switch {
		case isBinary:
			if size > len(tensors) {
				return nil, newErr(http.StatusBadRequest, ErrMalformed, "%s: binary_data_size %d, but only %d bytes of tensor data are left", where, size, len(tensors))
			}
			vals, err = decodeBinaryBytes(tensors[:size], where)
			tensors = tensors[size:]
		case len(in.Data) == 0:
			return nil, newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: no data (neither \"data\" nor a binary_data_size parameter)", where)
		default:
			vals, err = flattenStrings(in.Data, where+".data")
		}
		if err != nil {
			return nil, err
		}
		if len(in.Shape) == 0 || shapeElements(in.Shape) != int64(len(vals)) {
			return nil, newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: shape %v does not match %d data elements", where, in.Shape, len(vals))
		}
		switch in.Name {
		case kserveText:
			texts = vals
		case kservePair:
			pairs = vals
		default:
			return nil, newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: unknown input (want %q and optionally %q)", where, kserveText, kservePair)
		}
	}
	if len(tensors) > 0 {
		return nil, newErr(http.StatusBadRequest, ErrMalformed, "%d bytes of binary tensor data belong to no input (binary_data_size)", len(tensors))
	}
	if len(texts) == 0 {
		return nil, newErr(http.StatusBadRequest, ErrEmpty, "no %q input with data", kserveText)
	}
	if pairs != nil && len(pairs) != len(texts) {
		return nil, newErr(http.StatusUnprocessableEntity, ErrValidation, "%q has %d elements but %q has %d", kservePair, len(pairs), kserveText, len(texts))
	}
	in := make([]TextInput, len(texts))
	for i, t := range texts {
		in[i] = TextInput{Text: t}
		if pairs != nil {
			in[i].Pair, in[i].IsPair = pairs[i], true
		}
	}
	return in, nil
}

// wantedOutput is one output the request asked for.
type wantedOutput struct {
	name     string
	binary   bool
	classify int // Triton's classification extension: top-k, 0 = off
}

// requestedOutputs resolves the request's `outputs` (all outputs when it
// names none, binary when binary_data_output is set).
func requestedOutputs(req *kserveRequest) ([]wantedOutput, error) {
	allBinary, _ := req.Parameters["binary_data_output"].(bool)
	if len(req.Outputs) == 0 {
		return []wantedOutput{{name: kserveScores, binary: allBinary}, {name: kserveLabel, binary: allBinary}}, nil
	}
	out := make([]wantedOutput, len(req.Outputs))
	for i, o := range req.Outputs {
		if o.Name != kserveScores && o.Name != kserveLabel {
			return nil, newErr(http.StatusUnprocessableEntity, ErrValidation, "outputs[%d]: unknown output %q (want %q or %q)", i, o.Name, kserveScores, kserveLabel)
		}
		w := wantedOutput{name: o.Name, binary: allBinary}
		if b, ok := o.Parameters["binary_data"].(bool); ok {
			w.binary = b
		}
		if v, has := o.Parameters["classification"]; has {
			k, ok := v.(float64)
			if !ok || k < 1 || k != math.Trunc(k) {
				return nil, newErr(http.StatusUnprocessableEntity, ErrValidation, "outputs[%d]: classification %v is not a positive count", i, v)
			}
			w.classify = int(k)
		}
		out[i] = w
	}
	return out, nil
}

func (s *Server) kserveInfer(c *fiber.Ctx) error {
	if err := s.kserveName(c); err != nil {
		return err
	}
	var req kserveRequest
	tensors, err := s.openRequest(c, &req, true)
	if err != nil {
		return err
	}
	in, err := parseKServeInputs(&req, tensors)
	if err != nil {
		return err
	}
	markBatched(c, true) // tensors are batches
	wanted, err := requestedOutputs(&req)
	if err != nil {
		return err
	}
	if err := s.checkLimits(in); err != nil {
		return err
	}
	raw, _ := req.Parameters["raw_scores"].(bool)
	truncate := s.cfg.AutoTruncate
	if v, ok := req.Parameters["truncate"].(bool); ok {
		truncate = v
	}
	rows, err := s.infer(c, in, truncate, false)
	if err != nil {
		return err
	}
	n, nl := int64(len(rows)), len(s.model.Labels)
	var blob []byte
	outs := make([]kserveOutput, len(wanted))
	for i, w := range wanted {
		o := kserveOutput{Name: w.name}
		var floats []float32
		var strs []string
		switch {
		case w.name == kserveScores && w.classify > 0:
			k := min(w.classify, nl)
			o.Datatype, o.Shape = "BYTES", []int64{n, int64(k)}
			for _, r := range rows {
				for _, p := range s.model.Scores(r, raw, k) {
					strs = append(strs, fmt.Sprintf("%g:%d:%s", float32(p.Score), slices.Index(s.model.Labels, p.Label), p.Label))
				}
			}
		case w.name == kserveScores:
			o.Datatype, o.Shape = "FP32", []int64{n, int64(nl)}
			for _, r := range rows {
				for _, v := range s.model.Values(r, raw) {
					floats = append(floats, float32(v))
				}
			}
		default:
			o.Datatype, o.Shape = "BYTES", []int64{n}
			for _, r := range rows {
				strs = append(strs, s.model.Scores(r, raw, 1)[0].Label)
			}
		}
		switch {
		case w.binary:
			start := len(blob)
			if o.Datatype == "FP32" {
				for _, f := range floats {
					blob = binary.LittleEndian.AppendUint32(blob, math.Float32bits(f))
				}
			} else {
				blob = appendBinaryBytes(blob, strs)
			}
			o.Parameters = map[string]any{"binary_data_size": len(blob) - start}
		case o.Datatype == "FP32":
			o.Data = floats
		default:
			o.Data = strs
		}
		outs[i] = o
	}
	resp := kserveResponse{ModelName: s.model.Name, ModelVersion: kserveVer, ID: req.ID, Outputs: outs}
	if blob == nil {
		return c.JSON(resp)
	}
	js, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	c.Set(kserveHeaderLength, strconv.Itoa(len(js)))
	c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
	return c.Send(append(js, blob...))
}
