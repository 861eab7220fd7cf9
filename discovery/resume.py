"""Where a resumed search starts, under which fingerprint, and what to tell a user who pressed Ctrl-C.

A resume starts at the latest checkpoint whose generations all have their log line (checkpoint.resume_step),
or at generation 0 when there is no checkpoint yet (a run stopped during its first compile used to be
neither resumable nor reusable). It is refused when the config or a dataset differs from what that
checkpoint was made with (fingerprint.verify). Nothing here writes: a refused resume leaves the run
directory exactly as it was.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from discovery import checkpoint, fingerprint
from discovery import run_dir as rd


def committed_steps(run_dir: Path) -> list[int]:
    """Checkpoint steps on disk that orbax committed (a write cut short leaves a '*-tmp' directory)."""
    d = Path(run_dir) / checkpoint.DIRNAME
    if not d.is_dir():
        return []
    return sorted(int(p.name) for p in d.iterdir() if p.is_dir() and p.name.isdigit())


def resume_point(run_dir: Path, cfg: dict[str, Any], allow: Sequence[str] = ()) -> tuple[int, dict[str, Any]]:
    """(generation to start at, fingerprint to continue under) for `--resume run_dir` with its config `cfg`."""
    generations = [line["generation"] for line in rd.read_log(run_dir)]
    start, recorded = 0, None
    if committed_steps(run_dir):
        mngr = checkpoint.manager(run_dir)
        try:
            start = checkpoint.resume_step(mngr, generations)
            recorded = checkpoint.fingerprint_at(mngr, start) if start > 0 else None
        finally:
            mngr.close()
    return start, fingerprint.verify(run_dir, cfg, recorded, allow, start)


def interrupted_hint(run_dir: Path) -> str:
    """The line printed after a Ctrl-C: what was kept and the command that continues (checked against the
    directory, so it never suggests resuming a run that has nothing to resume)."""
    run_dir = Path(run_dir)
    if not (run_dir / rd.CONFIG).exists():
        return f"interrupted before the run directory {run_dir} was made; nothing to resume: run the command again"
    try:
        total = int(json.loads((run_dir / rd.CONFIG).read_text())["generations"])
    except (ValueError, KeyError, TypeError):
        total = None
    done = max(committed_steps(run_dir), default=0)
    command = f"mpo search --resume {run_dir}"
    if done == 0:
        return f"interrupted before the first generation was checkpointed; `{command}` starts it at generation 0"
    if total is not None and done >= total:
        return f"interrupted after all {total} generations; `{command}` writes the final selection and report"
    of = f" of {total}" if total is not None else ""
    return f"interrupted; generations 0-{done - 1}{of} are checkpointed; continue with: {command}"
