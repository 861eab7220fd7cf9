"""Exact (full-expectation) self-play on preference games: Magnetic PO and its baselines.

Every algorithm works on log-policies of shape (contexts, n) against q_t = P pi_t, the win rate of each
response against the current policy. One run = lax.scan over iterations, vmapped over seeds and games,
one jit per algorithm. A seed draws the reference policy (also the initial policy and first magnet)
and, for DPO, the sampled preference dataset; so a seed is an initialization, not noise in the updates.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs.games import duality_gap

State = dict[str, Any]


@dataclass(frozen=True)
class ExactConfig:
    """Hyperparameters shared by the exact algorithms (one config for the whole comparison)."""

    steps: int = 2000            # iterations of each algorithm
    eta: float = 1.0             # mirror-descent step size
    tau: float = 0.1             # KL strength towards the magnet / reference (MPO, MMD, Nash-MD, IPO)
    magnet_period: int = 30      # MPO refreshes its magnet to the current policy every K steps
    init_spread: float = 1.0     # std of the reference logits drawn per seed (0 = uniform reference)
    ipo_lr: float = 0.3          # online IPO: gradient step on the logits
    sppo_inner_steps: int = 20   # SPPO: gradient steps of its square-loss regression per iteration
    sppo_lr: float = 0.5
    dpo_beta: float = 0.1        # DPO: inverse temperature of the implicit reward
    dpo_pairs: int = 2000        # DPO: pairs per context sampled from the reference, labels from P
    dpo_lr: float = 50.0

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 1, "eta": self.eta > 0, "tau": self.tau > 0,
            "magnet_period": self.magnet_period >= 1, "init_spread": self.init_spread >= 0,
            "ipo_lr": self.ipo_lr > 0, "sppo_inner_steps": self.sppo_inner_steps >= 1,
            "sppo_lr": self.sppo_lr > 0, "dpo_beta": self.dpo_beta > 0, "dpo_pairs": self.dpo_pairs >= 1,
            "dpo_lr": self.dpo_lr > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid exact config field(s) {', '.join(bad)}: steps, magnet_period, "
                             "sppo_inner_steps, dpo_pairs must be >= 1; init_spread >= 0; others > 0")
        if self.eta * self.tau >= 1.0:
            raise ValueError(f"eta * tau must be < 1 (Nash-MD mixes pi^(1 - eta*tau)); got "
                             f"eta={self.eta}, tau={self.tau}")


class Algorithm(NamedTuple):
    """init(P, log_ref, key, cfg) -> state; step(state, P, log_ref, cfg) -> state; policy(state) -> log pi."""

    init: Callable[[jax.Array, jax.Array, jax.Array, ExactConfig], State]
    step: Callable[[State, jax.Array, jax.Array, ExactConfig], State]
    policy: Callable[[State], jax.Array]


def win_rates(P: jax.Array, log_pi: jax.Array) -> jax.Array:
    """q(y) = P(y > pi) per context: (C, n, n), (C, n) -> (C, n)."""
    return jnp.einsum("cij,cj->ci", P, jnp.exp(log_pi))


def mmd_step(log_pi: jax.Array, log_mu: jax.Array, q: jax.Array, eta: float, tau: float) -> jax.Array:
    """pi' ∝ [pi * mu^(eta tau) * exp(eta q)]^(1 / (1 + eta tau)), in log space for stability."""
    return jax.nn.log_softmax((log_pi + eta * tau * log_mu + eta * q) / (1.0 + eta * tau), axis=-1)


def _policy_state(P: jax.Array, log_ref: jax.Array, key: jax.Array, cfg: ExactConfig) -> State:
    return {"log_pi": log_ref, "t": jnp.zeros((), jnp.int32)}


def _log_pi(state: State) -> jax.Array:
    return state["log_pi"]


def _magnet_init(P: jax.Array, log_ref: jax.Array, key: jax.Array, cfg: ExactConfig) -> State:
    return {"log_pi": log_ref, "log_mu": log_ref, "t": jnp.zeros((), jnp.int32)}


def _mpo_step(state: State, P: jax.Array, log_ref: jax.Array, cfg: ExactConfig) -> State:
    log_pi = mmd_step(state["log_pi"], state["log_mu"], win_rates(P, state["log_pi"]), cfg.eta, cfg.tau)
    t = state["t"] + 1
    # The magnet refresh is a proximal-point outer loop: each period moves the regularized NE towards
    # the NE of the original game, which is what gives last-iterate convergence without a fixed bias.
    log_mu = jnp.where(t % cfg.magnet_period == 0, log_pi, state["log_mu"])
    return {"log_pi": log_pi, "log_mu": log_mu, "t": t}


def _mmd_step(state: State, P: jax.Array, log_ref: jax.Array, cfg: ExactConfig) -> State:
    log_pi = mmd_step(state["log_pi"], state["log_mu"], win_rates(P, state["log_pi"]), cfg.eta, cfg.tau)
    return {**state, "log_pi": log_pi, "t": state["t"] + 1}


def _md_step(state: State, P: jax.Array, log_ref: jax.Array, cfg: ExactConfig) -> State:
    log_pi = jax.nn.log_softmax(state["log_pi"] + cfg.eta * win_rates(P, state["log_pi"]), axis=-1)
    return {"log_pi": log_pi, "t": state["t"] + 1}


def _md_avg_init(P: jax.Array, log_ref: jax.Array, key: jax.Array, cfg: ExactConfig) -> State:
    return {"log_pi": log_ref, "sum_pi": jnp.exp(log_ref), "t": jnp.zeros((), jnp.int32)}


def _md_avg_step(state: State, P: jax.Array, log_ref: jax.Array, cfg: ExactConfig) -> State:
    new = _md_step({"log_pi": state["log_pi"], "t": state["t"]}, P, log_ref, cfg)
    return {**new, "sum_pi": state["sum_pi"] + jnp.exp(new["log_pi"])}


def _md_avg_policy(state: State) -> jax.Array:
    return jnp.log(state["sum_pi"] / (state["t"] + 1).astype(state["sum_pi"].dtype))


def _nash_md_step(state: State, P: jax.Array, log_ref: jax.Array, cfg: ExactConfig) -> State:
    # Munos et al. 2023: play against the geometric mixture pi^(1 - eta tau) ref^(eta tau) and take a
    # mirror step from it; the fixed point is (to first order in eta) the NE of the KL-regularized game.
    mix = jax.nn.log_softmax((1.0 - cfg.eta * cfg.tau) * state["log_pi"] + cfg.eta * cfg.tau * log_ref,
                             axis=-1)
    log_pi = jax.nn.log_softmax(mix + cfg.eta * win_rates(P, mix), axis=-1)
    return {"log_pi": log_pi, "t": state["t"] + 1}


def _ipo_loss(theta: jax.Array, w: jax.Array, P: jax.Array, log_ref: jax.Array, tau: float) -> jax.Array:
    h = jax.nn.log_softmax(theta, axis=-1) - log_ref
    margin = h[:, :, None] - h[:, None, :]
    # Expected IPO loss over labels drawn from P equals, up to a constant, a regression of the margin on
    # (P - 1/2) / tau; pairs are drawn from the current policy (stop-gradient), which makes it "online".
    return 0.5 * jnp.sum(w[:, :, None] * w[:, None, :] * (margin - (P - 0.5) / tau) ** 2) / P.shape[0]


def _online_ipo_step(state: State, P: jax.Array, log_ref: jax.Array, cfg: ExactConfig) -> State:
    theta = state["log_pi"]
    grad = jax.grad(_ipo_loss)(theta, jnp.exp(theta), P, log_ref, cfg.tau)
    return {"log_pi": jax.nn.log_softmax(theta - cfg.ipo_lr * grad, axis=-1), "t": state["t"] + 1}


def _sppo_loss(theta: jax.Array, log_pi_t: jax.Array, target: jax.Array) -> jax.Array:
    resid = jax.nn.log_softmax(theta, axis=-1) - log_pi_t - target
    return jnp.sum(jnp.exp(log_pi_t) * resid ** 2) / theta.shape[0]


def _sppo_step(state: State, P: jax.Array, log_ref: jax.Array, cfg: ExactConfig) -> State:
    # Wu et al. 2024: regress log(pi / pi_t) on eta (P(y > pi_t) - 1/2) for y ~ pi_t (their log Z ~ 0
    # approximation), here with exact expectations and a fixed number of gradient steps.
    log_pi_t = state["log_pi"]
    target = cfg.eta * (win_rates(P, log_pi_t) - 0.5)

    def inner(theta: jax.Array, _: None) -> tuple[jax.Array, None]:
        return theta - cfg.sppo_lr * jax.grad(_sppo_loss)(theta, log_pi_t, target), None

    theta, _ = jax.lax.scan(inner, log_pi_t, None, length=cfg.sppo_inner_steps)
    return {"log_pi": jax.nn.log_softmax(theta, axis=-1), "t": state["t"] + 1}


def sample_pairs(P: jax.Array, log_pi: jax.Array, key: jax.Array, pairs: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per context, `pairs` independent y, y' ~ pi and a label "y wins" ~ Bernoulli(P(y > y')); (C, pairs) each."""
    C, n = log_pi.shape
    k1, k2, k3 = jax.random.split(key, 3)
    y = jax.random.categorical(k1, log_pi[:, None, :], shape=(C, pairs))
    y2 = jax.random.categorical(k2, log_pi[:, None, :], shape=(C, pairs))
    p = jnp.take_along_axis(P.reshape(C, n * n), y * n + y2, axis=1)
    return y, y2, jax.random.bernoulli(k3, p)


def sample_bt_counts(P: jax.Array, log_ref: jax.Array, key: jax.Array, pairs: int) -> jax.Array:
    """Win counts W[c, i, j] = # times i beat j among `pairs` reference pairs per context, labels ~ P."""
    C, n = log_ref.shape
    y, y2, first_wins = sample_pairs(P, log_ref, key, pairs)
    w, l = jnp.where(first_wins, y, y2), jnp.where(first_wins, y2, y)
    ctx = jnp.broadcast_to(jnp.arange(C)[:, None], (C, pairs))
    return jnp.zeros((C, n, n), P.dtype).at[ctx, w, l].add(1.0)


def _dpo_init(P: jax.Array, log_ref: jax.Array, key: jax.Array, cfg: ExactConfig) -> State:
    return {"log_pi": log_ref, "counts": sample_bt_counts(P, log_ref, key, cfg.dpo_pairs),
            "t": jnp.zeros((), jnp.int32)}


def _dpo_loss(theta: jax.Array, counts: jax.Array, log_ref: jax.Array, beta: float) -> jax.Array:
    h = jax.nn.log_softmax(theta, axis=-1) - log_ref
    margin = beta * (h[:, :, None] - h[:, None, :])
    return -jnp.sum(counts * jax.nn.log_sigmoid(margin)) / counts.sum()


def _dpo_step(state: State, P: jax.Array, log_ref: jax.Array, cfg: ExactConfig) -> State:
    # Offline DPO on a fixed sampled dataset: its optimum is ref * exp(r_BT / beta) with r_BT the
    # Bradley-Terry fit of the data, a single reward, so it cannot represent a cyclic preference's NE.
    grad = jax.grad(_dpo_loss)(state["log_pi"], state["counts"], log_ref, cfg.dpo_beta)
    return {**state, "log_pi": jax.nn.log_softmax(state["log_pi"] - cfg.dpo_lr * grad, axis=-1),
            "t": state["t"] + 1}


ALGORITHMS: dict[str, Algorithm] = {
    "mpo": Algorithm(_magnet_init, _mpo_step, _log_pi),
    "mmd": Algorithm(_magnet_init, _mmd_step, _log_pi),
    "md": Algorithm(_policy_state, _md_step, _log_pi),
    "md-avg": Algorithm(_md_avg_init, _md_avg_step, _md_avg_policy),
    "nash-md": Algorithm(_policy_state, _nash_md_step, _log_pi),
    "online-ipo": Algorithm(_policy_state, _online_ipo_step, _log_pi),
    "sppo": Algorithm(_policy_state, _sppo_step, _log_pi),
    "dpo": Algorithm(_dpo_init, _dpo_step, _log_pi),
}

ALGORITHM_HELP: dict[str, str] = {
    "mpo": "Magnetic PO: MMD self-play, magnet refreshed to the policy every magnet_period steps",
    "mmd": "magnetic mirror descent with the magnet fixed at the reference (regularized NE)",
    "md": "mirror descent / multiplicative weights self-play, last iterate",
    "md-avg": "mirror descent self-play, averaged iterate",
    "nash-md": "Nash-MD: mirror step from the geometric mixture with the reference",
    "online-ipo": "online IPO: gradient steps on the IPO loss with pairs from the current policy",
    "sppo": "SPPO: square-loss regression of log(pi/pi_t) on eta (P(y > pi_t) - 1/2)",
    "dpo": "offline DPO on pairs from the reference with labels sampled from P (a BT fit)",
}


def parse_algorithms(spec: str) -> list[str]:
    """'mpo,md' -> ['mpo', 'md']; 'all' -> every algorithm; unknown names raise ValueError."""
    names = list(ALGORITHMS) if spec.strip() == "all" else [a.strip() for a in spec.split(",") if a.strip()]
    bad = [a for a in names if a not in ALGORITHMS]
    if bad or not names:
        raise ValueError(f"algos must be a comma list of {', '.join(ALGORITHMS)} (or 'all'); got {spec!r}")
    return names


def reference_policy(key: jax.Array, contexts: int, n: int, spread: float) -> jax.Array:
    """The per-seed reference log-policy log softmax(spread * N(0, 1)), shape (contexts, n)."""
    return jax.nn.log_softmax(spread * jax.random.normal(key, (contexts, n)), axis=-1)


def _run_one(P: jax.Array, seed_key: jax.Array, name: str, cfg: ExactConfig) -> tuple[jax.Array, jax.Array]:
    algo = ALGORITHMS[name]
    k_ref, k_algo = jax.random.split(seed_key)
    log_ref = reference_policy(k_ref, P.shape[0], P.shape[1], cfg.init_spread)
    state = algo.init(P, log_ref, k_algo, cfg)

    def body(state: State, _: None) -> tuple[State, jax.Array]:
        state = algo.step(state, P, log_ref, cfg)
        return state, duality_gap(P, jnp.exp(algo.policy(state)))

    dg0 = duality_gap(P, jnp.exp(algo.policy(state)))
    state, dgs = jax.lax.scan(body, state, None, length=cfg.steps)
    return jnp.concatenate([dg0[None], dgs]), jnp.exp(algo.policy(state))


@partial(jax.jit, static_argnames=("name", "cfg"))
def _run_batch(games: jax.Array, keys: jax.Array, name: str, cfg: ExactConfig) -> tuple[jax.Array, jax.Array]:
    per_seed = jax.vmap(lambda P, k: _run_one(P, k, name, cfg), in_axes=(None, 0))
    return jax.vmap(per_seed, in_axes=(0, None))(games, keys)


def seed_keys(seeds: list[int] | np.ndarray) -> jax.Array:
    """One PRNG key per seed; the same seed gives the same key in every run."""
    return jax.vmap(jax.random.key)(jnp.asarray(seeds, dtype=jnp.uint32))


def run_exact(name: str, games: np.ndarray, seeds: list[int] | np.ndarray,
              cfg: ExactConfig) -> tuple[np.ndarray, np.ndarray]:
    """Run one algorithm on every (game, seed): duality gaps (G, S, steps + 1) and final policies (G, S, C, n).

    Entry t of the gap curve is DG after t iterations (t = 0 is the reference policy).
    """
    if name not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}; got {name!r}")
    dg, pi = _run_batch(jnp.asarray(games, jnp.float32), seed_keys(seeds), name, cfg)
    return np.asarray(dg), np.asarray(pi)
