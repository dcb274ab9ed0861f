"""Reference for the kiln trainers: trains with HuggingFace `tokenizers` and
reports the word counts HF's trainer sees, so the Go tests can check the
algorithms on identical input and, separately, kiln's word counting.

usage: hf_train.py CONFIG_JSON OUT_JSON
CONFIG_JSON: {"kind": "bpe|wordpiece|bytelevel|unigram", "files": [...],
              "vocab_size": N, "min_frequency": N, "special_tokens": [...],
              "limit_alphabet": N|null, "initial_alphabet": [...],
              "continuing_subword_prefix": s|null, "end_of_word_suffix": s|null,
              "shrinking_factor": f, "n_sub_iterations": n, "max_piece_length": n,
              "unk_token": s|null, "runs": n}
OUT_JSON: {"word_counts": {...}, "tokenizers": [tokenizer.json text per run], "seconds": [...]}
"""
import json
import sys
import time
from collections import Counter

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers


def pipeline(kind):
    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    elif kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
    elif kind == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    elif kind == "unigram":
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
    else:
        raise SystemExit("unknown kind " + kind)
    return tok


def trainer(cfg):
    kind = cfg["kind"]
    common = dict(vocab_size=cfg["vocab_size"], special_tokens=cfg.get("special_tokens") or [], show_progress=False)
    ia = cfg.get("initial_alphabet") or []
    if kind == "bytelevel" and cfg.get("bytelevel_alphabet", True):
        ia = pre_tokenizers.ByteLevel.alphabet() + ia
    if kind == "unigram":
        kw = dict(common, initial_alphabet=ia)
        for k in ("shrinking_factor", "n_sub_iterations", "max_piece_length", "unk_token"):
            if cfg.get(k) is not None:
                kw[k] = cfg[k]
        return trainers.UnigramTrainer(**kw)
    kw = dict(common, min_frequency=cfg.get("min_frequency", 0), initial_alphabet=ia)
    if cfg.get("limit_alphabet") is not None:
        kw["limit_alphabet"] = cfg["limit_alphabet"]
    if cfg.get("continuing_subword_prefix") is not None:
        kw["continuing_subword_prefix"] = cfg["continuing_subword_prefix"]
    if cfg.get("end_of_word_suffix") is not None:
        kw["end_of_word_suffix"] = cfg["end_of_word_suffix"]
    if kind == "wordpiece":
        return trainers.WordPieceTrainer(**kw)
    return trainers.BpeTrainer(**kw)


def word_counts(tok, files):
    # HF's train_from_files feeds lines *with* their "\n" (Rust
    # lines_with_ending), normalizes, pre-tokenizes and counts the pieces.
    wc = Counter()
    for f in files:
        data = open(f, "rb").read()
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end + 1
            line = data[start:end].decode("utf-8")
            start = end
            if tok.normalizer is not None:
                line = tok.normalizer.normalize_str(line)
            for piece, _ in tok.pre_tokenizer.pre_tokenize_str(line):
                wc[piece] += 1
    return wc


def main():
    cfg = json.load(open(sys.argv[1]))
    out = {"word_counts": word_counts(pipeline(cfg["kind"]), cfg["files"]), "tokenizers": [], "seconds": []}
    for _ in range(0 if cfg.get("count_only") else cfg.get("runs", 1)):
        tok = pipeline(cfg["kind"])
        t0 = time.perf_counter()
        tok.train(cfg["files"], trainer(cfg))
        out["seconds"].append(time.perf_counter() - t0)
        out["tokenizers"].append(tok.to_str())
    json.dump(out, open(sys.argv[2], "w"), ensure_ascii=False)


if __name__ == "__main__":
    main()
