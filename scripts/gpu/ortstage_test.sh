#!/usr/bin/env bash
# The CUDA provider's staging (ortstage.sh) end to end on small stand-in
# libraries: pack into pieces here, carry one piece per "call" into a separate
# device-side stage directory, stash each, and check that assemble waits for
# all of them, refuses a corrupt piece, rebuilds the same bytes, is cached on
# a rerun, and starts over for another build. Run by make test-gpu-kit.
set -euo pipefail
S="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ortstage.sh"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fail() {
	echo "ortstage_test: FAIL: $*" >&2
	exit 1
}
mkdir -p "$T/src"
for f in libonnxruntime.so.1 libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
	head -c $((5000 + RANDOM % 9000)) /dev/urandom >"$T/src/$f"
done
export KILN_CACHE="$T/cache" GPU_STAGE_SRC="$T/src" GPU_STAGE_PIECE_BYTES=7000 ORT_GPU_VERSION=0.0.1-test
here() { GPU_STAGE_DIR="$T/here-stage" bash "$S" "$@"; }
there() { GPU_STAGE_DIR="$T/there/.gpu-stage" GPU_STAGE_CACHE="$T/there/.gpu-cache/ort-cuda" bash "$S" "$@"; }
call() { # k: what a device call carrying .gpu-stage/k finds there
	rm -rf "$T/there/.gpu-stage/$1"
	mkdir -p "$T/there/.gpu-stage"
	cp -r "$T/here-stage/$1" "$T/there/.gpu-stage/$1"
}

n="$(here count 2>/dev/null)"
((n >= 3)) || fail "want at least 3 pieces of the stand-ins, got $n"
here piece all 2>/dev/null
for ((k = 1; k <= n; k++)); do
	size=$(stat -c %s "$T/here-stage/$k/ort-cuda.part-$(printf %02d "$k")")
	((size <= GPU_STAGE_PIECE_BYTES)) || fail "piece $k has $size bytes"
done

# A corrupt piece is refused and not stashed.
call 1
printf 'x' | dd of="$T/there/.gpu-stage/1/ort-cuda.part-01" bs=1 seek=100 conv=notrunc status=none
if there stash 2>/dev/null; then fail "a corrupt piece was stashed"; fi
[[ "$(there status)" == "CUDA provider: staged 0/$n" ]] || fail "after the corrupt piece: $(there status)"

for ((k = 1; k <= n; k++)); do
	call "$k"
	got="$(there stash 2>/dev/null)"
	[[ "$got" == "CUDA provider: staged $k/$n" ]] || fail "after call $k: $got"
	if ((k < n)); then
		rc=0
		there assemble >/dev/null 2>&1 || rc=$?
		((rc == 3)) || fail "assemble with $k/$n pieces exited $rc, want 3"
	fi
done
lib="$(there assemble 2>/dev/null)"
for f in "$T"/src/*; do cmp -s "$f" "$lib/$(basename "$f")" || fail "$(basename "$f") differs after reassembly"; done
[[ "$(there assemble 2>/dev/null)" == "$lib" ]] || fail "a rerun did not reuse $lib"
there status | grep -q "staged $n/$n (onnxruntime-gpu 0.0.1-test" || fail "status after assembly: $(there status)"

# Pieces of another build start the cache over.
export ORT_GPU_VERSION=0.0.2-test
here piece 1 2>/dev/null
call 1
[[ "$(there stash 2>/dev/null)" == "CUDA provider: staged 1/$n" ]] || fail "another build's piece 1: $(there status)"
echo "ortstage_test: ok ($n pieces of stand-ins staged, corrupt piece refused, reassembled byte for byte, cached, restarted for another build)"
