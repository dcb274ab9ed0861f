"""Reference checkpoints for the pure-Go readers (models package tests).

Usage: python make_checkpoints.py OUT_DIR

Writes, with HF transformers and torch themselves:
  bert_bin/    BertForSequenceClassification.save_pretrained(safe_serialization=False)
  bert_st/     the same model with safe_serialization=True
  mixed.bin    torch.save of F16/BF16/F64/I64/BOOL tensors, a transposed (strided)
               view and two views sharing one storage
  mixed.safetensors  the same tensors (made contiguous) via safetensors.torch
"""
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForSequenceClassification

out = sys.argv[1]
torch.manual_seed(0)
cfg = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=37, max_position_embeddings=64, num_labels=3)
model = BertForSequenceClassification(cfg)
model.save_pretrained(os.path.join(out, "bert_bin"), safe_serialization=False)
model.save_pretrained(os.path.join(out, "bert_st"), safe_serialization=True)

base = torch.randn(6, 5)
mixed = {
    "f16": torch.randn(3, 4).half(),
    "bf16": torch.randn(2, 3, 4).bfloat16(),
    "f64": torch.randn(7).double(),
    "i64": torch.arange(-5, 5, dtype=torch.int64).reshape(2, 5),
    "bool": torch.tensor([True, False, True]),
    "transposed": base.t(),
    "row_view": base[2],
    "col_view": base[:, 1],
    "scalar": torch.tensor(3.5),
}
torch.save(mixed, os.path.join(out, "mixed.bin"))
save_file({k: v.contiguous() for k, v in mixed.items()}, os.path.join(out, "mixed.safetensors"))
