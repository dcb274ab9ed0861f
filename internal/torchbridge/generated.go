package torchbridge

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Generated is gotch's torch_api_generated.cpp.h split into its wrapper
// functions. Every wrapper has the shape
//
//	<ret> atg_<name>(<args>) {
//	  PROTECT(
//	    <body>
//	  )
//	  [return <default>;]
//	}
//
// which is what lets the builder replace exactly one wrapper's body.
type Generated struct {
	Prologue []string // lines before the first wrapper (the "generated" banner)
	Funcs    []*Func
}

// Func is one generated wrapper.
type Func struct {
	Name    string   // e.g. "atg_scaled_dot_product_attention"
	Lines   []string // the whole definition, signature to closing brace, plus trailing blank lines
	stubbed bool
}

var (
	wrapperStart = regexp.MustCompile(`^[A-Za-z].*\b(atg_\w+)\(.*\{$`)
	protectOpen  = "  PROTECT("
	protectClose = "  )"
)

// ParseGenerated splits the generated file into wrappers and checks that each
// has the PROTECT shape the stubbing relies on.
func ParseGenerated(src []byte) (*Generated, error) {
	lines := strings.Split(strings.TrimRight(string(src), "\n"), "\n")
	g := &Generated{}
	var cur *Func
	for i, l := range lines {
		if m := wrapperStart.FindStringSubmatch(l); m != nil {
			if cur != nil {
				return nil, fmt.Errorf("line %d: %s starts inside %s", i+1, m[1], cur.Name)
			}
			cur = &Func{Name: m[1]}
			g.Funcs = append(g.Funcs, cur)
		}
		switch {
		case cur != nil:
			cur.Lines = append(cur.Lines, l)
			if l == "}" {
				if err := cur.check(); err != nil {
					return nil, fmt.Errorf("line %d: %w", i+1, err)
				}
				cur = nil
			}
		case len(g.Funcs) == 0:
			g.Prologue = append(g.Prologue, l)
		default:
			// Blank lines between wrappers belong to the previous one.
			last := g.Funcs[len(g.Funcs)-1]
			last.Lines = append(last.Lines, l)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s has no closing brace", cur.Name)
	}
	if len(g.Funcs) == 0 {
		return nil, fmt.Errorf("no atg_* wrappers found")
	}
	return g, nil
}

func (f *Func) protectRange() (open, close int) {
	open, close = -1, -1
	for i, l := range f.Lines {
		if l == protectOpen && open < 0 {
			open = i
		}
		if l == protectClose {
			close = i
		}
	}
	return open, close
}

func (f *Func) check() error {
	open, close := f.protectRange()
	if open < 0 || close <= open {
		return fmt.Errorf("%s: body is not a single PROTECT( … ) block", f.Name)
	}
	return nil
}

// Stub replaces the wrapper's body with one that throws msg inside PROTECT,
// so the Go caller receives it as an ordinary error. A trailing default
// return after PROTECT is kept: non-void wrappers still return a value.
func (f *Func) Stub(msg string) {
	if f.stubbed {
		return
	}
	open, close := f.protectRange()
	body := []string{fmt.Sprintf("    throw std::runtime_error(%s);", strconv.Quote(msg))}
	out := append([]string{}, f.Lines[:open+1]...)
	out = append(out, body...)
	out = append(out, f.Lines[close:]...)
	f.Lines = out
	f.stubbed = true
}

// Stubbed lists the stubbed wrappers' names, sorted.
func (g *Generated) Stubbed() []string {
	return stubbedNames(g.Funcs, func(f *Func) (string, bool) { return f.Name, f.stubbed })
}

// stubbedNames lists the names of the stubbed functions among fs, sorted.
func stubbedNames[F any](fs []F, stub func(F) (name string, stubbed bool)) []string {
	var out []string
	for _, f := range fs {
		if name, ok := stub(f); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Unit is one translation unit holding a contiguous run of wrappers.
type Unit struct {
	Name     string
	preamble string
	g        *Generated
	first    int // index into g.Funcs
	n        int
}

// Split divides the wrappers into n units of about equal line count, each
// starting with preamble, so they can be compiled in parallel.
func (g *Generated) Split(n int, preamble string) []*Unit {
	if n > len(g.Funcs) {
		n = len(g.Funcs)
	}
	total := 0
	for _, f := range g.Funcs {
		total += len(f.Lines)
	}
	var units []*Unit
	start, acc := 0, 0
	for i, f := range g.Funcs {
		acc += len(f.Lines)
		last := i == len(g.Funcs)-1
		if last || (acc >= total*(len(units)+1)/n && len(units) < n-1) {
			units = append(units, &Unit{
				Name: fmt.Sprintf("torch_api_generated_%d.cpp", len(units)+1), preamble: preamble,
				g: g, first: start, n: i + 1 - start,
			})
			start = i + 1
		}
	}
	return units
}

// preambleLines is how many lines Render writes before the first wrapper.
func (u *Unit) preambleLines() int { return strings.Count(u.preamble, "\n") }

// Render is the unit's source text.
func (u *Unit) Render() []byte {
	var b strings.Builder
	b.WriteString(u.preamble)
	for _, f := range u.g.Funcs[u.first : u.first+u.n] {
		for _, l := range f.Lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

// FunctionsAt maps 1-based line numbers of the rendered unit to the indexes
// (into Generated.Funcs) of the wrappers containing them. Lines outside any
// wrapper are ignored.
func (u *Unit) FunctionsAt(lines []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, ln := range lines {
		pos := u.preambleLines() + 1 // line number of the first wrapper's first line
		for i := u.first; i < u.first+u.n; i++ {
			f := u.g.Funcs[i]
			if ln >= pos && ln < pos+len(f.Lines) {
				if !seen[i] {
					seen[i] = true
					out = append(out, i)
				}
				break
			}
			pos += len(f.Lines)
		}
	}
	sort.Ints(out)
	return out
}

// diagLine matches a GCC diagnostic location: "path:line:col: error: …" or,
// for errors inside library templates, the "path:line:col:   required from
// here" line pointing back at the code that instantiated them.
var diagLine = regexp.MustCompile(`^(.+?):(\d+):\d+:\s+(?:(?:fatal )?error:|required from)`)

// ErrorLines returns the line numbers in file (matched by base name) that
// GCC's output blames for an error, directly or through an instantiation.
func ErrorLines(out, file string) []int {
	base := filepath.Base(file)
	var lines []int
	for _, l := range strings.Split(out, "\n") {
		m := diagLine.FindStringSubmatch(l)
		if m == nil || filepath.Base(m[1]) != base {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err == nil {
			lines = append(lines, n)
		}
	}
	return lines
}
