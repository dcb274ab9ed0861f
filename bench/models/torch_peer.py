"""PyTorch-eager peer of bench/models/main.go: HF transformers'
BertForSequenceClassification in train mode (dropout on), cross-entropy loss,
forward+backward, zero_grad; same flags, same JSON output. Run with the
reference venv (Debian's torch 1.13: the same libtorch and OpenBLAS as kiln).
"""
import argparse
import json
import os
import time

import torch
from transformers import (BertConfig, BertForSequenceClassification, DebertaV2Config,
                          DebertaV2ForSequenceClassification)


def status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--intermediate", type=int, default=0)
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--checkpointing", action="store_true")
    p.add_argument("--labels", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--arch", default="bert", choices=["bert", "deberta-v3"])
    a = p.parse_args()
    # Same thread count as kiln (which applies OMP_NUM_THREADS to libtorch).
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(a.seed)
    shape = dict(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                 num_attention_heads=a.heads, intermediate_size=a.intermediate or 4 * a.hidden,
                 max_position_embeddings=max(512, a.seq), num_labels=a.labels)
    if a.arch == "deberta-v3":
        cfg = DebertaV2Config(**shape, relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=256,
                              max_relative_positions=-1, share_att_key=True, norm_rel_ebd="layer_norm",
                              position_biased_input=False, type_vocab_size=0, hidden_dropout_prob=0.1,
                              attention_probs_dropout_prob=0.1, pooler_hidden_act="gelu")
        model = DebertaV2ForSequenceClassification(cfg)
    else:
        model = BertForSequenceClassification(BertConfig(**shape))
    if a.checkpointing:
        model.gradient_checkpointing_enable()
    model.train()
    g = torch.Generator().manual_seed(a.seed)
    ids = torch.randint(1, a.vocab, (a.batch, a.seq), generator=g)
    mask = torch.ones(a.batch, a.seq, dtype=torch.long)
    labels = torch.randint(0, a.labels, (a.batch,), generator=g)

    def step():
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        model.zero_grad(set_to_none=False)  # kiln's ZeroGrad zeroes in place too

    res = dict(impl="pytorch-eager (transformers %s, torch %s)" % (__import__("transformers").__version__, torch.__version__),
               arch=a.arch, threads=torch.get_num_threads(), layers=a.layers, hidden=a.hidden, heads=a.heads, seq=a.seq,
               batch=a.batch, steps=a.steps, checkpointing=a.checkpointing)
    res["baseline_rss_mib"] = status_mib("VmRSS")
    for _ in range(a.warmup):
        step()
    t, c = time.perf_counter(), time.process_time()
    for _ in range(a.steps):
        step()
    el, cpu = time.perf_counter() - t, time.process_time() - c
    res["seq_per_sec"] = a.steps * a.batch / el if a.steps else 0.0
    # user+sys CPU of all threads per sequence: robust to other jobs on the cores
    res["cpu_ms_per_seq"] = 1000 * cpu / (a.steps * a.batch) if a.steps else 0.0
    res["peak_rss_mib"] = status_mib("VmHWM")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
