#!/usr/bin/env bash
# Which libtorch `make setup` builds the bridge against:
#   LIBTORCH=/path    that one: a PyTorch's site-packages/torch (the usual case on
#                     GPU hosts) or an official libtorch zip. Nothing is installed.
#   CUDA              when KILN_CUDA=1, or when KILN_CUDA is unset and the machine
#                     has an NVIDIA driver (/dev/nvidia0, or nvidia-smi answers):
#                     PyPI torch==$KILN_TORCH_VERSION (its CUDA 13 build) and the
#                     nvidia-* wheels it requires (cuDNN 9, cuBLAS, NCCL, …) into
#                     $KILN_CACHE/torch-<ver>-cu/site (several GB, once), plus
#                     onnxruntime-gpu (onnxruntime-cuda.sh) for serving.
#   Debian            otherwise (and with KILN_CUDA=0): libtorch-dev from apt.sh,
#                     as before. Nothing here.
# It records the choice as build/libtorch -> <torch dir> (bridge.sh builds
# against it) and build/onnxruntime-cuda -> the CUDA ONNX Runtime; the Debian
# choice removes both links.
#   --dry-run   print the decision and what would be installed; change nothing
#   --check     exit 1 if the chosen libtorch is not installed
#   --env       print the LD_LIBRARY_PATH ONNX Runtime's CUDA provider needs
# KILN_TORCH_VERSION (2.11.0): the newest torch at the time, the one GPU hosts
# run (the reference H200 host has 2.11.0+cu130) and the one `make test` builds
# a second bridge against. KILN_NVIDIA_DEVICE overrides /dev/nvidia0 (tests).
source "$(dirname "$0")/lib.sh"

KILN_TORCH_VERSION="${KILN_TORCH_VERSION:-2.11.0}"
cuda_dir="$KILN_CACHE/torch-$KILN_TORCH_VERSION-cu"
ort_cuda_dir="$KILN_CACHE/onnxruntime-gpu/lib"
torch_link="$BUILD_DIR/libtorch"
ort_link="$BUILD_DIR/onnxruntime-cuda"

# decide prints "libtorch <dir>", "cuda <why>" or "debian <why>".
decide() {
	if [[ -n "${LIBTORCH:-}" ]]; then
		echo "libtorch $LIBTORCH"
		return
	fi
	case "${KILN_CUDA:-}" in
	1) echo "cuda KILN_CUDA=1"; return ;;
	0) echo "debian KILN_CUDA=0"; return ;;
	esac
	local dev="${KILN_NVIDIA_DEVICE:-/dev/nvidia0}"
	if [[ -e "$dev" ]]; then
		echo "cuda NVIDIA device $dev"
	elif command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
		echo "cuda nvidia-smi lists a GPU"
	else
		echo "debian no NVIDIA driver found"
	fi
}

read -r mode why <<<"$(decide)"
case "${1:-}" in
--dry-run)
	case $mode in
	libtorch) echo "torch: LIBTORCH=$why (nothing to install; the bridge builds against it)" ;;
	cuda)
		echo "torch: CUDA ($why): PyPI torch==$KILN_TORCH_VERSION + its nvidia-* wheels -> $cuda_dir/site"
		echo "torch: $(python3 "$REPO_ROOT/scripts/setup/torchwheel.py" --help >/dev/null && echo "scripts/setup/torchwheel.py --mode cuda --version $KILN_TORCH_VERSION --dest $cuda_dir")"
		bash "$REPO_ROOT/scripts/setup/onnxruntime-cuda.sh" --dry-run "$ort_cuda_dir"
		;;
	debian) echo "torch: Debian libtorch-dev ($why)" ;;
	esac
	exit 0
	;;
--env)
	site="$cuda_dir/site"
	[[ $mode == libtorch ]] && site="$(cd "$why/.." 2>/dev/null && pwd)"
	dirs=()
	for d in "$site"/nvidia/*/lib; do [[ -d "$d" ]] && dirs+=("$d"); done
	((${#dirs[@]})) && echo "export LD_LIBRARY_PATH=$(IFS=:; echo "${dirs[*]}")\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
	exit 0
	;;
--check)
	case $mode in
	libtorch) [[ -e "$why/lib/libtorch_cpu.so" ]] || { echo "torch: LIBTORCH=$why has no lib/libtorch_cpu.so"; exit 1; } ;;
	cuda) [[ -f "$cuda_dir/.complete" ]] || { echo "torch: CUDA torch $KILN_TORCH_VERSION missing ($cuda_dir; $why)"; exit 1; } ;;
	esac
	echo "torch: ok ($mode${why:+: $why})"
	exit 0
	;;
esac

case $mode in
debian)
	for l in "$torch_link" "$ort_link/lib"; do if [[ -L "$l" ]]; then rm -f "$l"; fi; done
	exit 0
	;;
libtorch)
	if [[ -L "$torch_link" ]]; then rm -f "$torch_link"; fi # LIBTORCH wins; no stale link
	exit 0
	;;
esac
command -v python3 >/dev/null || die "python3 with pip is needed to install the CUDA torch wheel"
say "CUDA machine ($why): installing torch $KILN_TORCH_VERSION from PyPI into $cuda_dir (several GB, once)"
torch_dir="$(python3 "$REPO_ROOT/scripts/setup/torchwheel.py" --mode cuda --version "$KILN_TORCH_VERSION" --dest "$cuda_dir")" ||
	die "installing torch $KILN_TORCH_VERSION failed (see above); LIBTORCH=/path/to/site-packages/torch uses an existing PyTorch"
link_to "$torch_dir" "$torch_link"
bash "$REPO_ROOT/scripts/setup/onnxruntime-cuda.sh" "$ort_cuda_dir"
link_to "$ort_cuda_dir" "$ort_link/lib"
say "for ONNX Runtime's CUDA provider: $(bash "$0" --env)"
