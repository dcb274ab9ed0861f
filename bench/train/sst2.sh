#!/usr/bin/env bash
# Real-data run (1): all-MiniLM-L6-v2 fine-tuned on SST-2 by kiln and by HF
# transformers (plain PyTorch loop over AutoModelForSequenceClassification,
# bench/train/hf_train.py) with the same hyper-parameters, data, batch,
# max length and thread count.
#
# Usage: bench/train/sst2.sh [train.csv]   (default: testdata/data/sst2/train.csv, 8000 rows;
#        the full set is /work/shared/data/sst2/train.csv)
# Env:   EPOCHS (1) or MAX_STEPS (0 = whole epochs), BS (32), LR (1e-4), MAXLEN (64), SEED (42),
#        POOLING (cls; mean = all-MiniLM-L6-v2's own pooling), EVAL_STEPS (kiln only, 0 = at the end)
#        PARALLEL=1 runs kiln and HF at the same time (each gets half the machine:
#        use it when the machine is shared anyway and time is short; throughput
#        figures then come from bench/train/run.sh, not from here).
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAIN=${1:-testdata/data/sst2/train.csv}
DEV=testdata/data/sst2/dev.csv
MODEL=build/pretrained/all-MiniLM-L6-v2
OUT=${OUT:-build/bench/train/sst2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
EPOCHS=${EPOCHS:-1} MAX_STEPS=${MAX_STEPS:-0} BS=${BS:-32} LR=${LR:-1e-4} MAXLEN=${MAXLEN:-64} SEED=${SEED:-42}
POOLING=${POOLING:-cls} EVAL_STEPS=${EVAL_STEPS:-0}
mkdir -p "$OUT"
KILN=${KILN_BIN:-bin/kiln}
[ -x "$KILN" ] || go build -o "$KILN" ./cmd/kiln
PY=${KILN_PYTHON:-build/venv/bin/python}
hp=(--train "$TRAIN" --valid "$DEV" --model "$MODEL" --epochs "$EPOCHS" --max-steps "$MAX_STEPS"
	--batch-size "$BS" --lr "$LR" --max-length "$MAXLEN" --warmup-ratio 0.1 --weight-decay 0.01 --seed "$SEED" --pooling "$POOLING")
rm -rf "$OUT/kiln" "$OUT/hf"
run_kiln() {
	/usr/bin/time -v "$KILN" train "${hp[@]}" --eval-steps "$EVAL_STEPS" --out "$OUT/kiln" --no-progress --save-total-limit 1 2> "$OUT/kiln.log"
}
run_hf() {
	/usr/bin/time -v "$PY" bench/train/hf_train.py "${hp[@]}" --out "$OUT/hf" > "$OUT/hf.out" 2> "$OUT/hf.log"
}
if [ "${PARALLEL:-0}" = 1 ]; then
	run_kiln & k=$!
	run_hf & h=$!
	wait $k || { tail -20 "$OUT/kiln.log"; exit 1; }
	wait $h || { tail -20 "$OUT/hf.log"; exit 1; }
else
	run_kiln || { tail -20 "$OUT/kiln.log"; exit 1; }
	run_hf || { tail -20 "$OUT/hf.log"; exit 1; }
fi
"$PY" - "$OUT" <<'PY'
import json, re, sys
o = sys.argv[1]
def wall(log):
    t = open(log).read()
    m = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", t)
    h, mi, s = m.groups()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
    return (int(h or 0) * 3600 + int(mi) * 60 + float(s)), rss // 1024
k, h = json.load(open(f"{o}/kiln/metrics.json")), json.load(open(f"{o}/hf/metrics.json"))
kw, kr = wall(f"{o}/kiln.log"); hw, hr = wall(f"{o}/hf.log")
print("| run | dev accuracy | steps | train samples/s | wall (s) | peak RSS (MiB) |")
print("|---|---|---|---|---|---|")
print(f"| kiln train | {k['eval_accuracy']:.4f} | {k['global_step']} | {k['train_samples_per_sec']:.2f} | {kw:.0f} | {kr} |")
print(f"| HF transformers (PyTorch loop) | {h['eval_accuracy']:.4f} | {h['global_step']} | {h['train_samples_per_sec']:.2f} | {hw:.0f} | {hr} |")
print(f"accuracy difference kiln - HF: {100 * (k['eval_accuracy'] - h['eval_accuracy']):+.2f} points (target within 1)")
PY
