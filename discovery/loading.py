"""`discovery.load(path)`: a discovered loss from a run directory, ready to use, with its provenance."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import jax.numpy as jnp

from discovery import run_dir as rd
from discovery.best_file import checked_vector, read_best
from discovery.engine import search_space
from discovery.schema import check
from search_spaces.mpo import MPOParams, mpo_loss


@dataclasses.dataclass(frozen=True)
class LoadedLoss:
    """`fn(batch, tau)` is the loss with its parameters bound; `loss_fn(params, batch, tau)` the raw one."""

    params: MPOParams
    provenance: dict[str, Any]
    loss_fn: Callable = mpo_loss

    def fn(self, batch, tau=0.0):
        return self.loss_fn(self.params, batch, tau)


def load(path: str | Path) -> LoadedLoss:
    """Load the best loss of a finished search from its run directory (or its best.json)."""
    path = Path(path)
    run = path.parent if path.name == rd.BEST else path
    best_file = run / rd.BEST
    if not best_file.exists():
        what = "not a run directory" if not (run / rd.CONFIG).exists() else "the search has not finished"
        raise FileNotFoundError(f"{run}: no best.json ({what}); resume it with `mpo search --resume {run}`")
    best = read_best(best_file)
    try:
        cfg = check(rd.read_config(run))
    except ValueError as err:
        raise ValueError(f"{run / rd.CONFIG}: {err}") from None
    space = search_space(cfg)
    vec = checked_vector(best_file, best, space)
    params = space.from_vector(jnp.asarray(vec))
    versions_file = run / "versions.json"
    provenance = {
        "run_dir": str(run),
        "generation": best["generation"],
        "fitness_during_search": best["fitness_during_search"],
        "config": cfg,
        "versions": json.loads(versions_file.read_text()) if versions_file.exists() else {},
    }
    return LoadedLoss(params, provenance)
