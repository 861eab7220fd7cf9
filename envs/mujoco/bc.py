"""Reference policy by behaviour cloning: the action-token head fitted to the SFT split.

Training is one jitted `lax.scan` over optax Adam steps on random minibatches, minimizing the token
cross-entropy; the observation normalizer is the SFT split's mean/std, fixed in the policy spec.
"""
from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from envs.mujoco import token_policy as tp

# Keeps normalized inputs finite for observation dims that barely move in the SFT data.
MIN_OBS_STD = 1e-2


def make_spec(sft_obs: np.ndarray, act_dim: int, n_bins: int, hidden: tuple[int, ...], low: float,
              high: float) -> tp.TokenPolicySpec:
    mean = np.asarray(sft_obs, np.float64).mean(0)
    std = np.maximum(np.asarray(sft_obs, np.float64).std(0), MIN_OBS_STD)
    return tp.TokenPolicySpec(
        obs_dim=int(sft_obs.shape[1]), act_dim=act_dim, n_bins=n_bins, hidden=tuple(hidden),
        action_low=low, action_high=high,
        obs_mean=tuple(float(np.float32(x)) for x in mean), obs_std=tuple(float(np.float32(x)) for x in std),
    )


def train_bc(
    spec: tp.TokenPolicySpec, sft_obs: np.ndarray, sft_tokens: np.ndarray, key: jax.Array, steps: int,
    batch: int, learning_rate: float
) -> tuple[Any, dict[str, float]]:
    """Fit the token policy by maximum likelihood on (obs, tokens). Returns (params, metrics)."""
    chex.assert_rank(sft_obs, 2)
    chex.assert_shape(sft_tokens, (sft_obs.shape[0], spec.act_dim))
    n = sft_obs.shape[0]
    if n == 0:
        raise ValueError("sft split: no valid steps to clone")
    apply = tp.make_apply(spec)
    obs = jnp.asarray(sft_obs, jnp.float32)
    toks = jnp.asarray(sft_tokens, jnp.int32)
    k_init, k_train = jax.random.split(key)
    params = tp.init_params(spec, k_init)
    opt = optax.adam(learning_rate)

    def nll(p, o, t):
        return -jnp.mean(jnp.sum(tp.token_log_probs(apply(p, o), t), axis=-1))

    @jax.jit
    def fit(params, key):
        def step(carry, k):
            p, s = carry
            idx = jax.random.randint(k, (batch,), 0, n)
            loss, g = jax.value_and_grad(nll)(p, obs[idx], toks[idx])
            upd, s = opt.update(g, s, p)
            return (optax.apply_updates(p, upd), s), loss

        (p, _), losses = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(key, steps))
        return p, losses, nll(p, obs, toks)

    params, losses, final = fit(params, k_train)
    tail = max(1, steps // 10)
    return params, {
        "nll_per_step_first": float(losses[0]),
        "nll_per_step_last10pct": float(jnp.mean(losses[-tail:])),
        "nll_per_step_full_split": float(final),
    }
