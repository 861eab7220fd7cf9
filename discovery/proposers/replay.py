"""The replay proposer: proposals read from a JSONL file, in order (deterministic tests, and re-scoring a
published list such as DiscoPOP's catalogued losses)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from discovery.proposers.proposal import ProposalError


class ReplayProposer:
    """Generation g proposes the file's records after those the archive already holds from this file; a
    line that is not a valid record is passed on as-is, so the loop records its error like any other."""

    name = "replay"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"--replay: {self.path} not found (a JSONL file of proposals)")
        self.lines = [line for line in self.path.read_text().splitlines() if line.strip()]
        if not self.lines:
            raise ProposalError(f"--replay: {self.path} holds no proposals")

    def propose(self, n: int, history: Sequence[dict[str, Any]], rng: np.random.Generator) -> list[dict[str, Any]]:
        done = sum(1 for r in history if r.get("origin") == self.name)
        out = []
        for line in self.lines[done:done + n]:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                rec = {"invalid": f"not JSON ({e.msg} at column {e.colno})", "raw": line[:200]}
            out.append(rec if isinstance(rec, dict) else {"invalid": "not a JSON object", "raw": line[:200]})
        return out

    def exhausted(self, history: Sequence[dict[str, Any]]) -> bool:
        return sum(1 for r in history if r.get("origin") == self.name) >= len(self.lines)
