"""What a loss is: a pure function and its spec (defaults, ranges, formula, citation).

A loss is a pure function `fn(params, batch, tau) -> per-pair losses [B]`: `params` is a pytree of
hyperparameters (a dict for zoo losses, an MPOParams for the family), `batch` a PrefBatch, `tau` the
training progress in [0, 1]. Pure and pytree-valued params make every loss jit-, vmap- and grad-able,
including vmap over hyperparameters.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import chex

from search_spaces.batch import PrefBatch

LossFn = Callable[[Any, PrefBatch, chex.Numeric], chex.Array]


@dataclasses.dataclass(frozen=True)
class LossSpec:
    name: str
    fn: LossFn
    family: str  # "reference" | "reference-free" | "length-aware" | "batch-coupled" | "mpo"
    defaults: Mapping[str, float]
    ranges: Mapping[str, tuple[float, float, str]]  # name -> (low, high, "[]" / "[)" / "()" ...)
    formula: str
    citation: str
    trl_name: str | None = None
    notes: str = ""
    batch_coupled: bool = False

    def params(self, **overrides: float) -> dict[str, float]:
        """Defaults with overrides applied; unknown names and out-of-range values raise ValueError."""
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            allowed = ", ".join(self.defaults) or "none"
            raise ValueError(f"loss '{self.name}': unknown hyperparameter(s) {unknown}; allowed: {allowed}")
        merged = {**self.defaults, **{k: float(v) for k, v in overrides.items()}}
        for key, value in merged.items():
            low, high, brackets = self.ranges[key]
            ok_low = value >= low if brackets[0] == "[" else value > low
            ok_high = value <= high if brackets[1] == "]" else value < high
            if not (ok_low and ok_high):
                raise ValueError(
                    f"loss '{self.name}': hyperparameter {key}={value} out of range; allowed {brackets[0]}{low}, {high}{brackets[1]}"
                )
        return merged
