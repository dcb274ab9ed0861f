#!/usr/bin/env bash
# make setup: install everything kiln's build, tests and demo need, idempotently.
# Each step is its own script under scripts/setup/ (the Dockerfile runs only the
# ones an image needs). `scripts/setup.sh --check` reports without changing anything.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=(apt onnxruntime node venv torch bridge)
status=0
for s in "${steps[@]}"; do
	script="scripts/setup/$s.sh"
	[[ -f "$script" ]] || { echo "setup: $script is missing" >&2; exit 1; }
	if [[ "${1:-}" == "--check" ]]; then
		bash "$script" --check || status=1
	else
		bash "$script"
	fi
done
exit $status
