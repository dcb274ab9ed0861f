"""HF transformers reference for kiln train: a plain PyTorch loop over
AutoModelForSequenceClassification with the same data, batching,
hyper-parameters and thread count as `kiln train`.

Usage: hf_train.py --train CSV --valid CSV --model DIR --out DIR [--max-steps N] ...
Writes OUT/metrics.json (eval accuracy, samples/s, wall time, loss curve,
skipped fp16 steps). --device cuda and --precision bf16/fp16 run the loop the
way a PyTorch user would on a GPU (torch.autocast; fp16 with GradScaler), for
the GPU check (scripts/gpu/check.sh).
"""
import argparse, contextlib, csv, json, math, os, random, time

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--valid")
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--warmup-ratio", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-shuffle", action="store_true")
    ap.add_argument("--pooling", choices=["cls", "mean"], default="cls",
                    help="mean: masked mean of the last hidden state instead of the first token, "
                         "then the same pooler dense+tanh and classifier (kiln's --pooling mean)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                    help="bf16/fp16: torch.autocast; fp16 adds a GradScaler (skipped steps are counted)")
    ap.add_argument("--log-steps", type=int, default=25, help="loss curve and progress line every N steps")
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if a.precision == "fp16" and not cuda:
        ap.error("--precision fp16 needs --device cuda")
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)
    def autocast():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=dev.type, dtype=amp_dtype)
    scaler = None
    if a.precision == "fp16":
        scaler = torch.amp.GradScaler("cuda") if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    texts, labels = read(a.train)
    names = sorted(set(labels))
    lid = {n: i for i, n in enumerate(names)}
    y = [lid[l] for l in labels]
    tok = AutoTokenizer.from_pretrained(a.model)
    enc = tok(texts, truncation=True, max_length=a.max_length)["input_ids"]
    model = AutoModelForSequenceClassification.from_pretrained(
        a.model, num_labels=len(names), id2label=dict(enumerate(names)), label2id=lid).to(dev)
    def forward(ids, mask):
        if a.pooling == "cls":
            return model(input_ids=ids, attention_mask=mask).logits
        # BertForSequenceClassification with the pooler fed the masked mean
        # (sentence-transformers' pooling for all-MiniLM-L6-v2).
        h = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        mean = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        pooled = model.bert.pooler.activation(model.bert.pooler.dense(mean))
        return model.classifier(model.dropout(pooled))

    nd = ["bias", "LayerNorm.weight"]
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(x in n for x in nd)], "weight_decay": a.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(x in n for x in nd)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    nb = math.ceil(len(enc) / a.batch_size)
    spe = max(1, nb // a.grad_accum)
    total = a.max_steps or spe * a.epochs
    sched = get_linear_schedule_with_warmup(opt, math.ceil(a.warmup_ratio * total), total)
    pad = tok.pad_token_id

    def batch(idx):
        s = max(len(enc[i]) for i in idx)
        ids = torch.full((len(idx), s), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), s), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, : len(enc[i])] = torch.tensor(enc[i])
            mask[r, : len(enc[i])] = 1
        return ids.to(dev), mask.to(dev)

    def evaluate():
        if not a.valid:
            return {}
        vt, vl = read(a.valid)
        ve = tok(vt, truncation=True, max_length=a.max_length, padding=True, return_tensors="pt")
        model.eval()
        correct = 0
        with torch.no_grad(), autocast():
            for s in range(0, len(vt), 64):
                lg = forward(ve["input_ids"][s:s + 64].to(dev), ve["attention_mask"][s:s + 64].to(dev)).float().cpu()
                correct += sum(int(p) == lid[l] for p, l in zip(lg.argmax(-1), vl[s:s + 64]))
        model.train()
        return {"accuracy": correct / len(vt)}

    model.train()
    step, samples, epoch, hist, curve, skipped = 0, 0, 0, [], [], 0
    t0 = time.time()
    while step < total:
        order = list(range(len(enc)))
        if not a.no_shuffle:
            random.Random(a.seed + epoch).shuffle(order)
        bl = [order[s:s + a.batch_size] for s in range(0, len(order), a.batch_size)]
        for k in range(0, len(bl) - a.grad_accum + 1, a.grad_accum):
            micro = bl[k:k + a.grad_accum]
            n = sum(len(m) for m in micro)
            opt.zero_grad()
            for m in micro:
                ids, mask = batch(m)
                with autocast():
                    logits = forward(ids, mask)
                loss = torch.nn.functional.cross_entropy(logits.float(), torch.tensor([y[i] for i in m], device=dev))
                part = loss * len(m) / n
                (scaler.scale(part) if scaler else part).backward()
            if scaler:
                scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if scaler:
                before = scaler.get_scale()
                scaler.step(opt)
                scaler.update()
                skipped += scaler.get_scale() < before  # the scale backs off only on a skipped step
            else:
                opt.step()
            sched.step()
            step += 1
            samples += n
            if step % a.log_steps == 0 or step == 1:
                l = loss.item()
                curve.append({"step": step, "loss": l})
                print(json.dumps({"step": step, "loss": l, "samples_per_second": samples / (time.time() - t0)}), flush=True)
            if step >= total:
                break
        epoch += 1
        if not a.max_steps:
            hist.append({"epoch": epoch, **evaluate()})
            print(json.dumps(hist[-1]), flush=True)
    if cuda:
        torch.cuda.synchronize()
    # the final evaluation below is not training time
    train_time = time.time() - t0
    if a.max_steps and a.valid:
        # a step-limited run still reports its final dev accuracy
        hist.append({"step": step, **evaluate()})
        print(json.dumps(hist[-1]), flush=True)
    m = {"global_step": step, "train_samples": samples, "train_runtime_s": train_time,
         "train_samples_per_sec": samples / train_time, "eval_history": hist,
         "device": str(dev), "precision": a.precision, "loss_curve": curve, "skipped_steps": int(skipped)}
    if hist:
        m["eval_accuracy"] = hist[-1]["accuracy"]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "metrics.json"), "w") as f:
        json.dump(m, f, indent=2)


if __name__ == "__main__":
    main()
