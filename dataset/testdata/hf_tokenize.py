# Oracle for train's tokenisation: HF tokenizers' ids and type ids for each
# JSON line {"text": ..., "pair": ...} of stdin, truncated to argv[2] tokens
# (longest_first) with the file's own padding removed, as kiln train does.
import json, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
tok.no_padding()
tok.enable_truncation(int(sys.argv[2]))
for line in sys.stdin:
    row = json.loads(line)
    e = tok.encode(row["text"], row["pair"]) if row.get("pair") is not None else tok.encode(row["text"])
    print(json.dumps({"ids": e.ids, "types": e.type_ids}))
