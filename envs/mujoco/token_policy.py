"""The action-token policy: a factorized categorical over K bins per action dimension.

Every action dimension is one token with K values (bin centers over the action range), so a response of
n steps is n * act_dim tokens and every probability is a true probability in (0, 1], exactly like an
LLM response. The policy is a flax linen MLP whose parameters are a plain pytree; the observation
normalization is a fixed constant of the spec (not a parameter) so fine-tuning never moves it and
`jax.vmap` over thousands of parameter sets needs nothing special.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from envs import pytree_io


@dataclasses.dataclass(frozen=True)
class TokenPolicySpec:
    """Everything `apply` needs besides the parameters."""

    obs_dim: int
    act_dim: int
    n_bins: int
    hidden: tuple[int, ...]
    action_low: float
    action_high: float
    obs_mean: tuple[float, ...]
    obs_std: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.n_bins < 2:
            raise ValueError(f"n_bins: must be >= 2, got {self.n_bins}")
        if not self.action_high > self.action_low:
            raise ValueError(f"action range: high {self.action_high} must exceed low {self.action_low}")
        if len(self.obs_mean) != self.obs_dim or len(self.obs_std) != self.obs_dim:
            raise ValueError(f"obs_mean/obs_std: need {self.obs_dim} entries each")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["obs_mean"] = list(self.obs_mean)
        d["obs_std"] = list(self.obs_std)
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> "TokenPolicySpec":
        return TokenPolicySpec(
            obs_dim=int(d["obs_dim"]), act_dim=int(d["act_dim"]), n_bins=int(d["n_bins"]),
            hidden=tuple(int(h) for h in d["hidden"]), action_low=float(d["action_low"]),
            action_high=float(d["action_high"]), obs_mean=tuple(float(x) for x in d["obs_mean"]),
            obs_std=tuple(float(x) for x in d["obs_std"]),
        )


class TokenMLP(nn.Module):
    """MLP trunk -> act_dim * K logits."""

    hidden: Sequence[int]
    act_dim: int
    n_bins: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for h in self.hidden:
            x = nn.tanh(nn.Dense(h)(x))
        # Small final init: the untrained head starts near uniform over bins.
        x = nn.Dense(self.act_dim * self.n_bins, kernel_init=nn.initializers.variance_scaling(
            0.01, "fan_in", "truncated_normal"))(x)
        return x.reshape(x.shape[:-1] + (self.act_dim, self.n_bins))


def _module(spec: TokenPolicySpec) -> TokenMLP:
    return TokenMLP(hidden=tuple(spec.hidden), act_dim=spec.act_dim, n_bins=spec.n_bins)


def init_params(spec: TokenPolicySpec, key: jax.Array) -> Any:
    return _module(spec).init(key, jnp.zeros((spec.obs_dim,), jnp.float32))


def make_apply(spec: TokenPolicySpec) -> Callable[[Any, jax.Array], jax.Array]:
    """Pure `apply(params, obs[..., obs_dim]) -> logits[..., act_dim, K]`."""
    module = _module(spec)
    mean = jnp.asarray(spec.obs_mean, jnp.float32)
    std = jnp.asarray(spec.obs_std, jnp.float32)

    def apply(params: Any, obs: jax.Array) -> jax.Array:
        chex.assert_axis_dimension(obs, -1, spec.obs_dim)
        # XLA:CPU ran the rank-3 dot ~1.6x slower than the same rows as one 2-D GEMM (value+grad over
        # 3,072 rows: 4.76 vs 2.90 ms on a 2-core EPYC), so the MLP always sees [rows, obs_dim].
        flat = ((obs - mean) / std).reshape(-1, spec.obs_dim)
        logits = module.apply(params, flat)
        return logits.reshape(obs.shape[:-1] + logits.shape[-2:])

    return apply


def bin_centers(n_bins: int, low: float, high: float) -> jax.Array:
    """Centers of K equal bins over [low, high]."""
    width = (high - low) / n_bins
    return low + width * (jnp.arange(n_bins, dtype=jnp.float32) + 0.5)


def action_to_token(action: jax.Array, n_bins: int, low: float, high: float) -> jax.Array:
    """Continuous action -> bin index (int32); out-of-range actions go to the end bins."""
    idx = jnp.floor((action - low) / (high - low) * n_bins)
    return jnp.clip(idx, 0, n_bins - 1).astype(jnp.int32)


def token_to_action(token: jax.Array, n_bins: int, low: float, high: float) -> jax.Array:
    """Bin index -> bin center. token_to_action then action_to_token is the identity."""
    return bin_centers(n_bins, low, high)[token]


def token_log_probs(logits: jax.Array, tokens: jax.Array) -> jax.Array:
    """log p(token) for logits[..., act_dim, K] and tokens[..., act_dim] -> [..., act_dim]."""
    chex.assert_equal_shape_prefix((logits, tokens), tokens.ndim)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, tokens[..., None].astype(jnp.int32), axis=-1)[..., 0]


def make_token_log_probs(spec: TokenPolicySpec) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """Pure `log_probs(params, obs[..., obs_dim], tokens[..., act_dim]) -> [..., act_dim]`, equal to
    `token_log_probs(make_apply(spec)(params, obs), tokens)` up to float rounding (tested).

    Fine-tuning spends most of its time here, so the MLP and the softmax run transposed, rows minor.
    XLA:CPU vectorizes a fused elementwise loop along the minor dimension only: on logits
    [rows, act_dim, K] that is the K = 15 bins, and the softmax's fused exp ran scalar, 7x slower than
    on [K, rows] (0.30 vs 0.043 ms for 138k values on a 2-core EPYC). A value+grad over 8 vmapped
    policies x 3,072 rows went from 29.7 to 16.7 ms.
    """
    mean = jnp.asarray(spec.obs_mean, jnp.float32)
    std = jnp.asarray(spec.obs_std, jnp.float32)
    n_hidden = len(spec.hidden)

    def log_probs(params: Any, obs: jax.Array, tokens: jax.Array) -> jax.Array:
        chex.assert_axis_dimension(obs, -1, spec.obs_dim)
        chex.assert_axis_dimension(tokens, -1, spec.act_dim)
        chex.assert_equal_shape_prefix((obs, tokens), obs.ndim - 1)
        layers = [params["params"][f"Dense_{i}"] for i in range(n_hidden + 1)]
        x = ((obs - mean) / std).reshape(-1, spec.obs_dim).T  # [obs_dim, rows]
        for layer in layers[:-1]:
            x = jnp.tanh(layer["kernel"].T @ x + layer["bias"][:, None])
        head = layers[-1]
        z = (head["kernel"].T @ x + head["bias"][:, None]).reshape(spec.act_dim, spec.n_bins, -1)
        m = jax.lax.stop_gradient(z.max(1))
        lse = jnp.log(jnp.exp(z - m[:, None]).sum(1)) + m  # [act_dim, rows]
        tok = tokens.reshape(-1, spec.act_dim).T.astype(jnp.int32)
        chosen = jnp.where(jnp.arange(spec.n_bins)[None, :, None] == tok[:, None, :], z, 0.0).sum(1)
        return _fusion_barrier_on_cotangent(chosen - lse).T.reshape(tokens.shape)

    return log_probs


@jax.custom_vjp
def _fusion_barrier_on_cotangent(x: jax.Array) -> jax.Array:
    """Identity whose cotangent is materialized: without it XLA fused the loss's whole per-token backward
    into the [act_dim, K, rows] logits cotangent, recomputing it once per bin (K x the work; a training
    value+grad over 8 vmapped policies went from 2.97 to 2.05 ms per policy with it)."""
    return x


def _materialize(g: jax.Array) -> tuple[jax.Array]:
    # XLA:CPU drops optimization_barrier before fusion; a dot is never fused into an elementwise loop.
    return (jnp.eye(g.shape[0], dtype=g.dtype) @ g,)


_fusion_barrier_on_cotangent.defvjp(lambda x: (x, None), lambda _, g: _materialize(g))


def sequence_token_log_probs(
    log_probs: Callable[[Any, jax.Array, jax.Array], jax.Array], params: Any, obs: jax.Array, tokens: jax.Array,
    mask: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Per-token log-probs of a response flattened to [..., H * act_dim] (token t = step * act_dim + dim)
    and the matching token mask (a step's mask repeated over its action dims). Masked tokens give 0.
    `log_probs` is `make_token_log_probs(spec)`."""
    lp = log_probs(params, obs, tokens)  # [..., H, act_dim]
    m = jnp.broadcast_to(mask[..., None], lp.shape).astype(lp.dtype)
    flat = lp.shape[:-2] + (lp.shape[-2] * lp.shape[-1],)
    return (lp * m).reshape(flat), m.reshape(flat)


def sample_tokens(logits: jax.Array, key: jax.Array) -> jax.Array:
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def greedy_tokens(logits: jax.Array) -> jax.Array:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


@functools.lru_cache(maxsize=None)
def action_fn(spec: TokenPolicySpec) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """Pure `act(params, obs, key) -> action`: a sampled token per action dimension, as its bin center (so
    snapping it back to a token gives the same token). Cached per spec: one function, one trace."""
    apply = make_apply(spec)

    def act(params: Any, obs: jax.Array, key: jax.Array) -> jax.Array:
        tok = sample_tokens(apply(params, obs), key)
        return token_to_action(tok, spec.n_bins, spec.action_low, spec.action_high)

    return act


def flatten_params(params: Any) -> dict[str, np.ndarray]:
    """Parameter pytree -> {path: array} for .npz storage."""
    return pytree_io.flatten(params)


def unflatten_params(spec: TokenPolicySpec, flat: dict[str, np.ndarray], where: str = "policy") -> Any:
    """Inverse of flatten_params for a spec; a clear error names a missing or misshaped array."""
    template = jax.eval_shape(lambda: init_params(spec, jax.random.PRNGKey(0)))
    return pytree_io.unflatten(template, flat, where)
