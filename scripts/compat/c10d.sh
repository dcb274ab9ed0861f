#!/usr/bin/env bash
# scripts/compat/c10d.sh [VERSION ...]: does the bridge's c10d wrapper
# (internal/torchbridge/csrc/kiln_dist.cpp) compile against each PyPI torch
# release's headers? c10d's C++ API (the ProcessGroup constructor, the
# Reducer's) changes between releases, and a wrapper that does not compile
# leaves data-parallel training out of that bridge, so check every release
# the version macros in kiln_dist.cpp name when they change.
#
# Each release's torch/include is fetched once from PyPI (the wheel is
# downloaded, its headers kept: ~60 MB each) into $KILN_CACHE/torch-headers-V.
# A syntax check per release, gloo only (NCCL needs the CUDA headers; see
# scripts/setup/torchwheel.py). The gloo headers are Debian's libgloo-dev.
# Default versions: every minor release from 2.5 to 2.11.
set -euo pipefail
source "$(dirname "$0")/../setup/lib.sh"
cd "$REPO_ROOT"
versions=("$@")
((${#versions[@]})) || versions=(2.5.1 2.6.0 2.7.0 2.8.0 2.9.0 2.10.0 2.11.0)
src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
cp -r internal/torchbridge/csrc/* "$src/"
: >"$src/kiln_stub.h"
printf '#define KILN_DIST_NCCL 0\n#define KILN_DIST_NCCL_UNAVAILABLE "gloo only"\n' >"$src/kiln_dist_config.h"
fail=0
for v in "${versions[@]}"; do
	hdr="$KILN_CACHE/torch-headers-$v"
	if [[ ! -d "$hdr/torch/include" ]]; then
		dl="$(mktemp -d)"
		python3 -m pip --disable-pip-version-check download -q --no-deps --only-binary=:all: --python-version 3.11 \
			--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux1_x86_64 \
			-d "$dl" "torch==$v" >&2 || die "torch==$v: not on PyPI for this platform"
		rm -rf "$hdr.tmp" && mkdir -p "$hdr.tmp"
		unzip -q "$dl"/torch-*.whl 'torch/include/*' -d "$hdr.tmp"
		rm -rf "$dl" && mv "$hdr.tmp" "$hdr"
	fi
	inc="$hdr/torch/include"
	std=c++17 # as the bridge builder decides (requiredStd): newer releases demand C++20
	grep -q 'C++20 or later' "$inc/ATen/ATen.h" 2>/dev/null && std=c++20
	if out="$(g++ -std=$std -w -I"$src" -include kiln_stub.h -I"$inc" -I"$inc/torch/csrc/api/include" \
		-fsyntax-only "$src/kiln_dist.cpp" 2>&1)"; then
		echo "c10d $v: compiles (-std=$std)"
	else
		echo "c10d $v: FAILS: $(grep -m1 'error' <<<"$out" | cut -c1-240)"
		fail=1
	fi
done
exit $fail
