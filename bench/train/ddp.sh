#!/bin/bash
# Data-parallel scaling on one machine, the same global batch and steps
# everywhere, the configurations interleaved in each round (a loaded machine
# then slows them alike): 1 rank × 1 thread, 2 ranks × 1 thread
# (--nproc-per-node 2, half the batch each) with the all-reduce overlapped
# with backward (c10d's Reducer, the default) and after backward
# (--dist-no-overlap), 1 rank × 2 threads. Prints the loop time from
# metrics.json.
# Usage: bench/train/ddp.sh [rounds] [global batch] [steps]
#        (run from the repo root after make build; DDP_CONFIGS="1x1 2x1-overlap"
#        runs a subset)
set -euo pipefail
rounds=${1:-2}
batch=${2:-16}
steps=${3:-12}
A="train --train testdata/data/sst2/train.csv --model build/pretrained/all-MiniLM-L6-v2 --max-steps $steps --max-length 64 --no-progress --json --save-steps 1000 --lr 1e-4"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for round in $(seq "$rounds"); do
  for c in ${DDP_CONFIGS:-1x1 2x1-overlap 2x1-after 1x2}; do
    case $c in
      1x1) OMP_NUM_THREADS=1 ./bin/kiln $A --out "$tmp/$c" --batch-size "$batch" >"$tmp/$c.out" 2>&1 ;;
      2x1-overlap) OMP_NUM_THREADS=1 ./bin/kiln $A --out "$tmp/$c" --batch-size $((batch / 2)) --nproc-per-node 2 >"$tmp/$c.out" 2>&1 ;;
      2x1-after) OMP_NUM_THREADS=1 ./bin/kiln $A --out "$tmp/$c" --batch-size $((batch / 2)) --nproc-per-node 2 --dist-no-overlap >"$tmp/$c.out" 2>&1 ;;
      1x2) OMP_NUM_THREADS=2 ./bin/kiln $A --out "$tmp/$c" --batch-size "$batch" >"$tmp/$c.out" 2>&1 ;;
    esac
    echo "round $round ranks x threads $c load $(cut -d' ' -f1 /proc/loadavg) $(python3 -c "import json,sys;m=json.load(open(sys.argv[1]));print('loop %.2f s, %.1f samples/s, %d samples%s'%(m['train_runtime_s'],m['train_samples_per_sec'],m['train_samples'],', all-reduce after backward %.0f ms/step'%m['allreduce_ms_per_step'] if 'allreduce_ms_per_step' in m and 'allreduce_overlapped' not in m else (', overlapped' if 'allreduce_overlapped' in m else '')))" "$tmp/$c/metrics.json")"
    rm -rf "${tmp:?}/$c"
  done
done
