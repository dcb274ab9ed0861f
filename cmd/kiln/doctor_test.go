package main

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// The JSON report's shape is a contract for scripts: these keys must exist.
func TestDoctorJSONShape(t *testing.T) {
	rep := runDoctor(true, "")
	var buf bytes.Buffer
	if err := writeDoctor(&buf, rep, true); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("doctor --json is not JSON: %v\n%s", err, buf.String())
	}
	sections := []struct {
		key  string
		want []string
	}{
		{"", []string{"kiln", "libtorch", "onnxruntime", "ok", "problems", "warnings"}},
		{"kiln", []string{"version", "go_version", "platform", "build"}},
		{"libtorch", []string{"linked", "stubbed_wrappers", "cuda", "threads", "omp_num_threads", "cpus", "blas"}},
		{"onnxruntime", []string{"library", "providers"}},
	}
	for _, s := range sections {
		obj := got
		if s.key != "" {
			var ok bool
			if obj, ok = got[s.key].(map[string]any); !ok {
				t.Fatalf("%q is not an object: %v", s.key, got[s.key])
			}
		}
		for _, k := range s.want {
			if _, ok := obj[k]; !ok {
				t.Errorf("doctor --json: %s lacks %q (has %v)", or(s.key, "top level"), k, keys(obj))
			}
		}
	}
	lt := got["libtorch"].(map[string]any)
	if lt["linked"] != doctorTorchBuild {
		t.Errorf("libtorch.linked = %v in a build where libtorch linked = %v", lt["linked"], doctorTorchBuild)
	}
	if doctorTorchBuild {
		for _, k := range []string{"version", "lib_dir", "bridge"} {
			if s, _ := lt[k].(string); s == "" {
				t.Errorf("libtorch.%s is empty", k)
			}
		}
		// --verbose lists every stubbed wrapper.
		stubs, _ := lt["stubs"].([]any)
		if n, _ := lt["stubbed_wrappers"].(float64); int(n) != len(stubs) {
			t.Errorf("stubbed_wrappers = %v but %d stubs listed", lt["stubbed_wrappers"], len(stubs))
		}
		if !strings.Contains(lt["bridge"].(string), "libkilntorch") {
			t.Errorf("bridge = %v", lt["bridge"])
		}
	} else if r, _ := lt["reason"].(string); !strings.Contains(r, "not linked") {
		t.Errorf("notorch build: libtorch.reason = %q", r)
	}
	if ok, _ := got["ok"].(bool); ok != (len(rep.Problems) == 0) {
		t.Errorf("ok = %v with problems %v", ok, rep.Problems)
	}
}

func TestDoctorTextMentionsSections(t *testing.T) {
	rep := runDoctor(false, "/nonexistent/libonnxruntime.so.1")
	var buf bytes.Buffer
	if err := writeDoctor(&buf, rep, false); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"libtorch", "ONNX Runtime", "/nonexistent/libonnxruntime.so.1", "problems:"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if rep.OK {
		t.Error("a missing ONNX Runtime library must be reported as a problem")
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestDoctorWarnings(t *testing.T) {
	tests := []struct {
		name string
		lt   doctorLibtorch
		want []string
	}{
		{"notorch", doctorLibtorch{Linked: false, Threads: 0, CPUs: 8, OMPThreads: "unset"}, nil},
		{"good", doctorLibtorch{Linked: true, Threads: 2, CPUs: 2, OMPThreads: "2",
			BLAS: []string{"/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"}}, nil},
		{"one thread", doctorLibtorch{Linked: true, Threads: 1, CPUs: 4, OMPThreads: "unset"}, []string{"1 intra-op thread(s) on 4 CPUs"}},
		{"reference BLAS", doctorLibtorch{Linked: true, Threads: 2, CPUs: 2, OMPThreads: "2",
			BLAS: []string{"/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"}}, []string{"reference BLAS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := doctorWarnings(tc.lt)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings = %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %q lacks %q", got[i], w)
				}
			}
		})
	}
}
