"""The hyperparameter-robustness study: per loss, a beta x learning-rate x seed grid as ONE vmapped program.

beta enters through the loss parameters (a [n_beta] leaf of the loss's param dict), the learning rate
through the inner run's `lr_scale` input (Adam at lr = 1 scaled by lr is exactly Adam at lr), the seeds
through the run key; jit(vmap(vmap(vmap(run)))) then compiles once per loss. Every loss and grid point
sees the same seeds (common random numbers), so differences between cells are not seed noise.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from discovery.config import make_config
from discovery.engine import Engine, build_engine
from discovery.report import evaluate_reference
from search_spaces.registry import get_loss

METRICS = ("fitness", "return", "length", "kl", "heldout_accuracy", "nan")


@dataclasses.dataclass(frozen=True)
class RobustnessPlan:
    losses: tuple[str, ...] = ("sigmoid", "ln_dpo", "simpo", "ipo", "discopop")
    # x each loss's published default beta; wide enough (x1/16 .. x8) that the best beta is inside the grid
    beta_scales: tuple[float, ...] = (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    learning_rates: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3)
    seeds: int = 4
    steps: int = 150
    batch_size: int = 32
    max_grad_norm: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name, ok, allowed in (
            ("losses", len(self.losses) >= 1, "at least one zoo loss with a beta"),
            ("beta_scales", len(self.beta_scales) >= 1 and all(b > 0 for b in self.beta_scales), "values > 0"),
            ("learning_rates", len(self.learning_rates) >= 1 and all(lr > 0 for lr in self.learning_rates),
             "values > 0"),
            ("seeds", self.seeds >= 1, ">= 1"),
            ("steps", self.steps >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
        ):
            if not ok:
                raise ValueError(f"robustness.{name}: got {getattr(self, name)!r}; allowed: {allowed}")
        for name in self.losses:
            if "beta" not in get_loss(name).defaults:  # unknown names raise with the known ones
                raise ValueError(f"robustness.losses: {name!r} has no beta; allowed: losses with a beta")


def loss_grid_params(name: str, beta_scales: tuple[float, ...]) -> tuple[dict[str, jax.Array], np.ndarray]:
    """The loss's default params with a leading beta axis: ({name: [n_beta]}, betas)."""
    spec = get_loss(name)
    base = spec.params()
    betas = np.asarray([base["beta"] * s for s in beta_scales], np.float32)
    params = {k: jnp.full((len(betas),), v, jnp.float32) for k, v in base.items()}
    params["beta"] = jnp.asarray(betas)
    return params, betas


def grid_program(engine: Engine, name: str):
    """jitted (params [n_beta], lrs [n_lr], keys [n_seed]) -> metrics [n_beta, n_lr, n_seed]."""
    run = engine.runs(get_loss(name).fn)[0]
    f = jax.vmap(lambda p, lr, k: run(p, k, lr), (None, None, 0))  # seeds
    f = jax.vmap(f, (None, 0, None))  # learning rates
    f = jax.vmap(f, (0, None, None))  # betas
    return jax.jit(f)


def run_grid(engine: Engine, name: str, plan: RobustnessPlan) -> dict[str, Any]:
    """Evaluate one loss's whole grid; numpy metrics [n_beta, n_lr, n_seed] plus the grid axes."""
    params, betas = loss_grid_params(name, plan.beta_scales)
    keys = jax.random.split(jax.random.key(plan.seed), plan.seeds)
    out = grid_program(engine, name)(params, jnp.asarray(plan.learning_rates, jnp.float32), keys)
    metrics = {k: np.asarray(out[k]) for k in METRICS}
    return {"loss": name, "betas": betas, "learning_rates": np.asarray(plan.learning_rates), **metrics}


def reference_metrics(engine: Engine, plan: RobustnessPlan) -> dict[str, float]:
    """The un-tuned SFT policy on the same evaluation keys the grid's runs use."""
    ev = evaluate_reference(engine, plan.seeds, None, jax.random.key(plan.seed))
    return {k: float(np.mean(ev[k])) for k in ("fitness", "return", "length", "kl")}


def summarize(grid: dict[str, Any]) -> dict[str, Any]:
    """Per loss: best / median / worst cell score (seed means; a cell with a NaN run counts as the worst),
    the fraction of cells within 90% of the best, and where the best cell is."""
    score = grid["fitness"].mean(-1)  # [n_beta, n_lr]; NaN if any seed failed
    failed = ~np.isfinite(score)
    flat = np.where(failed, -np.inf, score)
    best = float(flat.max())
    # "within 90% of the best": score >= 0.9 * best for a positive best (scores are 0 at the SFT policy);
    # for a non-positive best, within 10% of |best| below it.
    thresh = 0.9 * best if best > 0 else best - 0.1 * abs(best)
    b, l = np.unravel_index(int(np.argmax(flat)), flat.shape)
    return {
        "loss": grid["loss"],
        "best": best,
        "median": float(np.median(flat)),
        "worst": float(flat.min()),
        "frac_within_90pct": float(np.mean(flat >= thresh)),
        "nan_cells": int(failed.sum()),
        "frac_above_sft": float(np.mean(flat > 0)),
        # typical standard error of a cell's seed mean: differences between cells smaller than ~2 of these
        # are noise (evaluation samples and training seeds)
        "cell_se": float(np.nanmedian(grid["fitness"].std(-1, ddof=1) / np.sqrt(grid["fitness"].shape[-1])))
        if grid["fitness"].shape[-1] > 1 else float("nan"),
        "best_beta": float(grid["betas"][b]),
        "best_lr": float(grid["learning_rates"][l]),
        "length_at_best": float(grid["length"].mean(-1)[b, l]),
        "kl_at_best": float(grid["kl"].mean(-1)[b, l]),
        "return_at_best": float(grid["return"].mean(-1)[b, l]),
        "length_mean": float(np.nanmean(grid["length"])),
        "kl_median": float(np.nanmedian(grid["kl"])),
    }


def study_engine(dataset: str, plan: RobustnessPlan, prompts: int, samples: int) -> Engine:
    """The study's inner runs (valid for text and MuJoCo datasets). learning_rate 1: the grid's learning
    rates enter as lr_scale (see the module docstring)."""
    return build_engine(make_config({
        "datasets": [dataset],
        "inner": {"steps": plan.steps, "batch_size": plan.batch_size, "learning_rate": 1.0,
                  "max_grad_norm": plan.max_grad_norm},
        "eval": {"episodes": samples, "episode_length": None, "heldout_fraction": 0.125, "greedy": False,
                 "prompts": prompts},
    }))


def run_study(dataset: str, plan: RobustnessPlan, prompts: int = 256, samples: int = 1,
              log: Any = None) -> dict[str, Any]:
    """Load the dataset, evaluate the SFT reference and every loss's grid; returns grids, summaries, timings."""
    import time

    say = log or (lambda s: None)
    engine = study_engine(dataset, plan, prompts, samples)
    reference = reference_metrics(engine, plan)
    grids, rows, seconds = [], [], {}
    for name in plan.losses:
        t = time.time()
        n = len(plan.beta_scales) * len(plan.learning_rates) * plan.seeds
        say(f"{name}: {len(plan.beta_scales)} betas x {len(plan.learning_rates)} learning rates x {plan.seeds} "
            f"seeds = {n} inner runs of {plan.steps} steps, one program")
        g = run_grid(engine, name, plan)
        seconds[name] = round(time.time() - t, 1)
        grids.append(g)
        rows.append(summarize(g))
        say(f"{name}: best {rows[-1]['best']:.1f}, median {rows[-1]['median']:.1f}, "
            f"{100 * rows[-1]['frac_within_90pct']:.0f}% within 90% of best ({seconds[name]} s)")
    return {"dataset": str(dataset), "domain": engine.datasets[0].domain, "plan": dataclasses.asdict(plan), "prompts": prompts,
            "samples": samples, "reference": reference, "grids": grids, "summaries": rows, "seconds": seconds}
