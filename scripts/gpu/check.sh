#!/usr/bin/env bash
# kiln's one-call GPU check (issue 13 §4). `make gpu-bundle` copies this into
# .gpu/ with what it needs; run it from the repository root on a machine with an
# NVIDIA GPU, a C++ compiler and a Python that has torch + transformers:
#
#   bash .gpu/check.sh            # results under $OUT (default out/gpu-check)
#
# No Go and no network are needed. Stages (each PASS, FAIL or SKIP in
# $OUT/summary.txt, whose last line is `gpu-check: N passed, M failed, K skipped`):
#   env       Python, torch, transformers, CUDA as torch sees it
#   unpack    kiln, kiln-bridge and the packed MiniLM from .gpu/ into $WORK
#   bridge    libkilntorch.so built against this machine's torch (cached in
#             $KILN_CACHE/bridge; a rerun skips it), then `kiln doctor`
#   dist      the bridge's data-parallel backends: gloo, and NCCL on a GPU
#   train-*   kiln train and the PyTorch loop (bench/train/hf_train.py) on the
#             same rows/order/batch/length/steps, fp32, bf16, fp16 on CUDA:
#             samples/s ratio, MFU, loss curves, dev accuracy, skipped steps
#   ort-cuda  ONNX Runtime's CUDA provider (onnxruntime-gpu), staged in pieces
#             over earlier calls (scripts/gpu/ortstage.sh): joined, checked and
#             unpacked into .gpu-cache/ort-cuda/lib once all are there, else
#             SKIP "CUDA provider: staged k/n"; it then runs every ONNX stage
#   logits-*  kiln predict --device cuda (libtorch) vs transformers on the same device
#   export    kiln export of the trained model (verified against libtorch on the CPU)
#   export-verify-cuda  kiln export --verify-device cuda: libtorch's forward and
#             ONNX Runtime's CUDA provider on the GPU (auto: libtorch on the GPU
#             against ONNX Runtime's CPU while the provider is not staged)
#   predict-onnx-*  kiln predict --backend onnx --device cuda vs kiln's libtorch logits
#   serve     kiln serve on ONNX Runtime (CUDA provider when its libraries are
#             there, else CPU) + kiln loadtest: p50/p99 open loop, throughput closed loop
# Without a GPU the CUDA stages are SKIPped and CPU stand-ins run instead
# (train-cpu-smoke, logits-cpu, predict-onnx-cpu) so the kit itself is tested
# (make test does).
#
# Env: OUT, KILN_PYTHON (default python3), GPU_CHECK_STEPS (300), GPU_CHECK_BATCH (32),
#      GPU_CHECK_MAXLEN (64), GPU_CHECK_SMOKE_STEPS (3), GPU_CHECK_SMOKE_BATCH (8), GPU_CHECK_LOAD_SECONDS (10),
#      KILN_CACHE (~/.cache/kiln: bridge builds), GPU_CHECK_WORK ($KILN_CACHE/gpu-check: unpacked kit),
#      ONNXRUNTIME_LIB (default: the staged onnxruntime-gpu, else the Python onnxruntime's capi library),
#      KILN_PEAK_TFLOPS_FP32 / _BF16 (default from the GPU's name: H100/H200 67/989).
set -uo pipefail
KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(pwd)"
[[ -d "$ROOT/third_party/gotch/libtch" ]] || { echo "check.sh: run from the kiln repository root" >&2; exit 2; }
OUT="${OUT:-$ROOT/out/gpu-check}"
PY="${KILN_PYTHON:-python3}"
# Outside .gpu/ so the kit stays small enough to travel; the bridge cache is
# kiln's own ($KILN_CACHE/bridge, keyed by libtorch and sources).
KILN_CACHE="${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
WORK="${GPU_CHECK_WORK:-$KILN_CACHE/gpu-check}"
CACHE="$KILN_CACHE"
STEPS="${GPU_CHECK_STEPS:-300}" BATCH="${GPU_CHECK_BATCH:-32}" MAXLEN="${GPU_CHECK_MAXLEN:-64}"
SMOKE_STEPS="${GPU_CHECK_SMOKE_STEPS:-3}" SMOKE_BATCH="${GPU_CHECK_SMOKE_BATCH:-8}" LOAD_S="${GPU_CHECK_LOAD_SECONDS:-10}"
HELPER="$KIT/gpucheck.py"
DATA="$KIT/data"
mkdir -p "$OUT" "$WORK" "$CACHE"
OUT="$(cd "$OUT" && pwd)"
: >"$OUT/results.tsv"
start=$(date +%s)

log() { printf '[%4ds] %s\n' "$(($(date +%s) - start))" "$*" | tee -a "$OUT/check.log" >&2; }
record() { # stage status detail
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$OUT/results.tsv"
	log "$(printf '%-4s' "${2^^}") $1: $3"
}
# run NAME CMD...: run a command with its output in $OUT/NAME.log; status 0/1.
run() {
	local name=$1; shift
	"$@" >"$OUT/$name.log" 2>&1
}
tailof() { tail -n "${2:-3}" "$OUT/$1.log" 2>/dev/null | tr '\n' ' ' | cut -c1-300; }

# ---- env
if ! "$PY" "$HELPER" env >"$OUT/env.json" 2>"$OUT/env.log"; then
	record env fail "$PY cannot run the helper: $(tail -1 "$OUT/env.log")"
	"$PY" "$HELPER" summary "$OUT" 2>/dev/null || echo "gpu-check: 0 passed, 1 failed, 0 skipped" | tee "$OUT/summary.txt"
	exit 1
fi
jget() { "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2], ""); print("" if v is None else v)' "$1" "$2"; }
GPU=0
[[ "$(jget "$OUT/env.json" cuda_available)" == True ]] && GPU=1
TORCH_DIR="$(jget "$OUT/env.json" torch_dir)"
if [[ -z "$(jget "$OUT/env.json" torch)" || -z "$(jget "$OUT/env.json" transformers)" ]]; then
	record env fail "torch/transformers not importable by $PY: $(cat "$OUT/env.json")"
else
	record env pass "torch $(jget "$OUT/env.json" torch), transformers $(jget "$OUT/env.json" transformers), GPU: $([[ $GPU == 1 ]] && jget "$OUT/env.json" gpu || echo none)"
fi
command -v nvidia-smi >/dev/null && nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1

# ---- ONNX Runtime's CUDA provider, staged in pieces by earlier calls
ORTSTAGE="$ROOT/scripts/gpu/ortstage.sh"
ORT_STAGED="" ORT_LDPATH=""
if [[ ! -f "$ORTSTAGE" ]]; then
	record ort-cuda skip "no scripts/gpu/ortstage.sh in $ROOT"
elif ! bash "$ORTSTAGE" stash >"$OUT/ort-cuda.log" 2>&1; then
	record ort-cuda fail "$(tailof ort-cuda 1)"
elif lib="$(bash "$ORTSTAGE" assemble 2>>"$OUT/ort-cuda.log")"; then
	ORT_STAGED="$lib/libonnxruntime.so.1"
	# The provider has no RUNPATH: cuBLAS, cuRAND, the CUDA runtime and cuDNN
	# come from this torch's nvidia-* wheels, found as make setup finds them.
	if [[ -n "$TORCH_DIR" ]]; then
		ORT_LDPATH="$(LIBTORCH="$TORCH_DIR" bash "$ROOT/scripts/setup/torch.sh" --env 2>/dev/null | sed -n 's/^export LD_LIBRARY_PATH=\([^$]*\)\${LD_LIBRARY_PATH.*$/\1/p')"
	fi
	record ort-cuda pass "$(bash "$ORTSTAGE" status); CUDA libraries from ${ORT_LDPATH:-the default loader paths}"
else
	msg="$(bash "$ORTSTAGE" status)"
	if [[ "$msg" == "CUDA provider: staged 0/0" && -f "$KIT/ort-cuda.MANIFEST" ]]; then
		msg="CUDA provider: staged 0/$(awk '$1 == "pieces" { print $2 }' "$KIT/ort-cuda.MANIFEST")"
	fi
	record ort-cuda skip "$msg (pieces travel one per call: docs/gpu.md)"
fi
# ort_env CMD...: CMD with the CUDA provider's libraries on the loader's path.
ort_env() { LD_LIBRARY_PATH="$ORT_LDPATH${ORT_LDPATH:+${LD_LIBRARY_PATH:+:}}${LD_LIBRARY_PATH:-}" "$@"; }

# ---- unpack (cached by the bundle's stamp)
stamp="$(cat "$KIT/STAMP" 2>/dev/null)"
if [[ -n "$stamp" && "$(cat "$WORK/.stamp" 2>/dev/null)" == "$stamp" && -x "$WORK/kiln" ]]; then
	record unpack pass "cached ($stamp)"
elif run unpack bash -c '
	set -e
	"$0" "$1" unxz "$2/kiln.xz" "$3/kiln"
	"$0" "$1" unxz "$2/kiln-bridge.xz" "$3/kiln-bridge"
	"$0" "$1" unpack-model "$2/model" "$3/model"
	rm -rf "$3/cuda-headers"
	if [[ -f "$2/cuda-headers.tar.xz" ]]; then mkdir -p "$3/cuda-headers" && tar -C "$3/cuda-headers" -xJf "$2/cuda-headers.tar.xz"; fi' "$PY" "$HELPER" "$KIT" "$WORK"; then
	echo "$stamp" >"$WORK/.stamp"
	record unpack pass "kiln, kiln-bridge, MiniLM ($(du -sm "$WORK/model" | cut -f1) MiB fp32)"
else
	record unpack fail "$(tailof unpack)"
fi
KILN="$WORK/kiln"
MODEL="$WORK/model"

# ---- bridge against this machine's torch
LT=""
if [[ -n "$TORCH_DIR" && -e "$TORCH_DIR/lib/libtorch_cpu.so" && -d "$TORCH_DIR/include" ]]; then
	LT="$TORCH_DIR"
	# Debian's python3-torch is links into libtorch-dev: build (or reuse) the
	# bridge `make setup` builds for it rather than a second one.
	if [[ "$(readlink -f "$TORCH_DIR/lib/libtorch_cpu.so")" == "$(readlink -f /usr/lib/x86_64-linux-gnu/libtorch_cpu.so 2>/dev/null)" ]]; then
		LT=""
	fi
fi
BRIDGE_OK=0
if [[ ! -x "$WORK/kiln-bridge" ]]; then
	record bridge fail "kiln-bridge missing (unpack failed)"
# The kit's crt/ and nv/ go after the torch's own CUDA headers (g++ searches
# CPLUS_INCLUDE_PATH after -I): only what a pip-installed torch lacks.
elif CPLUS_INCLUDE_PATH="$WORK/cuda-headers${CPLUS_INCLUDE_PATH:+:$CPLUS_INCLUDE_PATH}" \
	run bridge "$WORK/kiln-bridge" -repo "$ROOT" -cache "$CACHE" -libtorch "$LT" -link "$WORK/lib/libkilntorch.so"; then
	BRIDGE_OK=1
	record bridge pass "$(grep '^bridge:' "$OUT/bridge.log" | cut -c1-300)"
else
	record bridge fail "$(tailof bridge 5)"
fi
# The kiln binary's RUNPATH names the bundling machine's build/lib; the
# loader searches LD_LIBRARY_PATH first, so this bridge wins.
export LD_LIBRARY_PATH="$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ((BRIDGE_OK)); then
	"$KILN" doctor >"$OUT/doctor.txt" 2>&1 || true
fi

# ---- dist: the data-parallel backends this bridge has (kiln doctor). NCCL
# needs a GPU per rank, so one GPU can only show that it compiled and links.
distline() { sed -n "s/^ *\(distributed \)\? *$1: //p" "$OUT/doctor.txt" 2>/dev/null | head -1; }
if ((!BRIDGE_OK)); then
	record dist fail "no bridge"
elif [[ "$(distline gloo)" != yes ]]; then
	record dist fail "gloo: $(distline gloo)"
elif ((!GPU)); then
	record dist skip "no GPU (gloo: yes; nccl: $(distline nccl))"
elif [[ "$(distline nccl)" == yes ]]; then
	record dist pass "gloo and nccl compiled into the bridge (a run needs a GPU per rank: 2+ GPUs)"
else
	record dist fail "nccl: $(distline nccl)"
fi

# ---- training: kiln vs the PyTorch loop
peak() { # precision → TFLOP/s for MFU
	local p=$1 name v
	name="$(jget "$OUT/env.json" gpu)"
	case $p in
	fp32) v="${KILN_PEAK_TFLOPS_FP32:-}" ;;
	*) v="${KILN_PEAK_TFLOPS_BF16:-}" ;;
	esac
	if [[ -z "$v" ]]; then
		case "$name:$p" in
		*H100*:fp32 | *H200*:fp32) v=67 ;;
		*H100*:* | *H200*:*) v=989 ;;
		*A100*:fp32) v=19.5 ;;
		*A100*:*) v=312 ;;
		*L4*:fp32) v=30 ;;
		*L4*:*) v=121 ;;
		*) v=0 ;;
		esac
	fi
	echo "$v"
}
TRAIN="$DATA/train.csv" DEV="$DATA/dev.csv"
common=(--train "$TRAIN" --valid "$DEV" --model "$MODEL" --batch-size "$BATCH" --max-length "$MAXLEN" --lr 5e-5 --seed 1)
kiln_train() { # name device precision steps
	local name=$1 dev=$2 prec=$3 steps=$4
	mkdir -p "$OUT/train"
	rm -rf "$OUT/train/$name"
	run "train-$name" "$KILN" train "${common[@]}" --max-steps "$steps" --device "$dev" --precision "$prec" \
		--out "$OUT/train/$name" --no-shuffle --group-by-length=false --no-progress --log-steps 1 \
		--save-total-limit 1 --peak-tflops "$(peak "$prec")"
}
torch_train() {
	local name=$1 dev=$2 prec=$3 steps=$4
	mkdir -p "$OUT/train"
	rm -rf "$OUT/train/$name"
	run "train-$name" "$PY" "$ROOT/bench/train/hf_train.py" "${common[@]}" --max-steps "$steps" --device "$dev" \
		--precision "$prec" --out "$OUT/train/$name" --no-shuffle --log-steps 25
}
metric() { [[ -f "$1" ]] && jget "$1" "$2"; }
TRAINED=""
if ((GPU)); then
	for prec in fp32 bf16 fp16; do
		if ((!BRIDGE_OK)); then
			record "train-cuda-$prec" fail "no bridge"
			continue
		fi
		kiln_train "kiln-$prec" cuda "$prec" "$STEPS"
		k=$?
		torch_train "torch-$prec" cuda "$prec" "$STEPS"
		t=$?
		ks="$(metric "$OUT/train/kiln-$prec/metrics.json" train_samples_per_sec)"
		ts="$(metric "$OUT/train/torch-$prec/metrics.json" train_samples_per_sec)"
		if ((k == 0 && t == 0)); then
			record "train-cuda-$prec" pass "kiln $ks samples/s, torch $ts samples/s, dev acc kiln $(metric "$OUT/train/kiln-$prec/metrics.json" eval_accuracy) torch $(metric "$OUT/train/torch-$prec/metrics.json" eval_accuracy)"
			[[ $prec == fp32 ]] && TRAINED="$OUT/train/kiln-$prec"
		else
			record "train-cuda-$prec" fail "kiln exit $k: $(tailof "train-kiln-$prec" 2); torch exit $t: $(tailof "train-torch-$prec" 2)"
		fi
	done
else
	for prec in fp32 bf16 fp16; do record "train-cuda-$prec" skip "no CUDA device"; done
	# The same plumbing on the CPU, a few steps: both trainers run, log finite
	# losses that start where a fresh 2-class head starts (~ln 2).
	if ((BRIDGE_OK)); then
		# Only the rows the steps use, and 128 dev rows: tokenising all 60k
		# training rows and evaluating all 872 would dominate a CPU smoke run.
		head -n $((SMOKE_STEPS * SMOKE_BATCH + 1)) "$TRAIN" >"$OUT/train-smoke.csv"
		head -n 129 "$DEV" >"$OUT/dev-smoke.csv"
		common=(--train "$OUT/train-smoke.csv" --valid "$OUT/dev-smoke.csv" --model "$MODEL" --batch-size "$SMOKE_BATCH" --max-length "$MAXLEN" --lr 5e-5 --seed 1)
		kiln_train kiln-cpu cpu fp32 "$SMOKE_STEPS"
		k=$?
		torch_train torch-cpu cpu fp32 "$SMOKE_STEPS"
		t=$?
		first() { "$PY" -c '
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
v = next(r["loss"] for r in rows if isinstance(r.get("loss"), (int, float)))
print(v if math.isfinite(v) else "nan")' "$1" 2>/dev/null; }
		kl="$(first "$OUT/train/kiln-cpu/log.jsonl")"
		tl="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["loss_curve"][0]["loss"])' "$OUT/train/torch-cpu/metrics.json" 2>/dev/null)"
		if ((k == 0 && t == 0)) && "$PY" -c 'import sys; k, t = map(float, sys.argv[1:]); sys.exit(not (0.2 < k < 1.5 and 0.2 < t < 1.5))' "$kl" "$tl" 2>/dev/null; then
			record train-cpu-smoke pass "$SMOKE_STEPS steps each; first loss kiln $kl, torch $tl"
			TRAINED="$OUT/train/kiln-cpu"
		else
			record train-cpu-smoke fail "kiln exit $k (first loss $kl): $(tailof train-kiln-cpu 2); torch exit $t (first loss $tl): $(tailof train-torch-cpu 2)"
		fi
	else
		record train-cpu-smoke fail "no bridge"
	fi
fi

# ---- logits: kiln (libtorch) vs transformers on the same device
N_LOGITS=64
logits_stage() { # stage device tolerance
	local stage=$1 dev=$2 tol=$3 devflag=()
	if [[ -z "$TRAINED" ]]; then
		record "$stage" fail "no trained model to compare"
		return
	fi
	head -n $((N_LOGITS + 1)) "$DEV" >"$OUT/logits-rows.csv"
	if [[ $dev != cpu ]]; then
		if ! "$KILN" predict --help 2>&1 | grep -q -- '--device'; then
			record "$stage" skip "kiln predict has no --device yet (issue 13 §3)"
			return
		fi
		devflag=(--device "$dev")
	fi
	if ! run "$stage-kiln" "$KILN" predict --model "$TRAINED" --input "$OUT/logits-rows.csv" --logits --json \
		--max-length 128 --output "$OUT/$stage-kiln.jsonl" "${devflag[@]}"; then
		record "$stage" fail "kiln predict: $(tailof "$stage-kiln" 2)"
		return
	fi
	if ! run "$stage-hf" "$PY" "$HELPER" hf-logits "$TRAINED" "$OUT/logits-rows.csv" "$N_LOGITS" "$dev" "$OUT/$stage-hf.json"; then
		record "$stage" fail "transformers: $(tailof "$stage-hf" 2)"
		return
	fi
	if run "$stage-compare" "$PY" "$HELPER" compare-logits "$OUT/$stage-kiln.jsonl" "$OUT/$stage-hf.json" "$tol"; then
		record "$stage" pass "$N_LOGITS dev rows, $(tailof "$stage-compare" 1)"
	else
		record "$stage" fail "$N_LOGITS dev rows, $(tailof "$stage-compare" 1)"
	fi
}
if ((GPU)); then
	logits_stage logits-cuda cuda 1e-3
else
	record logits-cuda skip "no CUDA device"
	logits_stage logits-cpu cpu 1e-4
fi

# ---- export + serve + loadtest on ONNX Runtime
ORT="${ONNXRUNTIME_LIB:-$ORT_STAGED}"
if [[ -z "$ORT" ]]; then
	ORT="$("$PY" -c 'import glob, os, onnxruntime as o; c = sorted(glob.glob(os.path.join(os.path.dirname(o.__file__), "capi", "libonnxruntime.so*"))); print(c[-1] if c else "")' 2>/dev/null)"
fi
EXPORT="$WORK/export"
if [[ -z "$TRAINED" ]]; then
	record export fail "no trained model"
elif ONNXRUNTIME_LIB="$ORT" ort_env run export "$KILN" export --model "$TRAINED" --out "$EXPORT" --force; then
	record export pass "$(grep -m1 -i 'verif' "$OUT/export.log" | cut -c1-200)"
else
	record export fail "$(tailof export 3)"
fi
ORT_CUDA=0 # ONNX Runtime's CUDA provider usable: staged, and a GPU
((GPU)) && [[ -n "$ORT_STAGED" && "$ORT" == "$ORT_STAGED" ]] && ORT_CUDA=1
if ((!GPU)); then
	record export-verify-cuda skip "no CUDA device"
elif [[ -z "$TRAINED" ]]; then
	record export-verify-cuda fail "no trained model"
else
	vdev=cuda
	((ORT_CUDA)) || vdev=auto # libtorch on the GPU all the same
	if ONNXRUNTIME_LIB="$ORT" ort_env run export-verify-cuda "$KILN" export --model "$TRAINED" --out "$WORK/export-cuda" --force --verify-device "$vdev"; then
		detail="$(grep -m1 '^verify ' "$OUT/export-verify-cuda.log" | cut -c1-240)"
		((ORT_CUDA)) || detail="$detail ($(bash "$ORTSTAGE" status))"
		record export-verify-cuda pass "--verify-device $vdev: $detail"
	else
		record export-verify-cuda fail "--verify-device $vdev: $(tailof export-verify-cuda 3)"
	fi
fi
# predict_onnx STAGE DEVICE REF_JSONL TOL: kiln predict on the export vs
# kiln's libtorch logits of the same rows (logits stage) on the same device.
# The CUDA provider serves with TF32 matrix products (libtorch does not), so
# its tolerance is wider; export-verify-cuda holds it to float32's 1e-4.
predict_onnx() {
	local stage=$1 dev=$2 ref=$3 tol=$4
	if [[ ! -f "$EXPORT/model.onnx" ]]; then
		record "$stage" fail "no export"
	elif [[ ! -f "$ref" ]]; then
		record "$stage" fail "no libtorch logits to compare with ($ref)"
	elif ! ONNXRUNTIME_LIB="$ORT" ort_env run "$stage" "$KILN" predict --backend onnx --device "$dev" --model "$EXPORT" \
		--input "$OUT/logits-rows.csv" --logits --json --max-length 128 --output "$OUT/$stage.jsonl"; then
		record "$stage" fail "kiln predict --backend onnx --device $dev: $(tailof "$stage" 2)"
	elif run "$stage-compare" "$PY" "$HELPER" compare-logits "$OUT/$stage.jsonl" "$ref" "$tol"; then
		record "$stage" pass "--device $dev vs libtorch, $N_LOGITS dev rows, $(tailof "$stage-compare" 1)$(grep -m1 '^predict: ' "$OUT/$stage.log" | cut -c1-120 | sed 's/^/; /')"
	else
		record "$stage" fail "--device $dev vs libtorch, $N_LOGITS dev rows, $(tailof "$stage-compare" 1)"
	fi
}
if ((!GPU)); then
	record predict-onnx-cuda skip "no CUDA device"
	predict_onnx predict-onnx-cpu auto "$OUT/logits-cpu-kiln.jsonl" 1e-4
elif ((ORT_CUDA)); then
	predict_onnx predict-onnx-cuda cuda "$OUT/logits-cuda-kiln.jsonl" 1e-2
else
	record predict-onnx-cuda skip "$(bash "$ORTSTAGE" status)"
fi
if [[ -z "$ORT" || ! -e "$ORT" ]]; then
	record serve fail "no ONNX Runtime library (set ONNXRUNTIME_LIB or pip install onnxruntime)"
elif [[ ! -f "$EXPORT/model.onnx" ]]; then
	record serve fail "no export"
else
	PORT=$((20000 + RANDOM % 20000))
	ONNXRUNTIME_LIB="$ORT" ort_env "$KILN" serve --model "$EXPORT" --addr "127.0.0.1:$PORT" --device auto >"$OUT/serve.log" 2>&1 &
	server=$!
	for _ in $(seq 1 120); do
		"$KILN" healthcheck --url "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
		kill -0 "$server" 2>/dev/null || break
		sleep 0.5
	done
	# The provider the sessions really use, from /info (a fallback's warning in
	# the log names CUDA too).
	"$PY" -c 'import json, sys, urllib.request; i = json.load(urllib.request.urlopen(sys.argv[1], timeout=5)); print(i.get("execution_provider", "unknown"), ("(auto fell back: %s…)" % i["device_fallback_reason"][-120:]) if i.get("device_fallback_reason") else "")' \
		"http://127.0.0.1:$PORT/info" >"$OUT/serve-provider.txt" 2>/dev/null || echo unknown >"$OUT/serve-provider.txt"
	if ! kill -0 "$server" 2>/dev/null; then
		record serve fail "kiln serve exited: $(tail -3 "$OUT/serve.log" | tr '\n' ' ' | cut -c1-300)"
	else
		url="http://127.0.0.1:$PORT/predict"
		lt_ok=1
		run loadtest-latency "$KILN" loadtest "$url" --rate 50 --duration "${LOAD_S}s" --warmup 1s \
			--data "$DEV" --column text --json "$OUT/loadtest-latency.json" -q || lt_ok=0
		run loadtest-throughput "$KILN" loadtest "$url" --clients 32 --duration "${LOAD_S}s" --warmup 1s \
			--data "$DEV" --column text --json "$OUT/loadtest-throughput.json" -q || lt_ok=0
		if ((lt_ok)); then
			lat() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.1f" % (d["latency"][sys.argv[2]] if sys.argv[2] != "throughput" else d["throughput"]))' "$@" 2>/dev/null || echo "?"; }
			record serve pass "$(cut -d' ' -f1 "$OUT/serve-provider.txt"): p50 $(lat "$OUT/loadtest-latency.json" p50_ms) ms, p99 $(lat "$OUT/loadtest-latency.json" p99_ms) ms at 50 req/s; $(lat "$OUT/loadtest-throughput.json" throughput) req/s with 32 clients"
		else
			record serve fail "loadtest: $(tailof loadtest-latency 2) $(tailof loadtest-throughput 2)"
		fi
	fi
	kill "$server" 2>/dev/null
	wait "$server" 2>/dev/null
fi
provider="$(cut -d' ' -f1 "$OUT/serve-provider.txt" 2>/dev/null)"
if ((!GPU)); then
	record serve-cuda skip "no CUDA device"
elif ((ORT_CUDA)) && [[ "$provider" == CUDAExecutionProvider ]]; then
	record serve-cuda pass "kiln serve --device auto runs on ONNX Runtime's CUDA provider (figures: the serve stage)"
elif ((ORT_CUDA)); then
	record serve-cuda fail "the staged CUDA provider is there, yet serve ran on ${provider:-nothing}: $(cat "$OUT/serve-provider.txt" 2>/dev/null | cut -c1-240)"
else
	record serve-cuda skip "$(bash "$ORTSTAGE" status) (stage the pieces: docs/gpu.md)"
fi

log "done in $(($(date +%s) - start)) s"
"$PY" "$HELPER" summary "$OUT"
