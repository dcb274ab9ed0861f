#!/usr/bin/env bash
# Encoder benchmark: kiln's models/torch vs the same computation in PyTorch
# eager (HF transformers' BertForSequenceClassification on Debian's torch 1.13,
# i.e. the same libtorch, the same OpenBLAS and the same OMP_NUM_THREADS).
#  1. forward+backward throughput (train mode, dropout on, cross-entropy),
#     4 layers, hidden 256, 4 heads, seq 128, batch 32; ROUNDS alternating
#     runs of each side, median reported, ratio kiln/pytorch (target >= 1.0x);
#  2. peak RSS with and without per-layer gradient checkpointing at seq 512
#     (MEM_BATCH), activation memory = peak RSS - RSS before the first step
#     (target: >= 40% less with checkpointing). PyTorch's figures alongside.
#  3. the same forward+backward throughput for a DeBERTa-v3-shaped model
#     (--arch deberta-v3: 256 log buckets, c2p+p2c through shared keys) against
#     transformers' DebertaV2ForSequenceClassification.
# Usage: bench/models/run.sh   (env: ROUNDS STEPS WARMUP MEM_BATCH OMP_NUM_THREADS SKIP_BERT)
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
ROUNDS=${ROUNDS:-3} STEPS=${STEPS:-5} WARMUP=${WARMUP:-1} MEM_BATCH=${MEM_BATCH:-8}
PY=${KILN_PYTHON:-build/venv/bin/python}
OUT=${OUT:-build/bench/models}
mkdir -p "$OUT"
BIN="$OUT/models-bench"
go build -o "$BIN" ./bench/models
: >"$OUT/results.jsonl"

shape=(--layers 4 --hidden 256 --heads 4)
echo "models bench: OMP_NUM_THREADS=$OMP_NUM_THREADS rounds=$ROUNDS steps=$STEPS (+$WARMUP warm-up); $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
archs="bert deberta-v3"
[ -n "${SKIP_BERT:-}" ] && archs="deberta-v3"
for r in $(seq "$ROUNDS"); do
	for arch in $archs; do
		"$BIN" "${shape[@]}" --arch "$arch" --seq 128 --batch 32 --steps "$STEPS" --warmup "$WARMUP" | sed 's/^{/{"case":"speed",/' >>"$OUT/results.jsonl"
		"$PY" bench/models/torch_peer.py "${shape[@]}" --arch "$arch" --seq 128 --batch 32 --steps "$STEPS" --warmup "$WARMUP" | sed 's/^{/{"case":"speed",/' >>"$OUT/results.jsonl"
	done
done
# Memory: each configuration in its own process (peak RSS is per process).
[ -n "${SKIP_BERT:-}" ] || for ck in "" --checkpointing; do
	"$BIN" "${shape[@]}" --seq 512 --batch "$MEM_BATCH" --steps 1 --warmup 1 $ck | sed 's/^{/{"case":"memory",/' >>"$OUT/results.jsonl"
	"$PY" bench/models/torch_peer.py "${shape[@]}" --seq 512 --batch "$MEM_BATCH" --steps 1 --warmup 1 $ck | sed 's/^{/{"case":"memory",/' >>"$OUT/results.jsonl"
done

python3 - "$OUT/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
side = lambda r: "kiln" if r["impl"] == "kiln" else "pytorch"
for arch in ("bert", "deberta-v3"):
    sel = [r for r in rows if r["case"] == "speed" and r.get("arch", "bert") == arch]
    if not sel:
        continue
    speed = {s: [r["seq_per_sec"] for r in sel if side(r) == s] for s in ("kiln", "pytorch")}
    cpu = {s: [r.get("cpu_ms_per_seq", 0) for r in sel if side(r) == s] for s in ("kiln", "pytorch")}
    print("\nforward+backward, %s 4x256 (4 heads), seq 128, batch 32, train mode:" % arch)
    print("%-10s %12s %16s   %s" % ("impl", "median seq/s", "CPU ms/seq", "runs (seq/s)"))
    for s, v in speed.items():
        print("%-10s %12.2f %16.1f   %s" % (s, statistics.median(v), statistics.median(cpu[s]), " ".join("%.2f" % x for x in v)))
    print("ratio kiln/pytorch: %.2fx wall throughput (target >= 1.0x); %.2fx by CPU time per sequence" % (
        statistics.median(speed["kiln"]) / statistics.median(speed["pytorch"]),
        statistics.median(cpu["pytorch"]) / max(statistics.median(cpu["kiln"]), 1e-9)))
if not any(r["case"] == "memory" for r in rows):
    sys.exit(0)
print("\npeak RSS at seq 512, batch %d (1 warm-up + 1 step), activation = peak - RSS before the first step:" % rows[-1]["batch"])
print("%-10s %-14s %10s %10s %12s" % ("impl", "checkpointing", "base MiB", "peak MiB", "activ. MiB"))
act = {}
for r in rows:
    if r["case"] != "memory":
        continue
    a = r["peak_rss_mib"] - r["baseline_rss_mib"]
    act[(side(r), r["checkpointing"])] = a
    print("%-10s %-14s %10.0f %10.0f %12.0f" % (side(r), r["checkpointing"], r["baseline_rss_mib"], r["peak_rss_mib"], a))
for s in ("kiln", "pytorch"):
    if (s, False) in act and (s, True) in act:
        print("%s: checkpointing saves %.0f%% of activation memory (kiln target >= 40%%)" % (s, 100 * (1 - act[(s, True)] / act[(s, False)])))
PY
