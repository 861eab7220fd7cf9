"""Bradley-Terry labelling with label flips, shared by every world's dataset builder."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def bradley_terry_labels(
    key: jax.Array, ret_a: jax.Array, ret_b: jax.Array, temperature: float, flip_eps: float
) -> dict[str, jax.Array]:
    """Labels for pairs (a, b) with true returns.

    P(a preferred) = sigmoid((R_a - R_b) / T); T = 0 is the deterministic limit (higher return wins, ties
    are a fair coin). Then each label flips independently with probability flip_eps.
    Returns a_chosen (bool), p_a (BT probability of a, before flips) and flipped (bool).
    """
    chex.assert_equal_shape((ret_a, ret_b))
    k_bt, k_tie, k_flip = jax.random.split(key, 3)
    diff = ret_a - ret_b
    if temperature == 0.0:
        p_a = jnp.where(diff > 0, 1.0, jnp.where(diff < 0, 0.0, 0.5))
        u = jnp.where(diff == 0, jax.random.uniform(k_tie, diff.shape), 0.5)
        a_pref = jnp.where(diff == 0, u < 0.5, diff > 0)
    else:
        p_a = jax.nn.sigmoid(diff / temperature)
        a_pref = jax.random.uniform(k_bt, diff.shape) < p_a
    flipped = jax.random.uniform(k_flip, diff.shape) < flip_eps
    return {"a_chosen": jnp.logical_xor(a_pref, flipped), "p_a": p_a.astype(jnp.float32), "flipped": flipped}
