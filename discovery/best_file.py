"""best.json, the final loss of a search, read and checked against the search space it belongs to.

Both `discovery.load` and a staged search's start (`loss.start_from`) read it through here, so a corrupt,
edited or mismatched file is one error naming the file and the field, wherever it is read.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from discovery.schema import error_line
from search_spaces.search_space import SearchSpace


class BestFile(BaseModel):
    """The fields of best.json that are used, checked (strict types, finite numbers, known version);
    the others (selection, coefficients) are provenance and pass through."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)
    format_version: Literal[1] = 1  # rd.BEST_VERSION; files written before the field existed are version 1
    generation: int | None  # null: the final selection chose the start or the ES mean (no generation's)
    fitness_during_search: float | None
    vector: list[float] = Field(min_length=1)
    vector_names: list[str]


def read_best(best_file: Path) -> dict[str, Any]:
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


def checked_vector(best_file: Path, best: dict[str, Any], space: SearchSpace) -> np.ndarray:
    """best.json's vector, refused unless it has the space's length and names and lies in its box."""
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
    return vec
