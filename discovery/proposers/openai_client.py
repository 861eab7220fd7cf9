"""The LLM proposer: any OpenAI-compatible /v1/chat/completions endpoint (vLLM, llama.cpp server, Ollama,
hosted APIs), through the standard library's urllib only.

The prompt is bounded, not a transcript: the task, the signature and the rules, the best proposals so far
and the most recent ones with their scores or their error messages (DiscoPOP's loop kept the whole
conversation; here the context stays the same size however long the run). Base URL, model and key come
from flags or OPENAI_BASE_URL / OPENAI_MODEL / OPENAI_API_KEY; the key is never written to the run directory.
"""
from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from typing import Any, Sequence

import numpy as np

from discovery.proposers.allowlist import FUNCTIONS, MATH_CONSTANTS
from discovery.proposers.proposal import SIGNATURE, ProposalError, parse_reply


class ChatError(RuntimeError):
    """The endpoint failed: one line saying how (HTTP status, timeout, malformed answer)."""


class ChatClient:
    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout_s: float = 120.0, temperature: float = 0.8, max_tokens: int = 1024) -> None:
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "").rstrip("/")
        self.model = model or os.environ.get("OPENAI_MODEL")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not self.base_url:
            raise ValueError("--base-url: no endpoint; give --base-url (e.g. http://localhost:8080/v1) or set OPENAI_BASE_URL")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"--base-url: got {self.base_url!r}; allowed: an http:// or https:// URL ending in /v1")
        if not self.model:
            raise ValueError("--model: no model name; give --model or set OPENAI_MODEL")
        self.timeout_s, self.temperature, self.max_tokens = timeout_s, temperature, max_tokens

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The first choice's message content; raises ChatError."""
        body = json.dumps({"model": self.model, "messages": messages, "temperature": self.temperature,
                           "max_tokens": self.max_tokens}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:200].decode(errors="replace")
            raise ChatError(f"chat endpoint answered HTTP {e.code}: {detail}") from None
        except (socket.timeout, TimeoutError):
            raise ChatError(f"chat endpoint gave no answer within {self.timeout_s:g} s") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, (socket.timeout, TimeoutError)):
                raise ChatError(f"chat endpoint gave no answer within {self.timeout_s:g} s") from None
            raise ChatError(f"chat endpoint unreachable: {e.reason}") from None
        try:
            data = json.loads(raw)
            content = data["choices"][0]["message"]["content"]
        except (json.JSONDecodeError, KeyError, IndexError, TypeError):
            raise ChatError(f"not a chat-completions answer (expected choices[0].message.content): "
                            f"{raw[:120].decode(errors='replace')!r}") from None
        if not isinstance(content, str):
            raise ChatError("not a chat-completions answer: choices[0].message.content is not a string")
        return content


def system_prompt() -> str:
    fns = "; ".join(f"{m}.{{{', '.join(names)}}}" for m, names in FUNCTIONS.items())
    return f"""You are a machine-learning researcher designing preference-optimization losses (like DPO).
Each loss you write fine-tunes a reference policy on pairs of (chosen, rejected) responses; it is scored by
the true return of the fine-tuned policy (normalized: 0 = random, 100 = expert; higher is better).

Write ONE loss as Python using jax.numpy, with exactly this signature:
{SIGNATURE}
Every argument is an array of shape [B] (one entry per pair): summed token log-probs of the chosen and the
rejected response under the policy and under the reference, their token counts (>= 1); tau is the training
progress in [0, 1]; c maps each constant you declare to its value (read it as c["name"]). Return the
per-pair losses, shape [B]. The margin rho = (policy_chosen_logps - reference_chosen_logps) -
(policy_rejected_logps - reference_rejected_logps) is what DPO uses: DPO is jax.nn.softplus(-c["beta"] * rho).

Rules (code outside them is refused): only assignments and a final return; arithmetic and comparisons;
calls of {fns}; math.{{{', '.join(MATH_CONSTANTS)}}}; abs/min/max/float. No imports, loops, if, lambdas,
comprehensions or other names. Use jnp.where for conditions. Values and gradients must stay finite for
margins of +-50 nats.

Answer with one JSON object only: {{"name": short_name, "thought": why it may work, "code": the function,
"constants": {{"beta": {{"value": 0.1, "low": 0.01, "high": 1.0}}, ...}}}} (at most 8 constants)."""


def _describe(r: dict[str, Any], max_code: int = 1200) -> str:
    if r.get("fitness") is not None:
        score = f"fitness {r['fitness']:.2f}"
    elif r.get("error") or r.get("invalid"):
        score = f"FAILED: {r.get('error') or r.get('invalid')}"
    else:
        score = "this generation, not scored yet"

    consts = json.dumps({k: v["value"] for k, v in (r.get("constants") or {}).items()})
    return f"- {r.get('name', '?')} ({score}); constants {consts}\n```python\n{(r.get('code') or '')[:max_code]}```"


def user_prompt(history: Sequence[dict[str, Any]], n_best: int = 4, n_recent: int = 6) -> str:
    scored = [r for r in history if r.get("fitness") is not None]
    best = sorted(scored, key=lambda r: -r["fitness"])[:n_best]
    recent = [r for r in history[-n_recent:] if r not in best]
    parts = ["Best proposals so far:"] + ([_describe(r) for r in best] or ["(none scored yet)"])
    if recent:
        parts += ["", "Most recent proposals (with their scores or errors):"] + [_describe(r) for r in recent]
    parts += ["", "Write the next loss: a new idea, different from the ones above. Answer with the JSON object only."]
    return "\n".join(parts)


class OpenAIProposer:
    name = "openai"

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    def propose(self, n: int, history: Sequence[dict[str, Any]], rng: np.random.Generator) -> list[dict[str, Any]]:
        """`n` records; a failed call or an unparsable reply becomes {"invalid": message}, recorded and fed
        back like any refusal."""
        out: list[dict[str, Any]] = []
        for _ in range(n):
            messages = [{"role": "system", "content": system_prompt()},
                        {"role": "user", "content": user_prompt(list(history) + out)}]
            try:
                reply = self.client.complete(messages)
                rec = parse_reply(reply).to_json()
            except ChatError as e:
                rec = {"invalid": str(e)}
            except ProposalError as e:
                rec = {"invalid": str(e)}
            out.append(rec)
        return out
