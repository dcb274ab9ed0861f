#!/usr/bin/env bash
# make gpu-bundle: write .gpu/, the self-contained GPU check kit (issue 13 §4),
# at most 60 MiB so it travels to a GPU host in one 64 MiB transfer:
#   kiln.xz          stripped kiln (cgo, links libkilntorch.so, found through
#                    LD_LIBRARY_PATH on the host: check.sh builds it there)
#   kiln-bridge.xz   the bridge builder, static (CGO_ENABLED=0)
#   model/           all-MiniLM-L6-v2 as fp16, byte-shuffled, xz (gpucheck.py pack-model)
#   data/            SST-2 train and dev (testdata/data/sst2)
#   cuda-headers.tar.xz  crt/ and nv/, for the NCCL part of the host's bridge
#   check.sh, gpucheck.py, STAMP
#   ort-cuda.MANIFEST  the CUDA provider's pieces, when cut (scripts/gpu/ortstage.sh;
#                    the pieces travel separately, one per device call)
# The packed model is cached in $KILN_CACHE/gpu-bundle (packing takes minutes).
# Env: MODEL (build/pretrained/all-MiniLM-L6-v2), KILN_PYTHON (needs numpy), GO.
source "$(dirname "$0")/../setup/lib.sh"
cd "$REPO_ROOT"
GO="${GO:-go}"
PY="${KILN_PYTHON:-$BUILD_DIR/venv/bin/python}"
MODEL="${MODEL:-$BUILD_DIR/pretrained/all-MiniLM-L6-v2}"
DEST="$REPO_ROOT/.gpu"
LIMIT_MIB=60
[[ -f "$MODEL/model.safetensors" ]] || die "no $MODEL/model.safetensors (run make setup, or set MODEL)"

tmp="$(mktemp -d "$REPO_ROOT/.gpu.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
version="$(git describe --always --dirty 2>/dev/null || echo dev)"

t0=$(date +%s)
# No -trimpath: with the flags of `make build` plus -s -w only the link step
# reruns (the compiled packages are cached), seconds instead of minutes.
"$GO" build -ldflags "-s -w -X main.version=$version" -o "$tmp/kiln" ./cmd/kiln
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" -o "$tmp/kiln-bridge" ./internal/torchbridge/cmd/kiln-bridge
for b in kiln kiln-bridge; do
	xz -6 -T0 "$tmp/$b" || die "xz $b"
done
say "binaries built and compressed in $(($(date +%s) - t0)) s"

# The packed model, cached per model weights and pack format.
key="$( (cat "$MODEL/model.safetensors"; grep '^PACK_FORMAT' scripts/gpu/gpucheck.py) | short_hash -)"
packed="$KILN_CACHE/gpu-bundle/model-$key"
if [[ ! -f "$packed/weights.json" ]]; then
	t0=$(date +%s)
	rm -rf "$packed.tmp"
	"$PY" scripts/gpu/gpucheck.py pack-model "$MODEL" "$packed.tmp" || die "packing $MODEL failed"
	mv "$packed.tmp" "$packed"
	say "packed $MODEL in $(($(date +%s) - t0)) s"
fi
cp -r "$packed" "$tmp/model"
rm -f "$tmp/model/README.md" # the model card, 10 KB nobody reads on the host

# CUDA headers the bridge's NCCL wrapper includes that a pip-installed torch
# does not bring (crt/, nv/: see BUILD_HEADER_EXTRAS in
# scripts/setup/torchwheel.py), from the cuda-toolkit 13.0.2 that torch 2.11
# (the reference host's) pins. ~150 KB. Without them the host's bridge builds
# without NCCL, which the dist stage reports.
hdr="$KILN_CACHE/gpu-bundle/cuda-headers-13.0.2"
if [[ ! -d "$hdr/crt" ]]; then
	rm -rf "$hdr.tmp" && mkdir -p "$hdr.tmp/dl"
	if python3 -m pip --disable-pip-version-check download -q --no-deps --only-binary=:all: --python-version 3.11 \
		--platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d "$hdr.tmp/dl" "nvidia-cuda-crt==13.0.88.*" "nvidia-cuda-cccl==13.0.85.*" >&2 &&
		python3 - "$hdr.tmp" <<'PY'
import glob, os, re, sys, zipfile
dest, n = sys.argv[1], 0
for whl in glob.glob(dest + "/dl/*.whl"):
    with zipfile.ZipFile(whl) as z:
        for name in z.namelist():
            m = re.match(r"nvidia/cu13/include/((crt|nv)/.+[^/])$", name)
            if m:
                path = os.path.join(dest, m.group(1))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with z.open(name) as src, open(path, "wb") as out:
                    out.write(src.read())
                n += 1
sys.exit(0 if n else "no crt/ or nv/ headers in the wheels")
PY
	then
		rm -rf "$hdr.tmp/dl" && mv "$hdr.tmp" "$hdr"
	else
		say "warning: could not fetch the CUDA headers for NCCL (nvidia-cuda-crt, nvidia-cuda-cccl); the kit goes without them"
		rm -rf "$hdr.tmp"
	fi
fi
[[ -d "$hdr/crt" ]] && tar -C "$hdr" -cJf "$tmp/cuda-headers.tar.xz" crt nv

mkdir -p "$tmp/data"
cp testdata/data/sst2/train.csv testdata/data/sst2/dev.csv "$tmp/data/"
cp scripts/gpu/check.sh scripts/gpu/gpucheck.py "$tmp/"
# How many pieces of ONNX Runtime's CUDA provider check.sh should expect,
# when they were cut here (make gpu-bundle GPU_STAGE=…; docs/gpu.md).
bash scripts/gpu/ortstage.sh manifest "$tmp"
(cd "$tmp" && find . -type f ! -name STAMP | sort | xargs sha256sum | sha256sum | cut -c1-12) >"$tmp/STAMP"

size=$(du -sb "$tmp" | cut -f1)
((size <= LIMIT_MIB * 1024 * 1024)) || die ".gpu would be $((size / 1024 / 1024)) MiB, over the $LIMIT_MIB MiB limit"
rm -rf "$DEST"
mv "$tmp" "$DEST"
trap - EXIT
say "wrote .gpu/ ($size bytes): $(cd "$DEST" && ls -m)"
say "run it on a GPU host from the repository root: bash .gpu/check.sh"
