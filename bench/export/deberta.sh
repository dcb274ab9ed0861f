#!/usr/bin/env bash
# DeBERTa row of the export benchmark: a DeBERTa-v3-xsmall-shaped classifier
# (12 layers, hidden 384, 6 heads, FFN 1536, v3's relative attention with 256
# log buckets; random weights from transformers, vocabulary cut to 32000 to keep
# the files small — the embedding lookup does not change the per-call cost)
# exported by kiln (plain graph: --optimize does not apply to DeBERTa) and by HF
# Optimum, timed on ONNX Runtime CPU against the models/torch forward, batch 1
# and 8 at sequence 128, one intra-op thread, interleaved, CPU time per call
# compared (see run.sh for why).
# Usage: bench/export/deberta.sh   (env: THREADS BUDGET MIN_ITERS OUT FRESH)
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${THREADS:-1}
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$PWD/build/onnxruntime/lib/libonnxruntime.so.1}
OUT=${OUT:-build/bench/export-deberta}
PY=${KILN_PYTHON:-build/venv/bin/python}
KILN=$OUT/kiln
mkdir -p "$OUT"
go build -o "$KILN" ./cmd/kiln
go build -o "$OUT/export-bench" ./bench/export

ckpt=$OUT/checkpoint
if [ -n "${FRESH:-}" ] || [ ! -f "$ckpt/model.safetensors" ]; then
	"$PY" - "$ckpt" <<'PY'
import sys, torch, transformers as tf
torch.manual_seed(0)
cfg = tf.DebertaV2Config(vocab_size=32000, hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                         intermediate_size=1536, max_position_embeddings=512, relative_attention=True,
                         pos_att_type=["p2c", "c2p"], position_buckets=256, max_relative_positions=-1,
                         share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False,
                         type_vocab_size=0, layer_norm_eps=1e-7, pooler_hidden_act="gelu", num_labels=2)
tf.DebertaV2ForSequenceClassification(cfg).eval().save_pretrained(sys.argv[1], safe_serialization=True)
PY
	cp testdata/tokenizers/bert-base-uncased/tokenizer.json "$ckpt/"
	rm -rf "$OUT/optimum"
fi
"$KILN" export --model "$ckpt" --out "$OUT/kiln-plain" --force >"$OUT/kiln-plain.log" 2>&1
grep -h "^verify " "$OUT/kiln-plain.log"
[ -f "$OUT/optimum/model.onnx" ] || "$PY" export/testdata/optimum_export.py "$ckpt" "$OUT/optimum" >"$OUT/optimum.log" 2>&1

echo "machine: $(nproc --all) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); intra-op threads $OMP_NUM_THREADS"
"$OUT/export-bench" --checkpoint "$ckpt" --threads "$OMP_NUM_THREADS" --budget "${BUDGET:-3s}" --min-iters "${MIN_ITERS:-5}" \
	--batches 1,8 --onnx "kiln-plain=$OUT/kiln-plain,optimum=$OUT/optimum" \
	--pairs "kiln-plain/libtorch,kiln-plain/optimum" 2>"$OUT/bench.log"
