"""The flat search vector of the MPO family, as an evolution strategy needs it.

A SearchSpace picks which coefficients the ES moves (`fields`, at tau = 0) and which also get a
temporal slope (`temporal`, TA-MPO); every other coefficient is taken from `fixed`. Vectors are
clipped into the per-coordinate box on the way in, so any real vector is a valid loss. An evolution
strategy works in the unit cube of the box: `unit_to_params` / `params_to_unit` map between the two.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np

from search_spaces.mpo import FIELDS, MPOCoeffs, MPOParams, field_shape, mpo_params

DEFAULT_TEMPORAL = ("w_sft", "log_beta", "link_w")


@dataclasses.dataclass(frozen=True, eq=False)
class SearchSpace:
    fields: tuple[str, ...] = tuple(FIELDS)
    temporal: tuple[str, ...] = DEFAULT_TEMPORAL
    fixed: MPOParams = dataclasses.field(default_factory=mpo_params)

    def __post_init__(self) -> None:
        for group in ("fields", "temporal"):
            unknown = [f for f in getattr(self, group) if f not in FIELDS]
            if unknown:
                raise ValueError(f"search space {group}: unknown field(s) {unknown}; allowed: {', '.join(FIELDS)}")
        object.__setattr__(self, "fields", tuple(f for f in FIELDS if f in self.fields))
        object.__setattr__(self, "temporal", tuple(f for f in FIELDS if f in self.temporal))

    @property
    def _slots(self) -> list[tuple[str, str]]:
        return [("base", f) for f in self.fields] + [("slope", f) for f in self.temporal]

    @property
    def size(self) -> int:
        return sum(int(np.prod(field_shape(f))) for _, f in self._slots)

    def names(self) -> list[str]:
        """One readable name per vector coordinate, e.g. 'base.link_w[squared]'."""
        out = []
        for part, f in self._slots:
            spec = FIELDS[f]
            labels = spec.labels or (tuple(str(i) for i in range(spec.size)) if spec.size else ())
            out += [f"{part}.{f}[{lab}]" for lab in labels] if spec.size else [f"{part}.{f}"]
        return out

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-coordinate box: a base coefficient's own box; a slope may cross its whole box in tau = 1."""
        lows, highs = [], []
        for part, f in self._slots:
            spec, n = FIELDS[f], int(np.prod(field_shape(f)))
            width = spec.high - spec.low
            lo, hi = (spec.low, spec.high) if part == "base" else (-width, width)
            lows += [lo] * n
            highs += [hi] * n
        return np.asarray(lows), np.asarray(highs)

    def to_vector(self, params: MPOParams) -> chex.Array:
        """The searched coordinates of `params`; raises if one lies outside its box."""
        parts = [jnp.ravel(getattr(getattr(params, part), f)) for part, f in self._slots]
        vec = jnp.concatenate(parts) if parts else jnp.zeros((0,))
        lo, hi = self.bounds()
        # A float32 vector clipped to the box may sit one rounding step outside the float64 bound.
        tol = 8 * np.finfo(vec.dtype).eps * np.maximum(1.0, np.maximum(np.abs(lo), np.abs(hi)))
        bad = np.flatnonzero((np.asarray(vec) < lo - tol) | (np.asarray(vec) > hi + tol))
        if bad.size:
            i, names = int(bad[0]), self.names()
            raise ValueError(f"search vector coordinate {names[i]} = {float(vec[i]):g} outside [{lo[i]:g}, {hi[i]:g}]")
        return vec

    def from_vector(self, vec: chex.Array) -> MPOParams:
        """MPOParams from a vector (clipped into the box); jittable and vmappable."""
        chex.assert_shape(vec, (self.size,))
        lo, hi = self.bounds()
        vec = jnp.clip(vec, jnp.asarray(lo, vec.dtype), jnp.asarray(hi, vec.dtype))
        # Every leaf takes the vector's dtype, so a float64 search gets a float64 loss.
        base = {k: jnp.asarray(v, vec.dtype) for k, v in self.fixed.base._asdict().items()}
        slope = {k: jnp.asarray(v, vec.dtype) for k, v in self.fixed.slope._asdict().items()}
        offset = 0
        for part, f in self._slots:
            n = int(np.prod(field_shape(f)))
            target = base if part == "base" else slope
            target[f] = vec[offset : offset + n].reshape(field_shape(f))
            offset += n
        return MPOParams(base=MPOCoeffs(**base), slope=MPOCoeffs(**slope))


def unit_to_params(space: SearchSpace) -> Callable[[jax.Array], MPOParams]:
    """The ES works in the unit cube of the search box; x in [0, 1]^D -> MPOParams."""
    lo, hi = space.bounds()
    lo, width = jnp.asarray(lo, jnp.float32), jnp.asarray(hi - lo, jnp.float32)
    return lambda x: space.from_vector(lo + x * width)


def params_to_unit(space: SearchSpace, params: MPOParams) -> jax.Array:
    lo, hi = space.bounds()
    return jnp.asarray((space.to_vector(params) - lo) / (hi - lo), jnp.float32)
