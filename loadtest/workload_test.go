package loadtest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadTexts(t *testing.T) {
	cases := []struct {
		name, file, content, column string
		want                        []string
		wantErr                     string
	}{
		{"csv", "a.csv", "sentence,label\n\"hello, world\",1\n  ,0\nbye,0\n", "sentence", []string{"hello, world", "bye"}, ""},
		{"csv bom", "a.csv", "\ufeffsentence,label\nx,1\n", "sentence", []string{"x"}, ""},
		{"tsv", "a.tsv", "sentence\tlabel\nit's \"fine\"\t1\n", "sentence", []string{`it's "fine"`}, ""},
		{"jsonl", "a.jsonl", "{\"text\": \"one\", \"label\": 1}\n\n{\"text\": \"two\"}\n", "text", []string{"one", "two"}, ""},
		{"missing column", "a.csv", "a,b\n1,2\n", "text", nil, `no "text" column (columns: a, b); set --column`},
		{"jsonl line error", "a.jsonl", "{\"text\": \"one\"}\n{bad\n", "text", nil, "a.jsonl:2"},
		{"jsonl not string", "a.jsonl", "{\"text\": 3}\n", "text", nil, "not a string"},
		{"empty", "a.csv", "text\n \n", "text", nil, "no non-empty text"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadTexts(writeFile(t, tc.file, tc.content), tc.column)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("texts = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLoadTextsRealData reads the SST-2 dev slice the tests ship with.
func TestLoadTextsRealData(t *testing.T) {
	texts, err := LoadTexts("../testdata/data/sst2/dev.csv", "text")
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) < 800 {
		t.Errorf("%d texts from the SST-2 dev set, want its 872", len(texts))
	}
}

func TestTextWorkload(t *testing.T) {
	texts := []string{"a", "bb", `say "hi"`, "ünï"}
	cases := []struct {
		name  string
		opt   TextWorkloadOptions
		check func(t *testing.T, body []byte)
	}{
		{"predict single", TextWorkloadOptions{Template: TemplatePredict}, func(t *testing.T, b []byte) {
			var v struct{ Inputs string }
			if err := json.Unmarshal(b, &v); err != nil || v.Inputs == "" {
				t.Errorf("body %s: %v", b, err)
			}
		}},
		{"predict batch", TextWorkloadOptions{Template: TemplatePredict, Batch: 3}, func(t *testing.T, b []byte) {
			// TEI's batch shape, a list of one-text lists: a flat list of
			// two strings would be a pair, of three a 422.
			var v struct{ Inputs [][]string }
			if err := json.Unmarshal(b, &v); err != nil || len(v.Inputs) != 3 || len(v.Inputs[0]) != 1 {
				t.Errorf("body %s: %v", b, err)
			}
		}},
		{"kserve", TextWorkloadOptions{Template: TemplateKServe, Batch: 2}, func(t *testing.T, b []byte) {
			var v struct {
				Inputs []struct {
					Name     string
					Shape    []int
					Datatype string
					Data     []string
				}
			}
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			in := v.Inputs[0]
			if len(v.Inputs) != 1 || in.Name != "text" || in.Datatype != "BYTES" || len(in.Shape) != 1 || in.Shape[0] != 2 || len(in.Data) != 2 {
				t.Errorf("kserve body %s", b)
			}
		}},
		{"raw", TextWorkloadOptions{Template: TemplateRaw, Batch: 2}, func(t *testing.T, b []byte) {
			if bytes.Count(b, []byte("\n")) != 1 {
				t.Errorf("raw body %q: want two lines", b)
			}
		}},
		{"go template", TextWorkloadOptions{BodyTemplate: `{"model":{{json .Model}},"q":{{json .Text}},"n":{{.N}}}`, Model: "m1"}, func(t *testing.T, b []byte) {
			var v struct {
				Model, Q string
				N        int
			}
			if err := json.Unmarshal(b, &v); err != nil || v.Model != "m1" || v.N != 1 || v.Q == "" {
				t.Errorf("templated body %s: %v", b, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Seed, tc.opt.Distinct = 7, 16
			w, err := NewTextWorkload(texts, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if w.Len() != 16 {
				t.Fatalf("%d bodies, want 16", w.Len())
			}
			for n := range uint64(16) {
				tc.check(t, w.Body(n))
			}
			// Seeded: the same options give the same bodies.
			w2, _ := NewTextWorkload(texts, tc.opt)
			for n := range uint64(16) {
				if !bytes.Equal(w.Body(n), w2.Body(n)) {
					t.Fatalf("body %d differs between two workloads with the same seed", n)
				}
			}
		})
	}
	if _, err := NewTextWorkload(texts, TextWorkloadOptions{Template: "xml"}); err == nil {
		t.Error("unknown template accepted")
	}
	if _, err := NewTextWorkload(nil, TextWorkloadOptions{}); err == nil {
		t.Error("empty texts accepted")
	}
	// A different seed samples differently.
	a, _ := NewTextWorkload(texts, TextWorkloadOptions{Seed: 1, Distinct: 64})
	b, _ := NewTextWorkload(texts, TextWorkloadOptions{Seed: 2, Distinct: 64})
	same := 0
	for n := range uint64(64) {
		if bytes.Equal(a.Body(n), b.Body(n)) {
			same++
		}
	}
	if same == 64 {
		t.Error("seeds 1 and 2 gave identical workloads")
	}
}
