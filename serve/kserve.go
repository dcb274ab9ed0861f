package serve

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/kiln-ml/kiln/internal/ort"
)

// The KServe v2 (Open Inference Protocol) endpoints, so that standard
// inference tooling can talk to kiln. The model takes a BYTES tensor "text"
// of shape [N] (and optionally "text_pair"), and returns "scores" (FP32
// [N, labels], probabilities in label order, logits with the raw_scores
// parameter) and "label" (BYTES [N], the top label).

const (
	kserveText   = "text"
	kservePair   = "text_pair"
	kserveScores = "scores"
	kserveLabel  = "label"
	kserveVer    = "1"
)

type kserveTensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (s *Server) kserveServer(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"name": "kiln", "version": s.cfg.Version, "extensions": []string{}})
}

// kserveName checks the {name} path parameter.
func (s *Server) kserveName(c *fiber.Ctx) error {
	if name := c.Params("name"); name != s.model.Name {
		return newErr(http.StatusNotFound, ErrNotFound, "model %q is not served here (this server serves %q)", name, s.model.Name)
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

type kserveInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Data       json.RawMessage `json:"data"`
	Parameters map[string]any  `json:"parameters,omitempty"`
}

type kserveRequest struct {
	ID         string         `json:"id,omitempty"`
	Inputs     []kserveInput  `json:"inputs"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

type kserveOutput struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
	Data     any     `json:"data"`
}

type kserveResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id,omitempty"`
	Outputs      []kserveOutput `json:"outputs"`
}

// flattenStrings reads a BYTES tensor's data: a flat or nested JSON list of
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

func (s *Server) kserveInfer(c *fiber.Ctx) error {
	if err := s.kserveName(c); err != nil {
		return err
	}
	if err := s.admit(c); err != nil {
		return err
	}
	var req kserveRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	var texts, pairs []string
	for i, in := range req.Inputs {
		where := fmt.Sprintf("inputs[%d] (%q)", i, in.Name)
		if in.Datatype != "BYTES" {
			return newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: datatype %q, want BYTES", where, in.Datatype)
		}
		vals, err := flattenStrings(in.Data, where+".data")
		if err != nil {
			return err
		}
		n := int64(1)
		for _, d := range in.Shape {
			n *= d
		}
		if len(in.Shape) == 0 || n != int64(len(vals)) {
			return newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: shape %v does not match %d data elements", where, in.Shape, len(vals))
		}
		switch in.Name {
		case kserveText:
			texts = vals
		case kservePair:
			pairs = vals
		default:
			return newErr(http.StatusUnprocessableEntity, ErrValidation, "%s: unknown input (want %q and optionally %q)", where, kserveText, kservePair)
		}
	}
	if len(texts) == 0 {
		return newErr(http.StatusUnprocessableEntity, ErrEmpty, "no %q input with data", kserveText)
	}
	if pairs != nil && len(pairs) != len(texts) {
		return newErr(http.StatusUnprocessableEntity, ErrValidation, "%q has %d elements but %q has %d", kservePair, len(pairs), kserveText, len(texts))
	}
	in := make([]TextInput, len(texts))
	for i, t := range texts {
		in[i] = TextInput{Text: t}
		if pairs != nil {
			in[i].Pair, in[i].IsPair = pairs[i], true
		}
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
	nl := len(s.model.Labels)
	scores := make([]float64, 0, len(rows)*nl)
	labels := make([]string, len(rows))
	for i, r := range rows {
		labels[i] = s.model.Scores(r, raw, 1)[0].Label
		scores = append(scores, s.model.Values(r, raw)...)
	}
	return c.JSON(kserveResponse{
		ModelName: s.model.Name, ModelVersion: kserveVer, ID: req.ID,
		Outputs: []kserveOutput{
			{Name: kserveScores, Datatype: "FP32", Shape: []int64{int64(len(rows)), int64(nl)}, Data: scores},
			{Name: kserveLabel, Datatype: "BYTES", Shape: []int64{int64(len(rows))}, Data: labels},
		},
	})
}
