"""A run directory: resolved config, package versions, JSONL log; never overwritten silently.

Every file is strict JSON (discovery/strict_json.py) written atomically; the log is appended one fsynced
line per generation, before that generation's checkpoint, and a line cut short by a kill is dropped on read
(the resume recomputes that generation).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from discovery import outputs, strict_json
from discovery.lock import LOCK
from envs.runtime import versions

CONFIG = "config.json"
LOG = "log.jsonl"
BEST = "best.json"
BEST_VERSION = 1  # best.json's format_version; discovery.load refuses others (a file without one is version 1)
# Log fields that measure the machine (time, compilations, which depend on the compilation cache);
# everything else in a log line is a deterministic function of the config.
TIMING_KEYS = ("wall_s", "compile_s", "xla_compiles")


def default_run_dir(name: str) -> Path:
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_new(run_dir: Path) -> None:
    """Refuse, before any work, a --out that cannot become a new run directory."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise outputs.OutputError(f"--out: {run_dir} exists and is not a directory")
    if run_dir.exists() and any(p.name != LOCK for p in run_dir.iterdir()):
        raise FileExistsError(f"--out: {run_dir} exists and is not empty; use --resume {run_dir} or another --out")
    outputs.check_parent(run_dir / CONFIG, "--out")


def create(run_dir: Path, cfg: dict[str, Any]) -> Path:
    """Make a fresh run directory with config.json and versions.json; refuse a non-empty one."""
    run_dir = Path(run_dir)
    check_new(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    strict_json.write(run_dir / CONFIG, cfg)
    strict_json.write(run_dir / "versions.json", versions())
    return run_dir


def read_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG
    if Path(run_dir).exists() and not Path(run_dir).is_dir():
        raise FileNotFoundError(f"--resume: {run_dir} is a file, not a run directory")
    if not path.exists():
        raise FileNotFoundError(f"--resume: {run_dir} has no {CONFIG}; not a run directory")
    try:
        cfg = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"--resume: {path} is not valid JSON ({err})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"--resume: {path} must hold a JSON object, got {type(cfg).__name__}")
    return cfg


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """The log lines; a last line cut short (a kill during its append) is dropped, a bad earlier one refused."""
    path = Path(run_dir) / LOG
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)  # lenient: logs written before strict JSON hold -Infinity
        except ValueError:
            if i == len(lines) - 1:  # no newline after it: the append was cut short
                break
            raise ValueError(f"{path}: line {i + 1} is not valid JSON") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("generation"), int):
            raise ValueError(f"{path}: line {i + 1} is not a log line (no integer 'generation')")
        out.append(entry)
    return out


def write_log(run_dir: Path, lines: Iterable[dict[str, Any]]) -> None:
    strict_json.write_text_atomic(Path(run_dir) / LOG, "".join(strict_json.dumps(line, None) + "\n" for line in lines))


def append_log(run_dir: Path, line: dict[str, Any]) -> None:
    """Append one line in one write, flushed to disk: it exists before its generation's checkpoint does."""
    path = Path(run_dir) / LOG
    try:
        with open(path, "a") as f:
            f.write(strict_json.dumps(line, None) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        if err.filename is None:  # a full disk fails at the flush, with no file named
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise


def without_timing(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if k not in TIMING_KEYS} for line in lines]
