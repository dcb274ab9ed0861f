#!/usr/bin/env bash
# Training throughput: `kiln train` vs HF transformers (plain PyTorch loop over
# the same model, Debian's torch 1.13 = the same libtorch/OpenBLAS, same
# OMP_NUM_THREADS) on the same rows, batch and max length, in one run; then
# kiln's gradient-accumulation and checkpointing overheads (wall + peak RSS).
# Both sides: no shuffle and no length grouping, so they see identical batches.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
MODEL=${MODEL:-build/pretrained/all-MiniLM-L6-v2}
STEPS=${STEPS:-40} BS=${BS:-32} MAXLEN=${MAXLEN:-64}
OUT=${OUT:-build/bench/train/throughput}
PY=${KILN_PYTHON:-build/venv/bin/python}
KILN=${KILN_BIN:-bin/kiln}
[ -x "$KILN" ] || go build -o "$KILN" ./cmd/kiln
rm -rf "$OUT"; mkdir -p "$OUT"
DATA=testdata/data/sst2/train.csv
common=(--train "$DATA" --model "$MODEL" --batch-size "$BS" --max-length "$MAXLEN" --lr 5e-5 --seed 1)

# kiln train: $1 = name, rest = extra flags. Prints samples/s and peak RSS.
kiln_run() {
	local name=$1; shift
	/usr/bin/time -f "%e %M" -o "$OUT/$name.time" "$KILN" train "${common[@]}" --out "$OUT/$name" \
		--max-steps "$STEPS" --group-by-length=false --no-progress --save-total-limit 1 "$@" 2>"$OUT/$name.log"
	python3 -c "import json,sys; m=json.load(open('$OUT/$name/metrics.json')); w,r=open('$OUT/$name.time').read().split(); print('%-22s %8.1f samples/s  wall %6.1fs  peak RSS %5d MiB' % ('$name', m['train_samples_per_sec'], float(w), int(r)//1024))"
}
echo "model=$MODEL steps=$STEPS batch=$BS max_length=$MAXLEN OMP_NUM_THREADS=$OMP_NUM_THREADS (2-core machine shared with other jobs: noisy)"
/usr/bin/time -f "%e %M" -o "$OUT/hf.time" "$PY" bench/train/hf_train.py "${common[@]}" --out "$OUT/hf" --max-steps "$STEPS" --no-shuffle 2>"$OUT/hf.log" >/dev/null
python3 -c "import json; m=json.load(open('$OUT/hf/metrics.json')); w,r=open('$OUT/hf.time').read().split(); print('%-22s %8.1f samples/s  wall %6.1fs  peak RSS %5d MiB' % ('hf-transformers', m['train_samples_per_sec'], float(w), int(r)//1024))"
kiln_run kiln --save-steps 0
kiln_run kiln-accum4 --batch-size $((BS / 4)) --grad-accum 4
kiln_run kiln-ckpt-every-10 --save-steps 10
python3 - "$OUT" <<'PY'
import json, sys
o = sys.argv[1]
r = lambda n: json.load(open(f"{o}/{n}/metrics.json"))["train_samples_per_sec"]
print("kiln / hf throughput ratio: %.2fx (target >= 1.0x)" % (r("kiln") / r("hf")))
print("accumulation 4x8 vs 1x32: %.2fx of plain throughput" % (r("kiln-accum4") / r("kiln")))
print("checkpoint every 10 steps: %.2fx of plain throughput" % (r("kiln-ckpt-every-10") / r("kiln")))
PY
