"""A run directory: resolved config, package versions, JSONL log; never overwritten silently."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable

from envs.runtime import versions

CONFIG = "config.json"
LOG = "log.jsonl"
# Log fields that measure the machine (time, compilations, which depend on the compilation cache);
# everything else in a log line is a deterministic function of the config.
TIMING_KEYS = ("wall_s", "compile_s", "xla_compiles")


def default_run_dir(name: str) -> Path:
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def create(run_dir: Path, cfg: dict[str, Any]) -> Path:
    """Make a fresh run directory with config.json and versions.json; refuse a non-empty one."""
    run_dir = Path(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise FileExistsError(f"--out: {run_dir} exists and is not empty; use --resume {run_dir} or another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")
    (run_dir / "versions.json").write_text(json.dumps(versions(), indent=2) + "\n")
    return run_dir


def read_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise FileNotFoundError(f"--resume: {run_dir} has no {CONFIG}; not a run directory")
    return json.loads(path.read_text())


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_log(run_dir: Path, lines: Iterable[dict[str, Any]]) -> None:
    (Path(run_dir) / LOG).write_text("".join(json.dumps(line) + "\n" for line in lines))


def append_log(run_dir: Path, line: dict[str, Any]) -> None:
    with open(Path(run_dir) / LOG, "a") as f:
        f.write(json.dumps(line) + "\n")


def without_timing(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if k not in TIMING_KEYS} for line in lines]
