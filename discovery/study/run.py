"""The study's pieces, each resumable: a finished piece is a JSON file (or a finished run directory) that a
rerun reuses; a killed search resumes from its last checkpoint.

Per target setting: the suite's tuned panel (discovery/suite: reused from its cache, computed if missing),
a search started at the tuned start loss (its beta; its learning rate for every inner run), the final
selection on validation seeds (discovery/select.py), and a test on the suite's own test seeds (the same
evaluation keys, so every difference against the tuned panel and the reference is paired).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from discovery import checkpoint
from discovery.config import make_config
from discovery.search import run_search
from discovery.streams import TEST_STREAM, stream_key
from discovery.study.plan import BEST, DPO, VARIANTS, StudyPlan
from discovery.suite.evaluate import METRICS, setting_engine
from discovery.suite.plan import SuitePlan, recorded_plan
from discovery.suite.run import run_suite
from discovery.suite.table import best_by_validation
from discovery.engine import search_space
from discovery.population import make_params_eval
from envs.mujoco import tasks
from search_spaces.mpo import MPOCoeffs, MPOParams, mpo_loss
from search_spaces.points import mpo_point

Log = Callable[[str], None]


def dataset_dir(task: str, setting: str) -> Path:
    return tasks.DATA_DIR / task / setting


def write_json(path: Path, value: Any) -> None:
    """Atomically: a kill never leaves a half-written piece that a rerun would trust."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(tmp, path)


def suite_result(task: str, setting: str, suite: SuitePlan, cache: Path, log: Log) -> dict[str, Any]:
    """The tuned panel of one setting: the suite's cached result (computed and cached when missing)."""
    return run_suite([(task, setting, dataset_dir(task, setting))], suite, cache, log)[task][setting]


def piece_name(task: str, setting: str, variant: str, start: str) -> str:
    """A result's and its run directory's name: one per (setting, protocol, start loss)."""
    return f"{task}__{setting}__{variant}__from-{start}"


def start_loss(start: str, panel: dict[str, Any]) -> str:
    return best_by_validation(panel) if start == BEST else start


def search_config(plan: StudyPlan, suite: SuitePlan, setting: str, tuned: dict[str, Any],
                  variant: str, start_name: str, start_from: str | None = None) -> dict[str, Any]:
    """The search of one target: the plan's budget, the variant's protocol, started at the tuned start (or,
    for a second stage, at the final loss of the `start_from` run, trained at the start's learning rate)."""
    v = VARIANTS[variant]
    start = tuned[start_name]
    return make_config({
        "name": f"study-{plan.task}-{setting}-{variant}",
        "seed": plan.seed,
        "datasets": [tasks.repo_relative(dataset_dir(plan.task, setting))],
        "generations": plan.generations,
        "seeds": plan.seeds,
        "strategy": {"name": "cma_es", "population": plan.population, "sigma": v["sigma"], "control": True,
                     "trust_region": v["trust_region"]},
        "loss": {"init": start_name, "init_hparams": {"beta": start["beta"]}, "fields": v["fields"],
                 "temporal": v["temporal"], "start_from": start_from},
        "inner": {"steps": suite.steps, "batch_size": suite.batch_size, "learning_rate": start["lr"],
                  "max_grad_norm": 1.0},
        "eval": {"episodes": plan.episodes},
        "select": {"top_k": plan.top_k, "seeds": plan.select_seeds, "episodes": plan.select_episodes},
    })


def searched(run: Path, cfg: dict[str, Any], log: Log, trackers: Sequence[str] = ()) -> dict[str, Any]:
    """Run, resume or reuse the search in `run`; returns its best.json and log lines."""
    best = run / "best.json"
    # compared after the defaults are filled in: a key added to the config since leaves old runs reusable
    if (run / "config.json").exists() and make_config(json.loads((run / "config.json").read_text())) != cfg:
        raise ValueError(f"study: {run} holds a search with another config than this plan's; move it away "
                         "(or restore the plan it was made with)")
    if not best.exists():
        has_checkpoint = (run / "checkpoints").exists() and checkpoint.manager(run).latest_step() is not None
        if run.exists() and not has_checkpoint:
            # stopped before its first checkpoint: nothing of value was written (config and versions only)
            shutil.rmtree(run)
        log(f"  search: {'resuming' if has_checkpoint else 'starting'} {run}")
        run_search(None if has_checkpoint else cfg, run, resume=has_checkpoint, report=False, trackers=trackers)
    else:
        log(f"  search: reusing {run}")
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x.strip()]
    return {"best": json.loads(best.read_text()), "log": lines}


def found_params(cfg: dict[str, Any], best: dict[str, Any]) -> MPOParams:
    space = search_space(cfg)
    return space.from_vector(jnp.asarray(best["vector"], jnp.float32))


def ablations(params: MPOParams) -> dict[str, MPOParams]:
    """The found loss, its temporal part removed (every slope 0), its SFT term removed (w_sft 0 at every tau)."""
    zero_slope = MPOCoeffs(**{k: jnp.zeros_like(v) for k, v in params.slope._asdict().items()})
    no_sft = MPOParams(base=params.base._replace(w_sft=jnp.zeros_like(params.base.w_sft)),
                       slope=params.slope._replace(w_sft=jnp.zeros_like(params.slope.w_sft)))
    return {"discovered": params, "no temporal": MPOParams(params.base, zero_slope), "no SFT": no_sft}


def evaluate_points(dataset: str, suite: SuitePlan, points: dict[str, tuple[MPOParams, float]]) -> dict[str, dict]:
    """name -> metric -> [test seeds]: every (loss point, learning rate) on the suite's test keys of `dataset`
    (the keys the suite's tuned panel and reference were scored on), as one program."""
    engine = setting_engine(dataset, suite)
    names = list(points)
    params = jax.tree.map(lambda *x: jnp.stack([jnp.asarray(a, jnp.float32) for a in x]),
                          *[points[n][0] for n in names])
    lrs = jnp.asarray([points[n][1] for n in names], jnp.float32)
    keys = jax.random.split(stream_key(suite.seed, TEST_STREAM), suite.test_seeds)
    out = jax.jit(make_params_eval(engine.stages(mpo_loss), suite.chunk))(params, keys, lrs)
    return {n: {k: np.asarray(out[k][i, 0]).tolist() for k in METRICS} for i, n in enumerate(names)}


def run_target(plan: StudyPlan, suite: SuitePlan, setting: str, variant: str, out: Path, suite_cache: Path,
               log: Log = print, trackers: Sequence[str] = (), start: str | None = None) -> dict[str, Any]:
    """One target setting: tuned panel, search (from `start`, default the plan's), selection, test. Cached as
    results/TASK__SETTING__VARIANT.json."""
    panel = suite_result(plan.task, setting, suite, suite_cache, log)
    start_name = start_loss(plan.start if start is None else start, panel)
    start_from = None
    if "after" in VARIANTS[variant]:  # a second stage: the first stage's piece first (reused when finished)
        first = run_target(plan, suite, setting, VARIANTS[variant]["after"], out, suite_cache, log, trackers, start)
        start_from = tasks.repo_relative(out / "runs" / piece_name(plan.task, setting, first["variant"], start_name))
    cfg = search_config(plan, suite, setting, panel["tuned"], variant, start_name, start_from)
    name = piece_name(plan.task, setting, variant, start_name)
    path = out / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        old = json.loads(path.read_text())
        if make_config(old["config"]) == cfg and recorded_plan(old["suite_plan"]) == suite.to_json() and old["checksum"] == panel["checksum"]:
            log(f"{plan.task}/{setting} [{variant}]: reusing {path}")
            return old
        log(f"{plan.task}/{setting} [{variant}]: {path} was made with another search config; recomputing")
    log(f"{plan.task}/{setting} [{variant}]")
    run = out / "runs" / name
    s = searched(run, cfg, log, trackers)
    found = found_params(cfg, s["best"])
    best_zoo = best_by_validation(panel)
    lr = panel["tuned"][start_name]["lr"]
    points = {name: (p, lr) for name, p in ablations(found).items()}
    baselines = list(dict.fromkeys([DPO, start_name, best_zoo]))
    for name in baselines:  # re-scored here: a check of the pairing with the cache
        t = panel["tuned"][name]
        points[f"tuned {name}"] = (mpo_point(name, beta=t["beta"]), t["lr"])
    log(f"  test: {len(points)} losses x {suite.test_seeds} test seeds")
    test = evaluate_points(panel["dataset"], suite, points)
    rescored = {n: float(np.max(np.abs(np.asarray(test[f"tuned {n}"]["fitness"]) -
                                       np.asarray(panel["test"][n]["fitness"]))))
                for n in baselines}
    result = {
        "task": plan.task, "setting": setting, "variant": variant, "plan": plan.to_json(),
        "suite_plan": suite.to_json(), "dataset": panel["dataset"], "checksum": panel["checksum"],
        "config": cfg, "run_dir": tasks.repo_relative(run), "best": s["best"], "log": s["log"],
        "start": {"loss": start_name, **panel["tuned"][start_name]}, "best_zoo": best_zoo,
        "tuned": panel["tuned"], "panel_test": panel["test"], "test": test,
        # the tuned losses re-scored in this program against the suite's own numbers on the same keys
        # (0 up to float rounding when the pairing holds; a change of batch shape may move the last bits)
        "rescored_max_abs_diff": rescored,
    }
    write_json(path, result)
    return result


def transfer_specs(plan: StudyPlan) -> list[tuple[str, str]]:
    """(task, setting) of every transfer target whose dataset exists: the other targets of the plan's task,
    the same settings of each transfer task, and the text domain's setting."""
    specs = [(plan.task, s) for s in plan.targets]
    specs += [(t, s) for t in plan.transfer_tasks for s in plan.targets]
    if plan.text_setting:
        specs.append(("text", plan.text_setting))
    return [(t, s) for t, s in specs if (dataset_dir(t, s) / "manifest.json").exists()]


def text_suite(suite: SuitePlan) -> SuitePlan:
    """The text domain has no suite table: tune just the start loss there (same grid and seeds)."""
    from discovery.suite.plan import suite_plan

    fields = suite.to_json()
    fields.update(panel=("sigmoid", "ipo_sum"), baseline="sigmoid")
    return suite_plan(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def run_transfer(plan: StudyPlan, suite: SuitePlan, targets: dict[str, dict[str, Any]], out: Path,
                 suite_cache: Path, log: Log = print) -> dict[str, Any]:
    """Every discovered loss (its parameters and its learning rate, no re-tuning) on every transfer setting,
    on that setting's test keys, next to that setting's tuned start loss. Cached per setting."""
    losses = {s: (found_params(r["config"], r["best"]), r["start"]["lr"]) for s, r in targets.items()}
    cells = {}
    for task, setting in transfer_specs(plan):
        path = out / "transfer" / f"{task}__{setting}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        sp = text_suite(suite) if task == "text" else suite
        tag = {"suite_plan": sp.to_json(), "losses": sorted(losses),
               "found": {s: {"vector": r["best"]["vector"], "config": r["config"]} for s, r in targets.items()}}
        if path.exists() and {k: v for k, v in json.loads(path.read_text()).items() if k in tag} == tag:
            log(f"transfer {task}/{setting}: reusing {path}")
            cells[f"{task}/{setting}"] = json.loads(path.read_text())
            continue
        log(f"transfer {task}/{setting}: {len(losses)} discovered losses x {sp.test_seeds} test seeds")
        panel = suite_result(task, setting, sp, suite_cache, log)
        test = evaluate_points(panel["dataset"], sp, {f"from {s}": v for s, v in losses.items()})
        cell = {**tag, "task": task, "setting": setting, "test": test, "panel_test": panel["test"],
                "tuned": panel["tuned"], "baseline": DPO}
        write_json(path, cell)
        cells[f"{task}/{setting}"] = cell
    return cells
