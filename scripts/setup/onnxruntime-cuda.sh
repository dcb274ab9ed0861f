#!/usr/bin/env bash
# ONNX Runtime with its CUDA execution provider, for GPU serving images and hosts.
# Usage: scripts/setup/onnxruntime-cuda.sh DEST_DIR
# Puts libonnxruntime.so.1, libonnxruntime_providers_shared.so and
# libonnxruntime_providers_cuda.so side by side in DEST_DIR (ONNX Runtime loads
# providers from beside the core library). Source: the npm package below, the
# only registry-reachable build with the CUDA provider (ONNX Runtime 1.29, CUDA 13:
# needs libcublas/libcublasLt .so.13, libcudart.so.13, libcurand.so.10 and cuDNN 9
# on the host or in the base image). Not part of `make setup`: CPU hosts never need it.
source "$(dirname "$0")/lib.sh"

PKG="com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9"
dest="${1:?usage: $0 DEST_DIR}"
mkdir -p "$dest"
if [[ -f "$dest/libonnxruntime_providers_cuda.so" && -f "$dest/libonnxruntime.so.1" ]]; then
	say "ONNX Runtime CUDA provider already in $dest"
	exit 0
fi
command -v npm >/dev/null || die "npm is needed to fetch $PKG"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kiln-ort-cuda.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
say "fetching $PKG from npm (about 250 MB)"
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null) || die "npm pack $PKG failed"
tar -xzf "$tmp"/*.tgz -C "$tmp"
core="$(find "$tmp/package" -name 'libonnxruntime.so*' -type f | sort | tail -1)"
cuda="$(find "$tmp/package" -name 'libonnxruntime_providers_cuda.so' | head -1)"
shared="$(find "$tmp/package" -name 'libonnxruntime_providers_shared.so' | head -1)"
[[ -n "$core" && -n "$cuda" && -n "$shared" ]] || die "$PKG lacks the core library or the CUDA provider"
for f in "$core:libonnxruntime.so.1" "$cuda:libonnxruntime_providers_cuda.so" "$shared:libonnxruntime_providers_shared.so"; do
	cp "${f%%:*}" "$dest/${f##*:}.tmp.$$" && mv -f "$dest/${f##*:}.tmp.$$" "$dest/${f##*:}"
done
say "installed ONNX Runtime CUDA provider into $dest"
