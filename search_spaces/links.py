"""Link functions g(z) of the margin and one-sided terms h(r) of a single reward (README, 'Mirror Preference Optimization family', link g and terms h)."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from search_spaces.primitives import discopop_blend, exp_neg, f_dpo

# g basis: logistic = -log sig(z) (DPO), logistic_neg = -log sig(-z) (label smoothing / rDPO),
# squared = (z - 1/2)^2 (IPO), hinge = relu(1 - z) (SLiC), exp = e^{-z}, sigmoid_neg = sig(-z) (APO),
# discopop = the LRML blend with its own temperature.
LINK_BASIS = ("logistic", "logistic_neg", "squared", "hinge", "exp", "sigmoid_neg", "discopop")
# One-sided terms on r_w or r_l alone (NCA, BCO, APO, SPPO live here).
SIDE_BASIS = ("logistic", "logistic_neg", "sigmoid", "sigmoid_neg", "squared_minus", "squared_plus")
# The learned correction is a sum of bounded sigmoid steps, so it cannot make a bounded link unbounded.
CORRECTION_CENTERS = (-4.0, -2.0, 0.0, 2.0, 4.0)


def link_basis(z: chex.Array, discopop_tau: chex.Numeric) -> chex.Array:
    return jnp.stack(
        [
            f_dpo(z),
            f_dpo(-z),
            (z - 0.5) ** 2,
            jax.nn.relu(1.0 - z),
            exp_neg(z),
            jax.nn.sigmoid(-z),
            discopop_blend(z, discopop_tau),
        ],
        axis=-1,
    )


def link_correction(z: chex.Array, coeffs: chex.Array) -> chex.Array:
    centers = jnp.asarray(CORRECTION_CENTERS, dtype=z.dtype)
    return jax.nn.sigmoid(z[..., None] - centers) @ coeffs.astype(z.dtype)


def side_basis(r: chex.Array) -> chex.Array:
    return jnp.stack(
        [f_dpo(r), f_dpo(-r), jax.nn.sigmoid(r), jax.nn.sigmoid(-r), (r - 0.5) ** 2, (r + 0.5) ** 2],
        axis=-1,
    )
