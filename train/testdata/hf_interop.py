"""HF transformers side of the trainer's interop tests (train/interop_test.go).

  python hf_interop.py make OUT SPEC_JSON
      SPEC_JSON maps a name to {"arch": bert|roberta|distilbert|electra,
      "vocab_size": N, "pad_token_id": P, "id2label": {"0": ...}, "head_scale": S}.
      Writes a tiny random <Arch>ForSequenceClassification for each entry with
      save_pretrained (safetensors) to OUT/<name>. head_scale multiplies the
      classifier's output rows so the random model's predictions vary.
  python hf_interop.py logits MODEL_DIR INPUTS OUT [MODEL_DIR INPUTS OUT ...]
      AutoModelForSequenceClassification.from_pretrained(MODEL_DIR,
      trust_remote_code=True) in eval mode, failing on missing or unexpected
      keys; writes the logits for INPUTS (input_ids, attention_mask and
      token_type_ids when the model takes them) to OUT, and the class that
      ran under the key "class:<name>".
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import (AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification,
                          DistilBertConfig, DistilBertForSequenceClassification, ElectraConfig,
                          ElectraForSequenceClassification, RobertaConfig, RobertaForSequenceClassification)


def build(spec):
    arch = spec["arch"]
    id2label = {int(k): v for k, v in spec["id2label"].items()}
    common = dict(vocab_size=spec["vocab_size"], pad_token_id=spec["pad_token_id"], id2label=id2label,
                  label2id={v: k for k, v in id2label.items()})
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                 max_position_embeddings=66, **common)
    if arch == "bert":
        return BertForSequenceClassification(BertConfig(**small)), "classifier"
    if arch == "roberta":
        return RobertaForSequenceClassification(RobertaConfig(**small)), "classifier.out_proj"
    if arch == "electra":
        return ElectraForSequenceClassification(ElectraConfig(embedding_size=16, **small)), "classifier.out_proj"
    if arch == "distilbert":
        cfg = DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=66, **common)
        return DistilBertForSequenceClassification(cfg), "classifier"
    sys.exit(f"unknown arch {arch}")


def make(out, spec_path):
    with open(spec_path) as f:
        specs = json.load(f)
    for i, (name, spec) in enumerate(sorted(specs.items())):
        torch.manual_seed(100 + i)
        model, head = build(spec)
        with torch.no_grad():
            layer = model.get_submodule(head)
            layer.weight.mul_(spec.get("head_scale", 1))
            layer.bias.normal_(0, 0.1)
        model.save_pretrained(os.path.join(out, name), safe_serialization=True)


def logits(model_dir, inputs, out):
    model, info = AutoModelForSequenceClassification.from_pretrained(
        model_dir, trust_remote_code=True, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    if bad:
        sys.exit(f"from_pretrained({model_dir}) reported {bad}")
    model.eval()
    inp = load_file(inputs)
    if model.config.model_type == "distilbert":
        inp.pop("token_type_ids", None)
    with torch.no_grad():
        lg = model(**inp).logits
    save_file({"logits": lg.contiguous(), "class:" + type(model).__name__: torch.zeros(1)}, out)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "make" and len(sys.argv) == 4:
        make(sys.argv[2], sys.argv[3])
    elif cmd == "logits" and len(sys.argv) > 2 and (len(sys.argv) - 2) % 3 == 0:
        rest = sys.argv[2:]
        for i in range(0, len(rest), 3):
            logits(*rest[i:i + 3])
    else:
        sys.exit(__doc__)
