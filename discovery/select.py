"""Choosing the final loss of a search without the winner's curse.

The best search-time fitness is the max of noisy evaluations: it overstates its candidate, and it is never
a result. At the end of a search the top-k candidates of the whole run, the ES mean and the start point
(the `loss.init` zoo point) are re-evaluated together on fresh validation seeds (stream VALIDATION, disjoint
from the search's generation keys and from the report's test seeds), as one program, and the final loss is
the best of them by validation score. The start is always a candidate, so a search that found nothing
better returns its start, and says so.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from discovery.engine import Engine
from discovery.population import make_params_eval
from discovery.streams import VALIDATION_STREAM, stream_key
from search_spaces.mpo import mpo_loss
from search_spaces.search_space import unit_to_params

START, MEAN = "start", "ES mean"


def update_top(top_x: np.ndarray, top_fit: np.ndarray, top_gen: np.ndarray, xs: np.ndarray, fitness: np.ndarray,
               generation: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k best finite candidates seen so far (k = len(top_fit)), best first; ties keep the earlier one."""
    k = top_fit.shape[0]
    finite = np.isfinite(fitness)
    all_x = np.concatenate([top_x, xs[finite]])
    all_f = np.concatenate([top_fit, fitness[finite].astype(np.float32)])
    all_g = np.concatenate([top_gen, np.full(int(finite.sum()), generation, np.int32)])
    order = np.argsort(-all_f, kind="stable")[:k]
    return all_x[order].astype(np.float32), all_f[order].astype(np.float32), all_g[order].astype(np.int32)


def candidates(state: dict[str, Any], x0: np.ndarray, mean_x: np.ndarray) -> list[dict[str, Any]]:
    """The final selection's candidates: the start, the ES mean, then every top-k entry of the run."""
    out = [{"label": START, "x": np.asarray(x0, np.float32), "generation": None, "search_fitness": None},
           {"label": MEAN, "x": np.asarray(mean_x, np.float32), "generation": None, "search_fitness": None}]
    for i, (x, f, g) in enumerate(zip(state["top_x"], state["top_fitness"], state["top_generation"])):
        if np.isfinite(f):
            out.append({"label": f"top {i + 1}", "x": np.asarray(x, np.float32), "generation": int(g),
                        "search_fitness": float(f)})
    return out


def pick(validation: np.ndarray) -> int:
    """Index of the best mean validation score [n_candidates, ...]; a candidate with a failed run is worst;
    ties go to the earlier candidate (the start first)."""
    v = validation.reshape(validation.shape[0], -1)
    score = np.where(np.isfinite(v).all(-1), v.mean(-1), -np.inf)
    return int(np.argmax(score))


def select_final(engine: Engine, state: dict[str, Any], x0: np.ndarray, mean_x: np.ndarray) -> dict[str, Any]:
    """Re-evaluate the candidates on the validation seeds; returns the candidates with both scores and the
    index of the chosen one."""
    sel = engine.cfg["select"]
    cands = candidates(state, x0, mean_x)
    xs = jnp.asarray(np.stack([c["x"] for c in cands]))
    params = jax.vmap(unit_to_params(engine.space))(xs)
    local = make_params_eval(engine.stages(mpo_loss, sel["episodes"]), engine.cfg["chunk"])
    keys = jax.random.split(stream_key(engine.cfg["seed"], VALIDATION_STREAM), sel["seeds"])
    fitness = np.asarray(jax.jit(local)(params, keys)["fitness"])  # [C, n_datasets, seeds]
    chosen = pick(fitness)
    for c, f in zip(cands, fitness):
        c["validation_fitness"] = float(np.mean(f)) if np.isfinite(f).all() else None
    return {"candidates": cands, "chosen": chosen, "seeds": sel["seeds"], "episodes": sel["episodes"],
            "keys": f"split(fold_in(key({engine.cfg['seed']}), VALIDATION_STREAM={VALIDATION_STREAM}), {sel['seeds']})"}
