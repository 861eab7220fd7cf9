"""The outer loop: an evosax strategy over the MPO search box, one compiled program per generation.

Each generation asks the strategy for a population (in the unit cube of the search box), evaluates
every candidate x inner seed x dataset as one jitted, vmapped program, and tells the strategy the
negated mean fitness (evosax minimizes); NaN/inf candidates get a worse value than every finite one.
After every generation: one JSONL log line and an orbax checkpoint, so `--resume` continues to the
same numbers an uninterrupted run produces.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from discovery import checkpoint, run_dir as rd
from discovery.engine import Engine, build_engine
from discovery.population import make_population_eval, params_to_unit, unit_to_params
from discovery.strategies import es_fitness, make_strategy
from search_spaces.mpo import describe

# Key streams: generation g uses fold_in(seed, g); these constants stay clear of any generation index.
INIT_STREAM = 2**31 - 1
HELDOUT_STREAM = 2**31 - 2

SUMMARY_METRICS = ("return", "kl", "length", "heldout_accuracy", "logratio_chosen", "logratio_rejected")


def generation_key(seed: int, generation: int) -> jax.Array:
    return jax.random.fold_in(jax.random.key(seed), generation)


def make_generation(engine: Engine):
    """(es, es_params, generation(state, key) -> (state, xs, fitness [P], summary [P] dict, nan [P]))."""
    cfg = engine.cfg
    strat = cfg["strategy"]
    es, es_params = make_strategy(strat["name"], strat["population"], engine.space.size, strat["sigma"])
    eval_pop = make_population_eval(engine.runs(), engine.space, cfg["seeds"], cfg["chunk"])

    def generation(state, key):
        k_ask, k_eval, k_tell = jax.random.split(key, 3)
        xs, state = es.ask(k_ask, state, es_params)
        xs = jnp.clip(xs, 0.0, 1.0)  # evaluated where the loss is defined: the box
        metrics = eval_pop(xs, k_eval)
        fitness = metrics["fitness"].mean(axis=(1, 2))  # NaN if any seed or dataset failed
        state, _ = es.tell(k_tell, xs, es_fitness(fitness), state, es_params)
        summary = {k: jnp.nanmean(metrics[k], axis=(1, 2)) for k in SUMMARY_METRICS}
        return state, xs, fitness, summary, ~jnp.isfinite(fitness)

    return es, es_params, jax.jit(generation)


def _template(es, es_params, x0, dim: int) -> dict[str, Any]:
    return {
        "es_state": es.init(jax.random.key(0), x0, es_params),
        "generation": np.asarray(0, np.int32),
        "best_x": np.zeros((dim,), np.float32),
        "best_fitness": np.asarray(-np.inf, np.float32),
        "best_generation": np.asarray(-1, np.int32),
    }


def run_search(
    cfg: dict[str, Any] | None,
    out: Path,
    resume: bool = False,
    quiet: bool = False,
    stop_after: int | None = None,
    report: bool = True,
) -> dict[str, Any]:
    """Run (or resume) a search in `out`; returns {"best_params", "best_fitness", "log", ...}.

    `stop_after` ends the call after that many generations in total (as an interruption would);
    a later `resume=True` call continues from the last checkpoint.
    """
    out = Path(out)
    if resume:
        cfg = rd.read_config(out)
    else:
        rd.create(out, cfg)
    engine = build_engine(cfg)
    space, dim = engine.space, engine.space.size
    es, es_params, generation = make_generation(engine)
    x0 = params_to_unit(space, engine.init_point)
    mngr = checkpoint.manager(out)
    state = _template(es, es_params, x0, dim)
    state["es_state"] = es.init(jax.random.fold_in(jax.random.key(cfg["seed"]), INIT_STREAM), x0, es_params)
    start = 0
    if resume:
        start, state = checkpoint.restore(mngr, state)
        # Lines past the checkpoint belong to work that was lost; the resumed run writes them again.
        rd.write_log(out, [line for line in rd.read_log(out) if line["generation"] < start])
    total = cfg["generations"]
    end = total if stop_after is None else min(total, stop_after)

    compiled, compile_s = None, 0.0
    bar = tqdm(total=total, initial=start, disable=quiet, desc="search", unit="gen", dynamic_ncols=True)
    for g in range(start, end):
        key = generation_key(cfg["seed"], g)
        if compiled is None:
            t0 = time.perf_counter()
            compiled = generation.lower(state["es_state"], key).compile()
            compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        es_state, xs, fitness, summary, nan = jax.block_until_ready(compiled(state["es_state"], key))
        wall = time.perf_counter() - t0
        fitness, xs = np.asarray(fitness), np.asarray(xs)
        finite = np.isfinite(fitness)
        gen_best = int(np.argmax(np.where(finite, fitness, -np.inf))) if finite.any() else -1
        state = dict(state, es_state=es_state, generation=np.asarray(g + 1, np.int32))
        if gen_best >= 0 and fitness[gen_best] > state["best_fitness"]:
            state.update(best_x=xs[gen_best], best_fitness=np.asarray(fitness[gen_best], np.float32),
                         best_generation=np.asarray(g, np.int32))
        line = {
            "generation": g,
            "best": float(fitness[gen_best]) if gen_best >= 0 else None,
            "mean": float(np.mean(fitness[finite])) if finite.any() else None,
            "std": float(np.std(fitness[finite])) if finite.any() else None,
            "nan_count": int(np.sum(nan)),
            "best_so_far": float(state["best_fitness"]),
            "best_so_far_generation": int(state["best_generation"]),
            **{f"{k}_mean": float(np.nanmean(np.asarray(v))) for k, v in summary.items()},
            "wall_s": round(wall, 3),
            "compile_s": round(compile_s, 3) if g == start else 0.0,
        }
        checkpoint.save(mngr, g + 1, state)
        rd.append_log(out, line)
        bar.update(1)
        bar.set_postfix(best=f"{line['best_so_far']:.2f}", mean=f"{line['mean'] if line['mean'] is not None else float('nan'):.2f}",
                        nan=line["nan_count"])
    bar.close()

    to_params = unit_to_params(space)
    best_params = to_params(jnp.asarray(state["best_x"]))
    result = {
        "run_dir": str(out),
        "generation": int(state["generation"]),
        "best_fitness": float(state["best_fitness"]),
        "best_generation": int(state["best_generation"]),
        "best_params": best_params,
        "mean_params": to_params(jnp.clip(es.get_mean(state["es_state"]), 0.0, 1.0)),
        "log": rd.read_log(out),
    }
    if int(state["generation"]) >= total:
        _write_best(out, result, space)
        if report:
            from discovery.report import write_report

            write_report(out, engine, result, quiet=quiet)
    return result


def _write_best(out: Path, result: dict[str, Any], space) -> None:
    best = {
        "generation": result["best_generation"],
        "fitness_during_search": result["best_fitness"],
        "vector": np.asarray(space.to_vector(result["best_params"])).tolist(),
        "vector_names": space.names(),
        "coefficients_tau0": describe(result["best_params"], 0.0, compact=True),
        "coefficients_tau1": describe(result["best_params"], 1.0, compact=True),
    }
    (out / "best.json").write_text(json.dumps(best, indent=2) + "\n")
