"""Creates a tiny randomly initialised HF <Arch>ForSequenceClassification
checkpoint for the export tests: python make_tiny.py ARCH POOLING OUT TOKENIZER_JSON [SEED] [HIDDEN_ACT]
(ref_forward.py --make calls make() in-process, saving an interpreter start).

ARCH is bert, roberta, distilbert, electra, deberta (v3 options) or deberta-v2; POOLING is kiln's config
extension (cls, mean, max), stored in config.json as transformers stores any
unknown key. The weights are drawn with a larger initializer_range than HF's
default so that the logits of a random model are well separated (the fp16
argmax-agreement check is meaningless on near ties)."""
import json, shutil, sys

import torch
import transformers as tf


def make(arch, pooling, out, tok, seed=0, act="gelu"):
    torch.manual_seed(seed)
    vocab = len(json.load(open(tok))["model"]["vocab"])
    labels = {"id2label": {0: "neg", 1: "neutral", 2: "pos"}, "label2id": {"neg": 0, "neutral": 1, "pos": 2}}
    if arch == "bert":
        cfg = tf.BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=48, max_position_embeddings=512, hidden_act=act, **labels)
        cls = tf.BertForSequenceClassification
    elif arch == "roberta":
        cfg = tf.RobertaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=48, max_position_embeddings=514, type_vocab_size=1,
                               pad_token_id=1, bos_token_id=0, eos_token_id=2, hidden_act=act, **labels)
        cls = tf.RobertaForSequenceClassification
    elif arch == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=4, hidden_dim=48,
                                  max_position_embeddings=512, activation=act, **labels)
        cls = tf.DistilBertForSequenceClassification
    elif arch == "electra":
        cfg = tf.ElectraConfig(vocab_size=vocab, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                               num_attention_heads=4, intermediate_size=48, max_position_embeddings=512,
                               hidden_act=act, **labels)
        cls = tf.ElectraForSequenceClassification
    elif arch == "deberta":
        # DeBERTa-v3's options (relative attention with log buckets through the
        # shared q/k projections, no absolute positions, no token types); small
        # buckets so that test lengths reach the log range and the clamp.
        cfg = tf.DebertaV2Config(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=48, max_position_embeddings=512, relative_attention=True,
                                 pos_att_type=["p2c", "c2p"], position_buckets=32, max_relative_positions=128,
                                 share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False,
                                 type_vocab_size=0, hidden_act=act, pooler_hidden_act=act, **labels)
        cls = tf.DebertaV2ForSequenceClassification
    elif arch == "deberta-v2":
        # the older options: separate position projections, no buckets, token
        # types, absolute positions too, a tanh pooler
        cfg = tf.DebertaV2Config(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=48, max_position_embeddings=512, relative_attention=True,
                                 pos_att_type="c2p|p2c", max_relative_positions=24, share_att_key=False,
                                 position_biased_input=True, type_vocab_size=2, hidden_act=act,
                                 pooler_hidden_act="tanh", **labels)
        cls = tf.DebertaV2ForSequenceClassification
    else:
        raise SystemExit("unknown arch " + arch)
    cfg.initializer_range = 0.2
    cfg.pooling = pooling
    model = cls(cfg).eval()
    with torch.no_grad():
        # LayerNorm weights and biases away from 1/0 so a swapped gamma/beta shows.
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
            if name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.1)
            # DeBERTa's gelu ContextPooler leaves the logits of a random model
            # close together: spread them so fp16 argmax agreement means something.
            if arch.startswith("deberta") and name == "classifier.weight":
                p.mul_(8)
    model.save_pretrained(out, safe_serialization=True)
    shutil.copy(tok, out + "/tokenizer.json")


if __name__ == "__main__":
    a = sys.argv[1:]
    make(a[0], a[1], a[2], a[3], int(a[4]) if len(a) > 4 else 0, a[5] if len(a) > 5 else "gelu")
