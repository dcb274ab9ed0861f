#!/usr/bin/env bash
# Export benchmark: ONNX Runtime (CPU) latency and throughput at batch 1, 8,
# 32 and sequence 128 of one checkpoint (all-MiniLM-L6-v2 with a
# classification head) exported five ways, in one run:
#   kiln-plain    kiln export (default plain graph)
#   kiln-opt      kiln export --optimize (fused com.microsoft operators)
#   optimum       HF Optimum's export (torch.onnx), plain
#   optimum-O2    Optimum's export + ORTOptimizer O2 (its fused graph)
#   libtorch      the models/torch forward of the checkpoint (no ONNX)
#   plain-noopt, opt-noopt: kiln's two graphs with ONNX Runtime's load-time
#                 rewrites disabled (what the graphs are worth to an engine that does not fuse)
# Every ONNX Runtime session uses its default graph optimisation level (all),
# as a server would. Same thread count on both runtimes (THREADS, default 1:
# see below). The runtimes are interleaved call by call, and compared on the
# process CPU time per call as well as wall time: on a machine shared with
# other jobs wall time measures the scheduler more than the runtime.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${THREADS:-1}
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$PWD/build/onnxruntime/lib/libonnxruntime.so.1}
SRC=${MODEL:-build/pretrained/all-MiniLM-L6-v2}
OUT=${OUT:-build/bench/export}
PY=${KILN_PYTHON:-build/venv/bin/python}
KILN=$OUT/kiln # built here: bin/kiln may predate this command
BUDGET=${BUDGET:-3s}

mkdir -p "$OUT"
go build -o "$KILN" ./cmd/kiln
go build -o "$OUT/export-bench" ./bench/export

ckpt=$OUT/checkpoint
[ -f "$ckpt/model.safetensors" ] || "$PY" bench/export/make_classifier.py "$SRC" "$ckpt"
"$KILN" export --model "$ckpt" --out "$OUT/kiln-plain" --force >"$OUT/kiln-plain.log" 2>&1
"$KILN" export --model "$ckpt" --out "$OUT/kiln-opt" --optimize --force >"$OUT/kiln-opt.log" 2>&1
grep -h "^verify " "$OUT/kiln-plain.log" "$OUT/kiln-opt.log"
# Optimum's exports depend only on the checkpoint: kept between runs (FRESH=1 redoes them).
if [ -n "${FRESH:-}" ] || [ ! -f "$OUT/optimum/model.onnx" ] || [ ! -f "$OUT/optimum-O2/model.onnx" ]; then
	rm -rf "$OUT/optimum" "$OUT/optimum-O2"
	"$PY" export/testdata/optimum_export.py "$ckpt" "$OUT/optimum" >"$OUT/optimum.log" 2>&1
	"$PY" export/testdata/optimum_export.py --level O2 "$ckpt" "$OUT/optimum-O2" >"$OUT/optimum-O2.log" 2>&1
fi

echo "machine: $(nproc --all) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); intra-op threads $OMP_NUM_THREADS"
"$OUT/export-bench" --checkpoint "$ckpt" --threads "$OMP_NUM_THREADS" --budget "$BUDGET" --min-iters "${MIN_ITERS:-5}" \
	--onnx "kiln-plain=$OUT/kiln-plain,kiln-opt=$OUT/kiln-opt,optimum=$OUT/optimum,optimum-O2=$OUT/optimum-O2,plain-noopt=$OUT/kiln-plain:noopt,opt-noopt=$OUT/kiln-opt:noopt" \
	--pairs "kiln-plain/libtorch,kiln-opt/libtorch,kiln-opt/kiln-plain,kiln-opt/optimum-O2,kiln-plain/optimum,opt-noopt/plain-noopt" 2>"$OUT/bench.log"
