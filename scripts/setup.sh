#!/usr/bin/env bash
# Idempotent set-up: every step checks before it installs. Owned by the infra work (issue 2).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "setup: TODO" >&2
