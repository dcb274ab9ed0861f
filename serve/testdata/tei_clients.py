"""Real clients against a running `kiln serve`, for serve's contract tests.

    tei_clients.py hub URL TOKEN TEXT...       huggingface_hub InferenceClient(model=URL).text_classification
    tei_clients.py triton HOST:PORT MODEL TEXT...  tritonclient[http], binary tensors (its default) and JSON
    tei_clients.py tokenize TOKENIZER_JSON CASES_JSON  HF tokenizers: TEI's /tokenize answer (byte offsets)

Each prints one JSON document on stdout; the Go test compares it with what
kiln answers on its own routes.
"""
import json
import sys


def hub(url, token, texts):
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=url, token=token or None, timeout=60)
    out = []
    for t in texts:
        r = client.text_classification(t)
        # TEI answers one text with a flat list, of which the client keeps the top entry.
        items = r if isinstance(r, list) else [r]
        out.append([{"label": e.label, "score": e.score} for e in items])
    # The endpoint helpers need provider="hf-inference" spelt out.
    endpoint = InferenceClient(model=url, token=token or None, timeout=60, provider="hf-inference")
    return {"results": out, "healthy": endpoint.health_check(), "info": endpoint.get_endpoint_info()}


def triton(url, model, texts):
    import numpy as np
    import tritonclient.http as httpclient

    c = httpclient.InferenceServerClient(url=url)
    res = {
        "live": c.is_server_live(),
        "ready": c.is_server_ready(),
        "model_ready": c.is_model_ready(model),
        "model_ready_v1": c.is_model_ready(model, model_version="1"),
        "metadata": c.get_model_metadata(model),
        "config": c.get_model_config(model),
        "server": c.get_server_metadata(),
    }
    data = np.array([t.encode() for t in texts], dtype=np.object_)

    def run(binary_in, outputs, **kw):
        inp = httpclient.InferInput("text", [len(texts)], "BYTES")
        inp.set_data_from_numpy(data, binary_data=binary_in)
        r = c.infer(model, [inp], outputs=outputs, **kw)
        body = r.get_response()
        got = {}
        for o in body["outputs"]:
            a = r.as_numpy(o["name"])
            got[o["name"]] = {
                "shape": list(a.shape),
                "binary": "binary_data_size" in (o.get("parameters") or {}),
                "data": [x.decode() if isinstance(x, bytes) else x if isinstance(x, str) else float(x) for x in a.reshape(-1)],
            }
        return got

    res["default"] = run(True, None)  # binary in, all outputs binary
    res["scores_only"] = run(True, [httpclient.InferRequestedOutput("scores")])
    res["json"] = run(False, [httpclient.InferRequestedOutput("scores", binary_data=False),
                              httpclient.InferRequestedOutput("label", binary_data=False)])
    res["raw"] = run(True, [httpclient.InferRequestedOutput("scores")], parameters={"raw_scores": True})
    res["top2"] = run(True, [httpclient.InferRequestedOutput("scores", class_count=2)])
    res["versioned"] = run(True, [httpclient.InferRequestedOutput("label")], model_version="1")
    res["gzip"] = run(True, [httpclient.InferRequestedOutput("scores")],
                      request_compression_algorithm="gzip", response_compression_algorithm="gzip")
    res["deflate"] = run(True, [httpclient.InferRequestedOutput("scores")], request_compression_algorithm="deflate")
    try:
        c.infer("no-such-model", [httpclient.InferInput("text", [1], "BYTES")])
        res["unknown_model_error"] = None
    except Exception as e:  # InferenceServerException
        res["unknown_model_error"] = str(e)
    return res


def tokenize(path, cases_path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.no_truncation()
    cases = json.load(open(cases_path))
    out = []
    for c in cases:
        texts = [c["text"]] + ([c["pair"]] if c.get("pair") is not None else [])
        if c.get("max_length"):
            tok.enable_truncation(c["max_length"], strategy="longest_first", direction=c.get("direction") or "right")
        else:
            tok.no_truncation()
        enc = tok.encode(*texts, add_special_tokens=c["add_special_tokens"])
        toks = []
        for i, id_ in enumerate(enc.ids):
            seq = enc.sequence_ids[i]
            if enc.special_tokens_mask[i] == 1 or seq is None:
                toks.append({"id": id_, "text": enc.tokens[i], "special": True, "start": None, "stop": None})
                continue
            t = texts[seq]
            a, b = enc.offsets[i]  # characters; TEI reports bytes
            ba, bb = len(t[:a].encode()), len(t[:b].encode())
            toks.append({"id": id_, "text": t.encode()[ba:bb].decode(), "special": False, "start": ba, "stop": bb})
        out.append(toks)
    return out


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "hub":
        print(json.dumps(hub(args[0], args[1], args[2:])))
    elif cmd == "triton":
        print(json.dumps(triton(args[0], args[1], args[2:])))
    elif cmd == "tokenize":
        print(json.dumps(tokenize(args[0], args[1])))
    else:
        sys.exit(f"unknown command {cmd}")
