#!/usr/bin/env bash
# ONNX Runtime with its CUDA execution provider, from PyPI's onnxruntime-gpu
# (Microsoft's own build; pinned). Usage:
#   scripts/setup/onnxruntime-cuda.sh DEST_DIR      install into DEST_DIR
#   scripts/setup/onnxruntime-cuda.sh --dry-run DIR print what would be installed
# Puts libonnxruntime.so.1, libonnxruntime_providers_shared.so and
# libonnxruntime_providers_cuda.so side by side (ONNX Runtime loads providers
# from beside the core library; providers must match the core's exact version,
# so the core comes from the same wheel and also serves CPU sessions).
#
# onnxruntime-gpu 1.31.1 is built for CUDA 13 and cuDNN 9. Its CUDA provider
# NEEDs libcublasLt.so.13, libcublas.so.13, libcurand.so.10, libcudart.so.13 and
# the driver's libcuda.so.1, and dlopens cuDNN 9 (and cuFFT 12). They come from
# the nvidia-* PyPI wheels — the same ones a CUDA 13 torch install carries
# (site-packages/nvidia/cu13/lib, nvidia/cudnn/lib; `make setup` with CUDA puts
# them under $KILN_CACHE/torch-<ver>-cu/site) — or from a CUDA 13 toolkit. The
# provider has no RUNPATH, so the loader needs them on LD_LIBRARY_PATH (scripts/
# setup/torch.sh --env prints it). `kiln doctor` names any library still missing.
source "$(dirname "$0")/lib.sh"

ORT_GPU_VERSION="${ORT_GPU_VERSION:-1.31.1}"
dry=0
if [[ "${1:-}" == "--dry-run" ]]; then
	dry=1
	shift
fi
dest="${1:?usage: $0 [--dry-run] DEST_DIR}"
files=(libonnxruntime.so.1 libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so)
if ((dry)); then
	echo "onnxruntime-cuda: onnxruntime-gpu==$ORT_GPU_VERSION from PyPI (about 256 MB) -> $dest: ${files[*]}"
	exit 0
fi
mkdir -p "$dest"
if [[ -f "$dest/libonnxruntime_providers_cuda.so" && -f "$dest/libonnxruntime.so.1" && -f "$dest/.version-$ORT_GPU_VERSION" ]]; then
	say "ONNX Runtime $ORT_GPU_VERSION with the CUDA provider already in $dest"
	exit 0
fi
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kiln-ort-cuda.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
say "fetching onnxruntime-gpu==$ORT_GPU_VERSION from PyPI (about 256 MB)"
python3 -m pip --disable-pip-version-check download -q --no-deps --only-binary=:all: --python-version 3.11 \
	--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
	-d "$tmp" "onnxruntime-gpu==$ORT_GPU_VERSION" || die "pip download onnxruntime-gpu==$ORT_GPU_VERSION failed"
whl="$(ls "$tmp"/onnxruntime_gpu-*.whl)"
(cd "$tmp" && python3 -m zipfile -e "$whl" x >/dev/null) || die "cannot unpack $whl"
capi="$tmp/x/onnxruntime/capi"
core="$(ls "$capi"/libonnxruntime.so.* 2>/dev/null | sort | tail -1)"
[[ -n "$core" && -f "$capi/libonnxruntime_providers_cuda.so" && -f "$capi/libonnxruntime_providers_shared.so" ]] ||
	die "$whl lacks the core library or the CUDA provider"
for f in "$core:libonnxruntime.so.1" "$capi/libonnxruntime_providers_cuda.so:libonnxruntime_providers_cuda.so" \
	"$capi/libonnxruntime_providers_shared.so:libonnxruntime_providers_shared.so"; do
	cp "${f%%:*}" "$dest/${f##*:}.tmp.$$" && mv -f "$dest/${f##*:}.tmp.$$" "$dest/${f##*:}"
done
rm -f "$dest"/.version-* && touch "$dest/.version-$ORT_GPU_VERSION"
say "installed ONNX Runtime $ORT_GPU_VERSION with the CUDA provider into $dest"
