"""Sampled Magnetic PO: a softmax policy network trained on sampled, sampled-label pairs, as with an LLM.

Each gradient step draws `batch` pairs y, y' ~ pi_theta(.|x) per context, a label b ~ Bernoulli(P(y > y'))
and uses the REINFORCE advantage A = b - 1/2 (an unbiased estimate of P(y > pi) - 1/2, the baseline 1/2
being the game value under self-play), plus tau KL(pi || magnet) + (1/eta) KL(pi || pi_t). The KLs are
computed exactly over the finite response set. pi_t is a parameter snapshot taken every `inner_steps`
steps (one MMD iteration); the magnet is refreshed to the current parameters every `magnet_period`
iterations. "md" is the same learner with tau = 0: sampled mirror-descent self-play.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from discovery.magnetic.exact import reference_policy, sample_pairs, seed_keys
from envs.games import duality_gap

SAMPLED_ALGORITHMS: tuple[str, ...] = ("mpo", "md")


@dataclass(frozen=True)
class SampledConfig:
    iterations: int = 300        # MMD iterations (pi_t snapshots)
    inner_steps: int = 10        # optimizer steps per iteration
    batch: int = 64              # sampled pairs per context per step
    lr: float = 0.05             # Adam, decayed linearly to lr * lr_end over the run
    lr_end: float = 0.05
    eta: float = 1.0
    tau: float = 0.1
    magnet_period: int = 10      # in iterations
    hidden: int = 32
    init_spread: float = 1.0     # reference logits std, as in the exact runs

    def __post_init__(self) -> None:
        ints = {"iterations": self.iterations, "inner_steps": self.inner_steps, "batch": self.batch,
                "magnet_period": self.magnet_period, "hidden": self.hidden}
        bad = [k for k, v in ints.items() if v < 1]
        bad += [k for k, v in {"lr": self.lr, "eta": self.eta, "tau": self.tau}.items() if not v > 0]
        bad += ["init_spread"] if self.init_spread < 0 else []
        bad += ["lr_end"] if not 0 < self.lr_end <= 1 else []
        if bad:
            raise ValueError(f"invalid sampled config field(s) {', '.join(bad)}: integers must be >= 1, "
                             "lr/eta/tau > 0, lr_end in (0, 1], init_spread >= 0")

    @property
    def pairs_per_iteration(self) -> int:
        """Labelled pairs per context per iteration."""
        return self.inner_steps * self.batch


class PolicyNet(nn.Module):
    """logits(x) = log_ref(x) + MLP(onehot x): starts exactly at the reference (zero-initialized head)."""

    n: int
    hidden: int

    @nn.compact
    def __call__(self, onehot: jax.Array, log_ref: jax.Array) -> jax.Array:
        h = nn.tanh(nn.Dense(self.hidden)(onehot))
        return jax.nn.log_softmax(log_ref + nn.Dense(self.n, kernel_init=nn.initializers.zeros)(h), axis=-1)


def _kl(log_p: jax.Array, log_q: jax.Array) -> jax.Array:
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1).mean()


def _run_one(P: jax.Array, seed_key: jax.Array, name: str, cfg: SampledConfig) -> jax.Array:
    C, n, _ = P.shape
    tau = cfg.tau if name == "mpo" else 0.0
    k_ref, k_init, k_loop = jax.random.split(seed_key, 3)
    log_ref = reference_policy(k_ref, C, n, cfg.init_spread)
    net, onehot = PolicyNet(n, cfg.hidden), jnp.eye(C)
    policy = lambda params: net.apply(params, onehot, log_ref)  # noqa: E731
    params = net.init(k_init, onehot, log_ref)
    # A decaying step size averages the label noise out by the end of the fixed sample budget; a
    # constant one leaves the last iterate jittering at a noise floor set by lr and the batch.
    total = cfg.iterations * cfg.inner_steps
    opt = optax.adam(optax.linear_schedule(cfg.lr, cfg.lr * cfg.lr_end, total))

    def loss_fn(params: Any, prev: jax.Array, magnet: jax.Array, key: jax.Array) -> jax.Array:
        log_pi = policy(params)
        y, y2, first_wins = sample_pairs(P, jax.lax.stop_gradient(log_pi), key, cfg.batch)
        adv = first_wins.astype(P.dtype) - 0.5
        logp_diff = jnp.take_along_axis(log_pi, y, 1) - jnp.take_along_axis(log_pi, y2, 1)
        pg = -0.5 * jnp.mean(adv * logp_diff)  # each pair scores y and y': 0.5 keeps E[grad] = grad E_pi[q]
        return pg + tau * _kl(log_pi, magnet) + _kl(log_pi, prev) / cfg.eta

    def inner(carry: tuple, key: jax.Array) -> tuple[tuple, None]:
        params, opt_state, prev, magnet = carry
        grads = jax.grad(loss_fn)(params, prev, magnet, key)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, prev, magnet), None

    def outer(carry: tuple, xs: tuple[jax.Array, jax.Array]) -> tuple[tuple, jax.Array]:
        params, opt_state, magnet = carry
        it, key = xs
        prev = policy(params)
        keys = jax.random.split(key, cfg.inner_steps)
        (params, opt_state, _, _), _ = jax.lax.scan(inner, (params, opt_state, prev, magnet), keys)
        log_pi = policy(params)
        magnet = jnp.where((it + 1) % cfg.magnet_period == 0, log_pi, magnet)
        return (params, opt_state, magnet), duality_gap(P, jnp.exp(log_pi))

    keys = jax.random.split(k_loop, cfg.iterations)
    carry = (params, opt.init(params), log_ref)
    _, dgs = jax.lax.scan(outer, carry, (jnp.arange(cfg.iterations), keys))
    return jnp.concatenate([duality_gap(P, jnp.exp(log_ref))[None], dgs])


@partial(jax.jit, static_argnames=("name", "cfg"))
def _run_batch(games: jax.Array, keys: jax.Array, name: str, cfg: SampledConfig) -> jax.Array:
    per_seed = jax.vmap(lambda P, k: _run_one(P, k, name, cfg), in_axes=(None, 0))
    return jax.vmap(per_seed, in_axes=(0, None))(games, keys)


def run_sampled(name: str, games: np.ndarray, seeds: list[int] | np.ndarray, cfg: SampledConfig) -> np.ndarray:
    """Duality gaps (G, S, iterations + 1) of the sampled learner; entry t is after t iterations,
    i.e. after t * cfg.pairs_per_iteration labelled pairs per context."""
    if name not in SAMPLED_ALGORITHMS:
        raise ValueError(f"sampled algorithm must be one of {', '.join(SAMPLED_ALGORITHMS)}; got {name!r}")
    return np.asarray(_run_batch(jnp.asarray(games, jnp.float32), seed_keys(seeds), name, cfg))
