#!/usr/bin/env bash
# HuggingFace tokenizers for Node (npm tokenizers, pinned): the parity oracle
# for the tokenizers package (HF's Rust core, a newer release than the one
# transformers 4.40 pins in the Python env).
#   $KILN_CACHE/node-tokenizers-<ver>/node_modules/tokenizers
#   build/node -> $KILN_CACHE/node-tokenizers-<ver>
# --check: exit 1 if it is not installed, change nothing.
source "$(dirname "$0")/lib.sh"

TOK_VERSION="0.23.2"
dir="$KILN_CACHE/node-tokenizers-$TOK_VERSION"
link="$BUILD_DIR/node"

if [[ "${1:-}" == "--check" ]]; then
	[[ -f "$dir/.kiln-complete" && "$(readlink -f "$link")" == "$(readlink -f "$dir")" ]] || { echo "node: tokenizers@$TOK_VERSION missing ($link)"; exit 1; }
	echo "node: ok ($dir)"
	exit 0
fi

if [[ ! -f "$dir/.kiln-complete" ]]; then
	command -v npm >/dev/null || die "npm is needed for the tokenizers parity oracle (install Node.js 18+)"
	say "installing npm tokenizers@$TOK_VERSION"
	rm -rf "$dir"
	mkdir -p "$dir"
	echo '{"name":"kiln-node-oracle","private":true}' >"$dir/package.json"
	(cd "$dir" && npm install --silent --no-audit --no-fund --save-exact "tokenizers@$TOK_VERSION" >/dev/null 2>&1) ||
		{ rm -rf "$dir"; die "npm install tokenizers@$TOK_VERSION failed"; }
	(cd "$dir" && node -e 'require("tokenizers").Tokenizer' ) || { rm -rf "$dir"; die "tokenizers@$TOK_VERSION does not load in node"; }
	touch "$dir/.kiln-complete"
fi
link_to "$dir" "$link"
