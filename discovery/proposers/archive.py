"""The archive of a propose run: one JSONL line per proposal (code, constants, scores per dataset, error,
wall time), plus one log line per finished generation. A generation's lines are written when it ends, so a
killed run resumes at its first unfinished generation and reaches the same archive."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

ARCHIVE = "archive.jsonl"
LOG = "log.jsonl"
TIMING_KEYS = ("wall_s", "train_s", "score_s", "validate_s")


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write(path: Path, lines: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(line) + "\n" for line in lines))
    tmp.replace(path)


class Archive:
    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)
        self.records = _read(self.dir / ARCHIVE)
        self.log = _read(self.dir / LOG)

    @property
    def generations_done(self) -> int:
        return len(self.log)

    def truncate(self) -> None:
        """Drop the records of a generation that did not finish (the run was killed inside it)."""
        done = self.generations_done
        kept = [r for r in self.records if r["generation"] < done]
        if len(kept) != len(self.records):
            self.records = kept
            _write(self.dir / ARCHIVE, kept)

    def add_generation(self, records: list[dict[str, Any]], log_line: dict[str, Any]) -> None:
        with open(self.dir / ARCHIVE, "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))
        self.records += records
        with open(self.dir / LOG, "a") as f:
            f.write(json.dumps(log_line) + "\n")
        self.log.append(log_line)

    def scored(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("fitness") is not None and math.isfinite(r["fitness"])]

    def best(self, k: int = 1, exclude_seeds: bool = False) -> list[dict[str, Any]]:
        """The k best scored records, distinct by (form, constants), best first; ties keep the earlier."""
        out, seen = [], set()
        for r in sorted(self.scored(), key=lambda r: -r["fitness"]):
            key = (r["form"], json.dumps(r["constants"], sort_keys=True))
            if key in seen or (exclude_seeds and r.get("origin") == "seed"):
                continue
            seen.add(key)
            out.append(r)
            if len(out) == k:
                break
        return out


def without_timing(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]
