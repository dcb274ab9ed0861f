#!/usr/bin/env bash
# Debian packages kiln's build, tests and benchmarks need. Installs only what is
# missing (apt-get update once, only if something is). Not root and something
# missing: print the exact command and fail.
#   --check: exit 1 if anything is missing, change nothing.
#   KILN_APT_PACKAGES overrides the list (the serving image needs none of libtorch).
source "$(dirname "$0")/lib.sh"

# libtorch-dev: the C++ libtorch the bridge is built against (Debian's 1.13, CPU).
# libgloo-dev: gloo's headers, which libtorch's c10d (distributed training) includes;
#   without them the bridge's kiln_dist calls report "not available".
# libopenblas0-pthread: without it libtorch falls back to reference BLAS (~14x slower).
# python3-torch: the same libtorch for the PyTorch peers and parity references.
# python3-venv: the reference environment. libonnx-dev: the official onnx.proto.
# protobuf-compiler: regenerating export/onnxpb. wrk: serving peer benchmark.
PKGS=(${KILN_APT_PACKAGES:-g++ make libtorch-dev libgloo-dev libopenblas0-pthread python3-torch python3-venv libonnx-dev protobuf-compiler wrk})

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [[ "${1:-}" == "--check" ]]; then
	((${#missing[@]} == 0)) || { echo "apt: missing ${missing[*]}"; exit 1; }
	echo "apt: ok (${#PKGS[@]} packages)"
	exit 0
fi

if ((${#missing[@]} > 0)); then
	if [[ "$(id -u)" != 0 ]]; then
		die "missing Debian packages: ${missing[*]}; run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
	fi
	say "installing ${missing[*]} (apt)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libtorch links libblas.so.3; make sure the alternative is OpenBLAS (pthread),
# not the reference BLAS a dependency may have pulled in.
if [[ "$(id -u)" == 0 ]] && command -v update-alternatives >/dev/null; then
	want="/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"
	if [[ -e "$want" && "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" != "$(readlink -f "$want")" ]]; then
		update-alternatives --quiet --set libblas.so.3-x86_64-linux-gnu "$want"
		say "selected OpenBLAS as libblas.so.3"
	fi
	want="/usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3"
	if [[ -e "$want" && "$(readlink -f /usr/lib/x86_64-linux-gnu/liblapack.so.3)" != "$(readlink -f "$want")" ]]; then
		update-alternatives --quiet --set liblapack.so.3-x86_64-linux-gnu "$want"
	fi
fi
