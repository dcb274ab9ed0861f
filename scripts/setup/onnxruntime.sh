#!/usr/bin/env bash
# ONNX Runtime (CPU) shared library, taken from the npm package onnxruntime-node
# (pinned). `npm pack` fetches the tarball without running its install script,
# so nothing of Node is needed at run time.
#   $KILN_CACHE/onnxruntime-<ver>/lib/libonnxruntime.so.1
#   build/onnxruntime/lib/libonnxruntime.so.1 -> that file
# --check: exit 1 if it is not installed, change nothing.
source "$(dirname "$0")/lib.sh"

ORT_VERSION="1.30.0"
dest="$KILN_CACHE/onnxruntime-$ORT_VERSION/lib"
lib="$dest/libonnxruntime.so.1"
link="$BUILD_DIR/onnxruntime/lib/libonnxruntime.so.1"

if [[ "${1:-}" == "--check" ]]; then
	[[ -f "$lib" && "$(readlink -f "$link")" == "$(readlink -f "$lib")" ]] || { echo "onnxruntime: missing ($link)"; exit 1; }
	echo "onnxruntime: ok ($lib)"
	exit 0
fi

if [[ ! -f "$lib" ]]; then
	command -v npm >/dev/null || die "npm is needed to fetch onnxruntime-node (apt-get install npm, or install Node.js)"
	say "fetching onnxruntime-node@$ORT_VERSION from npm"
	tmp="$(mktemp -d "${TMPDIR:-/tmp}/kiln-ort.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null) || die "npm pack onnxruntime-node@$ORT_VERSION failed"
	tgz="$(ls "$tmp"/onnxruntime-node-*.tgz)"
	tar -xzf "$tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1 ||
		die "$tgz has no bin/napi-v6/linux/x64/libonnxruntime.so.1"
	mkdir -p "$dest"
	# Copy then rename so an interrupted run never leaves a truncated library behind.
	cp "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib.tmp.$$"
	mv -f "$lib.tmp.$$" "$lib"
	say "installed $lib ($(du -h "$lib" | cut -f1))"
fi
link_to "$lib" "$link"
