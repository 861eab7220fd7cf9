"""Orbax checkpoints of a search: ES state, generation, best candidate so far (one per generation).

Each checkpoint's metadata records the run's fingerprint (discovery/fingerprint.py), so a resume is compared
with what the restored state was made under. A write is atomic (orbax writes a temporary directory and
renames it on commit), is never interrupted by Ctrl-C (discovery/interrupt.py), and fails with one line:
a full disk used to print about 430 lines of orbax/asyncio tracebacks (absl logging) before the error.
"""
from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import jax
import orbax.checkpoint as ocp

from discovery import interrupt

DIRNAME = "checkpoints"


class CheckpointError(OSError):
    """A checkpoint could not be written or read; the message names the step and the reason."""


def _closed_loop_noise(err: BaseException | None) -> bool:
    return isinstance(err, RuntimeError) and str(err) == "Event loop is closed"


def _drop_closed_loop_tracebacks() -> None:
    """After a failed write (a full disk), orbax's write threads call back into event loops it has already
    closed, and each prints "RuntimeError: Event loop is closed" with a traceback (through sys.excepthook from
    native code, or threading.excepthook), before or after the one line that reports the failure: seen in 2 of 5
    runs of the full-disk test. Only that exact error is dropped; every other one is printed as before."""
    if getattr(sys.excepthook, "_mpo_drops_closed_loop", False):
        return
    previous_sys, previous_thread = sys.excepthook, threading.excepthook

    def sys_hook(kind, err, tb):
        if not _closed_loop_noise(err):
            previous_sys(kind, err, tb)

    def thread_hook(args):
        if not _closed_loop_noise(args.exc_value):
            previous_thread(args)

    sys_hook._mpo_drops_closed_loop = True  # type: ignore[attr-defined]
    sys.excepthook, threading.excepthook = sys_hook, thread_hook


def manager(run_dir: Path) -> ocp.CheckpointManager:
    # Every generation is kept: they are small (the CMA-ES covariance is D x D) and any can be resumed.
    # The handler is named so that reading a step's metadata before restoring it logs no warning.
    _drop_closed_loop_tracebacks()
    return ocp.CheckpointManager(Path(run_dir).absolute() / DIRNAME,
                                 options=ocp.CheckpointManagerOptions(max_to_keep=None, create=True),
                                 item_handlers=ocp.StandardCheckpointHandler())


@contextlib.contextmanager
def _quiet_orbax() -> Iterator[None]:
    """Orbax logs every failed background write with full tracebacks (absl logger) before it raises: the
    error it raises says it all, once."""
    log = logging.getLogger("absl")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def _reason(err: BaseException) -> str:
    text = str(err)
    for known in ("No space left on device", "Read-only file system", "Permission denied", "Not a directory",
                  "Disk quota exceeded"):
        if known in text:
            return known
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return re.sub(r"\s+", " ", first)[:200]


def save(mngr: ocp.CheckpointManager, step: int, tree: dict[str, Any], fingerprint: dict[str, Any] | None = None) -> None:
    """Write checkpoint `step` and wait for its commit; a Ctrl-C meanwhile takes effect after the commit."""
    with interrupt.deferred(), _quiet_orbax():
        try:
            mngr.save(step, args=ocp.args.StandardSave(tree),
                      custom_metadata={"fingerprint": fingerprint} if fingerprint is not None else None)
            mngr.wait_until_finished()
        except Exception as err:  # noqa: BLE001 - orbax raises ValueError/OSError/RuntimeError for I/O failures
            raise CheckpointError(f"checkpoint: cannot write {mngr.directory}/{step}: {_reason(err)}") from None


def fingerprint_at(mngr: ocp.CheckpointManager, step: int) -> dict[str, Any] | None:
    """The fingerprint recorded with checkpoint `step` (None for a checkpoint made before they were)."""
    meta = mngr.metadata(step)
    custom = getattr(meta, "custom_metadata", None) or {}
    return custom.get("fingerprint")


def resume_step(mngr: ocp.CheckpointManager, log_generations: list[int]) -> int:
    """The generation a resume starts at: the latest committed checkpoint whose generations all have their log
    line (0, the initial state, when there is none: a run stopped before its first checkpoint starts over).
    Log lines are written before their checkpoint, so this is the latest checkpoint unless a log was cut."""
    lines = 0
    while lines < len(log_generations) and log_generations[lines] == lines:
        lines += 1
    steps = [s for s in mngr.all_steps() if s <= lines]
    return max(steps, default=0)


def restore(mngr: ocp.CheckpointManager, template: dict[str, Any], step: int | None = None) -> tuple[int, dict]:
    """Restore `step` (default: the latest) into the structure of `template`."""
    step = mngr.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"{mngr.directory}: no checkpoint to resume from")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    with _quiet_orbax():
        try:
            return step, mngr.restore(step, args=ocp.args.StandardRestore(abstract))
        except (ValueError, OSError) as err:
            raise CheckpointError(f"checkpoint: cannot restore {mngr.directory}/{step}: {_reason(err)} (delete that "
                                  "step directory to resume from the one before)") from None
