#!/usr/bin/env bash
# The libtorch bridge libkilntorch.so: gotch's C++ layer compiled once per
# libtorch (≈2–3 min on 2 cores), cached, and linked where the Go code looks:
#   $KILN_CACHE/bridge/<libtorch version>-<hash>/libkilntorch.so (+ stubs.txt, build.json)
#   build/lib/libkilntorch.so -> that file
# The hash covers the libtorch location, compiler and bridge sources, so an
# unchanged setup does nothing and a changed one rebuilds. go test never builds it.
# LIBTORCH=/path selects another libtorch (official zip layout, or a PyTorch
# wheel's torch/ directory); default is Debian's libtorch-dev.
# --check: exit 1 if the current bridge is not built and linked, change nothing.
source "$(dirname "$0")/lib.sh"

command -v go >/dev/null || die "go is needed to run the bridge builder"
# torch.sh records a CUDA torch it installed as build/libtorch; LIBTORCH wins.
if [[ -z "${LIBTORCH:-}" && -L "$BUILD_DIR/libtorch" ]]; then
	LIBTORCH="$(readlink -f "$BUILD_DIR/libtorch")"
	export LIBTORCH
fi
cd "$REPO_ROOT"
builder=(go run ./internal/torchbridge/cmd/kiln-bridge -repo "$REPO_ROOT" -cache "$KILN_CACHE")

if [[ "${1:-}" == "--check" ]]; then
	ok=1
	out="$("${builder[@]}" -check -quiet 2>&1)" || ok=0
	out="${out%$'\n'exit status *}" # go run's own note on a failing check
	if ((ok)); then
		echo "$out"
		exit 0
	fi
	echo "bridge: missing (${out#kiln-bridge: })"
	exit 1
fi

quiet=()
[[ "${KILN_SETUP_QUIET:-0}" == 1 ]] && quiet=(-quiet)
"${builder[@]}" "${quiet[@]}" || die "building the libtorch bridge failed (see above)"
