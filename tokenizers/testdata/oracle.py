"""Parity oracle on HF's Python `tokenizers` (same Rust core as the npm
package). Same protocol as oracle.js: python oracle.py spec.json > out.json.

Used for truncation with overflowing pieces, where the npm binding 0.23.2
reports overflowing windows and pair word ids differently from the Rust
library's Encoding (see docs/tokenizers.md)."""
import json
import sys

from tokenizers import Tokenizer


def dump(e):
    return {
        "ids": e.ids,
        "type_ids": e.type_ids,
        "tokens": e.tokens,
        "offsets": [list(o) for o in e.offsets],
        "attention_mask": e.attention_mask,
        "special_tokens_mask": e.special_tokens_mask,
        "word_ids": [-1 if w is None else w for w in e.word_ids],
        "overflowing": [dump(o) for o in e.overflowing],
    }


def run(job):
    out = {"name": job["name"], "singles": [], "pairs": [], "decoded": [], "decoded_skip": [], "batch": None, "error": None}
    try:
        tok = Tokenizer.from_str(job["json"])
    except Exception as err:  # noqa: BLE001 - reported to the Go test
        out["error"] = str(err)
        return out
    sp = job["add_special"]
    for t in job.get("texts") or []:
        try:
            e = tok.encode(t, add_special_tokens=sp)
            out["singles"].append(dump(e))
            out["decoded"].append(tok.decode(e.ids, skip_special_tokens=False))
            out["decoded_skip"].append(tok.decode(e.ids, skip_special_tokens=True))
        except Exception as err:  # noqa: BLE001
            out["singles"].append({"error": str(err)})
            out["decoded"].append(None)
            out["decoded_skip"].append(None)
    for a, b in job.get("pairs") or []:
        try:
            out["pairs"].append(dump(tok.encode(a, b, add_special_tokens=sp)))
        except Exception as err:  # noqa: BLE001
            out["pairs"].append({"error": str(err)})
    if job.get("batch"):
        out["batch"] = [dump(e) for e in tok.encode_batch(job["texts"], add_special_tokens=sp)]
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    json.dump([run(j) for j in spec["jobs"]], sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
