# Shared helpers for scripts/setup/*.sh. Sourced, not executed.
# Every step is idempotent: it checks what is present, installs only what is
# missing into $KILN_CACHE, and (re)points the link under build/ at it.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KILN_CACHE="${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
export KILN_CACHE
BUILD_DIR="$REPO_ROOT/build"
# KILN_SETUP_QUIET=1 silences the progress lines (the checks still print failures).
say() { [[ "${KILN_SETUP_QUIET:-0}" == 1 ]] || echo "setup: $*" >&2; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

# link_to TARGET LINK: point LINK at TARGET, replacing an old link but never a real
# directory or file (that would be user data; refuse instead).
link_to() {
	local target="$1" link="$2"
	mkdir -p "$(dirname "$link")"
	if [[ -L "$link" ]]; then
		[[ "$(readlink "$link")" == "$target" ]] && return 0
		rm -f "$link"
	elif [[ -e "$link" ]]; then
		die "$link exists and is not a symlink; remove it and run setup again"
	fi
	ln -s "$target" "$link"
	say "linked ${link#"$REPO_ROOT"/} -> $target"
}

# short_hash FILE...|-: first 12 hex digits of the sha256 of the inputs.
short_hash() { cat "$@" | sha256sum | cut -c1-12; }
