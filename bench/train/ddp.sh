#!/bin/bash
# Data-parallel scaling on one machine, the same global batch (16 rows) and
# steps everywhere: 1 rank × 1 thread, 2 ranks × 1 thread (--nproc-per-node 2,
# batch 8 each), 1 rank × 2 threads. Prints the loop time from metrics.json.
# Usage: bench/train/ddp.sh [rounds]   (run from the repo root after make build)
set -euo pipefail
rounds=${1:-2}
A="train --train testdata/data/sst2/train.csv --model build/pretrained/all-MiniLM-L6-v2 --max-steps 12 --max-length 64 --no-progress --json --save-steps 1000 --lr 1e-4"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for round in $(seq "$rounds"); do
  for c in 1x1 2x1 1x2; do
    case $c in
      1x1) OMP_NUM_THREADS=1 ./bin/kiln $A --out "$tmp/$c" --batch-size 16 >"$tmp/$c.out" 2>&1 ;;
      2x1) OMP_NUM_THREADS=1 ./bin/kiln $A --out "$tmp/$c" --batch-size 8 --nproc-per-node 2 >"$tmp/$c.out" 2>&1 ;;
      1x2) OMP_NUM_THREADS=2 ./bin/kiln $A --out "$tmp/$c" --batch-size 16 >"$tmp/$c.out" 2>&1 ;;
    esac
    echo "round $round ranks x threads $c load $(cut -d' ' -f1 /proc/loadavg) $(python3 -c "import json,sys;m=json.load(open(sys.argv[1]));print('loop %.1f s, %.1f samples/s, %d samples'%(m['train_runtime_s'],m['train_samples_per_sec'],m['train_samples']))" "$tmp/$c/metrics.json")"
    rm -rf "${tmp:?}/$c"
  done
done
