package torchbridge

import (
	"os"
	"strings"
	"testing"
)

const sampleHandWritten = `#include "torch_api.h"
using namespace std;

char *get_and_reset_last_err() {
  char *tmp = torch_last_err;
  torch_last_err = nullptr;
  return tmp;
}

void at_fill_double(tensor t, double v) { PROTECT(t->fill_(v);) }

template <typename T>
T at_value_at_indexes(tensor t, int64_t *indexes, int indexes_len) {
  PROTECT(return t->data_ptr<T>()[0];)
  return T();
}

int at_autocast_decrement_nesting() {
  PROTECT(return at::autocast::decrement_nesting();)
  return -1;
}

tensor at_load_image(char *filename,
                     int flags) {
  const char *brace = "}{";
  PROTECT(return new torch::Tensor();)
  return nullptr;
}

extern "C" {
static thread_local std::string kiln_err;
}
`

func TestParseHandWritten(t *testing.T) {
	h, err := ParseHandWritten([]byte(sampleHandWritten))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ret  string
		start, end int // 0-based lines
	}{
		{"get_and_reset_last_err", "char *", 3, 7},
		{"at_fill_double", "void", 9, 9},
		{"at_value_at_indexes", "T", 11, 15},
		{"at_autocast_decrement_nesting", "int", 17, 20},
		{"at_load_image", "tensor", 22, 27},
	}
	if len(h.Funcs) != len(tests) {
		t.Fatalf("found %d functions, want %d: %+v", len(h.Funcs), len(tests), h.Funcs)
	}
	for i, tc := range tests {
		f := h.Funcs[i]
		if f.Name != tc.name || f.Return != tc.ret || f.Start != tc.start || f.End != tc.end {
			t.Errorf("func %d = %s ret %q lines %d-%d; want %s ret %q lines %d-%d", i, f.Name, f.Return, f.Start, f.End, tc.name, tc.ret, tc.start, tc.end)
		}
	}
	// Line 19 (1-based) is inside at_autocast_decrement_nesting; line 2 is
	// outside every function.
	funcs, outside := h.FunctionsAt([]int{19, 2, 19})
	if len(funcs) != 1 || h.Funcs[funcs[0]].Name != "at_autocast_decrement_nesting" || len(outside) != 1 || outside[0] != 2 {
		t.Fatalf("FunctionsAt = %v, outside %v", funcs, outside)
	}
}

func TestHandWrittenStubKeepsLines(t *testing.T) {
	h, err := ParseHandWritten([]byte(sampleHandWritten))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range h.Funcs {
		if f.Name != "get_and_reset_last_err" && !h.Stub(i) {
			t.Fatalf("Stub(%s) = false on first call", f.Name)
		}
	}
	if h.Stub(1) {
		t.Fatal("stubbing twice must report false")
	}
	out := string(h.Render(func(n string) string { return n + " is not available" }))
	if got, want := strings.Count(out, "\n"), strings.Count(sampleHandWritten, "\n"); got != want {
		t.Fatalf("rendered %d lines, want %d (stubs must keep line numbers):\n%s", got, want, out)
	}
	lines := strings.Split(out, "\n")
	for _, want := range []struct {
		line int
		text string
	}{
		{3, "char *get_and_reset_last_err() {"}, // untouched
		{9, `void at_fill_double(tensor t, double v) { kiln_stub_fail("at_fill_double is not available"); }`},
		{12, `T at_value_at_indexes(tensor t, int64_t *indexes, int indexes_len) { kiln_stub_fail("at_value_at_indexes is not available"); return {}; }`},
		{17, `int at_autocast_decrement_nesting() { kiln_stub_fail("at_autocast_decrement_nesting is not available"); return -1; }`},
		{23, `                     int flags) { kiln_stub_fail("at_load_image is not available"); return {}; }`},
		{29, "extern \"C\" {"},
	} {
		if lines[want.line] != want.text {
			t.Errorf("line %d = %q, want %q", want.line, lines[want.line], want.text)
		}
	}
	if got := strings.Join(h.Stubbed(), ","); got != "at_autocast_decrement_nesting,at_fill_double,at_load_image,at_value_at_indexes" {
		t.Fatalf("Stubbed = %s", got)
	}
}

// The real sources must parse: every gotch hand-written wrapper and every
// kiln_* function has to be stubbable.
func TestParseRealHandWritten(t *testing.T) {
	for _, tc := range []struct {
		file string
		min  int
		must []string
	}{
		{"../../third_party/gotch/libtch/csrc/torch_api.cpp", 140, []string{"at_autocast_set_enabled", "ato_adamw", "at_run_backward", "set_lr"}},
		{"csrc/kiln_api.cpp", 10, []string{"kiln_autocast_enter", "kiln_autocast_exit", "kiln_show_config"}},
		{"csrc/kiln_optim.cpp", 5, []string{"kiln_adamw_foreach", "kiln_adamw_fused"}},
	} {
		src := mustRead(t, tc.file)
		h, err := ParseHandWritten(src)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		names := map[string]bool{}
		for _, f := range h.Funcs {
			names[f.Name] = true
		}
		if len(h.Funcs) < tc.min {
			t.Errorf("%s: %d functions, want at least %d", tc.file, len(h.Funcs), tc.min)
		}
		for _, n := range tc.must {
			if !names[n] {
				t.Errorf("%s: %s not found", tc.file, n)
			}
		}
		// Stubbing everything keeps the line count.
		for i := range h.Funcs {
			h.Stub(i)
		}
		if got, want := strings.Count(string(h.Render(func(string) string { return "x" })), "\n"), strings.Count(string(src), "\n"); got != want {
			t.Errorf("%s: all-stub render has %d lines, want %d", tc.file, got, want)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
