"""The preference batch every loss consumes: token log-probs and masks of chosen/rejected responses.

A response of n tokens occupies the first positions of a length-T row; `mask` marks its tokens, so
lengths vary per pair exactly as LLM completions do. Padding positions may hold anything (even NaN):
every reduction here masks them out before use.
"""
from __future__ import annotations

from typing import NamedTuple

import chex
import jax.numpy as jnp
import numpy as np


class PrefBatch(NamedTuple):
    """Per-pair token log-probs [B, T] of policy and reference, with token masks [B, T]."""

    policy_w: chex.Array  # log pi(y_w,t | x, y_w,<t)
    policy_l: chex.Array
    ref_w: chex.Array  # log pi_ref(...), computed once per dataset
    ref_l: chex.Array
    mask_w: chex.Array  # 1 on the response's tokens, 0 on padding
    mask_l: chex.Array


FIELDS = PrefBatch._fields


def validate_batch(batch: PrefBatch) -> PrefBatch:
    """Check shapes, dtypes and values of a concrete batch; raise ValueError naming the field."""
    if not isinstance(batch, PrefBatch):
        raise ValueError(f"batch: expected a PrefBatch with fields {FIELDS}, got {type(batch).__name__}")
    shapes = {name: np.shape(getattr(batch, name)) for name in FIELDS}
    ref_shape = shapes["policy_w"]
    if len(ref_shape) != 2:
        raise ValueError(f"batch.policy_w: expected shape [B, T], got {ref_shape}")
    for name in ("policy_l", "ref_w", "ref_l", "mask_w", "mask_l"):
        if shapes[name][0:1] != ref_shape[0:1] or len(shapes[name]) != 2:
            raise ValueError(f"batch.{name}: expected shape [B={ref_shape[0]}, T], got {shapes[name]}")
    for side in ("w", "l"):
        for name in (f"policy_{side}", f"ref_{side}"):
            if shapes[name] != shapes[f"mask_{side}"]:
                raise ValueError(
                    f"batch.{name}: shape {shapes[name]} must equal batch.mask_{side} shape {shapes[f'mask_{side}']}"
                )
            if not jnp.issubdtype(jnp.asarray(getattr(batch, name)).dtype, jnp.floating):
                raise ValueError(f"batch.{name}: expected a floating dtype, got {jnp.asarray(getattr(batch, name)).dtype}")
        mask = np.asarray(getattr(batch, f"mask_{side}"))
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError(f"batch.mask_{side}: values must be 0 or 1")
        if np.any(mask.sum(axis=-1) < 1):
            raise ValueError(f"batch.mask_{side}: every response needs at least one token")
        for name in (f"policy_{side}", f"ref_{side}"):
            logp = np.asarray(getattr(batch, name))
            valid = logp[mask.astype(bool)]
            if not np.all(np.isfinite(valid)) or np.any(valid > 0):
                raise ValueError(f"batch.{name}: token log-probs must be finite and <= 0 on masked tokens")
    return batch


def check_shapes(batch: PrefBatch) -> None:
    """Trace-time shape check at the loss boundary: each side's log-probs and mask agree [B, T]."""
    chex.assert_rank([batch.policy_w, batch.policy_l], 2)
    chex.assert_equal_shape([batch.policy_w, batch.ref_w, batch.mask_w])
    chex.assert_equal_shape([batch.policy_l, batch.ref_l, batch.mask_l])
    chex.assert_equal_shape_prefix([batch.policy_w, batch.policy_l], 1)


def masked(logp: chex.Array, mask: chex.Array) -> chex.Array:
    """Token log-probs with padding zeroed (robust to NaN/inf in the padding)."""
    return jnp.where(mask > 0, logp, jnp.zeros_like(logp))


def seq_logp(logp: chex.Array, mask: chex.Array) -> chex.Array:
    """Sequence log-prob sum_t log p(y_t) over the response tokens: [B]."""
    return masked(logp, mask).sum(axis=-1)


def seq_len(mask: chex.Array) -> chex.Array:
    """Response lengths in tokens, clamped to >= 1 as TRL does: [B]."""
    return jnp.maximum(mask.sum(axis=-1), 1).astype(jnp.result_type(mask.dtype, jnp.float32))


def mean_logp(logp: chex.Array, mask: chex.Array) -> chex.Array:
    """Per-token mean log-prob (the a-bar of SimPO, ORPO, LN-DPO): [B]."""
    return seq_logp(logp, mask) / seq_len(mask).astype(logp.dtype)
