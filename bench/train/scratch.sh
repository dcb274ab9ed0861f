#!/usr/bin/env bash
# Real-data run (2): a small BERT (2 layers, hidden 128, bench/train/scratch-config.json)
# trained from scratch on SST-2 with kiln's own WordPiece tokenizer (8000 tokens)
# trained by `kiln tokenizer train` on the training split's text only.
# Usage: bench/train/scratch.sh [train.csv]   (default /work/shared/data/sst2/train.csv)
# Env:   EPOCHS (1), BS (64), LR (1e-3), MAXLEN (64), SEED (42)
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAIN=${1:-/work/shared/data/sst2/train.csv}
DEV=testdata/data/sst2/dev.csv
OUT=${OUT:-build/bench/train/scratch}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
EPOCHS=${EPOCHS:-1} BS=${BS:-64} LR=${LR:-1e-3} MAXLEN=${MAXLEN:-64} SEED=${SEED:-42}
KILN=${KILN_BIN:-bin/kiln}
[ -x "$KILN" ] || go build -o "$KILN" ./cmd/kiln
PY=${KILN_PYTHON:-build/venv/bin/python}
mkdir -p "$OUT"
# The tokenizer sees the training text only (one row per line).
"$PY" -c "
import csv, sys
with open(sys.argv[1], newline='') as f, open(sys.argv[2], 'w') as o:
    for r in csv.DictReader(f): o.write(r['text'].replace('\n', ' ') + '\n')
" "$TRAIN" "$OUT/corpus.txt"
"$KILN" tokenizer train --model wordpiece --vocab-size 8000 --no-progress --out "$OUT/tok" "$OUT/corpus.txt"
rm -rf "$OUT/model"
/usr/bin/time -v "$KILN" train --train "$TRAIN" --valid "$DEV" --model bench/train/scratch-config.json \
	--tokenizer "$OUT/tok/tokenizer.json" --out "$OUT/model" --epochs "$EPOCHS" --batch-size "$BS" --lr "$LR" \
	--max-length "$MAXLEN" --warmup-ratio 0.1 --weight-decay 0.01 --seed "$SEED" --eval-steps 200 \
	--no-progress --save-total-limit 1 2> "$OUT/kiln.log" || { tail -20 "$OUT/kiln.log"; exit 1; }
grep -E "Elapsed|Maximum resident|User time|System time" "$OUT/kiln.log"
cat "$OUT/model/metrics.json"
