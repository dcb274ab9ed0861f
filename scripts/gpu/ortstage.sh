#!/usr/bin/env bash
# ONNX Runtime's CUDA provider for the GPU kit, staged in pieces (issue 13 §4).
#
# onnxruntime-gpu's three libraries (core, providers_shared, providers_cuda:
# 313 MB, about 200 MB as xz; most of it is the provider's GPU code, already
# compressed by nvcc) cannot travel with one device call: a call carries at
# most 64 MiB, the working tree included. They travel as pieces of at most
# 50 MB, one per call, over consecutive calls on the same warm machine, whose
# git-ignored files in the repository copy stay between calls; .gpu/check.sh
# uses the provider once every piece is there and checks out.
#
# On the build machine (make gpu-bundle GPU_STAGE=…):
#   ortstage.sh pack          fetch onnxruntime-gpu (scripts/setup/onnxruntime-cuda.sh)
#                             and cut it into pieces + MANIFEST under
#                             $KILN_CACHE/gpu-bundle/ort-cuda-<version>-<piece bytes> (once)
#   ortstage.sh piece K|all   write .gpu-stage/K/ (piece K and the MANIFEST), each K for all;
#                             the call that carries .gpu-stage/K brings piece K
#   ortstage.sh manifest DIR  copy the MANIFEST into DIR when packed (bundle.sh: .gpu/),
#                             so check.sh can say how many pieces are missing
#   ortstage.sh count         print the number of pieces
# On the GPU machine, from the repository root (no network, no Go):
#   ortstage.sh stash         move the pieces under .gpu-stage/ into .gpu-cache/ort-cuda/,
#                             each checked against the MANIFEST; prints
#                             "CUDA provider: staged k/n"
#   ortstage.sh assemble      with all n pieces: join them, check the archive's sha256,
#                             unpack into .gpu-cache/ort-cuda/lib (once) and print that
#                             directory; exit 3 (and the staged count) while incomplete
# Env: KILN_CACHE, ORT_GPU_VERSION (onnxruntime-cuda.sh's pin), GPU_STAGE_PIECE_BYTES
# (50000000), GPU_STAGE_DIR (.gpu-stage), GPU_STAGE_CACHE (.gpu-cache/ort-cuda),
# GPU_STAGE_SRC (the three libraries' directory instead of fetching them; the
# test, scripts/gpu/ortstage_test.sh, packs small stand-ins this way).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KILN_CACHE="${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
PIECE_BYTES="${GPU_STAGE_PIECE_BYTES:-50000000}"
STAGE="${GPU_STAGE_DIR:-$ROOT/.gpu-stage}"
CACHE="${GPU_STAGE_CACHE:-$ROOT/.gpu-cache/ort-cuda}"
FILES=(libonnxruntime.so.1 libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so)
say() { echo "ortstage: $*" >&2; }
die() {
	echo "ortstage: ERROR: $*" >&2
	exit 1
}
sha() { sha256sum "$1" | cut -c1-64; }

# The pinned version, read from the one script that installs it.
version() {
	local v="${ORT_GPU_VERSION:-}"
	[[ -n "$v" ]] || v="$(sed -n 's/^ORT_GPU_VERSION="\${ORT_GPU_VERSION:-\(.*\)}"$/\1/p' "$ROOT/scripts/setup/onnxruntime-cuda.sh")"
	[[ -n "$v" ]] || die "cannot read ORT_GPU_VERSION from scripts/setup/onnxruntime-cuda.sh"
	echo "$v"
}
packdir() { echo "$KILN_CACHE/gpu-bundle/ort-cuda-$(version)-$PIECE_BYTES"; }

# MANIFEST lines: "version V", "archive NAME SHA256 BYTES", "pieces N",
# then "piece K SHA256 BYTES" for K = 1..N.
mget() { awk -v k="$2" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$1"; }
mpiece() { awk -v k="$2" '$1 == "piece" && $2 == k { print $3, $4; exit }' "$1"; }

pack() {
	local dir v src tmp n k
	dir="$(packdir)"
	[[ -f "$dir/MANIFEST" ]] && return 0
	v="$(version)"
	src="${GPU_STAGE_SRC:-}"
	if [[ -z "$src" ]]; then
		src="$KILN_CACHE/onnxruntime-gpu/lib" # where scripts/setup/torch.sh puts it too
		ORT_GPU_VERSION="$v" bash "$ROOT/scripts/setup/onnxruntime-cuda.sh" "$src" >&2 || die "fetching onnxruntime-gpu $v failed"
	fi
	tmp="$dir.tmp"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	say "compressing onnxruntime-gpu $v (xz -9, a few minutes, once)"
	echo "$v" >"$tmp/VERSION"
	cp -L "${FILES[@]/#/$src/}" "$tmp/"
	(cd "$tmp" && tar -cf - VERSION "${FILES[@]}" | xz -9 -T2 >"ort-cuda-$v.tar.xz") || die "xz failed"
	rm -f "$tmp/VERSION" "${FILES[@]/#/$tmp/}"
	(cd "$tmp" && split -b "$PIECE_BYTES" -d -a 2 --numeric-suffixes=1 "ort-cuda-$v.tar.xz" ort-cuda.part-)
	n=$(find "$tmp" -name 'ort-cuda.part-*' | wc -l)
	{
		echo "version $v"
		echo "archive ort-cuda-$v.tar.xz $(sha "$tmp/ort-cuda-$v.tar.xz") $(stat -c %s "$tmp/ort-cuda-$v.tar.xz")"
		echo "pieces $n"
		for ((k = 1; k <= n; k++)); do
			p="$tmp/$(printf 'ort-cuda.part-%02d' "$k")"
			echo "piece $k $(sha "$p") $(stat -c %s "$p")"
		done
	} >"$tmp/MANIFEST"
	rm -f "$tmp/ort-cuda-$v.tar.xz"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	say "packed onnxruntime-gpu $v into $n pieces of at most $PIECE_BYTES bytes ($dir)"
}

piece() {
	local want=$1 dir n k
	pack
	dir="$(packdir)"
	n="$(mget "$dir/MANIFEST" pieces)"
	local ks=("$want")
	if [[ $want == all ]]; then
		ks=()
		for ((k = 1; k <= n; k++)); do ks+=("$k"); done
	fi
	for k in "${ks[@]}"; do
		[[ "$k" =~ ^[0-9]+$ ]] && ((k >= 1 && k <= n)) || die "GPU_STAGE=$k: want 1..$n or all"
		rm -rf "${STAGE:?}/$k"
		mkdir -p "$STAGE/$k"
		cp "$dir/MANIFEST" "$STAGE/$k/ort-cuda.MANIFEST"
		cp "$dir/$(printf 'ort-cuda.part-%02d' "$k")" "$STAGE/$k/"
		say "wrote ${STAGE#"$ROOT"/}/$k (piece $k of $n, $(stat -c %s "$dir/$(printf 'ort-cuda.part-%02d' "$k")") bytes): carry it in device call $k"
	done
}

# staged prints how many pieces in $CACHE match the MANIFEST there (sizes;
# stash checked each sha256 on the way in, assemble checks the whole).
staged() {
	local m="$CACHE/MANIFEST" n k got=0 want
	[[ -f "$m" ]] || {
		echo 0
		return
	}
	n="$(mget "$m" pieces)"
	for ((k = 1; k <= n; k++)); do
		want="$(mpiece "$m" "$k")"
		p="$CACHE/$(printf 'ort-cuda.part-%02d' "$k")"
		[[ -f "$p" && "$(stat -c %s "$p")" == "${want#* }" ]] && got=$((got + 1))
	done
	echo "$got"
}

stash() {
	local m p k want
	mkdir -p "$CACHE"
	shopt -s nullglob
	for m in "$STAGE"/*/ort-cuda.MANIFEST; do
		# A piece of another build (version, piece size) starts the cache over.
		if [[ -f "$CACHE/MANIFEST" ]] && ! cmp -s "$m" "$CACHE/MANIFEST"; then
			say "the staged pieces belong to another build: starting over"
			rm -rf "${CACHE:?}"/ort-cuda.part-* "$CACHE/lib"
		fi
		cp "$m" "$CACHE/MANIFEST"
		for p in "$(dirname "$m")"/ort-cuda.part-*; do
			k=$((10#${p##*part-}))
			want="$(mpiece "$m" "$k")"
			[[ -n "$want" && "$(sha "$p")" == "${want%% *}" ]] || die "$p does not match its MANIFEST (sha256 ${want%% *}): stage it again"
			mv -f "$p" "$CACHE/"
		done
		# Gone once stashed: a later call's stash must not meet this
		# MANIFEST again (ignored files stay on the machine between calls).
		rm -rf "$(dirname "$m")"
	done
	report
}

report() {
	local n=0
	[[ -f "$CACHE/MANIFEST" ]] && n="$(mget "$CACHE/MANIFEST" pieces)"
	if [[ -f "$CACHE/lib/.complete" ]]; then
		echo "CUDA provider: staged $n/$n (onnxruntime-gpu $(cat "$CACHE/lib/.complete"), unpacked in $CACHE/lib)"
	else
		echo "CUDA provider: staged $(staged)/$n"
	fi
}

assemble() {
	local m="$CACHE/MANIFEST" n v arch tmp
	[[ -f "$m" ]] || {
		report
		exit 3
	}
	v="$(mget "$m" version)"
	if [[ -f "$CACHE/lib/.complete" && "$(cat "$CACHE/lib/.complete")" == "$v" ]]; then
		echo "$CACHE/lib"
		return
	fi
	n="$(mget "$m" pieces)"
	if (($(staged) < n)); then
		report
		exit 3
	fi
	read -r _ sum _ <<<"$(mget "$m" archive)"
	arch="$CACHE/ort-cuda.tar.xz"
	for ((k = 1; k <= n; k++)); do cat "$CACHE/$(printf 'ort-cuda.part-%02d' "$k")"; done >"$arch"
	if [[ "$(sha "$arch")" != "$sum" ]]; then
		rm -f "$arch" "$CACHE"/ort-cuda.part-*
		die "the joined pieces do not match the MANIFEST's sha256 $sum: the pieces were dropped, stage them again"
	fi
	tmp="$CACHE/lib.tmp"
	rm -rf "$tmp" "$CACHE/lib"
	mkdir -p "$tmp"
	if command -v xz >/dev/null; then
		tar -xJf "$arch" -C "$tmp"
	else
		python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2], filter="data")' "$arch" "$tmp"
	fi || die "unpacking $arch failed"
	for f in "${FILES[@]}"; do [[ -f "$tmp/$f" ]] || die "$arch lacks $f"; done
	echo "$v" >"$tmp/.complete"
	mv "$tmp" "$CACHE/lib"
	rm -f "$arch" "$CACHE"/ort-cuda.part-* # the pieces' job is done; the disk is not ours
	echo "$CACHE/lib"
}

case "${1:-}" in
pack) pack ;;
piece) piece "${2:?usage: $0 piece K|all}" ;;
manifest)
	if [[ -f "$(packdir)/MANIFEST" ]]; then cp "$(packdir)/MANIFEST" "${2:?usage: $0 manifest DIR}/ort-cuda.MANIFEST"; fi
	;;
count)
	pack
	mget "$(packdir)/MANIFEST" pieces
	;;
stash) stash ;;
assemble) assemble ;;
status) report ;;
*) die "usage: $0 pack | piece K|all | manifest DIR | count | stash | assemble | status" ;;
esac
