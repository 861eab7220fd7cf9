"""The proposal: one loss written in jax.numpy on per-pair statistics, as one JSON record.

A proposal's code defines exactly one function with the fixed signature

    def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
             chosen_lengths, rejected_lengths, tau, c):
        ...
        return per_pair_losses          # shape [B]

Every array argument is [B]: summed token log-probs of the chosen / rejected response under the policy and
under the reference, and their token counts (floats >= 1); `tau` is the training progress in [0, 1]; `c`
maps each declared constant's name to its value. The names are TRL's (what the exported torch loss takes),
so a proposal reads like the losses of DiscoPOP's loop. The record:

    {"name": "...", "thought": "...", "code": "def loss(...): ...",
     "constants": {"beta": {"value": 0.1, "low": 0.01, "high": 1.0}}}

Constants are what CMA-ES may tune and what the population engine vmaps over: proposals that share their
code (a "form") and differ only in constant values are scored in one program.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

ARGS = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps",
        "chosen_lengths", "rejected_lengths", "tau", "c")
FUNCTION = "loss"
SIGNATURE = f"def {FUNCTION}({', '.join(ARGS)}):"
MAX_CONSTANTS = 8
MAX_CODE_CHARS = 4000
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


class ProposalError(ValueError):
    """A malformed proposal record: one message naming the field, fed back to the proposer."""


@dataclasses.dataclass(frozen=True)
class Constant:
    value: float
    low: float
    high: float

    def to_json(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclasses.dataclass(frozen=True)
class Proposal:
    name: str
    thought: str
    code: str
    constants: dict[str, Constant]

    @property
    def form(self) -> str:
        """The form's id: a hash of the code (whitespace at line ends ignored); equal forms share a program."""
        text = "\n".join(line.rstrip() for line in self.code.strip().splitlines())
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def values(self) -> dict[str, float]:
        return {k: c.value for k, c in self.constants.items()}

    def with_values(self, values: dict[str, float], name: str | None = None, thought: str | None = None) -> "Proposal":
        """The same form at other constant values (clipped into each constant's range)."""
        consts = {k: dataclasses.replace(c, value=float(min(max(values[k], c.low), c.high)))
                  for k, c in self.constants.items()}
        return dataclasses.replace(self, constants=consts, name=name or self.name, thought=thought or self.thought)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "thought": self.thought, "code": self.code,
                "constants": {k: c.to_json() for k, c in self.constants.items()}}


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ProposalError(f"{where}: got {v!r}; allowed: a finite number")
    return float(v)


def from_json(record: Any) -> Proposal:
    """A validated Proposal from a JSON-like record; raises ProposalError naming the first bad field."""
    if not isinstance(record, dict):
        raise ProposalError(f"proposal: got {type(record).__name__}; allowed: a JSON object with keys "
                            "name, thought, code, constants")
    missing = [k for k in ("name", "code") if k not in record]
    if missing:
        raise ProposalError(f"proposal: missing key(s) {', '.join(missing)}; required: name, code "
                            "(thought and constants are optional)")
    name, thought, code = record["name"], record.get("thought", ""), record["code"]
    for key, v in (("name", name), ("thought", thought), ("code", code)):
        if not isinstance(v, str):
            raise ProposalError(f"proposal.{key}: got {type(v).__name__}; allowed: a string")
    if len(code) > MAX_CODE_CHARS:
        raise ProposalError(f"proposal.code: {len(code)} characters; allowed: at most {MAX_CODE_CHARS}")
    raw = record.get("constants", {}) or {}
    if not isinstance(raw, dict):
        raise ProposalError("proposal.constants: allowed: an object {name: {value, low, high}}")
    if len(raw) > MAX_CONSTANTS:
        raise ProposalError(f"proposal.constants: {len(raw)} constants; allowed: at most {MAX_CONSTANTS}")
    consts = {}
    for k, spec in raw.items():
        where = f"proposal.constants.{k}"
        if not NAME_RE.match(str(k)):
            raise ProposalError(f"{where}: not an identifier; allowed: letters, digits, _ (at most 32)")
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):  # a bare value: a range around it
            v = _number(spec, where)
            spec = {"value": v, "low": min(v / 10, v * 10, v - 1), "high": max(v / 10, v * 10, v + 1)}
        if not isinstance(spec, dict) or set(spec) - {"value", "low", "high"} or "value" not in spec:
            raise ProposalError(f"{where}: allowed: {{\"value\": v, \"low\": lo, \"high\": hi}}")
        v = _number(spec["value"], f"{where}.value")
        lo = _number(spec.get("low", v), f"{where}.low")
        hi = _number(spec.get("high", v), f"{where}.high")
        if not lo <= v <= hi:
            raise ProposalError(f"{where}: value {v} outside its range [{lo}, {hi}]")
        consts[str(k)] = Constant(v, lo, hi)
    return Proposal(name.strip()[:80] or "unnamed", thought.strip()[:2000], code, consts)


def parse_reply(text: str) -> Proposal:
    """A proposal from a model's reply: a JSON object, possibly inside a ```json fence or prose."""
    fenced = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.S)
    candidates = [fenced.group(1)] if fenced else []
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        candidates.append(text[start:end + 1])
    for cand in candidates:
        try:
            return from_json(json.loads(cand))
        except json.JSONDecodeError:
            continue
    raise ProposalError("reply: no JSON object with keys name, thought, code, constants found "
                        f"(reply began {text[:80]!r})")


SEEDS = Path(__file__).with_name("seeds.jsonl")
# seed name -> the zoo loss it writes in the proposal format, and how its constants map to the zoo's
SEED_ZOO = {"dpo": ("sigmoid", {"beta": "beta"}), "slic": ("hinge", {"beta": "beta"}),
            "ipo": ("ipo_sum", {"beta": "beta"}), "discopop": ("discopop", {"beta": "beta", "temperature": "discopop_tau"})}


def read_jsonl(path) -> list[Proposal]:
    """Proposals from a JSONL file (one record a line; blank lines skipped); errors name the line."""
    out = []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(from_json(json.loads(line)))
        except (json.JSONDecodeError, ProposalError) as e:
            raise ProposalError(f"{path}:{i}: {e}") from None
    return out


def seed_proposals() -> list[Proposal]:
    """DPO, SLiC, IPO and DiscoPOP written as proposals (discovery/proposers/seeds.jsonl)."""
    return read_jsonl(SEEDS)
