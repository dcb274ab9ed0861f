#!/usr/bin/env python3
"""Helpers for kiln's GPU check kit (scripts/gpu/bundle.sh, .gpu/check.sh).

  pack-model SRC DEST     pack an HF model dir small: float32 tensors stored as
                          float16, byte-shuffled (low bytes, then high bytes) and
                          xz-compressed; other files copied. Needs numpy.
  unpack-model SRC DEST   the reverse, writing an fp32 model.safetensors.
  unxz SRC DEST [MODE]    decompress one .xz file (no xz binary needed).
  env                     JSON: torch/transformers versions, torch dir, CUDA.
  compare-logits KILN_JSONL HF_JSON [TOL]   max |Δlogit| and argmax agreement
                          (HF_JSON may be another kiln .jsonl with --logits).
  hf-logits MODEL CSV N DEVICE OUT          transformers logits of the first N rows.
  summary OUT             $OUT/summary.txt from $OUT/results.tsv and metrics.

Only the standard library (plus numpy for pack/unpack, torch/transformers for
hf-logits) so it runs on a bare GPU host.
"""
import csv
import json
import lzma
import math
import os
import shutil
import struct
import sys

# Change PACK_FORMAT whenever pack_model's output changes: bundle.sh keys its
# cache of packed models on it (packing takes about a minute of CPU).
PACK_FORMAT = "f16-byteshuffle-xz9e-1"
PACKED = "weights.f16.shuf.xz"
INDEX = "weights.json"


def read_safetensors_header(f):
    n = struct.unpack("<Q", f.read(8))[0]
    return json.loads(f.read(n)), 8 + n


def pack_model(src, dest):
    import numpy as np
    os.makedirs(dest, exist_ok=True)
    for name in sorted(os.listdir(src)):
        p = os.path.join(src, name)
        if os.path.isfile(p) and name != "model.safetensors" and not name.startswith("."):
            shutil.copy(p, os.path.join(dest, name))
    with open(os.path.join(src, "model.safetensors"), "rb") as f:
        header, base = read_safetensors_header(f)
        blob = f.read()
    index, parts = [], []
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = blob[a:b]
        if t["dtype"] == "F32":
            raw = np.frombuffer(raw, dtype="<f4").astype("<f2").tobytes()
            stored = "F16"
        else:
            stored = t["dtype"]
        index.append({"name": name, "dtype": t["dtype"], "stored": stored, "shape": t["shape"], "bytes": len(raw)})
        parts.append(raw)
    data = b"".join(parts)
    # Byte shuffle: all first bytes of each 2-byte value, then all second
    # bytes. Exponents cluster, so xz finds far more repetition.
    if len(data) % 2:
        data += b"\0"
    arr = np.frombuffer(data, dtype=np.uint8).reshape(-1, 2)
    shuffled = arr.T.copy().tobytes()
    with lzma.open(os.path.join(dest, PACKED), "wb", preset=9 | lzma.PRESET_EXTREME) as f:
        f.write(shuffled)
    with open(os.path.join(dest, INDEX), "w") as f:
        json.dump({"metadata": header.get("__metadata__", {}), "tensors": index, "total": len(data)}, f)


def unpack_model(src, dest):
    import numpy as np
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name in os.listdir(src):
        if name not in (PACKED, INDEX) and os.path.isfile(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), os.path.join(tmp, name))
    with open(os.path.join(src, INDEX)) as f:
        idx = json.load(f)
    with lzma.open(os.path.join(src, PACKED), "rb") as f:
        shuffled = f.read()
    arr = np.frombuffer(shuffled, dtype=np.uint8).reshape(2, -1)
    data = arr.T.copy().tobytes()
    header, blobs, off = {}, [], 0
    pos = 0
    for t in idx["tensors"]:
        raw = data[pos:pos + t["bytes"]]
        pos += t["bytes"]
        if t["stored"] == "F16":
            raw = np.frombuffer(raw, dtype="<f2").astype("<f4").tobytes()
        header[t["name"]] = {"dtype": t["dtype"], "shape": t["shape"], "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if idx.get("metadata"):
        header["__metadata__"] = idx["metadata"]
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(tmp, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)


def unxz(src, dest, mode="0755"):
    tmp = dest + ".tmp"
    with lzma.open(src, "rb") as fi, open(tmp, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    os.chmod(tmp, int(mode, 8))
    os.replace(tmp, dest)


def env():
    out = {"python": sys.version.split()[0]}
    try:
        import torch
        out["torch"] = torch.__version__
        out["torch_dir"] = os.path.dirname(torch.__file__)
        out["cuda_available"] = bool(torch.cuda.is_available())
        out["torch_cuda"] = torch.version.cuda
        if out["cuda_available"]:
            out["gpu"] = torch.cuda.get_device_name(0)
            out["bf16_supported"] = bool(torch.cuda.is_bf16_supported())
    except Exception as e:  # noqa: BLE001 - reported, not raised
        out["torch_error"] = repr(e)
    try:
        import transformers
        out["transformers"] = transformers.__version__
    except Exception as e:  # noqa: BLE001
        out["transformers_error"] = repr(e)
    print(json.dumps(out))


def hf_logits(model, data, n, device, out):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    with open(data, newline="") as f:
        texts = [r["text"] for r in csv.DictReader(f)][: int(n)]
    tok = AutoTokenizer.from_pretrained(model)
    m = AutoModelForSequenceClassification.from_pretrained(model).to(device).eval()
    logits = []
    with torch.no_grad():
        for s in range(0, len(texts), 32):
            enc = tok(texts[s:s + 32], truncation=True, max_length=128, padding=True, return_tensors="pt").to(device)
            logits += m(**enc).logits.float().cpu().tolist()
    with open(out, "w") as f:
        json.dump({"labels": [m.config.id2label[i] for i in range(m.config.num_labels)], "logits": logits}, f)


def compare_logits(kiln_jsonl, hf_json, tol="1e-3"):
    if hf_json.endswith(".jsonl"):  # another kiln predict --json --logits (ONNX vs libtorch)
        with open(hf_json) as f:
            hf = {"labels": [], "logits": [json.loads(l)["logits"] for l in f if l.strip()]}
    else:
        with open(hf_json) as f:
            hf = json.load(f)
    rows = []
    with open(kiln_jsonl) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    if len(rows) != len(hf["logits"]):
        print(f"rows: kiln {len(rows)}, transformers {len(hf['logits'])}")
        return 1
    worst, agree = 0.0, 0
    for r, h in zip(rows, hf["logits"]):
        lg = r.get("logits")
        if isinstance(lg, dict):
            k = [lg[l] for l in hf["labels"]]
        elif isinstance(lg, list):
            k = lg
        else:
            k = [r["logit_" + l] for l in hf["labels"]]
        worst = max(worst, max(abs(a - b) for a, b in zip(k, h)))
        agree += max(range(len(k)), key=k.__getitem__) == max(range(len(h)), key=h.__getitem__)
    ok = worst <= float(tol) and agree == len(rows)
    print(f"max |dlogit| {worst:.2e} (tolerance {float(tol):.0e}), argmax agreement {agree}/{len(rows)}")
    return 0 if ok else 1


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def summary(out):
    results = []
    with open(os.path.join(out, "results.tsv")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                results.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    lines = ["kiln GPU check", ""]
    e = _load(os.path.join(out, "env.json")) or {}
    lines.append("environment: " + ", ".join(f"{k}={v}" for k, v in e.items()))
    lines.append("")
    # Training table: kiln vs the PyTorch loop per precision.
    train_rows = []
    runs = ("fp32", "bf16", "fp16", "cpu")  # cpu: the no-GPU stand-in (a few fp32 steps)
    for prec in runs:
        k = _load(os.path.join(out, "train", f"kiln-{prec}", "metrics.json"))
        t = _load(os.path.join(out, "train", f"torch-{prec}", "metrics.json"))
        if not k and not t:
            continue
        ks = k.get("train_samples_per_sec") if k else None
        ts = t.get("train_samples_per_sec") if t else None
        ratio = f"{ks / ts:.2f}x" if ks and ts else "-"
        mfu_k = k.get("mfu") if k else None
        mfu_t = mfu_k * ts / ks if mfu_k and ks and ts else None  # same batches, same FLOPs
        fmt = lambda v, f="{:.1f}": f.format(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"
        skipped_k = _kiln_skipped(os.path.join(out, "train", f"kiln-{prec}"))
        label = prec if prec != "cpu" else "cpu smoke (a few fp32 steps; not a benchmark)"
        train_rows.append(f"| {label} | {fmt(ks)} | {fmt(ts)} | {ratio} | {fmt(mfu_k, '{:.1%}')} | {fmt(mfu_t, '{:.1%}')} | "
                          f"{fmt(k.get('eval_accuracy') if k else None, '{:.4f}')} | {fmt(t.get('eval_accuracy') if t else None, '{:.4f}')} | "
                          f"{skipped_k if skipped_k is not None else '-'} | {t.get('skipped_steps', '-') if t else '-'} |")
    if train_rows:
        lines += ["training (kiln train vs the PyTorch loop, same rows, order, batch, max length, steps):",
                  "| precision | kiln samples/s | torch samples/s | kiln/torch | kiln MFU | torch MFU | kiln dev acc | torch dev acc | kiln skipped | torch skipped |",
                  "|---|---|---|---|---|---|---|---|---|---|"] + train_rows + [""]
        for prec in runs:
            curve = _loss_curve(os.path.join(out, "train", f"kiln-{prec}"))
            t = _load(os.path.join(out, "train", f"torch-{prec}", "metrics.json"))
            if curve or t:
                tc = " ".join(f"{p['step']}:{p['loss']:.3f}" for p in (t or {}).get("loss_curve", [])[:12])
                lines.append(f"loss curve {prec}: kiln {curve or '-'}")
                lines.append(f"loss curve {prec}: torch {tc or '-'}")
        lines.append("")
    lt = _load(os.path.join(out, "loadtest-latency.json"))
    ltt = _load(os.path.join(out, "loadtest-throughput.json"))
    if lt or ltt:
        prov = open(os.path.join(out, "serve-provider.txt")).read().strip() if os.path.exists(os.path.join(out, "serve-provider.txt")) else "?"
        lines.append(f"serving (ONNX Runtime, {prov}):")
        lat = lambda r, q: (r.get("latency") or {}).get(q)
        num = lambda v: f"{v:.1f}" if isinstance(v, (int, float)) else "-"
        if lt:
            lines.append(f"  open loop {num(lt.get('requested_rate'))} req/s: p50 {num(lat(lt, 'p50_ms'))} ms, p99 {num(lat(lt, 'p99_ms'))} ms, "
                         f"{lt.get('errors')} errors{' (generator saturated)' if (lt.get('saturation') or {}).get('saturated') else ''}")
        if ltt:
            lines.append(f"  closed loop, 32 clients: throughput {num(ltt.get('throughput'))} req/s, p50 {num(lat(ltt, 'p50_ms'))} ms, "
                         f"p99 {num(lat(ltt, 'p99_ms'))} ms, {ltt.get('errors')} errors")
        lines.append("")
    lines.append("stages:")
    n = {"pass": 0, "fail": 0, "skip": 0}
    for stage, status, detail in results:
        n[status] = n.get(status, 0) + 1
        lines.append(f"  {status.upper():4} {stage}: {detail}")
    lines.append("")
    lines.append(f"gpu-check: {n['pass']} passed, {n['fail']} failed, {n['skip']} skipped")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 1 if n["fail"] else 0


def _log_rows(run_dir):
    rows = []
    try:
        with open(os.path.join(run_dir, "log.jsonl")) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        return None
    return rows


def _loss_curve(run_dir):
    rows = _log_rows(run_dir)
    if not rows:
        return ""
    pts = [r for r in rows if isinstance(r.get("loss"), (int, float)) and "step" in r]
    return " ".join(f"{r['step']}:{r['loss']:.3f}" for r in pts[:12])


def _kiln_skipped(run_dir):
    """fp16 steps kiln skipped: the loss scaler's count in the newest
    trainer state (checkpoints carry it), or log rows marked skipped."""
    best = None
    for dirpath, _, files in os.walk(run_dir):
        for name in files:
            if name.endswith(".json"):
                d = _load(os.path.join(dirpath, name))
                if isinstance(d, dict) and isinstance(d.get("loss_scaler"), dict):
                    v = d["loss_scaler"].get("skipped_steps")
                    if isinstance(v, int):
                        best = v if best is None else max(best, v)
    if best is not None:
        return best
    rows = _log_rows(run_dir)
    if rows is None:
        return None
    return sum(1 for r in rows if r.get("skipped") is True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    fns = {"pack-model": pack_model, "unpack-model": unpack_model, "unxz": unxz, "env": env,
           "compare-logits": compare_logits, "hf-logits": hf_logits, "summary": summary}
    if cmd not in fns:
        sys.exit(f"unknown command {cmd}\n{__doc__}")
    rc = fns[cmd](*args)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
