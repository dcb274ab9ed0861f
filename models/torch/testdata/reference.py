"""HF transformers reference for the models/torch parity tests.

  python reference.py make OUT_DIR
      For every case below: a small random <Arch>ForSequenceClassification
      saved with save_pretrained as safetensors (OUT/<case>/st) and as
      pytorch_model.bin (OUT/<case>/bin), plus OUT/<case>/ref.safetensors with
      padded inputs, the weight w of the loss sum(logits * w), every hidden
      state, the logits and the gradient of every parameter (eval mode).
  python reference.py check MODEL_DIR INPUTS OUT [MODEL_DIR INPUTS OUT ...]
      Loads each checkpoint kiln wrote with from_pretrained, fails on missing
      or unexpected keys, writes its logits for the inputs to OUT.
  python reference.py minilm MODEL_DIR TEXTS OUT
      Tokenises the lines of TEXTS (padding) with the model's tokenizer and
      writes input ids, mask, token types and BertModel's last hidden state.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import (AutoModel, AutoModelForSequenceClassification, AutoTokenizer,
                          BertConfig, BertForSequenceClassification, DebertaV2Config,
                          DebertaV2ForSequenceClassification, DistilBertConfig,
                          DistilBertForSequenceClassification, ElectraConfig,
                          ElectraForSequenceClassification, RobertaConfig,
                          RobertaForSequenceClassification)

SMALL = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=37, max_position_embeddings=40)
SMALL_DEB = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)

CASES = {
    # name: (config, model class, pooling, on-disk dtype)
    "bert": (lambda: BertConfig(**SMALL, num_labels=3), BertForSequenceClassification, "cls", "float32"),
    "bert_mean": (lambda: BertConfig(**SMALL, num_labels=2), BertForSequenceClassification, "mean", "float32"),
    "bert_bf16": (lambda: BertConfig(**SMALL, num_labels=2), BertForSequenceClassification, "cls", "bfloat16"),
    "roberta": (lambda: RobertaConfig(**SMALL, num_labels=3, pad_token_id=1, hidden_act="gelu_new"), RobertaForSequenceClassification, "cls", "float32"),
    "roberta_max": (lambda: RobertaConfig(**SMALL, num_labels=2, pad_token_id=1), RobertaForSequenceClassification, "max", "float32"),
    "distilbert": (lambda: DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                            max_position_embeddings=40, num_labels=3), DistilBertForSequenceClassification, "cls", "float32"),
    "distilbert_f16": (lambda: DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                                max_position_embeddings=40, num_labels=2), DistilBertForSequenceClassification, "mean", "float16"),
    # gelu_new in the encoder: the head must still use erf GELU, as HF's does.
    "electra": (lambda: ElectraConfig(**SMALL, embedding_size=16, num_labels=1, hidden_act="gelu_new"), ElectraForSequenceClassification, "cls", "float32"),
}

# DeBERTa-v3 as microsoft/deberta-v3-* configure it (relative attention with
# log buckets, c2p+p2c through the shared q/k projections, LayerNorm'd
# relative embeddings, no absolute positions, no token types).
V3 = dict(relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=256,
          max_relative_positions=-1, max_position_embeddings=512, share_att_key=True,
          norm_rel_ebd="layer_norm", position_biased_input=False, type_vocab_size=0,
          layer_norm_eps=1e-7, hidden_act="gelu", pooler_hidden_act="gelu", pooler_dropout=0)
CASES.update({
    # v3-base widths (768/12 heads/3072) with 2 layers and a small vocabulary;
    # 140 tokens reach the log buckets (|q-k| > 128).
    "deberta_v3_base": (lambda: DebertaV2Config(**V3, vocab_size=300, hidden_size=768, num_hidden_layers=2,
                                                 num_attention_heads=12, intermediate_size=3072, num_labels=2),
                        DebertaV2ForSequenceClassification, "cls", "float32"),
    # v3-xsmall widths (384/6/1536), 300 tokens: buckets well past the linear range.
    "deberta_v3_xsmall": (lambda: DebertaV2Config(**V3, vocab_size=300, hidden_size=384, num_hidden_layers=2,
                                                   num_attention_heads=6, intermediate_size=1536, num_labels=3),
                          DebertaV2ForSequenceClassification, "cls", "float32"),
    # small buckets and max_relative_positions so 40 tokens hit the clamp; mean pooling; bf16 on disk.
    "deberta_buckets_mean": (lambda: DebertaV2Config(**{**V3, "position_buckets": 8, "max_relative_positions": 24,
                                                          "max_position_embeddings": 64}, **SMALL_DEB, num_labels=2),
                             DebertaV2ForSequenceClassification, "mean", "float32"),
    "deberta_v3_bf16": (lambda: DebertaV2Config(**V3, **SMALL_DEB, num_labels=2), DebertaV2ForSequenceClassification, "cls", "bfloat16"),
    # DeBERTa-v2-style options: separate pos_key_proj/pos_query_proj, no
    # buckets, max_relative_positions 6 (< seq len), absolute positions too,
    # token types, embed_proj (embedding_size 16), the old "c2p|p2c" string,
    # tanh pooler, cls_dropout.
    "deberta_v2_unshared": (lambda: DebertaV2Config(**SMALL_DEB, relative_attention=True, pos_att_type="c2p|p2c",
                                                     max_relative_positions=6, share_att_key=False,
                                                     position_biased_input=True, type_vocab_size=2,
                                                     embedding_size=16, hidden_act="gelu_new",
                                                     pooler_hidden_act="tanh", cls_dropout=0.2, num_labels=3),
                            DebertaV2ForSequenceClassification, "max", "float32"),
    "deberta_c2p_only": (lambda: DebertaV2Config(**{**V3, "pos_att_type": ["c2p"], "share_att_key": False,
                                                     "position_buckets": 16}, **SMALL_DEB, num_labels=2),
                         DebertaV2ForSequenceClassification, "cls", "float32"),
    # v1-style: no relative attention at all (absolute positions, XSoftmax, plain scaling).
    "deberta_v1style": (lambda: DebertaV2Config(**SMALL_DEB, relative_attention=False, position_biased_input=True,
                                                 type_vocab_size=2, num_labels=2, pad_token_id=3),
                        DebertaV2ForSequenceClassification, "cls", "float32"),
})

# sequence length per case (default 9)
SEQ = {"deberta_v3_base": 140, "deberta_v3_xsmall": 300, "deberta_buckets_mean": 40, "deberta_v3_bf16": 20,
       "deberta_v2_unshared": 14, "deberta_c2p_only": 30}

# (position_buckets, max_relative_positions) pairs whose log-bucket tables
# the Go side reproduces (models.RelativePosition).
BUCKETS = [(256, 512), (256, 1024), (8, 24), (16, 40), (64, 128), (32, 512), (2, 4), (128, 300)]


def inputs_for(cfg, model_type, gen, S=9):
    B = 3
    pad = cfg.pad_token_id
    ids = torch.randint(pad + 1, cfg.vocab_size, (B, S), generator=gen)
    mask = torch.ones(B, S, dtype=torch.long)
    for b, n in enumerate([S, 6, 3]):
        ids[b, n:] = pad
        mask[b, n:] = 0
    out = {"input_ids": ids, "attention_mask": mask}
    if model_type in ("bert", "electra") or (model_type == "deberta-v2" and cfg.type_vocab_size > 0):
        tt = torch.zeros(B, S, dtype=torch.long)
        tt[:, 4:] = 1
        out["token_type_ids"] = tt * mask
    return out


def pooled_logits(model, model_type, pooling, h, mask):
    """The head applied to a mean/max feature, as kiln defines it: the
    pooling replaces the first-token selection, the rest is HF's head."""
    m = mask.unsqueeze(-1).float()
    if pooling == "mean":
        feat = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    else:
        feat = h.masked_fill(m == 0, -1e9).amax(1)
    if model_type == "bert":
        pooled = model.bert.pooler.activation(model.bert.pooler.dense(feat))
        return model.classifier(model.dropout(pooled))
    if model_type in ("roberta", "electra"):
        return model.classifier(feat.unsqueeze(1))
    if model_type == "deberta-v2":
        return model.classifier(model.dropout(model.pooler(feat.unsqueeze(1))))
    x = torch.relu(model.pre_classifier(feat))
    return model.classifier(model.dropout(x))


def make(out):
    for name, (mkcfg, cls, pooling, dtype) in CASES.items():
        torch.manual_seed(len(name))
        cfg = mkcfg()
        model = cls(cfg)
        # Give biases and LayerNorms non-trivial values so they are really tested.
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n:
                    p.add_(torch.randn_like(p) * 0.1)
                # DeBERTa: sharpen the attention (std 0.02 weights give nearly
                # uniform probabilities and gradients of q/k/position parts
                # far below the tolerance, which would make their check vacuous).
                if cfg.model_type == "deberta-v2" and ("attention.self" in n or "rel_embeddings" in n):
                    p.mul_(8)
        if pooling != "cls":
            cfg.pooling = pooling  # kiln's extension key; HF keeps unknown keys
        d = os.path.join(out, name)
        disk = model.to(getattr(torch, dtype))
        disk.save_pretrained(os.path.join(d, "st"), safe_serialization=True)
        disk.save_pretrained(os.path.join(d, "bin"), safe_serialization=False)
        model = disk.float()  # the reference runs the rounded weights in float32
        model.eval()
        gen = torch.Generator().manual_seed(7)
        inp = inputs_for(cfg, cfg.model_type, gen, SEQ.get(name, 9))
        res = model(**inp, output_hidden_states=True)
        logits = res.logits
        if pooling != "cls":
            logits = pooled_logits(model, cfg.model_type, pooling, res.hidden_states[-1], inp["attention_mask"])
        w = torch.randn(logits.shape, generator=gen)
        (logits * w).sum().backward()
        ref = dict(inp)
        ref["w"] = w
        ref["logits"] = logits.detach()
        for i, h in enumerate(res.hidden_states):
            ref[f"hidden.{i}"] = h.detach().contiguous()
        for n, p in model.named_parameters():
            if p.grad is not None:
                ref["grad." + n] = p.grad.contiguous()
        save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(d, "ref.safetensors"))
    buckets(os.path.join(out, "buckets.safetensors"))


def buckets(out):
    """HF's make_log_bucket_position of the distances -2047..2047 per BUCKETS pair."""
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position
    rel = torch.arange(-2047, 2048)
    save_file({f"{b}_{m}": make_log_bucket_position(rel, b, m).to(torch.long).contiguous() for b, m in BUCKETS}, out)


def check(model_dir, inputs, out):
    model, info = AutoModelForSequenceClassification.from_pretrained(model_dir, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    if bad:
        sys.exit(f"from_pretrained({model_dir}) reported {bad}")
    model.eval()
    inp = load_file(inputs)
    with torch.no_grad():
        logits = model(**inp).logits
    save_file({"logits": logits.contiguous(), "dtype_" + str(model.dtype).replace("torch.", ""): torch.zeros(1)}, out)


def minilm(model_dir, texts, out):
    tok = AutoTokenizer.from_pretrained(model_dir)
    lines = [l.strip() for l in open(texts, encoding="utf-8") if l.strip()]
    enc = tok(lines, padding=True, truncation=True, max_length=128, return_tensors="pt")
    model = AutoModel.from_pretrained(model_dir)
    model.eval()
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    save_file({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
               "token_type_ids": enc["token_type_ids"], "last_hidden_state": h.contiguous()}, out)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "check":
        rest = sys.argv[2:]
        if not rest or len(rest) % 3:
            sys.exit(__doc__)
        for i in range(0, len(rest), 3):
            check(*rest[i:i + 3])
    elif cmd == "minilm":
        minilm(*sys.argv[2:5])
    else:
        sys.exit(__doc__)
