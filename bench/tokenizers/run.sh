#!/usr/bin/env bash
# Tokenizer encode benchmark: kiln's pure-Go tokenizers vs HuggingFace
# tokenizers (the Rust library through its Python binding, build/venv) on the
# same corpus and the same tokenizer.json, in one run:
#   single  one thread: kiln Encode in one goroutine (GOMAXPROCS=1) vs HF
#           encode_batch with RAYON_NUM_THREADS=1 (target kiln/HF >= 1.0x);
#           HF's per-call Python loop (single-loop) is shown for reference;
#   batch   all cores: kiln EncodeBatch vs HF encode_batch.
# ROUNDS alternating runs per side, median reported. Add special tokens: yes.
# With HFRUST=1 (after bench/tokenizers/build_hfrust.sh) it also measures HF's
# Rust library in process through github.com/daulet/tokenizers (cgo, single
# thread, one Encode call per line) as a second peer.
# Usage: bench/tokenizers/run.sh   (env: ROUNDS, TOKENIZERS, HFRUST)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
PY=${KILN_PYTHON:-build/venv/bin/python}
OUT=${OUT:-build/bench/tokenizers}
TOKENIZERS=${TOKENIZERS:-"bert-base-uncased roberta-base t5-small"}
mkdir -p "$OUT"
BIN="$OUT/tokenizers-bench"
go build -o "$BIN" ./bench/tokenizers
HFRUST=${HFRUST:-0}
if [[ $HFRUST == 1 ]]; then
	[[ -f build/hfrust/libtokenizers.a ]] || { echo "HFRUST=1: run bench/tokenizers/build_hfrust.sh first" >&2; exit 2; }
	CGO_LDFLAGS="-L$PWD/build/hfrust" go build -tags hfrust -o "$BIN-hfrust" ./bench/tokenizers
fi
CORPUS="$OUT/corpus.txt"
SHARED=${KILN_SHARED_DATA:-../shared/data}
if [[ ! -s "$CORPUS" ]]; then
	# Real text: WikiText-2 test (raw) + AG News test + SST-2 dev, one sequence per line.
	"$PY" - "$SHARED" "$CORPUS" <<'PYEOF'
import csv, sys
base, out = sys.argv[1], sys.argv[2]
lines = [l for l in open(f"{base}/wikitext2_raw/wiki.test.raw", encoding="utf-8").read().split("\n") if l.strip()]
for name in ("ag_news/test.csv", "sst2/dev.csv"):
    with open(f"{base}/{name}", newline="", encoding="utf-8") as f:
        lines += [r["text"].replace("\n", " ") for r in csv.DictReader(f)]
open(out, "w", encoding="utf-8").write("\n".join(lines) + "\n")
PYEOF
fi
: >"$OUT/results.jsonl"
echo "tokenizers bench: corpus $(wc -l <"$CORPUS") lines, $(($(wc -c <"$CORPUS") / 1000)) kB; rounds=$ROUNDS; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for tok in $TOKENIZERS; do
	json="testdata/tokenizers/$tok/tokenizer.json"
	for r in $(seq "$ROUNDS"); do
		for mode in single batch; do
			"$BIN" --tokenizer "$json" --name "$tok" --corpus "$CORPUS" --mode "$mode" >>"$OUT/results.jsonl"
			"$PY" bench/tokenizers/hf_peer.py --tokenizer "$json" --name "$tok" --corpus "$CORPUS" --mode "$mode" >>"$OUT/results.jsonl"
		done
		if [[ $HFRUST == 1 ]]; then
			"$BIN-hfrust" --impl hf-rust --tokenizer "$json" --name "$tok" --corpus "$CORPUS" --mode single >>"$OUT/results.jsonl"
		fi
		if [[ $r == 1 ]]; then
			"$PY" bench/tokenizers/hf_peer.py --tokenizer "$json" --name "$tok" --corpus "$CORPUS" --mode single-loop >>"$OUT/results.jsonl"
		fi
	done
done
"$PY" - "$OUT/results.jsonl" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(tok, impl, mode, key):
    v = [r[key] for r in rows if r["tokenizer"] == tok and r["impl"] == impl and r["mode"] == mode]
    return statistics.median(v) if v else float("nan")
def count(tok, impl, mode):
    v = [r["tokens"] for r in rows if r["tokenizer"] == tok and r["impl"] == impl and r["mode"] == mode]
    return v[0] if v else -1
print(f"{'tokenizer':18} {'mode':7} {'kiln MB/s':>10} {'HF MB/s':>9} {'kiln tok/s':>12} {'HF tok/s':>12} {'kiln/HF':>8}  tokens equal")
for tok in dict.fromkeys(r["tokenizer"] for r in rows):
    for mode in ("single", "batch"):
        k, h = med(tok, "kiln", mode, "mb_per_s"), med(tok, "hf-tokenizers-py", mode, "mb_per_s")
        kt, ht = med(tok, "kiln", mode, "tokens_per_s"), med(tok, "hf-tokenizers-py", mode, "tokens_per_s")
        eq = count(tok, "kiln", mode) == count(tok, "hf-tokenizers-py", mode)
        print(f"{tok:18} {mode:7} {k:10.2f} {h:9.2f} {kt:12.0f} {ht:12.0f} {k/h:7.2f}x  {eq}")
    loop = med(tok, "hf-tokenizers-py", "single-loop", "mb_per_s")
    print(f"{tok:18} {'(HF python encode() loop, 1 thread)':>40} {loop:.2f} MB/s")
    rust = med(tok, "hf-rust", "single", "mb_per_s")
    if rust == rust:  # measured (HFRUST=1)
        k = med(tok, "kiln", "single", "mb_per_s")
        eq = count(tok, "kiln", "single") == count(tok, "hf-rust", "single")
        print(f"{tok:18} {'(HF Rust in process via cgo, 1 thread)':>40} {rust:.2f} MB/s  kiln/hf-rust {k/rust:.2f}x  tokens equal {eq}")
PYEOF
