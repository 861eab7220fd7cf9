"""Orbax checkpoints of a search: ES state, generation, best candidate so far (one per generation)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


def manager(run_dir: Path) -> ocp.CheckpointManager:
    # Every generation is kept: they are small (the CMA-ES covariance is D x D) and any can be resumed.
    return ocp.CheckpointManager(Path(run_dir).absolute() / "checkpoints",
                                 options=ocp.CheckpointManagerOptions(max_to_keep=None, create=True))


def save(mngr: ocp.CheckpointManager, step: int, tree: dict[str, Any]) -> None:
    mngr.save(step, args=ocp.args.StandardSave(tree))
    mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, template: dict[str, Any], step: int | None = None) -> tuple[int, dict]:
    """Restore `step` (default: the latest) into the structure of `template`."""
    step = mngr.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"{mngr.directory}: no checkpoint to resume from")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    return step, mngr.restore(step, args=ocp.args.StandardRestore(abstract))
