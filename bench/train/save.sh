#!/usr/bin/env bash
# Checkpoint save time: kiln's (train.BenchmarkCheckpointSave: model.safetensors,
# optimizer.safetensors, trainer_state.json, each fsynced, the directory renamed
# into place; then --save-total-limit 1 pruning) vs what HF Trainer writes
# (bench/train/save_ref.py: save_pretrained with safetensors, torch.save of the
# AdamW state_dict, trainer_state.json; no fsync), for the same pretrained model
# with its AdamW moments after one step, on the same file system, interleaved
# kiln/HF for ROUNDS rounds so both see the same machine load.
#
# Env: MODEL (build/pretrained/all-MiniLM-L6-v2), SAVES per round (3),
#      ROUNDS (3), OUT (a temp dir: checkpoints go there), OMP_NUM_THREADS (1).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
MODEL=${MODEL:-build/pretrained/all-MiniLM-L6-v2}
SAVES=${SAVES:-3} ROUNDS=${ROUNDS:-3}
PY=${KILN_PYTHON:-build/venv/bin/python}
bin=$(mktemp -d)
OUT=${OUT:-$bin/out}
mkdir -p "$OUT"
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/train.test" ./train

metric() { # metric NAME: the value before NAME on stdin
	awk -v k="$1" '{for (i = 2; i <= NF; i++) if ($i == k) print $(i-1)}'
}
printf '%-6s %12s %12s %12s %12s %7s\n' round kiln-save-ms hf-save-ms kiln-prune hf-prune ratio
ks=() hs=()
for r in $(seq "$ROUNDS"); do
	k=$(KILN_BENCH_PRETRAINED="$PWD/$MODEL" KILN_BENCH_DIR="$OUT/kiln" "$bin/train.test" \
		-test.run '^$' -test.bench CheckpointSave -test.benchtime "${SAVES}x" 2>/dev/null)
	h=$("$PY" bench/train/save_ref.py "$MODEL" "$SAVES" "$OUT" 2>/dev/null)
	kms=$(metric save-ms <<<"$k") kp=$(metric prune-ms <<<"$k")
	hms=$(awk '{print $2}' <<<"$h") hp=$(awk '{print $4}' <<<"$h")
	ks+=("$kms") hs+=("$hms")
	printf '%-6s %12s %12s %12s %12s %7.2f\n' "$r" "$kms" "$hms" "$kp" "$hp" "$(echo "$kms / $hms" | bc -l)"
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
km=$(med "${ks[@]}") hm=$(med "${hs[@]}")
printf '%-6s %12s %12s %12s %12s %7.2f   (target: kiln <= 2x transformers)\n' median "$km" "$hm" "" "" "$(echo "$km / $hm" | bc -l)"
echo "kiln's pieces, last round (copy-ms: tensors to Go, as Float32Values does; not on the save path any more):"
grep -o '[0-9.]* [a-z]*-ms' <<<"$k" | paste -sd' '
rm -rf "$OUT/kiln"
