package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/internal/ort"
)

// doctorReport is what `kiln doctor --json` prints. Field names are part of
// the CLI's contract (scripts and the Dockerfile read them); add, don't rename.
type doctorReport struct {
	Kiln        doctorKiln     `json:"kiln"`
	Libtorch    doctorLibtorch `json:"libtorch"`
	ONNXRuntime doctorORT      `json:"onnxruntime"`
	OK          bool           `json:"ok"`
	Problems    []string       `json:"problems"`
	// Warnings do not fail doctor but cost speed (one thread, reference BLAS).
	Warnings []string `json:"warnings"`
}

type doctorKiln struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
	// Build is "full" (libtorch linked) or "notorch" (serving-only binary).
	Build string `json:"build"`
}

type doctorLibtorch struct {
	Linked bool `json:"linked"`
	// Reason says why libtorch is not available (notorch build).
	Reason  string `json:"reason,omitempty"`
	Version string `json:"version,omitempty"`
	LibDir  string `json:"lib_dir,omitempty"`
	// Bridge is the libkilntorch.so the loader actually picked.
	Bridge    string     `json:"bridge,omitempty"`
	StubCount int        `json:"stubbed_wrappers"`
	CXXStd    string     `json:"cxx_std,omitempty"`  // from the bridge's build.json
	CPUOnly   bool       `json:"cpu_only,omitempty"` // bridge linked without libtorch_cuda
	Stubs     []string   `json:"stubs,omitempty"`    // with --verbose
	CUDA      doctorCUDA `json:"cuda"`
	// Dist: each data-parallel backend (gloo, nccl) → "" when this bridge
	// has it, else why not.
	Dist        map[string]string `json:"distributed,omitempty"`
	Threads     int               `json:"threads"`
	OMPThreads  string            `json:"omp_num_threads"`
	CPUs        int               `json:"cpus"`
	BLAS        []string          `json:"blas"`
	BuildConfig string            `json:"build_config,omitempty"` // with --verbose
}

type doctorCUDA struct {
	Available bool   `json:"available"`
	Devices   int    `json:"devices"`
	Reason    string `json:"reason,omitempty"` // why none is usable
}

type doctorORT struct {
	Library         string   `json:"library"`
	Version         string   `json:"version,omitempty"`
	Providers       []string `json:"providers"`
	CUDAUnavailable string   `json:"cuda_unavailable,omitempty"`
	Error           string   `json:"error,omitempty"`
}

func init() { addCommand(newDoctorCmd()) }

func newDoctorCmd() *cobra.Command {
	var (
		asJSON  bool
		verbose bool
		ortLib  string
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check libtorch, CUDA, the libtorch bridge and ONNX Runtime",
		Long: `doctor reports what this kiln binary runs on: the libtorch version and
location, CUDA devices (or why there are none), the libtorch bridge
(libkilntorch.so: its C++ standard, whether it was linked CPU-only, and how many
of gotch's wrappers it had to stub because the installed libtorch lacks them),
libtorch's thread count and the BLAS actually loaded, and ONNX Runtime's
library, version and execution providers. The CUDA provider counts as available
only if a CUDA session can really be created (provider and CUDA libraries load,
a device accepts it), the same test serve --device auto applies.
It exits 1 if something needed is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep := runDoctor(verbose, ortLib)
			if err := writeDoctor(cmd.OutOrStdout(), rep, asJSON); err != nil {
				return err
			}
			if !rep.OK {
				return fmt.Errorf("doctor: %d problem(s): %s", len(rep.Problems), strings.Join(rep.Problems, "; "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also list the stubbed wrappers and libtorch's build configuration")
	cmd.Flags().StringVar(&ortLib, "onnxruntime-lib", "", "ONNX Runtime library (default: $ONNXRUNTIME_LIB, next to the binary, or build/onnxruntime/lib)")
	return cmd
}

func runDoctor(verbose bool, ortLib string) *doctorReport {
	rep := &doctorReport{
		Kiln: doctorKiln{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH},
	}
	rep.Libtorch, rep.Problems = doctorTorch(verbose)
	rep.Warnings = doctorWarnings(rep.Libtorch)
	rep.Kiln.Build = "notorch"
	if rep.Libtorch.Linked {
		rep.Kiln.Build = "full"
	}
	rep.ONNXRuntime = doctorONNXRuntime(ortLib)
	if rep.ONNXRuntime.Error != "" {
		rep.Problems = append(rep.Problems, rep.ONNXRuntime.Error)
	}
	if rep.Problems == nil {
		rep.Problems = []string{}
	}
	rep.OK = len(rep.Problems) == 0
	return rep
}

func doctorONNXRuntime(lib string) doctorORT {
	r := doctorORT{Providers: []string{}}
	if lib == "" {
		lib = ort.DefaultLibraryPath()
	}
	r.Library = lib
	if err := ort.Init(lib); err != nil {
		r.Error = err.Error()
		return r
	}
	r.Library = ort.LibraryPath()
	r.Version = ort.Version()
	providers, err := ort.AvailableProviders()
	if err != nil {
		r.Error = fmt.Sprintf("onnxruntime providers: %v", err)
		return r
	}
	r.Providers = providers
	r.CUDAUnavailable = ort.CUDAUnavailableReason()
	return r
}

// doctorWarnings flags the two set-up mistakes that silently make libtorch
// several times slower: a single intra-op thread (Debian's libtorch starts
// with one unless OMP_NUM_THREADS says otherwise) and the reference BLAS.
func doctorWarnings(lt doctorLibtorch) []string {
	w := []string{}
	if !lt.Linked {
		return w
	}
	if lt.Threads < lt.CPUs && lt.OMPThreads == "unset" {
		w = append(w, fmt.Sprintf("libtorch uses %d intra-op thread(s) on %d CPUs; set OMP_NUM_THREADS (make does) or --threads", lt.Threads, lt.CPUs))
	}
	for _, l := range lt.BLAS {
		base := filepath.Base(l)
		if strings.HasPrefix(base, "libblas.so") && !strings.Contains(l, "openblas") && !strings.Contains(l, "mkl") && !strings.Contains(l, "blis") {
			w = append(w, fmt.Sprintf("libtorch loaded the reference BLAS %s (very slow); install libopenblas0-pthread and select it: update-alternatives --config libblas.so.3-x86_64-linux-gnu", l))
		}
	}
	return w
}

func ompThreads() string {
	if v := os.Getenv("OMP_NUM_THREADS"); v != "" {
		return v
	}
	return "unset"
}

func writeDoctor(w io.Writer, rep *doctorReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("doctor: writing JSON: %w", err)
		}
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kiln %s (%s, %s, %s build)\n\n", rep.Kiln.Version, rep.Kiln.GoVersion, rep.Kiln.Platform, rep.Kiln.Build)
	lt := rep.Libtorch
	b.WriteString("libtorch\n")
	if !lt.Linked {
		fmt.Fprintf(&b, "  not linked: %s\n", lt.Reason)
	} else {
		fmt.Fprintf(&b, "  version        %s\n", lt.Version)
		fmt.Fprintf(&b, "  libraries      %s\n", lt.LibDir)
		fmt.Fprintf(&b, "  bridge         %s\n", lt.Bridge)
		if lt.CXXStd != "" {
			only := ""
			if lt.CPUOnly {
				only = ", linked CPU-only"
			}
			fmt.Fprintf(&b, "  built          -std=%s%s\n", lt.CXXStd, only)
		}
		fmt.Fprintf(&b, "  stubbed        %d wrappers (ops or calls this libtorch lacks; calling one returns an error)\n", lt.StubCount)
		for _, s := range lt.Stubs {
			fmt.Fprintf(&b, "                   %s\n", s)
		}
		if lt.CUDA.Available {
			fmt.Fprintf(&b, "  CUDA           %d device(s)\n", lt.CUDA.Devices)
		} else {
			fmt.Fprintf(&b, "  CUDA           none: %s\n", lt.CUDA.Reason)
		}
		for i, name := range slices.Sorted(maps.Keys(lt.Dist)) {
			label := "  distributed    "
			if i > 0 {
				label = "                 "
			}
			if why := lt.Dist[name]; why != "" {
				fmt.Fprintf(&b, "%s%s: no (%s)\n", label, name, why)
			} else {
				fmt.Fprintf(&b, "%s%s: yes\n", label, name)
			}
		}
		fmt.Fprintf(&b, "  threads        %d intra-op (OMP_NUM_THREADS=%s, %d CPUs)\n", lt.Threads, lt.OMPThreads, lt.CPUs)
		if len(lt.BLAS) == 0 {
			b.WriteString("  BLAS           none loaded\n")
		}
		for i, l := range lt.BLAS {
			label := "  BLAS           "
			if i > 0 {
				label = "                 "
			}
			fmt.Fprintf(&b, "%s%s\n", label, l)
		}
		if lt.BuildConfig != "" {
			b.WriteString("  build config:\n")
			for _, l := range strings.Split(strings.TrimRight(lt.BuildConfig, "\n"), "\n") {
				fmt.Fprintf(&b, "    %s\n", l)
			}
		}
	}
	o := rep.ONNXRuntime
	b.WriteString("\nONNX Runtime\n")
	fmt.Fprintf(&b, "  library        %s\n", o.Library)
	if o.Error != "" {
		fmt.Fprintf(&b, "  error          %s\n", o.Error)
	} else {
		fmt.Fprintf(&b, "  version        %s\n", o.Version)
		fmt.Fprintf(&b, "  providers      %s\n", strings.Join(o.Providers, ", "))
		if o.CUDAUnavailable != "" {
			fmt.Fprintf(&b, "  CUDA provider  unavailable: %s\n", o.CUDAUnavailable)
		}
	}
	if len(rep.Warnings) > 0 {
		b.WriteString("\nwarnings:\n")
		for _, w := range rep.Warnings {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}
	if rep.OK {
		b.WriteString("\nok\n")
	} else {
		b.WriteString("\nproblems:\n")
		for _, p := range rep.Problems {
			fmt.Fprintf(&b, "  - %s\n", p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
