"""Mirror maps m(u) = phi^{-1}(e^u) on log-probabilities u <= 0 (Alfano et al. 2025,
arXiv 2411.06568, the omega-potential view).

m is a convex combination of strictly increasing basis maps plus a monotone piecewise-linear part,
so any coefficients give a strictly increasing map (a valid omega-potential's inverse). The weights
are normalized to sum to 1 (beta carries the scale); when every basis weight is zero the map falls
back to the log map (KL geometry) rather than degenerate.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from search_spaces.primitives import log1mexp

TSALLIS_Q = (1.5, 2.0)
# q < 1 q-logs grow like e^{(1-q)|u|} and overflow float32 on sequence log-probs of a few hundred
# nats, so only q > 1 (bounded, still strictly increasing) is in the basis.
MIRROR_BASIS = ("log", "logit") + tuple(f"tsallis_{q:g}" for q in TSALLIS_Q)

# Knots of the learned piecewise-linear part, geometric so that one grid covers per-token means
# (|u| ~ 1) and sequence sums (|u| ~ 100); below the last knot the last slope continues linearly.
PL_KNOTS = (0.0, -0.5, -1.0, -2.0, -4.0, -8.0, -16.0, -32.0, -64.0)
N_PL = len(PL_KNOTS) - 1


def basis_maps(u: chex.Array) -> chex.Array:
    """The basis maps at u: [..., len(MIRROR_BASIS)]."""
    maps = [u, u - log1mexp(u)]
    # exp(.) - 1 rather than expm1: jax differentiates expm1 as expm1(x) + 1, which cancels to 0
    # for x below about -37 and would make the map look flat where it is strictly increasing.
    maps += [(jnp.exp((q - 1.0) * u) - 1.0) / (q - 1.0) for q in TSALLIS_Q]
    return jnp.stack(maps, axis=-1)


def piecewise_linear(u: chex.Array, slopes: chex.Array) -> chex.Array:
    """Monotone piecewise-linear map with value 0 at u = 0 and non-negative `slopes` [N_PL]."""
    chex.assert_shape(slopes, (N_PL,))
    hi = jnp.asarray(PL_KNOTS[:-1], dtype=u.dtype)
    lo = jnp.asarray(PL_KNOTS[1:-1] + (-jnp.inf,), dtype=u.dtype)
    seg = jnp.clip(u[..., None], lo, hi) - hi  # [..., N_PL], each <= 0 and non-decreasing in u
    return (seg * slopes).sum(axis=-1)


def effective_weights(weights: chex.Array) -> chex.Array:
    """Basis weights on the simplex (beta carries the scale); all-zero weights become the log map.

    Normalizing also keeps a map with only vanishing weights from being numerically flat.
    """
    w = jax.nn.relu(weights)
    total = w.sum()
    log_only = jnp.zeros_like(w).at[0].set(1.0)
    return jnp.where(total > 1e-6, w / jnp.where(total > 1e-6, total, 1.0), log_only)


def mirror_map(u: chex.Array, weights: chex.Array, slopes: chex.Array) -> chex.Array:
    """m(u) = sum_i w_i b_i(u) + PL(u), strictly increasing in u for any weights and slopes."""
    chex.assert_shape(weights, (len(MIRROR_BASIS),))
    return basis_maps(u) @ effective_weights(weights).astype(u.dtype) + piecewise_linear(u, slopes.astype(u.dtype))
