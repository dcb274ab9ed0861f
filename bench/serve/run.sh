#!/usr/bin/env bash
# kiln serve vs ONNX Runtime called directly in-process (same model, texts and
# batch shapes, same run), then throughput vs concurrency with dynamic
# batching on and off. Load: the loadtest library, closed-loop; every comparison
# is interleaved round by round (medians reported) because the machine is shared.
# Model: a random 4-layer, 256-wide BERT classifier (bert-base-uncased vocabulary)
# exported by kiln's export; -base build/pretrained/all-MiniLM-L6-v2 serves MiniLM
# with a random head instead. Extra flags go to the Go program (go run ./bench/serve -h):
#   -matrix   only the batching on/off table at `kiln serve`'s own defaults, in markdown
#             (also written to build/bench/serve/matrix.md)
#   -probe    only ONNX Runtime in-process: a batch of k vs single runs, sessions × threads,
#             batching policies — what the CPU defaults are derived from
set -euo pipefail
cd "$(dirname "$0")/../.."
KILN=${KILN_SERVE_BIN:-bin/kiln-serve}
if [ -z "${KILN_SERVE_BIN:-}" ]; then
	# Always rebuilt (incremental): a stale binary would measure old defaults.
	mkdir -p bin
	go build -tags notorch -o "$KILN" ./cmd/kiln
fi
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$PWD/build/onnxruntime/lib/libonnxruntime.so.1}
go run ./bench/serve -kiln "$KILN" "$@"
