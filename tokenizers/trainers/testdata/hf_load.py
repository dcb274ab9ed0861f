"""Loads a kiln-trained tokenizer directory with HF `tokenizers` and
`transformers` and encodes every line of a file with both, and with a
reference tokenizer.json (HF-trained) when given.

usage: hf_load.py DIR TEXT_FILE OUT_JSON [REFERENCE_TOKENIZER_JSON]
OUT_JSON: {"vocab_size": n, "tokenizers": [[ids per line]], "transformers": [[...]], "reference": [[...]]}
"""
import json
import sys

from tokenizers import Tokenizer
from transformers import AutoTokenizer

d, text, out = sys.argv[1], sys.argv[2], sys.argv[3]
lines = open(text, encoding="utf-8").read().split("\n")
tok = Tokenizer.from_file(d + "/tokenizer.json")
tf = AutoTokenizer.from_pretrained(d)
res = {
    "vocab_size": tok.get_vocab_size(),
    "tokenizers": [e.ids for e in tok.encode_batch(lines)],
    "transformers": [tf(line)["input_ids"] for line in lines],
    # the HF-trained reference has no post-processor: compare without one
    "plain": [e.ids for e in tok.encode_batch(lines, add_special_tokens=False)],
}
if len(sys.argv) > 4:
    ref = Tokenizer.from_str(open(sys.argv[4], encoding="utf-8").read())
    res["reference"] = [e.ids for e in ref.encode_batch(lines)]
json.dump(res, open(out, "w"))
