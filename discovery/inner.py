"""The inner run, purejaxrl style: `make_inner(domain, loss_fn, cfg)` returns a pure `run(params, key)`.

`run` starts from the reference policy, takes K optax steps of the given loss on minibatches of pairs
(one `lax.scan`; tau = t / K is fed to the loss), then evaluates the fine-tuned policy in its domain.
It is jittable and vmappable over loss parameters and keys, so a whole population of inner runs is
one XLA program. Worlds (MuJoCo, text, ...) plug in through the small `envs.domain.Domain` contract.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from envs.domain import Domain
from search_spaces.batch import PrefBatch


@dataclasses.dataclass(frozen=True)
class InnerConfig:
    steps: int = 100  # K optax steps
    batch_size: int = 32  # pairs per step
    learning_rate: float = 1e-3
    max_grad_norm: float = 1.0
    # Each run flips each training label with this probability, drawn from its own key: every inner seed
    # trains on its own flip realization (the diagnostic suite's `flips-EPS` settings). Measured why: at fixed
    # hyperparameters, four datasets with 30% of walker2d's labels flipped moved DPO by +17.9 / +1.8 / -13.3 /
    # -1.7 points, so one flipped dataset per rate confounds the rate with its draw
    # (experiments/reports/realization_check/). 0: the dataset's labels as they are (no key is drawn).
    label_flip: float = 0.0

    def __post_init__(self) -> None:
        for name, ok, allowed in (
            ("steps", self.steps >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("learning_rate", self.learning_rate > 0, "> 0"),
            ("max_grad_norm", self.max_grad_norm > 0, "> 0"),
            ("label_flip", 0.0 <= self.label_flip < 0.5, "in [0, 0.5)"),
        ):
            if not ok:
                raise ValueError(f"inner.{name}: got {getattr(self, name)!r}; allowed: {allowed}")


# fold_in constant of the key a run's label flips are drawn from (its minibatch keys are split from the same
# key, so this stream is apart from them)
FLIP_STREAM = 0x464C4950


def flip_mask(key: jax.Array, n: int, eps: float) -> chex.Array:
    """bool [n]: which of a run's n training labels it flips (each with probability eps), from the run's key."""
    return jax.random.bernoulli(jax.random.fold_in(key, FLIP_STREAM), eps, (n,))


def _swap(flip: chex.Array, a: chex.Array, b: chex.Array) -> tuple[chex.Array, chex.Array]:
    """(a, b) with the rows where `flip` holds exchanged: chosen and rejected of a flipped pair trade places."""
    f = flip.reshape(flip.shape + (1,) * (a.ndim - 1))
    return jnp.where(f, b, a), jnp.where(f, a, b)


def _tree_finite(tree: Any) -> chex.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves))


class InnerStages(NamedTuple):
    """The inner run in two pure stages, so a population can train in cache-sized chunks and then
    evaluate every fine-tuned policy in one wide batch (MJX physics gains most from width)."""

    train: Callable[..., tuple[Any, chex.Array]]  # (loss_params, key[, lr_scale]) -> (policy params, losses [K])
    finish: Callable[[Any, chex.Array, jax.Array], dict]  # (policy params, losses, key) -> metrics


def make_inner_stages(domain: Domain, loss_fn: Callable, cfg: InnerConfig) -> InnerStages:
    """`run(loss_params, key) == finish(*train(loss_params, k_train), k_eval)` with
    `k_train, k_eval = jax.random.split(key)` (see `make_inner`)."""
    n_train = jax.tree.leaves(domain.train_pairs)[0].shape[0]
    if n_train < 1:
        raise ValueError("inner run: the domain has no training pairs")
    # Reference log-probs are fixed: computed once here, outside every run and every step.
    ref_train = jax.jit(domain.logps)(domain.init_params, domain.train_pairs)
    ref_heldout = jax.jit(domain.logps)(domain.init_params, domain.heldout_pairs)
    opt = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.learning_rate))

    def train(loss_params: Any, key: jax.Array, lr_scale: chex.Numeric = 1.0) -> tuple[Any, chex.Array]:
        """`lr_scale` multiplies the learning rate; it is an array input so a learning-rate grid vmaps (Adam's
        step is linear in its learning rate, so scaling the update is exactly Adam at lr * lr_scale)."""

        flip = flip_mask(key, n_train, cfg.label_flip) if cfg.label_flip > 0 else None

        def step(carry, xs):
            params, opt_state = carry
            t, k = xs
            idx = jax.random.randint(k, (cfg.batch_size,), 0, n_train)
            sub = jax.tree.map(lambda a: a[idx], domain.train_pairs)
            ref_w, ref_l = ref_train[0][idx], ref_train[1][idx]
            f = None if flip is None else flip[idx]
            if f is not None:
                ref_w, ref_l = _swap(f, ref_w, ref_l)

            def mean_loss(p):
                lw, ll, mw, ml = domain.logps(p, sub)
                if f is not None:  # a flipped pair: its rejected response is the chosen one (world-agnostic)
                    (lw, ll), (mw, ml) = _swap(f, lw, ll), _swap(f, mw, ml)
                batch = PrefBatch(lw, ll, ref_w, ref_l, mw, ml)
                return loss_fn(loss_params, batch, t / cfg.steps).mean()

            value, grads = jax.value_and_grad(mean_loss)(params)
            updates, opt_state = opt.update(grads, opt_state, params)
            updates = jax.tree.map(lambda u: u * lr_scale, updates)
            return (optax.apply_updates(params, updates), opt_state), value

        xs = (jnp.arange(cfg.steps, dtype=jnp.float32), jax.random.split(key, cfg.steps))
        init = (domain.init_params, opt.init(domain.init_params))
        (params, _), losses = jax.lax.scan(step, init, xs)
        return params, losses

    def finish(params: Any, losses: chex.Array, key: jax.Array) -> dict:
        ok = jnp.logical_and(_tree_finite(params), jnp.all(jnp.isfinite(losses)))
        ev = domain.evaluate(params, key)
        lw, ll, mw, ml = domain.logps(params, domain.heldout_pairs)
        d_w = (lw * mw).sum(-1) - (ref_heldout[0] * mw).sum(-1)
        d_l = (ll * ml).sum(-1) - (ref_heldout[1] * ml).sum(-1)
        return {
            "fitness": jnp.where(ok, ev["score"], jnp.nan),
            "return": ev["return"],
            "length": ev["length"],
            "kl": ev["kl"] if "kl" in ev else domain.kl(params),
            "logratio_chosen": d_w.mean(),
            "logratio_rejected": d_l.mean(),
            "heldout_accuracy": jnp.mean(d_w - d_l > 0),
            "loss_first": losses[0],
            "loss_last": losses[-1],
            "nan": jnp.logical_not(ok),
        }

    return InnerStages(train, finish)


def make_inner(domain: Domain, loss_fn: Callable, cfg: InnerConfig) -> Callable[..., dict]:
    """Build `run(loss_params, key[, lr_scale]) -> metrics` (all scalars); `metrics["fitness"]` is NaN on
    failure."""
    stages = make_inner_stages(domain, loss_fn, cfg)

    def run(loss_params: Any, key: jax.Array, lr_scale: chex.Numeric = 1.0) -> dict:
        k_train, k_eval = jax.random.split(key)
        return stages.finish(*stages.train(loss_params, k_train, lr_scale), k_eval)

    return run
