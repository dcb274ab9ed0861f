package torchbridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// builderRevision is part of the cache key. Bump it whenever the way the
// bridge is assembled changes (flags, stubbing, file layout), so caches built
// by an older builder are not reused.
const builderRevision = "4"

//go:embed csrc/kiln_api.h csrc/kiln_api.cpp csrc/kiln_compat.h csrc/kiln_dist.h csrc/kiln_dist.cpp csrc/kiln_optim.h csrc/kiln_optim.cpp
//go:embed csrc/torch/csrc/distributed/autograd/context/context.h
var kilnSources embed.FS

// gotch's C++ layer, relative to the repository root. The files are kept
// exactly as upstream ships them; every change the bridge needs is applied to
// a copy in the build directory.
const (
	gotchLibtch = "third_party/gotch/libtch"
	gotchCsrc   = "third_party/gotch/libtch/csrc"
)

// pristineSources lists the upstream files the bridge is built from, relative
// to the repository root. All of them feed the cache key.
var pristineSources = []string{
	gotchLibtch + "/torch_api.h",
	gotchLibtch + "/torch_api_generated.h",
	gotchCsrc + "/torch_api.cpp",
	gotchCsrc + "/torch_api_generated.cpp.h",
	gotchCsrc + "/stb_image.h",
	gotchCsrc + "/stb_image_write.h",
	gotchCsrc + "/stb_image_resize.h",
}

// Options configure Build and Check.
type Options struct {
	RepoRoot string // holds third_party/gotch
	Link     string // where to link the bridge; "" = LinkPath(RepoRoot)
	Cache    string // $KILN_CACHE; the bridge goes to Cache/bridge/<version>-<hash>
	Libtorch string // LIBTORCH; "" = Debian's libtorch-dev
	CXX      string // C++ compiler; "" = $CXX or g++
	Jobs     int    // parallel compiler processes; 0 = number of CPUs
	Force    bool   // rebuild even if the cache entry exists
	// CPUOnly links only libtorch_cpu and libc10, not libtorch/libtorch_cuda,
	// so a bridge built from a CUDA wheel loads (and runs on the CPU) on a
	// machine without the CUDA libraries libtorch_cuda needs.
	CPUOnly bool
	Log     *slog.Logger // progress; nil = slog.Default()
}

// Result describes a built (or cached) bridge.
type Result struct {
	Key      string    `json:"key"`
	Dir      string    `json:"dir"`
	Library  string    `json:"library"`
	Link     string    `json:"link"`
	Stubs    []string  `json:"stubs"`
	Cached   bool      `json:"cached"`
	Libtorch *Libtorch `json:"libtorch"`
	Compiler string    `json:"compiler"`
}

// BuildInfo is build.json, written beside each built bridge.
type BuildInfo struct {
	Key             string    `json:"key"`
	Libtorch        *Libtorch `json:"libtorch"`
	Compiler        string    `json:"compiler"`
	CXX             string    `json:"cxx"`
	Std             string    `json:"std"`      // -std= the bridge was compiled with
	CPUOnly         bool      `json:"cpu_only"` // linked without libtorch/libtorch_cuda
	Stubs           int       `json:"stubs"`
	Built           string    `json:"built"`
	BuilderRevision string    `json:"builder_revision"`
}

// ReadBuildInfo reads build.json beside the bridge library at libPath
// (symlinks resolved: build/lib/libkilntorch.so points into the cache).
func ReadBuildInfo(libPath string) (*BuildInfo, error) {
	real, err := filepath.EvalSymlinks(libPath)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", libPath, err)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(real), "build.json"))
	if err != nil {
		return nil, fmt.Errorf("bridge build info: %w", err)
	}
	var bi BuildInfo
	if err := json.Unmarshal(b, &bi); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(filepath.Dir(real), "build.json"), err)
	}
	return &bi, nil
}

// LibraryName is the file the Go side links with -lkilntorch.
const LibraryName = "libkilntorch.so"

// LinkPath is where Go code expects the current bridge (see libtch/lib.go).
func LinkPath(repoRoot string) string { return filepath.Join(repoRoot, "build", "lib", LibraryName) }

func (o *Options) defaults() {
	if o.CXX == "" {
		o.CXX = os.Getenv("CXX")
	}
	if o.CXX == "" {
		o.CXX = "g++"
	}
	if o.Jobs <= 0 {
		o.Jobs = runtime.NumCPU()
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Link == "" {
		o.Link = LinkPath(o.RepoRoot)
	}
}

// plan is everything Build and Check derive before compiling anything.
type plan struct {
	lt       *Libtorch
	compiler string // first line of `$CXX --version`
	key      string
	dir      string
	sources  map[string][]byte // base name → content (pristine + kiln)
}

func makePlan(o *Options) (*plan, error) {
	if o.RepoRoot == "" || o.Cache == "" {
		return nil, errors.New("torchbridge: RepoRoot and Cache must be set")
	}
	lt, err := Locate(o.Libtorch)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(o.CXX, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("C++ compiler %q (set CXX, or apt-get install g++): %w", o.CXX, err)
	}
	compiler := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	p := &plan{lt: lt, compiler: compiler, sources: map[string][]byte{}}
	h := sha256.New()
	fmt.Fprintf(h, "rev=%s\nlibdir=%s\ninc=%s\nversion=%s\nabi=%d\ncuda=%t\ncpuonly=%t\nstd=%s\ncxx=%s %s\n",
		builderRevision, lt.LibDir, strings.Join(lt.IncludeDirs, ":"), lt.Version, lt.CXX11ABI, lt.CUDA, o.CPUOnly, lt.CXXStd(), o.CXX, compiler)
	for _, rel := range pristineSources {
		b, err := os.ReadFile(filepath.Join(o.RepoRoot, rel))
		if err != nil {
			return nil, fmt.Errorf("bridge source: %w", err)
		}
		p.sources[filepath.Base(rel)] = b
		fmt.Fprintf(h, "%s %d\n", rel, len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "gloo=%s\n", glooHeaders(lt))
	for _, name := range append([]string{"kiln_api.h", "kiln_api.cpp", "kiln_compat.h", "kiln_optim.h", "kiln_optim.cpp"}, distSources...) {
		b, err := kilnSources.ReadFile("csrc/" + name)
		if err != nil {
			return nil, fmt.Errorf("embedded %s: %w", name, err)
		}
		p.sources[name] = b
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	p.key = hex.EncodeToString(h.Sum(nil))[:12]
	name := lt.Version + "-" + p.key
	if o.CPUOnly {
		name += "-cpu"
	}
	p.dir = filepath.Join(o.Cache, "bridge", name)
	return p, nil
}

// Check reports whether the bridge for the current libtorch and sources is
// built and linked at build/lib, without changing anything.
func Check(o Options) (*Result, error) {
	o.defaults()
	p, err := makePlan(&o)
	if err != nil {
		return nil, err
	}
	res := p.result(o.Link, true)
	if _, err := os.Stat(res.Library); err != nil {
		return res, fmt.Errorf("bridge for libtorch %s not built (%s): %w", p.lt.Version, res.Library, err)
	}
	target, err := filepath.EvalSymlinks(res.Link)
	if err != nil {
		return res, fmt.Errorf("bridge link %s: %w", res.Link, err)
	}
	if target != res.Library {
		return res, fmt.Errorf("bridge link %s points to %s, want %s", res.Link, target, res.Library)
	}
	stubs, err := readStubs(filepath.Join(p.dir, "stubs.txt"))
	if err != nil {
		return res, err
	}
	res.Stubs = stubs
	return res, nil
}

func (p *plan) result(link string, cached bool) *Result {
	return &Result{
		Key: p.key, Dir: p.dir, Library: filepath.Join(p.dir, LibraryName), Link: link,
		Cached: cached, Libtorch: p.lt, Compiler: p.compiler,
	}
}

func readStubs(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bridge stub list: %w", err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// Build makes sure the bridge for the current libtorch exists in the cache
// (building it if needed) and points build/lib/libkilntorch.so at it.
func Build(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	p, err := makePlan(&o)
	if err != nil {
		return nil, err
	}
	res := p.result(o.Link, true)
	if _, err := os.Stat(res.Library); err != nil || o.Force {
		res.Cached = false
		if err := p.build(ctx, &o); err != nil {
			return nil, err
		}
	}
	stubs, err := readStubs(filepath.Join(p.dir, "stubs.txt"))
	if err != nil {
		return nil, err
	}
	res.Stubs = stubs
	if err := linkAtomic(res.Library, res.Link); err != nil {
		return nil, err
	}
	return res, nil
}

// linkAtomic points link at target by renaming a fresh symlink over it, so a
// concurrent build never sees the link missing.
func linkAtomic(target, link string) error {
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	if fi, err := os.Lstat(link); err == nil && fi.Mode()&os.ModeSymlink == 0 {
		return fmt.Errorf("%s exists and is not a symlink; remove it and run setup again", link)
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("bridge link: %w", err)
	}
	tmp := fmt.Sprintf("%s.tmp%d", link, os.Getpid())
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("bridge link: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("bridge link: %w", err)
	}
	return nil
}

// build compiles the bridge into a temporary directory next to p.dir and
// renames it into place once complete.
func (p *plan) build(ctx context.Context, o *Options) error {
	start := time.Now()
	log := o.Log
	if err := os.MkdirAll(filepath.Dir(p.dir), 0o755); err != nil {
		return fmt.Errorf("bridge cache: %w", err)
	}
	work, err := os.MkdirTemp(filepath.Dir(p.dir), ".build-"+filepath.Base(p.dir)+"-")
	if err != nil {
		return fmt.Errorf("bridge cache: %w", err)
	}
	defer os.RemoveAll(work)
	log.Info("building the libtorch bridge", "libtorch", p.lt.Version, "root", p.lt.Root, "libdir", p.lt.LibDir,
		"cxx11abi", p.lt.CXX11ABI, "cuda", p.lt.CUDA, "compiler", p.compiler, "jobs", o.Jobs, "dir", work)

	src := filepath.Join(work, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return fmt.Errorf("bridge build dir: %w", err)
	}
	header, err := patchHeader(p.sources["torch_api.h"])
	if err != nil {
		return err
	}
	mainTU, err := patchMain(p.sources["torch_api.cpp"])
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"torch_api.h":           header,
		"torch_api_generated.h": p.sources["torch_api_generated.h"],
		"stb_image.h":           p.sources["stb_image.h"],
		"stb_image_write.h":     p.sources["stb_image_write.h"],
		"stb_image_resize.h":    p.sources["stb_image_resize.h"],
		"kiln_api.h":            p.sources["kiln_api.h"],
		"kiln_compat.h":         p.sources["kiln_compat.h"],
		"kiln_stub.h":           []byte(stubHeader),
		"kiln_optim.h":          p.sources["kiln_optim.h"],
	}
	for _, name := range distSources {
		files[name] = p.sources[name]
	}
	for name, b := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755); err != nil {
			return fmt.Errorf("bridge build dir: %w", err)
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			return fmt.Errorf("bridge build dir: %w", err)
		}
	}
	// The hand-written units: a function that does not compile against this
	// libtorch is stubbed like a generated wrapper (see HandWritten).
	hand := map[string]*HandWritten{}
	for name, src := range map[string][]byte{"torch_api_main.cpp": mainTU, "kiln_api.cpp": p.sources["kiln_api.cpp"], "kiln_optim.cpp": p.sources["kiln_optim.cpp"]} {
		hw, err := ParseHandWritten(src)
		if err != nil {
			return fmt.Errorf("bridge: parsing %s: %w", name, err)
		}
		hand[name] = hw
	}
	gen, err := ParseGenerated(p.sources["torch_api_generated.cpp.h"])
	if err != nil {
		return fmt.Errorf("%s: %w", gotchCsrc+"/torch_api_generated.cpp.h", err)
	}
	chunks := o.Jobs
	if chunks < 2 {
		chunks = 2
	}
	units := gen.Split(chunks, preamble(p.sources["torch_api.cpp"]))
	cxx := compiler{cxx: o.CXX, lt: p.lt, src: src}

	// Find the generated wrappers this libtorch cannot compile. Each round
	// re-checks only the units that changed; a replaced body cannot fail, so
	// this normally ends after the second round.
	stubMsg := func(name string) string {
		return fmt.Sprintf("%s is not available in libtorch %s (stubbed by the kiln bridge)", name, p.lt.Version)
	}
	dirty := make([]bool, len(units))
	for i := range dirty {
		dirty[i] = true
	}
	// kiln_dist.cpp is not stubbed function by function: configureDist
	// turns off, as a whole, the c10d backends this libtorch cannot build.
	missing, err := configureDist(ctx, cxx, src, p.lt, o.CPUOnly)
	if err != nil {
		return err
	}
	for _, m := range missing {
		log.Warn("distributed backend left out of the bridge", "why", m)
	}
	fixed := []string{"torch_api_main.cpp", "kiln_api.cpp", "kiln_dist.cpp", "kiln_optim.cpp"}
	fixedDirty := map[string]bool{"torch_api_main.cpp": true, "kiln_api.cpp": true, "kiln_optim.cpp": true}
	if err := os.WriteFile(filepath.Join(src, "kiln_stubs.inc"), stubsInc(nil), 0o644); err != nil {
		return fmt.Errorf("bridge build dir: %w", err)
	}
	for round := 1; ; round++ {
		if round > 5 {
			return errors.New("bridge: generated wrappers still fail to compile after 5 rounds of stubbing")
		}
		var names []string
		for i, u := range units {
			if dirty[i] {
				if err := os.WriteFile(filepath.Join(src, u.Name), u.Render(), 0o644); err != nil {
					return fmt.Errorf("bridge build dir: %w", err)
				}
				names = append(names, u.Name)
			}
		}
		for _, n := range fixed {
			if fixedDirty[n] {
				if err := os.WriteFile(filepath.Join(src, n), hand[n].Render(stubMsg), 0o644); err != nil {
					return fmt.Errorf("bridge build dir: %w", err)
				}
				names = append(names, n)
				fixedDirty[n] = false
			}
		}
		t0 := time.Now()
		outs := cxx.runAll(ctx, o.Jobs, names, func(name string) []string { return cxx.syntaxArgs(name) })
		failed := 0
		for i := range dirty {
			dirty[i] = false
		}
		for _, r := range outs {
			if r.err == nil {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			ui := -1
			for i, u := range units {
				if u.Name == r.name {
					ui = i
				}
			}
			if hw := hand[r.name]; ui < 0 && hw != nil {
				bad, outside := hw.FunctionsAt(ErrorLines(r.out, r.name))
				if len(outside) > 0 || len(bad) == 0 {
					return fmt.Errorf("bridge: %s does not compile against libtorch %s outside any function (lines %v):\n%s", r.name, p.lt.Version, outside, head(r.out, 40))
				}
				for _, fi := range bad {
					if !hw.Stub(fi) {
						return fmt.Errorf("bridge: %s: the stub for %s does not compile:\n%s", r.name, hw.Funcs[fi].Name, head(r.out, 40))
					}
					log.Warn("hand-written function stubbed", "file", r.name, "function", hw.Funcs[fi].Name)
					failed++
				}
				fixedDirty[r.name] = true
				continue
			}
			if ui < 0 {
				return fmt.Errorf("bridge: unexpected unit %s:\n%s", r.name, head(r.out, 40))
			}
			lines := ErrorLines(r.out, r.name)
			bad := units[ui].FunctionsAt(lines)
			if len(bad) == 0 {
				return fmt.Errorf("bridge: %s fails outside any generated wrapper:\n%s", r.name, head(r.out, 40))
			}
			for _, fi := range bad {
				gen.Funcs[fi].Stub(stubMsg(gen.Funcs[fi].Name))
				failed++
			}
			dirty[ui] = true
		}
		log.Info("checked wrappers", "round", round, "units", len(names), "newly_stubbed", failed, "took", time.Since(t0).Round(time.Second))
		if failed == 0 {
			break
		}
	}
	stubs := gen.Stubbed()
	stubs = append(stubs, hand["torch_api_main.cpp"].Stubbed()...)
	stubs = append(stubs, hand["kiln_api.cpp"].Stubbed()...)
	stubs = append(stubs, hand["kiln_optim.cpp"].Stubbed()...)
	if err := os.WriteFile(filepath.Join(src, "kiln_stubs.inc"), stubsInc(stubs), 0o644); err != nil {
		return fmt.Errorf("bridge build dir: %w", err)
	}

	// Compile every translation unit in parallel, then link one library.
	t0 := time.Now()
	all := append([]string{}, fixed...)
	for _, u := range units {
		all = append(all, u.Name)
	}
	outs := cxx.runAll(ctx, o.Jobs, all, func(name string) []string { return cxx.compileArgs(name) })
	for _, r := range outs {
		if r.err != nil {
			return fmt.Errorf("bridge: compiling %s: %w\n%s", r.name, r.err, head(r.out, 40))
		}
	}
	log.Info("compiled", "units", len(all), "took", time.Since(t0).Round(time.Second))
	tmpLib := filepath.Join(work, LibraryName)
	args := []string{"-shared", "-o", tmpLib, "-Wl,-soname," + LibraryName, "-Wl,--no-undefined"}
	for _, n := range all {
		args = append(args, filepath.Join(src, strings.TrimSuffix(n, ".cpp")+".o"))
	}
	args = append(args, "-L"+p.lt.LibDir, "-Wl,-rpath,"+p.lt.LibDir)
	switch {
	case o.CPUOnly:
		// libtorch.so of a CUDA wheel NEEDs libtorch_cuda.so, which cannot
		// load without the nvidia-* libraries; libtorch_cpu holds all the
		// symbols the bridge uses.
		args = append(args, "-ltorch_cpu", "-lc10", "-lpthread")
	case p.lt.CUDA:
		// Nothing in the bridge references libtorch_cuda directly, but its
		// static initialisers register the CUDA kernels: keep it linked.
		args = append(args, "-Wl,--no-as-needed", "-ltorch_cuda", "-Wl,--as-needed", "-ltorch", "-ltorch_cpu", "-lc10", "-lpthread")
	default:
		args = append(args, "-ltorch", "-ltorch_cpu", "-lc10", "-lpthread")
	}
	if out, err := exec.CommandContext(ctx, o.CXX, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("bridge: linking %s: %w\n%s", LibraryName, err, head(string(out), 40))
	}

	// Assemble the cache entry and move it into place in one rename.
	final := filepath.Join(work, "out")
	if err := os.MkdirAll(final, 0o755); err != nil {
		return fmt.Errorf("bridge cache: %w", err)
	}
	if err := os.Rename(tmpLib, filepath.Join(final, LibraryName)); err != nil {
		return fmt.Errorf("bridge cache: %w", err)
	}
	stubText := strings.Join(stubs, "\n")
	if len(stubs) > 0 {
		stubText += "\n"
	}
	if err := os.WriteFile(filepath.Join(final, "stubs.txt"), []byte(stubText), 0o644); err != nil {
		return fmt.Errorf("bridge cache: %w", err)
	}
	meta, _ := json.MarshalIndent(BuildInfo{
		Key: p.key, Libtorch: p.lt, Compiler: p.compiler, CXX: o.CXX, Std: p.lt.CXXStd(), CPUOnly: o.CPUOnly, Stubs: len(stubs),
		Built: time.Now().UTC().Format(time.RFC3339), BuilderRevision: builderRevision,
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(final, "build.json"), append(meta, '\n'), 0o644); err != nil {
		return fmt.Errorf("bridge cache: %w", err)
	}
	if o.Force {
		if err := os.RemoveAll(p.dir); err != nil {
			return fmt.Errorf("bridge cache: removing old %s: %w", p.dir, err)
		}
	}
	if err := os.Rename(final, p.dir); err != nil {
		// Another setup run built the same bridge meanwhile: theirs is
		// identical (same key), so use it.
		if _, serr := os.Stat(filepath.Join(p.dir, LibraryName)); serr == nil {
			log.Info("bridge built concurrently by another run; using it", "dir", p.dir)
			return nil
		}
		return fmt.Errorf("bridge cache: %w", err)
	}
	log.Info("bridge built", "library", filepath.Join(p.dir, LibraryName), "stubbed_wrappers", len(stubs), "took", time.Since(start).Round(time.Second))
	return nil
}

func head(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

// patchHeader turns the header's definition of torch_last_err into a
// declaration: upstream compiles one translation unit, the bridge compiles
// several, and a definition in the header would then be duplicated at link
// time. torch_api_main.cpp carries the one definition.
func patchHeader(h []byte) ([]byte, error) {
	const def = "thread_local char *torch_last_err = nullptr;"
	if bytes.Count(h, []byte(def)) != 1 {
		return nil, fmt.Errorf("%s/torch_api.h: expected exactly one %q", gotchLibtch, def)
	}
	return bytes.Replace(h, []byte(def), []byte("extern thread_local char *torch_last_err;"), 1), nil
}

// patchMain drops the #include of the generated wrappers from torch_api.cpp
// (they are compiled as separate units) and adds torch_last_err's definition.
func patchMain(c []byte) ([]byte, error) {
	const inc = `#include "torch_api_generated.cpp.h"`
	if bytes.Count(c, []byte(inc)) != 1 {
		return nil, fmt.Errorf("%s/torch_api.cpp: expected exactly one %s", gotchCsrc, inc)
	}
	c = bytes.Replace(c, []byte(inc), []byte("// (generated wrappers: compiled separately by the kiln bridge builder)"), 1)
	// The pre-2.4 autocast calls go through kiln_compat.h, which picks the
	// device-typed API where the libtorch has it.
	for _, r := range autocastRewrites {
		if bytes.Count(c, []byte(r[0])) == 0 {
			return nil, fmt.Errorf("%s/torch_api.cpp: expected %s (has gotch changed? update autocastRewrites)", gotchCsrc, r[0])
		}
		c = bytes.ReplaceAll(c, []byte(r[0]), []byte(r[1]))
	}
	c = append([]byte("#include \"kiln_compat.h\"\n"), c...)
	return append(c, []byte("\nthread_local char *torch_last_err = nullptr;\nthread_local std::string kiln_stub_err;\n")...), nil
}

// autocastRewrites maps gotch's deprecated autocast calls to kiln_compat.h.
var autocastRewrites = [][2]string{
	{"at::autocast::is_enabled()", "kiln::autocast_is_enabled(at::kCUDA)"},
	{"at::autocast::set_enabled(b)", "kiln::autocast_set_enabled(at::kCUDA, b)"},
}

// preamble is what each generated unit needs before the wrappers: the
// #include lines of torch_api.cpp other than the stb image headers (whose
// implementations must exist once, in the main unit).
func preamble(mainCpp []byte) string {
	var b strings.Builder
	b.WriteString("// Generated by kiln's bridge builder from gotch's torch_api_generated.cpp.h.\n")
	for _, l := range strings.Split(string(mainCpp), "\n") {
		if strings.HasPrefix(l, "#include") && !strings.Contains(l, "stb_image") && !strings.Contains(l, "generated") {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("using namespace std;\n\n")
	return b.String()
}

// stubsInc renders kiln_stubs.inc, which kiln_api.cpp includes so the
// library itself can report what was stubbed.
func stubsInc(stubs []string) []byte {
	var b strings.Builder
	b.WriteString("// Generated by kiln's bridge builder.\n")
	fmt.Fprintf(&b, "static const int kiln_stub_n = %d;\n", len(stubs))
	b.WriteString("static const char kiln_stub_list[] =\n")
	if len(stubs) == 0 {
		b.WriteString("    \"\"")
	}
	for _, s := range stubs {
		fmt.Fprintf(&b, "    \"%s\\n\"\n", s)
	}
	b.WriteString(";\n")
	return []byte(b.String())
}

type compiler struct {
	cxx string
	lt  *Libtorch
	src string
}

func (c compiler) common() []string {
	args := []string{"-std=" + c.lt.CXXStd(), fmt.Sprintf("-D_GLIBCXX_USE_CXX11_ABI=%d", c.lt.CXX11ABI), "-I" + c.src, "-w",
		"-include", "kiln_stub.h",
		fmt.Sprintf("-DKILN_TORCH_VERSION=%q", c.lt.Version), fmt.Sprintf("-DKILN_TORCH_LIB_DIR=%q", c.lt.LibDir)}
	for _, d := range c.lt.IncludeDirs {
		// Passing the system include directory with -I reorders it before
		// the C++ standard library's own headers and breaks #include_next.
		if d == "/usr/include" || d == "/usr/local/include" {
			continue
		}
		args = append(args, "-I"+d)
	}
	return args
}

func (c compiler) syntaxArgs(name string) []string {
	return append(c.common(), "-fsyntax-only", filepath.Join(c.src, name))
}

func (c compiler) compileArgs(name string) []string {
	obj := filepath.Join(c.src, strings.TrimSuffix(name, ".cpp")+".o")
	return append(c.common(), "-O2", "-fPIC", "-c", "-o", obj, filepath.Join(c.src, name))
}

type runResult struct {
	name string
	out  string
	err  error
}

// runAll runs the compiler once per name, at most jobs at a time.
func (c compiler) runAll(ctx context.Context, jobs int, names []string, args func(string) []string) []runResult {
	res := make([]runResult, len(names))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out, err := exec.CommandContext(ctx, c.cxx, args(n)...).CombinedOutput()
			res[i] = runResult{name: n, out: string(out), err: err}
		}()
	}
	wg.Wait()
	sort.SliceStable(res, func(a, b int) bool { return res[a].name < res[b].name })
	return res
}
