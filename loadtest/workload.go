package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"text/template"

	"github.com/kiln-ml/kiln/dataset"
)

// Template names the request body layouts the workload can render.
type Template string

const (
	// TemplatePredict is kiln serve's /predict body: {"inputs": "text"} for
	// one text per request, {"inputs": [["a"], ["b"], …]} for a batch.
	TemplatePredict Template = "predict"
	// TemplateKServe is the KServe v2 (Open Inference Protocol) body for
	// POST /v2/models/{name}/infer: one BYTES input "text" of shape [N].
	TemplateKServe Template = "kserve"
	// TemplateRaw sends the texts joined by newlines, as they are.
	TemplateRaw Template = "raw"
)

// Workload renders request bodies. Bodies are rendered once, before the run,
// so the hot path only picks a prepared []byte: no per-request allocation,
// and the payload mix is the same for every run with the same seed.
type Workload struct {
	bodies      [][]byte
	ContentType string
}

// Body returns the body of the n-th request.
func (w *Workload) Body(n uint64) []byte {
	if w == nil || len(w.bodies) == 0 {
		return nil
	}
	return w.bodies[n%uint64(len(w.bodies))]
}

// Len is the number of distinct bodies.
func (w *Workload) Len() int { return len(w.bodies) }

// MeanBodyBytes is the average body size, for reports.
func (w *Workload) MeanBodyBytes() float64 {
	if w == nil || len(w.bodies) == 0 {
		return 0
	}
	n := 0
	for _, b := range w.bodies {
		n += len(b)
	}
	return float64(n) / float64(len(w.bodies))
}

// StaticWorkload sends the same body with every request (a raw body file
// for any endpoint, or no body at all).
func StaticWorkload(body []byte, contentType string) *Workload {
	return &Workload{bodies: [][]byte{body}, ContentType: contentType}
}

// TextWorkloadOptions says how texts become bodies.
type TextWorkloadOptions struct {
	Template Template
	// BodyTemplate, when set, is a Go text/template rendered with
	// {.Texts []string, .Text string (the first), .N int, .Model string};
	// the function json quotes a value. It overrides Template.
	BodyTemplate string
	Batch        int    // texts per request (≥ 1)
	Seed         uint64 // sampling seed
	Distinct     int    // bodies to prepare (default 4096)
	Model        string // model name, for templates that mention it
}

// NewTextWorkload samples texts (seeded, with replacement) into Distinct
// bodies of Batch texts each, laid out by the template.
func NewTextWorkload(texts []string, opt TextWorkloadOptions) (*Workload, error) {
	if len(texts) == 0 {
		return nil, errors.New("workload: no texts to send")
	}
	if opt.Batch <= 0 {
		opt.Batch = 1
	}
	if opt.Distinct <= 0 {
		opt.Distinct = 4096
	}
	var render func(batch []string) ([]byte, error)
	contentType := "application/json"
	if opt.BodyTemplate != "" {
		tmpl, err := template.New("body").Funcs(template.FuncMap{"json": jsonString}).Parse(opt.BodyTemplate)
		if err != nil {
			return nil, fmt.Errorf("workload: body template: %w", err)
		}
		var buf bytes.Buffer
		render = func(batch []string) ([]byte, error) {
			buf.Reset()
			err := tmpl.Execute(&buf, map[string]any{"Texts": batch, "Text": batch[0], "N": len(batch), "Model": opt.Model})
			return bytes.Clone(buf.Bytes()), err
		}
	} else {
		switch opt.Template {
		case TemplatePredict, "":
			render = func(batch []string) ([]byte, error) {
				if len(batch) == 1 {
					return json.Marshal(map[string]any{"inputs": batch[0]})
				}
				// A batch is a list of lists: TEI (and kiln serve) read
				// ["a", "b"] as one pair and refuse three strings.
				seqs := make([][]string, len(batch))
				for i, t := range batch {
					seqs[i] = []string{t}
				}
				return json.Marshal(map[string]any{"inputs": seqs})
			}
		case TemplateKServe:
			render = func(batch []string) ([]byte, error) {
				return json.Marshal(kserveRequest{Inputs: []kserveInput{{
					Name: "text", Shape: []int{len(batch)}, Datatype: "BYTES", Data: batch,
				}}})
			}
		case TemplateRaw:
			contentType = "text/plain; charset=utf-8"
			render = func(batch []string) ([]byte, error) { return []byte(strings.Join(batch, "\n")), nil }
		default:
			return nil, fmt.Errorf("workload: unknown template %q (want predict, kserve or raw)", opt.Template)
		}
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6b696c6e)) // "kiln"
	w := &Workload{ContentType: contentType, bodies: make([][]byte, opt.Distinct)}
	batch := make([]string, opt.Batch)
	for i := range w.bodies {
		for j := range batch {
			batch[j] = texts[rng.IntN(len(texts))]
		}
		b, err := render(batch)
		if err != nil {
			return nil, fmt.Errorf("workload: rendering body %d: %w", i, err)
		}
		w.bodies[i] = b
	}
	return w, nil
}

type kserveInput struct {
	Name     string   `json:"name"`
	Shape    []int    `json:"shape"`
	Datatype string   `json:"datatype"`
	Data     []string `json:"data"`
}

type kserveRequest struct {
	Inputs []kserveInput `json:"inputs"`
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// LoadTexts reads the named column of a CSV (header row required; a .tsv
// extension switches to tabs; any other extension is read as CSV) or JSONL
// file (one object per line, the column is a string field) with the
// dataset readers training and prediction use. Blank texts are skipped; a
// malformed row is an error naming its file and line.
func LoadTexts(path, column string) ([]string, error) {
	format, err := dataset.FormatOf(path)
	if err != nil {
		format = "csv"
	}
	ds, err := dataset.ReadTexts(path, dataset.ReadOptions{TextColumn: column, Format: format, SkipEmpty: true})
	if ce := new(dataset.ColumnError); errors.As(err, &ce) {
		ce.Flag = "--column" // kiln loadtest's name for the text column
		return nil, fmt.Errorf("texts: %s: %w", path, ce)
	}
	if err != nil {
		return nil, fmt.Errorf("texts: %w", err)
	}
	if len(ds.Examples) == 0 {
		return nil, fmt.Errorf("texts: %s: column %q holds no non-empty text", path, column)
	}
	texts := make([]string, len(ds.Examples))
	for i, ex := range ds.Examples {
		texts[i] = ex.Text
	}
	return texts, nil
}
