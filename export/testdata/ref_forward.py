"""Reference forward for the export tests: HF transformers (PyTorch eager)
on the checkpoint in argv[1], with kiln's pooling extension (config.json
"pooling": cls | mean | max) applied where HF takes the first token.

With `--make ARCH POOLING TOKENIZER_JSON SEED HIDDEN_ACT` after the directory,
the tiny checkpoint is first created there (make_tiny.make), so one
interpreter start serves both. Either way the script prints "ready" once the
model is loaded.

Protocol: one JSON object per stdin line {"batch","seq","input_ids",
"attention_mask","token_type_ids"?}; one JSON line per request on stdout
with base64 little-endian float32 "logits", "last_hidden_state", "pooled"."""
import base64, json, sys

import torch
import transformers as tf

torch.set_num_threads(1)
if len(sys.argv) > 2 and sys.argv[2] == "--make":
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_tiny
    a = sys.argv[3:]
    make_tiny.make(a[0], a[1], sys.argv[1], a[2], int(a[3]), a[4])
model = tf.AutoModelForSequenceClassification.from_pretrained(sys.argv[1]).eval()
cfg = model.config
pooling = getattr(cfg, "pooling", "cls")
kind = cfg.model_type
base = getattr(model, model.base_model_prefix)


def pool(h, mask):
    if pooling == "mean":
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if pooling == "max":
        return h.masked_fill(mask.unsqueeze(-1) == 0, torch.finfo(h.dtype).min).max(1).values
    return h[:, 0]


def head(p):
    if kind == "bert":
        return model.classifier(base.pooler.activation(base.pooler.dense(p)))
    if kind == "roberta":
        c = model.classifier
        return c.out_proj(torch.tanh(c.dense(p)))
    if kind == "electra":
        c = model.classifier
        return c.out_proj(c.activation(c.dense(p)))
    if kind == "distilbert":
        return model.classifier(torch.relu(model.pre_classifier(p)))
    raise SystemExit("unknown model type " + kind)


print("ready", flush=True)


def enc(t):
    return base64.b64encode(t.detach().contiguous().float().numpy().tobytes()).decode()


for line in sys.stdin:
    req = json.loads(line)
    shape = (req["batch"], req["seq"])
    ids = torch.tensor(req["input_ids"], dtype=torch.long).view(shape)
    mask = torch.tensor(req["attention_mask"], dtype=torch.long).view(shape)
    kw = {"input_ids": ids, "attention_mask": mask}
    if req.get("token_type_ids") is not None and kind != "distilbert":
        kw["token_type_ids"] = torch.tensor(req["token_type_ids"], dtype=torch.long).view(shape)
    with torch.no_grad():
        h = base(**kw)[0]
        p = pool(h, mask)
        logits = head(p)
        if pooling == "cls":
            # The unmodified HF forward must agree with the decomposition above.
            full = model(**kw).logits
            assert torch.allclose(full, logits, atol=1e-6), (full - logits).abs().max()
    print(json.dumps({"logits": enc(logits), "last_hidden_state": enc(h), "pooled": enc(p)}), flush=True)
