package torchbridge

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// HandWritten is a hand-written C++ source (gotch's torch_api.cpp, kiln's
// kiln_api.cpp) seen as a sequence of top-level function definitions and the
// text between them. Unlike the generated wrappers these have no common
// shape, so a function that does not compile against some libtorch is
// replaced whole: its signature is kept and its body becomes one that
// records an error (read by the Go side through torch_last_err / kiln's
// last-error call) and returns a zero value (-1 for an int status).
type HandWritten struct {
	lines []string
	Funcs []*HandFunc
}

// HandFunc is one top-level function definition in a HandWritten file.
type HandFunc struct {
	Name      string
	Start     int    // index of its first line (a template<> line if any)
	End       int    // index of its last line (the closing brace)
	Signature string // text from Start up to, not including, the body's '{'
	Return    string // declared return type, e.g. "void", "tensor", "int"
	stubbed   bool
}

var (
	// A definition starts at column 0 with a type; "using", "extern",
	// preprocessor lines and declarations ending in ';' are not definitions.
	handStart = regexp.MustCompile(`^[A-Za-z_][\w:<>,\s\*&]*?\b([A-Za-z_]\w*)\s*\(`)
	handSkip  = regexp.MustCompile(`^(using|extern|namespace|typedef|struct|class|static_assert|#)`)
	// templatePrefix is a template header on the same line as its function.
	templatePrefix = regexp.MustCompile(`^template\s*<[^>]*>\s*`)
)

// ParseHandWritten finds the top-level function definitions in src.
func ParseHandWritten(src []byte) (*HandWritten, error) {
	h := &HandWritten{lines: strings.Split(string(src), "\n")}
	for i := 0; i < len(h.lines); i++ {
		l := h.lines[i]
		if handSkip.MatchString(l) {
			continue
		}
		// "template <class T> void f(...) {" on one line: match what follows.
		l = templatePrefix.ReplaceAllString(l, "")
		if l == "" || strings.HasPrefix(l, "template") {
			continue
		}
		m := handStart.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		// Find the opening brace of the body; a ';' first means a declaration.
		open, col := -1, -1
		for j := i; j < len(h.lines) && j < i+20; j++ {
			code := stripLiterals(h.lines[j])
			b, s := strings.IndexByte(code, '{'), strings.IndexByte(code, ';')
			if s >= 0 && (b < 0 || s < b) {
				break
			}
			if b >= 0 {
				open, col = j, b
				break
			}
		}
		if open < 0 {
			continue
		}
		end, err := matchBrace(h.lines, open, col)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", i+1, m[1], err)
		}
		start := i
		if i > 0 && strings.HasPrefix(h.lines[i-1], "template") {
			start = i - 1
		}
		sig := strings.Join(h.lines[start:open], "\n")
		if sig != "" {
			sig += "\n"
		}
		sig += h.lines[open][:col]
		f := &HandFunc{Name: m[1], Start: start, End: end, Signature: sig, Return: returnType(l, m[1])}
		h.Funcs = append(h.Funcs, f)
		i = end
	}
	if len(h.Funcs) == 0 {
		return nil, fmt.Errorf("no function definitions found")
	}
	return h, nil
}

// returnType is what precedes the function name on its first line.
func returnType(line, name string) string {
	i := strings.Index(line, name+"(")
	if i < 0 {
		i = strings.Index(line, name)
	}
	t := strings.TrimSpace(line[:i])
	t = strings.TrimPrefix(t, "static ")
	t = strings.TrimPrefix(t, "inline ")
	return strings.TrimSpace(t)
}

// stripLiterals blanks string and character literals and // comments so
// braces inside them are not counted.
func stripLiterals(l string) string {
	b := []byte(l)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"', '\'':
			q := b[i]
			for i++; i < len(b) && b[i] != q; i++ {
				if b[i] == '\\' && i+1 < len(b) {
					b[i] = ' '
					i++
				}
				b[i] = ' '
			}
		case '/':
			if i+1 < len(b) && b[i+1] == '/' {
				return string(b[:i])
			}
		}
	}
	return string(b)
}

// matchBrace returns the line holding the brace closing the one at
// lines[line][col].
func matchBrace(lines []string, line, col int) (int, error) {
	depth := 0
	for j := line; j < len(lines); j++ {
		code := stripLiterals(lines[j])
		from := 0
		if j == line {
			from = col
		}
		for _, c := range code[from:] {
			switch c {
			case '{':
				depth++
			case '}':
				depth--
				if depth == 0 {
					return j, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no closing brace")
}

// FunctionsAt maps 1-based line numbers to the indexes of the functions
// containing them; lines outside any function are returned in outside.
func (h *HandWritten) FunctionsAt(lines []int) (funcs []int, outside []int) {
	seen := map[int]bool{}
	for _, ln := range lines {
		found := false
		for i, f := range h.Funcs {
			if ln-1 >= f.Start && ln-1 <= f.End {
				found = true
				if !seen[i] {
					seen[i] = true
					funcs = append(funcs, i)
				}
				break
			}
		}
		if !found {
			outside = append(outside, ln)
		}
	}
	sort.Ints(funcs)
	return funcs, outside
}

// Stub marks function i for replacement by an error-reporting body. It
// reports false if the function was already stubbed (a stub that still does
// not compile is the builder's bug, not something to retry).
func (h *HandWritten) Stub(i int) bool {
	if h.Funcs[i].stubbed {
		return false
	}
	h.Funcs[i].stubbed = true
	return true
}

// Stubbed lists the stubbed functions' names, sorted.
func (h *HandWritten) Stubbed() []string {
	return stubbedNames(h.Funcs, func(f *HandFunc) (string, bool) { return f.Name, f.stubbed })
}

// Render is the source with stubbed functions replaced, line for line (a
// stub never changes where later lines are). msg gives the error text for a
// function name.
func (h *HandWritten) Render(msg func(name string) string) []byte {
	var b strings.Builder
	next := 0
	for _, f := range h.Funcs {
		for _, l := range h.lines[next:f.Start] {
			b.WriteString(l + "\n")
		}
		if !f.stubbed {
			for _, l := range h.lines[f.Start : f.End+1] {
				b.WriteString(l + "\n")
			}
		} else {
			// The stub sits on the body's first line and blank lines pad it
			// to the original length, so compiler line numbers for the rest
			// of the file keep mapping to the parsed functions.
			ret := ""
			switch f.Return {
			case "void":
			case "int":
				ret = " return -1;"
			default:
				ret = " return {};"
			}
			b.WriteString(f.Signature + fmt.Sprintf("{ kiln_stub_fail(%s);%s }\n", strconv.Quote(msg(f.Name)), ret))
			for n := strings.Count(f.Signature, "\n") + 1; n < f.End-f.Start+1; n++ {
				b.WriteString("\n")
			}
		}
		next = f.End + 1
	}
	for i, l := range h.lines[next:] {
		b.WriteString(l)
		if next+i < len(h.lines)-1 {
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

// stubHeader is force-included (-include) into every unit: the one helper a
// stubbed hand-written function calls. torch_last_err is what gotch's Go side
// checks after every call; kiln_stub_err is what kiln_last_error reports.
const stubHeader = `// Generated by kiln's bridge builder.
#pragma once
#ifdef __cplusplus
#include <cstring>
#include <string>
extern thread_local char *torch_last_err;
extern thread_local std::string kiln_stub_err;
static inline void kiln_stub_fail(const char *msg) {
  torch_last_err = strdup(msg);
  kiln_stub_err = msg;
}
#endif
`
