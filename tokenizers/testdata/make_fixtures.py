"""Builds the small model fixtures in testdata/fixtures with HF `tokenizers`
itself (build/venv/bin/python make_fixtures.py). The Go parity tests combine
them with every normalizer / pre-tokenizer / post-processor / decoder."""
import json
import os

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
corpus = json.load(open(os.path.join(HERE, "corpus.json"), encoding="utf-8"))
pairs = json.load(open(os.path.join(HERE, "pairs.json"), encoding="utf-8"))
texts = corpus + [p for pr in pairs for p in pr]
BYTES = ["<0x%02X>" % b for b in range(256)]


def save(tok, name, edit=None):
    d = json.loads(tok.to_str())
    if edit:
        edit(d)
    # Check HF loads the edited file.
    Tokenizer.from_str(json.dumps(d))
    with open(os.path.join(HERE, "fixtures", name + ".json"), "w", encoding="utf-8") as f:
        json.dump(d, f, ensure_ascii=False)


# BPE with a continuing-subword prefix and an end-of-word suffix.
t = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##", end_of_word_suffix="</w>"))
t.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
t.pre_tokenizer = pre_tokenizers.Whitespace()
t.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]"],
                                                continuing_subword_prefix="##", end_of_word_suffix="</w>", limit_alphabet=120))
save(t, "bpe_suffix")


# BPE with byte fallback (llama style): no unk, <0xXX> tokens in the vocab.
def add_bytes(d):
    v = d["model"]["vocab"]
    n = max(v.values()) + 1
    for b in BYTES:
        if b not in v:
            v[b] = n
            n += 1
    d["model"]["byte_fallback"] = True
    d["model"]["unk_token"] = None


t = Tokenizer(models.BPE())
t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
t.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=80))
save(t, "bpe_bytefallback", add_bytes)

# Unigram with byte fallback.
def add_bytes_unigram(d):
    have = {p for p, _ in d["model"]["vocab"]}
    for b in BYTES:
        if b not in have:
            d["model"]["vocab"].append([b, 0.0])
    d["model"]["byte_fallback"] = True


t = Tokenizer(models.Unigram())
t.pre_tokenizer = pre_tokenizers.Metaspace()
t.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=400, special_tokens=["<unk>", "<pad>"], unk_token="<unk>"))
save(t, "unigram", None)
save(t, "unigram_bytefallback", add_bytes_unigram)

# WordLevel.
t = Tokenizer(models.WordLevel(unk_token="[UNK]"))
t.normalizer = normalizers.Lowercase()
t.pre_tokenizer = pre_tokenizers.Whitespace()
t.train_from_iterator(texts, trainers.WordLevelTrainer(vocab_size=500, special_tokens=["[UNK]", "[PAD]"]))
save(t, "wordlevel")
print("ok")
