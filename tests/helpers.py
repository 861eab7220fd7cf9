import jax.numpy as jnp

from search_spaces.batch import PrefBatch


def to_batch(arrays, dtype=jnp.float64) -> PrefBatch:
    pw, pl, rw, rl, mw, ml = arrays
    return PrefBatch(*(jnp.asarray(x, dtype) for x in (pw, pl, rw, rl, mw, ml)))
