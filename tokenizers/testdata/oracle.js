// Parity oracle: encodes and decodes with HuggingFace tokenizers (npm
// tokenizers, the Rust library) and prints the results as JSON.
//
// Usage: node oracle.js spec.json > out.json
// spec: {"jobs": [{"name", "json" (tokenizer.json text), "add_special",
//         "texts": [...], "pairs": [[a, b], ...], "batch": bool}]}
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

function dump(e) {
  return {
    ids: e.getIds(),
    type_ids: e.getTypeIds(),
    tokens: e.getTokens(),
    offsets: e.getOffsets(),
    attention_mask: e.getAttentionMask(),
    special_tokens_mask: e.getSpecialTokensMask(),
    word_ids: e.getWordIds().map((w) => (w === null || w === undefined ? -1 : w)),
    overflowing: e.getOverflowing().map(dump),
  };
}

async function runJob(job) {
  const out = { name: job.name, singles: [], pairs: [], decoded: [], decoded_skip: [], batch: null, error: null };
  let tok;
  try {
    tok = Tokenizer.fromString(job.json);
  } catch (err) {
    out.error = String(err);
    return out;
  }
  const opts = { addSpecialTokens: job.add_special };
  for (const t of job.texts || []) {
    try {
      const e = await tok.encode(t, null, opts);
      out.singles.push(dump(e));
      out.decoded.push(await tok.decode(e.getIds(), false));
      out.decoded_skip.push(await tok.decode(e.getIds(), true));
    } catch (err) {
      out.singles.push({ error: String(err) });
      out.decoded.push(null);
      out.decoded_skip.push(null);
    }
  }
  for (const [a, b] of job.pairs || []) {
    try {
      out.pairs.push(dump(await tok.encode(a, b, opts)));
    } catch (err) {
      out.pairs.push({ error: String(err) });
    }
  }
  if (job.batch) {
    const encs = await tok.encodeBatch(job.texts, opts);
    out.batch = encs.map(dump);
  }
  return out;
}

(async () => {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const results = [];
  for (const job of spec.jobs) results.push(await runJob(job));
  process.stdout.write(JSON.stringify(results));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
