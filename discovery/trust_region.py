"""A trust region around the start: per-coordinate step sizes from the loss family's sensitivity.

With one isotropic step size in the unit cube, a few coordinates dominate what a candidate does: measured
on hopper on-policy-long (issue 16), sigma 0.1 of the box in 53 dimensions put generation 0's mean fitness
at 30 against the start's 89 (the selected candidate had beta 9.2 and an active length term). Here each
coordinate's step is scaled so that a one-sigma move of the whole vector changes the loss's gradient
field by about `radius` (relative), spread evenly over the coordinates:

    s_i     = max_d ||G(x0 + d e_i) - G(x0)|| / |d|          (finite differences, d in DELTAS, both sides)
    scale_i = min(1, radius / (sigma * sqrt(D) * s_i))

G is the direction of the gradient of the mean loss with respect to every token's policy log-prob, on a
probe batch of the dataset's pairs (reference log-probs plus sequence log-ratios spread over the start's
active range), at tau = 0, 0.5 and 1 (so temporal slopes count). Only the direction counts: Adam is
invariant to the loss's overall scale, so a coordinate that only rescales the loss moves nothing.

The largest of several step sizes counts because many coordinates act far from linearly: on hopper
noisy-0.3 at DPO, a step of 0.0018 of the box in mirror_w[tsallis_2] alone turns the gradient direction
by 1.40 (of at most 2), while its difference quotient at 0.05 of the box (the change saturates there)
predicted 0.05: one such coordinate is enough to make a whole generation a random loss. A coordinate that
turns the direction by more than `radius` even at the smallest step (that Tsallis weight does at 1e-4 of
its box: sequence log-probs of hundreds of nats make any positive weight dominate) is frozen at the start
(scale 0): no step size keeps it inside the region.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs.domain import Domain
from search_spaces.batch import PrefBatch
from search_spaces.mpo import mpo_loss, resolve
from search_spaces.search_space import SearchSpace, unit_to_params

DELTAS = (1e-2, 1e-3, 1e-4)  # finite-difference steps, in units of each coordinate's box
TAUS = (0.0, 0.5, 1.0)
PROBE_PAIRS = 256
PROBE_SPREAD = 2.0  # std of the start's margin beta * (r_w - r_l) on the probe: the sigmoid's active range (tuned DPO
# after 200 steps on hopper noisy-0.3: 1.18)


def probe_batch(domain: Domain, x0: jax.Array, space: SearchSpace, key: jax.Array) -> PrefBatch:
    """Reference log-probs of up to PROBE_PAIRS training pairs; the policy's sequence log-ratios drawn so that
    the start's margin has std PROBE_SPREAD, each spread evenly over its response's tokens."""
    pairs = jax.tree.map(lambda a: a[:PROBE_PAIRS], domain.train_pairs)
    ref_w, ref_l, mask_w, mask_l = domain.logps(domain.init_params, pairs)
    beta = float(resolve(unit_to_params(space)(x0), 0.0).beta)
    b = ref_w.shape[0]
    r = jax.random.normal(key, (2, b)) * (PROBE_SPREAD / beta / np.sqrt(2.0))
    n_w, n_l = mask_w.sum(-1, keepdims=True), mask_l.sum(-1, keepdims=True)
    pol_w = ref_w + mask_w * (r[0][:, None] / jnp.maximum(n_w, 1))
    pol_l = ref_l + mask_l * (r[1][:, None] / jnp.maximum(n_l, 1))
    return PrefBatch(pol_w, pol_l, ref_w, ref_l, mask_w, mask_l)


def _direction(space: SearchSpace, batch: PrefBatch):
    to_params = unit_to_params(space)

    def field(x: jax.Array) -> jax.Array:
        params = to_params(x)

        def grads(tau):
            g = jax.grad(lambda pw, pl: mpo_loss(params, batch._replace(policy_w=pw, policy_l=pl), tau).mean(),
                         argnums=(0, 1))(batch.policy_w, batch.policy_l)
            return jnp.concatenate([jnp.ravel(g[0] * batch.mask_w), jnp.ravel(g[1] * batch.mask_l)])

        g = jnp.concatenate([grads(t) for t in TAUS])
        return g / jnp.maximum(jnp.linalg.norm(g), 1e-30)

    return field


def sensitivity(space: SearchSpace, x0: jax.Array, batch: PrefBatch) -> tuple[np.ndarray, np.ndarray]:
    """(s [D], jump [D]): s_i is the change of the gradient direction per unit move of coordinate i (the
    largest difference quotient over DELTAS and both sides that stay in the box); jump_i the largest change
    at the smallest step."""
    field = _direction(space, batch)
    d = x0.shape[0]
    g0 = field(x0)
    eye = jnp.eye(d, dtype=x0.dtype)
    steps = jnp.concatenate([sign * delta * eye for delta in DELTAS for sign in (1.0, -1.0)])
    moved = jnp.clip(x0[None] + steps, 0.0, 1.0)
    step = np.asarray(jnp.abs(moved - x0[None]).sum(-1))  # one coordinate moves per row
    change = np.asarray(jnp.linalg.norm(jax.jit(jax.vmap(field))(moved) - g0[None], axis=-1))
    s = np.where(step > 0, change / np.maximum(step, 1e-12), 0.0)
    return s.reshape(-1, d).max(axis=0), change.reshape(-1, d)[-2:].max(axis=0)


def trust_scale(space: SearchSpace, x0: jax.Array, domains: list[Domain], sigma: float, radius: float,
                seed: int = 0) -> np.ndarray:
    """Per-coordinate multipliers of the ES step [D] in [0, 1] (see the module docstring; 0 = frozen at the
    start); with several datasets, each coordinate's largest sensitivity counts."""
    per = [sensitivity(space, x0, probe_batch(dom, x0, space, jax.random.key(seed))) for dom in domains]
    s, jump = np.max([p[0] for p in per], axis=0), np.max([p[1] for p in per], axis=0)
    d = s.shape[0]
    with np.errstate(divide="ignore"):
        scale = np.where(s > 0, radius / (sigma * np.sqrt(d) * s), 1.0)
    return np.where(jump > radius, 0.0, np.clip(scale, 0.0, 1.0)).astype(np.float32)
