#!/usr/bin/env bash
# Training throughput: `kiln train` vs HF transformers (bench/train/hf_train.py:
# a plain PyTorch loop over AutoModelForSequenceClassification, Debian's torch
# 1.13 = the same libtorch and OpenBLAS, same OMP_NUM_THREADS) on the same rows
# in the same order (no shuffle, no length grouping), batch and max length;
# then kiln's gradient-accumulation and checkpointing overheads (wall and
# peak RSS).
#
# Env: MODEL (build/pretrained/all-MiniLM-L6-v2), STEPS (20), BS (32), MAXLEN (64),
#      OMP_NUM_THREADS (2), PARALLEL=1: run kiln and HF at the same time, one
#      thread each, so both see the same machine load (use on a shared machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
MODEL=${MODEL:-build/pretrained/all-MiniLM-L6-v2}
STEPS=${STEPS:-20} BS=${BS:-32} MAXLEN=${MAXLEN:-64}
OUT=${OUT:-build/bench/train/throughput}
PY=${KILN_PYTHON:-build/venv/bin/python}
KILN=${KILN_BIN:-bin/kiln}
[ -x "$KILN" ] || go build -o "$KILN" ./cmd/kiln
rm -rf "$OUT"; mkdir -p "$OUT"
DATA=testdata/data/sst2/train.csv
common=(--train "$DATA" --model "$MODEL" --batch-size "$BS" --max-length "$MAXLEN" --lr 5e-5 --seed 1 --max-steps "$STEPS")

# kiln train: $1 = name, rest = extra flags.
kiln_run() {
	local name=$1; shift
	/usr/bin/time -f "%e %M %U %S" -o "$OUT/$name.time" "$KILN" train "${common[@]}" --out "$OUT/$name" \
		--no-shuffle --group-by-length=false --no-progress --save-total-limit 1 "$@" 2>"$OUT/$name.log"
}
hf_run() {
	/usr/bin/time -f "%e %M %U %S" -o "$OUT/hf.time" "$PY" bench/train/hf_train.py "${common[@]}" --out "$OUT/hf" --no-shuffle 2>"$OUT/hf.log" >/dev/null
}
echo "model=$MODEL steps=$STEPS batch=$BS max_length=$MAXLEN OMP_NUM_THREADS=$OMP_NUM_THREADS parallel=${PARALLEL:-0}"
if [ "${PARALLEL:-0}" = 1 ]; then
	OMP_NUM_THREADS=1 kiln_run kiln & k=$!
	OMP_NUM_THREADS=1 hf_run & h=$!
	wait $k; wait $h
	# the overhead runs as a pair too, so they see the load the pair above saw
	OMP_NUM_THREADS=1 kiln_run kiln-accum4 --batch-size $((BS / 4)) --grad-accum 4 & a=$!
	OMP_NUM_THREADS=1 kiln_run kiln-ckpt-every-5 --save-steps 5 & c=$!
	wait $a; wait $c
else
	hf_run
	kiln_run kiln
	kiln_run kiln-accum4 --batch-size $((BS / 4)) --grad-accum 4
	kiln_run kiln-ckpt-every-5 --save-steps 5
fi
"$PY" - "$OUT" <<'PY'
import json, sys
o = sys.argv[1]
def row(name, label):
    m = json.load(open(f"{o}/{name}/metrics.json"))
    w, r, u, sy = open(f"{o}/{name}.time").read().split()
    cpu = (float(u) + float(sy)) / m["train_samples"]
    print(f"| {label} | {m['train_samples_per_sec']:.2f} | {1000 * cpu:.0f} | {float(w):.0f} | {int(r) // 1024} |")
    return m["train_samples_per_sec"], float(w), int(r) // 1024, cpu
# samples/s is the training loop's own figure (no start-up, no final save);
# CPU ms/sample is the whole process's user+sys time per trained sample,
# which a shared machine disturbs less than wall time.
print("| run | train samples/s | CPU ms/sample (whole process) | wall (s) | peak RSS (MiB) |")
print("|---|---|---|---|---|")
hf = row("hf", "HF transformers (PyTorch loop)")
k = row("kiln", "kiln train")
a = row("kiln-accum4", "kiln train, batch/4 x accumulation 4")
c = row("kiln-ckpt-every-5", "kiln train, checkpoint every 5 steps")
print(f"kiln / HF throughput: {k[0] / hf[0]:.2f}x by samples/s, {hf[3] / k[3]:.2f}x by CPU time (target >= 1.0x)")
print(f"accumulation 4 x (batch/4): {a[0] / k[0]:.2f}x of plain throughput, peak RSS {a[2] - k[2]:+d} MiB")
print(f"checkpoint every 5 steps: {c[0] / k[0]:.2f}x of plain throughput, wall {c[1] - k[1]:+.0f} s, peak RSS {c[2] - k[2]:+d} MiB")
PY
