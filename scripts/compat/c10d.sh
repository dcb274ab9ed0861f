#!/usr/bin/env bash
# scripts/compat/c10d.sh [VERSION ...]: does the bridge's c10d wrapper
# (internal/torchbridge/csrc/kiln_dist.cpp) compile against each PyPI torch
# release's headers? c10d's C++ API (the ProcessGroup constructor, the
# Reducer's) changes between releases, and a wrapper that does not compile
# leaves data-parallel training out of that bridge, so check every release
# the version macros in kiln_dist.cpp name when they change.
#
# Each release's torch/include is fetched once from PyPI (torchwheel.py
# --mode headers: ~60 MB kept per release) into $KILN_CACHE/torch-headers-V.
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
	torch="$(python3 scripts/setup/torchwheel.py --mode headers --version "$v" --dest "$KILN_CACHE/torch-headers-$v")" ||
		die "torch==$v: could not fetch its headers (not on PyPI for this platform?)"
	inc="$torch/include"
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
