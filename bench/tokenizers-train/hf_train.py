"""Times HF `tokenizers` training with the same pipelines and settings as
kiln's presets (wordpiece, bytelevel-bpe, unigram); prints JSON like kilntrain."""
import json
import sys
import time

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

kind, vocab, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = sys.argv[4:]
if kind == "wordpiece":
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tr = trainers.WordPieceTrainer(vocab_size=vocab, special_tokens=["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"],
                                   show_progress=False)
elif kind == "bytelevel-bpe":
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tr = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
elif kind == "unigram":
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tr = trainers.UnigramTrainer(vocab_size=vocab, special_tokens=["<unk>", "<pad>", "<s>", "</s>"], unk_token="<unk>",
                                 show_progress=False)
else:
    raise SystemExit("unknown kind " + kind)
t0 = time.perf_counter()
tok.train(files, tr)
secs = time.perf_counter() - t0
if out != "-":
    tok.save(out)
print(json.dumps({"seconds": secs, "vocab": tok.get_vocab_size()}))
