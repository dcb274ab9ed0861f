"""Benchmark input: turns a base encoder checkpoint into a sequence
classifier (HF AutoModelForSequenceClassification, 2 labels, seeded head)
saved as safetensors with its tokenizer: python make_classifier.py SRC OUT"""
import sys

import torch
import transformers as tf

src, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = tf.AutoModelForSequenceClassification.from_pretrained(src, num_labels=2).eval()
model.save_pretrained(out, safe_serialization=True)
tf.AutoTokenizer.from_pretrained(src).save_pretrained(out)
