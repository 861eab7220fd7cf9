"""The outer loop: an evosax strategy over the MPO search box, one compiled program per generation.

Each generation asks the strategy for a population (in the unit cube of the search box), evaluates
every candidate x inner seed x dataset as one jitted, vmapped program, and tells the strategy the
negated mean fitness (evosax minimizes); NaN/inf candidates get a worse value than every finite one.
After every generation: one JSONL log line and an orbax checkpoint, so `--resume` continues to the
same numbers an uninterrupted run produces.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from discovery import checkpoint, fingerprint, interrupt, strict_json
from discovery import run_dir as rd
from discovery.config import validate
from discovery.engine import Engine, build_engine
from discovery.lock import RunLock
from discovery.population import (
    check_divisible,
    gather_population,
    local_slice,
    make_local_eval,
    population_mesh,
    shard_population,
)
from discovery.report import write_report
from discovery.resume import resume_point
from discovery.select import START, select_final, update_top
from discovery.strategies import es_fitness, make_strategy
from discovery.streams import INIT_STREAM, stream_key
from discovery.tracking import make_trackers
from discovery.trust_region import trust_scale
from search_spaces.mpo import describe, mpo_loss
from search_spaces.search_space import params_to_unit, unit_to_params

SUMMARY_METRICS = ("return", "kl", "length", "heldout_accuracy", "logratio_chosen", "logratio_rejected")


def generation_key(seed: int, generation: int) -> jax.Array:
    return jax.random.fold_in(jax.random.key(seed), generation)


def make_generation(engine: Engine, loss_fn: Callable = mpo_loss, mesh: Mesh | None = None,
                    x0: jax.Array | None = None, scale: np.ndarray | None = None):
    """(es, es_params, generation(state, key) -> (state, xs, fitness [P], summary [P] dict, nan [P], control)).

    The whole generation is one `shard_map` over `mesh` (default: every device of every process): each
    device runs the ES step on the replicated state (the same local program whatever the device count, so
    the ES numbers do not depend on it), trains and evaluates its own slice of the population, and the
    metrics are all-gathered before the ES is told.

    `scale` (a trust region, discovery/trust_region.py): the ES moves y, the candidate is
    x = clip(x0 + scale * (y - x0)); None: x = clip(y). With `strategy.control` the start x0 is evaluated
    on the generation's own keys (every device computes it): `control` is its fitness (NaN when off), so
    the population's fitness minus `control` is a paired difference.
    """
    cfg = engine.cfg
    strat = cfg["strategy"]
    es, es_params = make_strategy(strat["name"], strat["population"], engine.space.size, strat["sigma"])
    mesh = population_mesh() if mesh is None else mesh
    check_divisible(strat["population"], mesh)
    local_size = strat["population"] // mesh.size
    local_eval = make_local_eval(engine.stages(loss_fn), engine.space, cfg["chunk"], cfg["eval_chunk"])
    to_box, from_box = box_map(x0, scale), box_inverse(x0, scale)
    control = strat["control"] and x0 is not None

    def generation(state, key):
        k_ask, k_eval, k_tell = jax.random.split(key, 3)
        ys, state = es.ask(k_ask, state, es_params)
        xs = to_box(ys)  # evaluated where the loss is defined: the box
        seed_keys = jax.random.split(k_eval, cfg["seeds"])
        mine = local_eval(local_slice(xs, local_size), seed_keys)
        metrics = gather_population(mine)
        fitness = metrics["fitness"].mean(axis=(1, 2))  # NaN if any seed or dataset failed
        # the ES is told the point it evaluated (clipping into the box is a repair), in its own coordinates
        state, _ = es.tell(k_tell, from_box(xs), es_fitness(fitness), state, es_params)
        summary = {k: jnp.nanmean(metrics[k], axis=(1, 2)) for k in SUMMARY_METRICS}
        ctrl = local_eval(x0[None], seed_keys)["fitness"].mean() if control else jnp.float32(jnp.nan)
        return state, xs, fitness, summary, ~jnp.isfinite(fitness), ctrl

    # Inputs and results are replicated on every device of every process: each process reads them.
    replicated = NamedSharding(mesh, PartitionSpec())
    sharded = shard_population(generation, mesh, PartitionSpec(), PartitionSpec())
    return es, es_params, jax.jit(sharded, in_shardings=replicated, out_shardings=replicated)


def box_map(x0: jax.Array | None, scale: np.ndarray | None) -> Callable[[jax.Array], jax.Array]:
    """The ES's coordinates -> a point of the unit cube (see make_generation)."""
    if scale is None:
        return lambda y: jnp.clip(y, 0.0, 1.0)
    x0, scale = jnp.asarray(x0, jnp.float32), jnp.asarray(scale, jnp.float32)
    return lambda y: jnp.clip(x0 + scale * (y - x0), 0.0, 1.0)


def box_inverse(x0: jax.Array | None, scale: np.ndarray | None) -> Callable[[jax.Array], jax.Array]:
    """A point of the unit cube -> the ES's coordinates (the inverse of box_map inside the box)."""
    if scale is None:
        return lambda x: x
    x0, scale = jnp.asarray(x0, jnp.float32), jnp.asarray(scale, jnp.float32)
    # a frozen coordinate (scale 0) is the start whatever the ES proposes: tell it the start there
    return lambda x: jnp.where(scale > 0, x0 + (x - x0) / jnp.where(scale > 0, scale, 1.0), x0)


class CompileCounter:
    """Counts XLA backend compilations (jax.monitoring), to show a generation compiles nothing new."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: str, duration: float, **kwargs) -> None:
        if event == self.EVENT:
            self.count += 1

    def __enter__(self) -> "CompileCounter":
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc) -> None:
        jax.monitoring.unregister_event_duration_listener(self)


def _initial_state(es, es_params, x0, dim: int, seed: int, top_k: int) -> dict[str, Any]:
    """The state before generation 0; also the restore template (same structure, shapes, dtypes)."""
    k = max(top_k, 1)
    return {
        "es_state": es.init(stream_key(seed, INIT_STREAM), x0, es_params),
        "generation": np.asarray(0, np.int32),
        "best_x": np.zeros((dim,), np.float32),
        "best_fitness": np.asarray(-np.inf, np.float32),
        "best_generation": np.asarray(-1, np.int32),
        # the top-k candidates of the whole run, for the final selection (discovery/select.py)
        "top_x": np.zeros((k, dim), np.float32),
        "top_fitness": np.full((k,), -np.inf, np.float32),
        "top_generation": np.full((k,), -1, np.int32),
        # Key of the next generation (also derivable from the seed): kept so a checkpoint is self-contained.
        "rng": np.zeros((2,), np.uint32),
    }


class NoFiniteCandidate(ValueError):
    """Every candidate of a finished search had a NaN/inf fitness: there is no loss to write."""


def run_search(
    cfg: dict[str, Any] | None,
    out: Path,
    resume: bool = False,
    quiet: bool = False,
    stop_after: int | None = None,
    report: bool = True,
    loss_fn: Callable = mpo_loss,
    trackers: Sequence[str] = (),
    allow_config_change: Sequence[str] = (),
) -> dict[str, Any]:
    """Run (or resume) a search in `out`; returns {"best_params", "best_fitness", "log", ...}.

    `trackers` ("tensorboard", "wandb") also receive every generation's log line (discovery/tracking.py).

    `stop_after` ends the call after that many generations in total (as an interruption would);
    a later `resume=True` call continues from the last checkpoint. `loss_fn(MPOParams, batch, tau)`
    replaces the MPO loss (a family over the same parameters, e.g. for fault-injection tests).
    A resume is refused when its config.json or a dataset differs from what the run was made with, except
    for the keys in `allow_config_change` (discovery/fingerprint.py SAFE_KEYS). The run directory is held by
    one process at a time (discovery/lock.py).
    """
    lock = RunLock(out)
    try:
        return _run_search(cfg, Path(out), resume, quiet, stop_after, report, loss_fn, trackers,
                           allow_config_change, lock)
    finally:
        lock.release()


def _run_search(cfg: dict[str, Any] | None, out: Path, resume: bool, quiet: bool, stop_after: int | None,
                report: bool, loss_fn: Callable, trackers: Sequence[str], allow_config_change: Sequence[str],
                lock: RunLock) -> dict[str, Any]:
    # Under jax.distributed every process runs this function; process 0 alone writes the run directory
    # (orbax coordinates the checkpoint writes itself). All processes compute the same numbers.
    primary = jax.process_index() == 0
    quiet = quiet or not primary
    if resume:
        raw = rd.read_config(out)  # a run directory (before a lock file is made in it)?
        if primary:
            lock.acquire()  # a second process on this directory is refused
        cfg = validate(raw)  # the same schema as a new run's config
        # refuses an edited config.json or a changed dataset before any work (discovery/resume.py)
        resume_at, fp = resume_point(out, cfg, allow_config_change)
    elif primary:
        rd.check_new(out)  # raises before any work: the directory is taken, a file, or not writable
    check_divisible(cfg["strategy"]["population"], population_mesh())
    engine = build_engine(cfg)  # loads and validates the datasets before anything is written
    if not resume:
        fp = fingerprint.make(cfg)
    if not resume and primary:
        rd.create(out, cfg)
        lock.acquire()
    if primary:
        fingerprint.write(out, fp)  # a new run's record, or a resume's with its allowed changes
    if jax.process_count() > 1:  # the others touch `out` (orbax) only once process 0 has created it
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("mpo: run directory created")
    space, dim = engine.space, engine.space.size
    x0 = params_to_unit(space, engine.init_point)
    radius = cfg["strategy"]["trust_region"]
    scale = None if radius is None else trust_scale(space, x0, engine.domains(), cfg["strategy"]["sigma"], radius,
                                                    cfg["seed"])
    es, es_params, generation = make_generation(engine, loss_fn, x0=x0, scale=scale)
    mngr = checkpoint.manager(out)
    state = _initial_state(es, es_params, x0, dim, cfg["seed"], cfg["select"]["top_k"])
    start, log = (resume_at if resume else 0), []
    if resume:
        if start > 0:  # else stopped before its first checkpoint: it starts at generation 0
            start, state = checkpoint.restore(mngr, state, start)
        if start >= cfg["generations"] and (out / "best.json").exists() and (not report or (out / "report.md").exists()):
            raise ValueError(f"--resume: {out} already finished all {cfg['generations']} generations; nothing to do")
        # Lines past the checkpoint belong to work that was lost; the resumed run writes them again.
        log = [line for line in rd.read_log(out) if line["generation"] < start]
        if primary:
            rd.write_log(out, log)
    total = cfg["generations"]
    end = total if stop_after is None else min(total, stop_after)

    compiled, compile_s = None, 0.0
    tracking = make_trackers(trackers, out, cfg) if primary else []
    bar = tqdm(total=total, initial=start, disable=quiet, desc="search", unit="gen", dynamic_ncols=True)
    for g in range(start, end):
        with CompileCounter() as compiles:
            key = generation_key(cfg["seed"], g)
            if compiled is None:
                t0 = time.perf_counter()
                # in a worker thread: a Ctrl-C during the (long) compile stops at once
                compiled = interrupt.call(lambda: generation.lower(state["es_state"], key).compile())
                compile_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            es_state, xs, fitness, summary, nan, control = jax.block_until_ready(compiled(state["es_state"], key))
            wall = time.perf_counter() - t0
            state = _bookkeep(state, g, es_state, np.asarray(xs), np.asarray(fitness))
            state["rng"] = np.asarray(jax.random.key_data(generation_key(cfg["seed"], g + 1)))
        line = _log_line(g, state, np.asarray(fitness), summary, nan, float(control), wall,
                         compile_s if g == start else 0.0, compiles.count)
        log.append(line)
        # The line, then its checkpoint: a kill between the two loses nothing (a resume drops a line past its
        # checkpoint and recomputes it); a Ctrl-C meanwhile takes effect once both are written.
        with interrupt.deferred():
            if primary:
                rd.append_log(out, line)
            checkpoint.save(mngr, g + 1, state, fp)
        for t in tracking:
            t.log(line, g)
        bar.update(1)
        mean = line["mean"] if line["mean"] is not None else float("nan")
        best = line["best_so_far"] if line["best_so_far"] is not None else float("nan")
        post = {"best": f"{best:.2f}", "mean": f"{mean:.2f}", "nan": line["nan_count"]}
        if line["control"] is not None:
            post["start"] = f"{line['control']:.2f}"
        bar.set_postfix(post)
    bar.close()
    mngr.close()
    for t in tracking:
        t.close()

    to_params = unit_to_params(space)
    best_params = to_params(jnp.asarray(state["best_x"]))
    result = {
        "run_dir": str(out),
        "generation": int(state["generation"]),
        "best_fitness": float(state["best_fitness"]),
        "best_generation": int(state["best_generation"]),
        "best_params": best_params,
        "mean_params": to_params(box_map(x0, scale)(es.get_mean(state["es_state"]))),
        "trust_scale": None if scale is None else scale.tolist(),
        "log": log,
    }
    if int(state["generation"]) >= total and int(state["best_generation"]) < 0:
        raise NoFiniteCandidate(
            f"search: no candidate had a finite fitness in {total} generations (all "
            f"{total * cfg['strategy']['population']} were NaN/inf: a diverging inner.learning_rate, or non-finite "
            f"dataset values?); no best.json was written; per-generation counts are in {out / rd.LOG}")
    if int(state["generation"]) >= total and cfg["select"]["top_k"] > 0:
        # every process computes the selection (the same numbers); process 0 writes it
        mean_x = np.asarray(box_map(x0, scale)(es.get_mean(state["es_state"])))
        result["selection"] = interrupt.call(lambda: select_final(engine, state, np.asarray(x0), mean_x))
        chosen = result["selection"]["candidates"][result["selection"]["chosen"]]
        result["selected_params"] = to_params(jnp.asarray(chosen["x"]))
        if not quiet:
            v = chosen["validation_fitness"]
            print(f"selection: {chosen['label']} chosen on {cfg['select']['seeds']} validation seeds "
                  f"(validation {'failed' if v is None else f'{v:.2f}'})"
                  + ("; the search found nothing better than its start" if chosen["label"] == START else ""))
    if int(state["generation"]) >= total and primary:
        _write_best(out, result, space)
        if report:
            interrupt.call(lambda: write_report(out, engine, result, quiet=quiet))
    return result


def _bookkeep(state: dict, g: int, es_state, xs: np.ndarray, fitness: np.ndarray) -> dict:
    """Host-side (numpy) update of the generation counter and the best candidate so far."""
    state = dict(state, es_state=es_state, generation=np.asarray(g + 1, np.int32))
    top = update_top(state["top_x"], state["top_fitness"], state["top_generation"], xs, fitness, g)
    state.update(top_x=top[0], top_fitness=top[1], top_generation=top[2])
    finite = np.isfinite(fitness)
    if finite.any():
        i = int(np.argmax(np.where(finite, fitness, -np.inf)))
        if fitness[i] > state["best_fitness"]:
            state.update(best_x=xs[i], best_fitness=np.asarray(fitness[i], np.float32),
                         best_generation=np.asarray(g, np.int32))
    return state


def _log_line(g: int, state: dict, fitness: np.ndarray, summary: dict, nan, control: float, wall: float,
              compile_s: float, compiles: int) -> dict[str, Any]:
    finite = np.isfinite(fitness)
    return {
        "generation": g,
        # the start point on this generation's keys (strategy.control; null when off or failed)
        "control": control if np.isfinite(control) else None,
        "best": float(np.max(fitness[finite])) if finite.any() else None,
        "mean": float(np.mean(fitness[finite])) if finite.any() else None,
        "std": float(np.std(fitness[finite])) if finite.any() else None,
        "nan_count": int(np.sum(np.asarray(nan))),
        "best_so_far": strict_json.finite_or_none(state["best_fitness"]),  # null until a candidate is finite
        "best_so_far_generation": int(state["best_generation"]),
        **{f"{k}_mean": strict_json.finite_or_none(np.nanmean(np.asarray(v))) for k, v in summary.items()},
        "wall_s": round(wall, 3),
        "compile_s": round(compile_s, 3),
        "xla_compiles": compiles,
    }


def _write_best(out: Path, result: dict[str, Any], space) -> None:
    """best.json: the final loss. With a selection, the candidate chosen on validation seeds (beside every
    candidate's search-time and validation scores); without, the best search-time candidate."""
    sel = result.get("selection")
    if sel is None:
        params, generation, fitness = result["best_params"], result["best_generation"], result["best_fitness"]
        extra: dict[str, Any] = {}
    else:
        chosen = sel["candidates"][sel["chosen"]]
        params, generation, fitness = result["selected_params"], chosen["generation"], chosen["search_fitness"]
        extra = {"chosen": chosen["label"], "validation_fitness": chosen["validation_fitness"],
                 "selection": {"seeds": sel["seeds"], "episodes": sel["episodes"], "keys": sel["keys"],
                               "candidates": [{k: v for k, v in c.items() if k != "x"} for c in sel["candidates"]]},
                 "best_search_fitness": result["best_fitness"], "best_search_generation": result["best_generation"]}
    best = {
        "format_version": rd.BEST_VERSION,
        "generation": generation,
        "fitness_during_search": fitness,
        **extra,
        "vector": np.asarray(space.to_vector(params)).tolist(),
        "vector_names": space.names(),
        "coefficients_tau0": describe(params, 0.0, compact=True),
        "coefficients_tau1": describe(params, 1.0, compact=True),
    }
    strict_json.write(out / "best.json", best)
