package libtch

// kiln: upstream compiled torch_api.cpp (and its 18,000-line generated part)
// here through cgo, with hard-coded CUDA link flags. kiln instead links the
// prebuilt bridge library libkilntorch.so (built once per libtorch by
// `make setup`, see internal/torchbridge), so no C++ is compiled by `go build`
// and the same Go binary runs on whatever libtorch the bridge was built
// against (CPU or CUDA). The C++ sources live, unchanged, in csrc/.
//
// build/lib/libkilntorch.so is a link into $KILN_CACHE/bridge/...; the rpath
// lets binaries find it without LD_LIBRARY_PATH. The rpath is emitted as
// RUNPATH, which the loader searches after LD_LIBRARY_PATH, so pointing
// LD_LIBRARY_PATH at another bridge directory (e.g. one built against a CUDA
// libtorch) switches libtorch at run time without relinking.

// #cgo LDFLAGS: -L${SRCDIR}/../../../build/lib -Wl,-rpath,${SRCDIR}/../../../build/lib -lkilntorch
// #cgo CFLAGS: -I${SRCDIR} -O2 -Wall -Wno-unused-variable -Wno-deprecated-declarations -Wno-sign-compare -Wno-unused-function
import "C"
