"""The OpenAI-compatible client against a local HTTP server started here that answers like a chat-completions
endpoint: a good answer, a malformed answer, an HTTP error, a reply without JSON, and a timeout."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from discovery.proposers.openai_client import (
    ChatClient,
    ChatError,
    OpenAIProposer,
    user_prompt,
)
from discovery.proposers.proposal import seed_proposals

GOOD = {"name": "half-dpo", "thought": "a softer logistic", "code": seed_proposals()[0].code.replace("-c[\"beta\"]", "-0.5 * c[\"beta\"]"),
        "constants": {"beta": {"value": 0.1, "low": 0.01, "high": 1.0}}}


class Handler(BaseHTTPRequestHandler):
    mode = "good"
    seen: list = []

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        mode = Handler.mode
        if mode == "slow":
            time.sleep(1.5)
        if mode == "error":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "overloaded"}')
            return
        content = {"good": "Here you go:\n```json\n" + json.dumps(GOOD) + "\n```", "slow": json.dumps(GOOD),
                   "prose": "I would try a focal loss."}.get(mode)
        payload = {"choices": [{"message": {"role": "assistant", "content": content}}]} if mode != "malformed" \
            else {"result": "not what a chat endpoint says"}
        data = json.dumps(payload).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up first (the timeout case)
            pass


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_good_answer(server):
    Handler.mode, Handler.seen = "good", []
    client = ChatClient(server, "tiny", api_key="sk-test", timeout_s=5)
    history = [{"name": "dpo", "fitness": 81.0, "code": GOOD["code"], "constants": GOOD["constants"]},
               {"name": "broken", "fitness": None, "error": "line 2: calling 'open' is not allowed", "code": "x", "constants": {}}]
    recs = OpenAIProposer(client).propose(2, history, np.random.default_rng(0))
    assert [r["name"] for r in recs] == ["half-dpo", "half-dpo"]
    req = Handler.seen[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test" and req["body"]["model"] == "tiny"
    system, user = req["body"]["messages"]
    assert "def loss(policy_chosen_logps" in system["content"] and system["role"] == "system"
    assert "fitness 81.00" in user["content"] and "calling 'open' is not allowed" in user["content"]
    # the second call of the generation sees the first one's proposal (not scored yet)
    assert "this generation, not scored yet" in Handler.seen[1]["body"]["messages"][1]["content"]


@pytest.mark.parametrize("mode, phrase", [("malformed", "not a chat-completions answer"), ("error", "HTTP 500"),
                                          ("prose", "no JSON object"), ("slow", "no answer within 0.5 s")])
def test_failures_become_messages(server, mode, phrase):
    Handler.mode = mode
    client = ChatClient(server, "tiny", timeout_s=0.5)
    recs = OpenAIProposer(client).propose(1, [], np.random.default_rng(0))
    assert list(recs[0]) == ["invalid"] and phrase in recs[0]["invalid"]
    if mode != "prose":
        with pytest.raises(ChatError, match=phrase):
            client.complete([{"role": "user", "content": "hi"}])


def test_configuration_errors(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    with pytest.raises(ValueError, match="--base-url"):
        ChatClient(None, "m")
    with pytest.raises(ValueError, match="--model"):
        ChatClient("http://127.0.0.1:1/v1", None)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_MODEL", "m")
    assert ChatClient().model == "m"


def test_prompt_is_bounded():
    history = [{"name": f"p{i}", "fitness": float(i), "code": "x" * 5000, "constants": {}} for i in range(200)]
    text = user_prompt(history)
    assert len(text) < 15000 and "p199" in text and "p0 " not in text
