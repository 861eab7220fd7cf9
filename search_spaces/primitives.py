"""Numerically safe scalar functions shared by the zoo and the MPO family."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

# e^{-z} terms (DiscoPOP, exponential link) overflow float32 near z = -88; the exponent is capped so
# losses stay finite for any margin (tested at rho = +-200 by tests/search_spaces/test_loss_transforms.py).
EXP_CAP = 50.0


def log_sigmoid(z: chex.Array) -> chex.Array:
    return jax.nn.log_sigmoid(z)


def f_dpo(z: chex.Array) -> chex.Array:
    """-log sigma(z) = log(1 + e^{-z})."""
    return jax.nn.softplus(-z)


def exp_neg(z: chex.Array) -> chex.Array:
    """e^{-z} with the exponent capped at EXP_CAP."""
    return jnp.exp(jnp.minimum(-z, EXP_CAP))


# A probability of exactly 1 has infinite odds; log-probs are capped just below 0 where odds are taken.
LOGP_CAP = -1e-6


def log1mexp(u: chex.Array) -> chex.Array:
    """log(1 - e^u) for u < 0, stable on both sides of -log 2 (Maechler 2012); u is capped at LOGP_CAP."""
    u = jnp.minimum(u, LOGP_CAP)
    far = u < -jnp.log(2.0)
    # Each branch sees only inputs valid for it, so the unused branch cannot put NaN into the gradient.
    u_far = jnp.where(far, u, -1.0)
    u_near = jnp.where(far, -0.1, u)
    return jnp.where(far, jnp.log1p(-jnp.exp(u_far)), jnp.log(-jnp.expm1(u_near)))


def discopop_blend(z: chex.Array, tau: chex.Array) -> chex.Array:
    """LRML: (1 - sigma(z/tau)) * f_dpo(z) + sigma(z/tau) * e^{-z}."""
    w = jax.nn.sigmoid(z / tau)
    return (1.0 - w) * f_dpo(z) + w * exp_neg(z)
