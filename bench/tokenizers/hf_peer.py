"""HF tokenizers (Python binding of the Rust library, build/venv) on the same
corpus and tokenizer.json as main.go. single: encode_batch with
RAYON_NUM_THREADS=1 (the Rust core on one thread, without per-call Python
overhead) and, for reference, a Python loop of encode() calls; batch:
encode_batch on all cores. Prints one JSON object per mode."""
import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--mode", choices=["single", "single-loop", "batch"], required=True)
    ap.add_argument("--batch", type=int, default=1024)
    a = ap.parse_args()
    if a.mode != "batch":
        # Must be set before the library starts its thread pool.
        os.environ["RAYON_NUM_THREADS"] = "1"
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(a.tokenizer)
    with open(a.corpus, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    nbytes = sum(len(s.encode("utf-8")) for s in lines)
    tok.encode_batch(lines[:500])  # warm-up
    tokens = 0
    start = time.perf_counter()
    if a.mode == "single-loop":
        for s in lines:
            tokens += len(tok.encode(s).ids)
    else:
        for i in range(0, len(lines), a.batch):
            for e in tok.encode_batch(lines[i : i + a.batch]):
                tokens += len(e.ids)
    secs = time.perf_counter() - start
    threads = 1 if a.mode != "batch" else os.cpu_count()
    json.dump({"impl": "hf-tokenizers-py", "tokenizer": a.name, "mode": a.mode, "threads": threads, "lines": len(lines),
               "bytes": nbytes, "tokens": tokens, "seconds": secs, "mb_per_s": nbytes / 1e6 / secs,
               "tokens_per_s": tokens / secs}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
