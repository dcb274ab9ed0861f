#!/usr/bin/env bash
# make bench: every benchmark, each printing a table with ratios against its
# named peer measured in the same run. Pick some with: bench/run.sh tokenizers serve
# Figures are recorded, with the command, in bench/RESULTS.md (and per area in
# bench/<area>/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")"
areas=("$@")
if ((${#areas[@]} == 0)); then
	for d in */run.sh; do areas+=("${d%/run.sh}"); done
fi
failed=()
for a in "${areas[@]}"; do
	[[ -x "$a/run.sh" || -f "$a/run.sh" ]] || { echo "bench: no benchmark named $a" >&2; exit 2; }
	echo "== bench/$a =="
	bash "$a/run.sh" || failed+=("$a")
	echo
done
if ((${#failed[@]})); then
	echo "bench: failed: ${failed[*]}" >&2
	exit 1
fi
