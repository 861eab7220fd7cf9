"""`discovery.load(path)`: a discovered loss from a run directory, ready to use, with its provenance."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Literal

import jax.numpy as jnp
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from discovery import run_dir as rd
from discovery.engine import search_space
from discovery.schema import check, error_line
from search_spaces.mpo import MPOParams, mpo_loss


@dataclasses.dataclass(frozen=True)
class LoadedLoss:
    """`fn(batch, tau)` is the loss with its parameters bound; `loss_fn(params, batch, tau)` the raw one."""

    params: MPOParams
    provenance: dict[str, Any]
    loss_fn: Callable = mpo_loss

    def fn(self, batch, tau=0.0):
        return self.loss_fn(self.params, batch, tau)


class BestFile(BaseModel):
    """The fields of best.json that `load` uses, checked (strict types, finite numbers, known version);
    the others (selection, coefficients) are provenance and pass through."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)
    format_version: Literal[1] = 1  # rd.BEST_VERSION; files written before the field existed are version 1
    generation: int | None  # null: the final selection chose the start or the ES mean (no generation's)
    fitness_during_search: float | None
    vector: list[float] = Field(min_length=1)
    vector_names: list[str]


def _read_best(best_file: Path) -> dict[str, Any]:
    try:
        best = json.loads(best_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{best_file}: corrupt JSON ({err})") from None
    if not isinstance(best, dict):
        raise ValueError(f"{best_file}: expected a JSON object (the output of `mpo search`), got {type(best).__name__}")
    try:
        return BestFile.model_validate(best).model_dump()
    except ValidationError as e:
        raise ValueError(error_line(e.errors()[0], prefix=f"{best_file}: ")) from None


def load(path: str | Path) -> LoadedLoss:
    """Load the best loss of a finished search from its run directory (or its best.json)."""
    path = Path(path)
    run = path.parent if path.name == rd.BEST else path
    best_file = run / rd.BEST
    if not best_file.exists():
        what = "not a run directory" if not (run / rd.CONFIG).exists() else "the search has not finished"
        raise FileNotFoundError(f"{run}: no best.json ({what}); resume it with `mpo search --resume {run}`")
    best = _read_best(best_file)
    try:
        cfg = check(rd.read_config(run))
    except ValueError as err:
        raise ValueError(f"{run / rd.CONFIG}: {err}") from None
    space = search_space(cfg)
    vec = np.asarray(best["vector"], np.float32)
    if vec.shape != (space.size,):
        raise ValueError(f"{best_file}: 'vector' has {vec.size} entries; the run's search space has {space.size}")
    if best["vector_names"] != space.names():
        raise ValueError(f"{best_file}: 'vector_names' do not match the run's search space (config changed?)")
    lo, hi = space.bounds()
    tol = 1e-6 * np.maximum(1.0, np.maximum(np.abs(lo), np.abs(hi)))  # a float32 vector may round past the box
    out = np.flatnonzero((vec < lo - tol) | (vec > hi + tol))
    if out.size:
        i = int(out[0])
        raise ValueError(f"{best_file}: 'vector' entry {best['vector_names'][i]} = {vec[i]:g} outside its box "
                         f"[{lo[i]:g}, {hi[i]:g}]")
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
