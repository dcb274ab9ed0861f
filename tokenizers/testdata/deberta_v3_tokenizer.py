"""Builds a DeBERTa-v3-style tokenizer.json the way microsoft/deberta-v3-*
ship theirs: a SentencePiece Unigram model (spm.model; [PAD]=0, [CLS]=1,
[SEP]=2, [UNK]=3) converted by transformers' DebertaV2TokenizerFast
(convert_slow_tokenizer.DebertaV2Converter: Strip + Precompiled + Replace
normalizers, Metaspace pre-tokenizer, [CLS] $A [SEP] ($B [SEP]) template,
[MASK] added after the vocabulary).

  python deberta_v3_tokenizer.py ESSAYS_CSV OUT_DIR [VOCAB_SIZE]

trains on the `text` column of ESSAYS_CSV and writes OUT_DIR/spm.model and
OUT_DIR/tokenizer.json (+ transformers' tokenizer_config.json)."""
import csv, os, sys, tempfile

import sentencepiece as spm
from transformers import DebertaV2TokenizerFast


def main(essays, out, vocab=3000):
    os.makedirs(out, exist_ok=True)
    csv.field_size_limit(1 << 30)
    with open(essays, newline="", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            for t in texts:
                for line in t.splitlines():
                    if line.strip():
                        f.write(line.strip() + "\n")
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=os.path.join(out, "spm"), vocab_size=vocab, model_type="unigram",
            pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]",
            unk_piece="[UNK]", character_coverage=0.9995, num_threads=1, minloglevel=2)
    tok = DebertaV2TokenizerFast(vocab_file=os.path.join(out, "spm.model"))
    tok.save_pretrained(out)


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) < 2:
        sys.exit(__doc__)
    main(a[0], a[1], int(a[2]) if len(a) > 2 else 3000)
