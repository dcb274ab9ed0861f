#!/usr/bin/env bash
# bench/tokenizers-train: time to train a 30k WordPiece and a 30k byte-level
# BPE vocabulary, kiln (tokenizers/trainers: streaming parallel word count +
# trainer) vs HuggingFace `tokenizers` (build/venv, Rust, rayon on all cores)
# on the same corpus with the same pipeline and settings, in one run.
#
#   bench/run.sh tokenizers-train        # or: bash bench/tokenizers-train/run.sh
#   ROUNDS=3 VOCAB=30000 bash bench/tokenizers-train/run.sh
#   KINDS="unigram" VOCAB=8000 bash bench/tokenizers-train/run.sh   # Unigram too
#
# Corpus: WikiText-2 raw test + the SST-2 train sentences + AG News test texts
# from ../shared/data (about 6 MB of English text). Each round trains kiln then
# HF; the table shows the median seconds and kiln/HF (< 1 means kiln is faster),
# and the vocabulary overlap of the two results.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-3}
VOCAB=${VOCAB:-30000}
GO=${GO:-go}
PY=${KILN_PYTHON:-$root/build/venv/bin/python}
data=${KILN_SHARED_DATA:-$root/../shared/data}
work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-tokt.XXXXXX")
trap 'rm -rf "$work"' EXIT

[[ -x $PY ]] || { echo "bench/tokenizers-train: $PY missing (make setup)" >&2; exit 1; }
$GO build -o "$work/kilntrain" ./bench/tokenizers-train/kilntrain

corpus=$work/corpus.txt
"$PY" - "$data" "$corpus" <<'PYEOF'
import csv, sys
data, out = sys.argv[1], sys.argv[2]
with open(out, "w", encoding="utf-8") as w:
    w.write(open(f"{data}/wikitext2_raw/wiki.test.raw", encoding="utf-8").read())
    for path, col in ((f"{data}/sst2/train.csv", "text"), (f"{data}/ag_news/test.csv", "text")):
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                w.write(row[col].replace("\n", " ") + "\n")
PYEOF
printf 'corpus: %s bytes, %s lines; cores: %s\n' "$(wc -c <"$corpus")" "$(wc -l <"$corpus")" "$(nproc)"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '\n%-15s %7s %12s %12s %10s   %s\n' model vocab "kiln s" "HF s" "kiln/HF" "vocabulary vs HF"
for kind in ${KINDS:-wordpiece bytelevel-bpe}; do
	: >"$work/k.txt"; : >"$work/h.txt"
	for ((r = 0; r < ROUNDS; r++)); do
		"$work/kilntrain" -kind "$kind" -vocab "$VOCAB" -out "$work/kiln-$kind" "$corpus" |
			"$PY" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])' >>"$work/k.txt"
		"$PY" bench/tokenizers-train/hf_train.py "$kind" "$VOCAB" "$work/hf-$kind.json" "$corpus" |
			"$PY" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])' >>"$work/h.txt"
	done
	k=$(median <"$work/k.txt"); h=$(median <"$work/h.txt")
	ov=$("$PY" - "$work/kiln-$kind/tokenizer.json" "$work/hf-$kind.json" <<'PYEOF'
import json, sys
ma = json.load(open(sys.argv[1]))["model"]; mb = json.load(open(sys.argv[2]))["model"]
a, b = ma["vocab"], mb["vocab"]
if isinstance(a, list):  # Unigram: [piece, score] in id order
    a = {p: i for i, (p, _) in enumerate(a)}
    b = {p: i for i, (p, _) in enumerate(b)}
same = sum(1 for t, i in a.items() if b.get(t) == i)
msg = f"{100*len(set(a)&set(b))/len(b):.2f}% ({same}/{len(b)} same id"
if "merges" in ma and "merges" in mb:
    norm = lambda m: [x if isinstance(x, str) else " ".join(x) for x in m]
    xa, xb = norm(ma["merges"]), norm(mb["merges"])
    n = 0
    while n < min(len(xa), len(xb)) and xa[n] == xb[n]:
        n += 1
    msg += f", merges equal {n}/{len(xb)}"
print(msg + ")")
PYEOF
)
	printf '%-15s %7s %12.2f %12.2f %10.2f   %s\n' "$kind" "$VOCAB" "$k" "$h" "$(echo "$k / $h" | bc -l)" "$ov"
done
