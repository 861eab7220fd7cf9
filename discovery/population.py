"""A population of inner runs as one program: candidates x inner seeds x datasets."""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from search_spaces.mpo import MPOParams
from search_spaces.search_space import SearchSpace


def unit_to_params(space: SearchSpace) -> Callable[[jax.Array], MPOParams]:
    """The ES works in the unit cube of the search box; x in [0, 1]^D -> MPOParams."""
    lo, hi = space.bounds()
    lo, width = jnp.asarray(lo, jnp.float32), jnp.asarray(hi - lo, jnp.float32)
    return lambda x: space.from_vector(lo + x * width)


def params_to_unit(space: SearchSpace, params: MPOParams) -> jax.Array:
    lo, hi = space.bounds()
    return jnp.asarray((space.to_vector(params) - lo) / (hi - lo), jnp.float32)


def make_population_eval(
    runs: Sequence[Callable], space: SearchSpace, n_seeds: int, chunk: int = 0
) -> Callable[[jax.Array, jax.Array], dict]:
    """`eval_pop(xs [P, D], key) -> metrics`, each leaf [P, n_datasets, n_seeds].

    All candidates see the same inner seeds (common random numbers), which makes their ranking less
    noisy than independent seeds would. `chunk` > 0 evaluates that many candidates at a time
    (lax.map), bounding memory for large populations.
    """
    to_params = unit_to_params(space)

    def one(x: jax.Array, keys: jax.Array) -> dict:
        params = to_params(x)
        per_dataset = [jax.vmap(lambda k, run=run: run(params, k))(keys) for run in runs]
        return jax.tree.map(lambda *m: jnp.stack(m), *per_dataset)

    def eval_pop(xs: jax.Array, key: jax.Array) -> dict:
        keys = jax.random.split(key, n_seeds)
        if chunk and chunk < xs.shape[0]:
            return jax.lax.map(lambda x: one(x, keys), xs, batch_size=chunk)
        return jax.vmap(lambda x: one(x, keys))(xs)

    return eval_pop
