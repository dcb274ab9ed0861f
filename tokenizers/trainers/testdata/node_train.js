// Trains a byte-level BPE with npm tokenizers@0.23.2 (HF's Rust library),
// using the binding's default BpeTrainer (vocab_size 30000, min_frequency 0,
// no special tokens), and saves tokenizer.json.
// usage: node node_train.js OUT_JSON FILE...
const { Tokenizer, BPE, byteLevelPreTokenizer } = require('tokenizers');

const [out, ...files] = process.argv.slice(2);
const tok = new Tokenizer(BPE.empty());
tok.setPreTokenizer(byteLevelPreTokenizer(false, true));
tok.train(files);
tok.save(out);
