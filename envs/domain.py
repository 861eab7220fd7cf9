"""The contract between a world and the engine: a `Domain` is what an inner run needs from a dataset.

A world (envs/mujoco/, envs/text/) turns a preference dataset into a Domain of pure functions and array
pytrees; the engine fine-tunes `init_params` on `train_pairs` and scores the result with `evaluate`,
knowing nothing else about the world. Shared by every world, so it lives at the bottom of envs/.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex
import jax
import numpy as np

# (policy params, pairs) -> (logp_w, logp_l, mask_w, mask_l), token level [B, T]
LogpFn = Callable[[Any, dict], tuple[chex.Array, chex.Array, chex.Array, chex.Array]]


class Domain(NamedTuple):
    """What the inner run needs from a domain; everything is a pure function or an array pytree."""

    init_params: Any  # the reference policy: fine-tuning starts here
    train_pairs: dict  # arrays with a leading pair axis, consumed by `logps`
    heldout_pairs: dict  # pairs never trained on: accuracy and implicit-reward margins
    logps: LogpFn
    evaluate: Callable[[Any, jax.Array], dict]  # (params, key) -> {"score", "return", "length"[, "kl"]}
    # KL(pi || pi_ref) on dataset prompts; None when `evaluate` returns "kl" itself (text estimates it from
    # its samples, which need the evaluation key)
    kl: Callable[[Any], chex.Array] | None = None


def heldout_split(n_pairs: int, heldout_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) pair indices: the last round(fraction * n) pairs, at least one, are held out
    (pairs are generated i.i.d., so the last ones are as good a held-out set as any)."""
    n_heldout = max(1, int(round(heldout_fraction * n_pairs)))
    if n_pairs - n_heldout < 1:
        raise ValueError(f"eval.heldout_fraction: {heldout_fraction} leaves no training pairs out of {n_pairs}")
    return np.arange(n_pairs - n_heldout), np.arange(n_pairs - n_heldout, n_pairs)
