"""One setting of the suite: tune every panel loss on the beta x learning-rate grid (validation seeds),
then score the tuned losses and the reference policy on test seeds, paired on evaluation keys.

The whole grid of the panel (every loss x beta x learning rate) is one compiled program: every panel
loss is an exact MPO point, so the cells stack into one MPOParams batch, and the learning rate enters as
the inner run's `lr_scale` (Adam at lr 1 with its update scaled by lr is Adam at lr). Every cell sees
the same validation seeds and every tuned loss the same test seeds (common random numbers).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from discovery.config import make_config
from discovery.engine import Engine, build_engine
from discovery.population import make_params_eval
from discovery.report import evaluate_reference
from discovery.streams import TEST_STREAM, VALIDATION_STREAM, stream_key
from discovery.suite.plan import SuitePlan
from envs.runtime import versions
from search_spaces.mpo import mpo_loss
from search_spaces.points import mpo_point
from search_spaces.registry import get_loss

METRICS = ("fitness", "return", "kl", "length", "heldout_accuracy", "nan")


def setting_engine(dataset: str, plan: SuitePlan) -> Engine:
    """The setting's inner runs. learning_rate 1: every cell's learning rate enters as lr_scale."""
    return build_engine(make_config({
        "datasets": [dataset],
        "inner": {"steps": plan.steps, "batch_size": plan.batch_size, "learning_rate": 1.0, "max_grad_norm": 1.0},
        "eval": {"episodes": plan.episodes},
    }))


def grid_cells(plan: SuitePlan) -> list[dict[str, Any]]:
    """Every (loss, beta, learning rate) of the tuning grid, betas as multiples of each loss's default."""
    return [{"loss": name, "beta": get_loss(name).defaults["beta"] * s, "lr": lr}
            for name in plan.panel for s in plan.beta_scales for lr in plan.learning_rates]


def evaluate_cells(engine: Engine, cells: list[dict[str, Any]], keys: jax.Array, chunk: int,
                   label_flip: float = 0.0) -> dict[str, np.ndarray]:
    """metric -> [n_cells, n_seeds]: each cell's loss at its beta, trained at its learning rate (`label_flip`:
    each seed's runs flip the labels of their own realization, the same one for every cell)."""
    points = [mpo_point(c["loss"], beta=c["beta"]) for c in cells]
    params = jax.tree.map(lambda *x: jnp.stack(x), *points)
    lrs = jnp.asarray([c["lr"] for c in cells], jnp.float32)
    local = make_params_eval(engine.stages(mpo_loss, label_flip=label_flip), chunk)
    out = jax.jit(local)(params, keys, lrs)
    return {k: np.asarray(out[k][:, 0]) for k in METRICS}


def _score(fitness: np.ndarray) -> np.ndarray:
    """Mean validation fitness per cell; a cell with a failed run counts as the worst."""
    return np.where(np.isfinite(fitness).all(-1), fitness.mean(-1), -np.inf)


def choose(cells: list[dict[str, Any]], fitness: np.ndarray, panel: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per loss, the cell with the best mean validation fitness (a cell with a failed run counts as the
    worst)."""
    score = _score(fitness)
    tuned = {}
    for name in panel:
        idx = [i for i, c in enumerate(cells) if c["loss"] == name]
        best = max(idx, key=lambda i: score[i])
        tuned[name] = {"beta": cells[best]["beta"], "lr": cells[best]["lr"], "validation": float(score[best])}
    return tuned


def finalists(cells: list[dict[str, Any]], fitness: np.ndarray, panel: tuple[str, ...], k: int) -> list[int]:
    """Per loss (in panel order), the indices of its k best cells by mean validation fitness, best first
    (ties: grid order)."""
    score = _score(fitness)
    out = []
    for name in panel:
        idx = [i for i, c in enumerate(cells) if c["loss"] == name]
        out += sorted(idx, key=lambda i: -score[i])[:k]
    return out


def run_setting(dataset: str, plan: SuitePlan, log: Callable[[str], None] = lambda s: None,
                label_flip: float = 0.0, grid: dict[str, Any] | None = None) -> dict[str, Any]:
    """Tune on validation seeds, score on test seeds; everything the table needs, as JSON-able values.
    `label_flip` > 0: every inner run trains on its own flip realization of the dataset's labels. `grid`: the
    first stage of an earlier result of this dataset, flip rate and plan but for the confirmation fields (the
    same runs on the same keys: reused, not recomputed)."""
    t0 = time.time()
    engine = setting_engine(dataset, plan)
    cells = grid_cells(plan)
    val_key, test_key = stream_key(plan.seed, VALIDATION_STREAM), stream_key(plan.seed, TEST_STREAM)
    reused = grid is not None and grid["cells"] == cells
    if reused:
        log(f"  tuning: reusing the {len(cells) * plan.validation_seeds} first-stage inner runs of an earlier result")
        val = {"fitness": np.asarray(grid["validation_fitness"], np.float64), "nan": np.asarray(grid["nan"])}
    else:
        log(f"  tuning: {len(plan.panel)} losses x {len(plan.beta_scales)} betas x {len(plan.learning_rates)} "
            f"learning rates x {plan.validation_seeds} validation seeds = {len(cells) * plan.validation_seeds} "
            "inner runs, one program")
        val = evaluate_cells(engine, cells, jax.random.split(val_key, plan.validation_seeds), plan.chunk, label_flip)
    chosen_on = {"fitness": val["fitness"]}
    confirm = None
    if plan.confirm_cells:
        top = finalists(cells, val["fitness"], plan.panel, plan.confirm_cells)
        more = plan.confirm_seeds - plan.validation_seeds
        log(f"  confirming: the {plan.confirm_cells} best cells of each loss x {more} more validation seeds = "
            f"{len(top) * more} inner runs")
        keys = jax.random.split(val_key, plan.confirm_seeds)[plan.validation_seeds:]
        again = evaluate_cells(engine, [cells[i] for i in top], keys, plan.chunk, label_flip)
        both = np.concatenate([val["fitness"][top], again["fitness"]], axis=1)
        chosen_on = {"cells": [cells[i] for i in top], "fitness": both}
        confirm = {"cells": top, "fitness": again["fitness"].tolist(), "nan": again["nan"].tolist()}
    t_tune = time.time() - t0
    tuned = choose(chosen_on.get("cells", cells), chosen_on["fitness"], plan.panel)
    log(f"  testing: {len(plan.panel)} tuned losses + the reference x {plan.test_seeds} test seeds")
    test_cells = [{"loss": n, **tuned[n]} for n in plan.panel]
    test = evaluate_cells(engine, test_cells, jax.random.split(test_key, plan.test_seeds), plan.chunk, label_flip)
    ref = evaluate_reference(engine, plan.test_seeds, None, test_key)
    ds = engine.datasets[0]
    seeds = {"validation": f"split(fold_in(key({plan.seed}), VALIDATION_STREAM={VALIDATION_STREAM}), "
                           f"{plan.validation_seeds})",
             "test": f"split(fold_in(key({plan.seed}), TEST_STREAM={TEST_STREAM}), {plan.test_seeds})"}
    if confirm is not None:
        seeds["confirm"] = (f"split(fold_in(key({plan.seed}), VALIDATION_STREAM={VALIDATION_STREAM}), "
                            f"{plan.confirm_seeds})[{plan.validation_seeds}:]")
    return {
        "dataset": dataset,
        "checksum": ds.manifest["checksum"],
        "properties": ds.manifest["properties"],
        "label_flip": label_flip,
        # the machine and packages: the same runs on another CPU differ (hopper's reference by up to 1.9 points
        # per test seed between two CPUs), so a report merging rows says where each was computed
        "versions": versions(),
        "plan": plan.to_json(),
        "seeds": seeds,
        "grid": {"cells": cells, "validation_fitness": val["fitness"].tolist(), "nan": val["nan"].tolist()},
        **({"confirm": confirm} if confirm is not None else {}),
        "tuned": tuned,
        "test": {"reference": {"fitness": ref["fitness"][0].tolist(), "length": ref["length"][0].tolist()},
                 **{n: {k: test[k][i].tolist() for k in METRICS} for i, n in enumerate(plan.panel)}},
        # a reused first stage's seconds are not in these (they are in the result it came from)
        "seconds": {"tune": round(t_tune, 1), "total": round(time.time() - t0, 1), "first_stage_reused": reused},
    }
