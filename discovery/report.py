"""Held-out comparison: losses re-evaluated on fresh seeds next to the reference policy and zoo losses.

Losses that are MPO points (the discovered loss, and every zoo loss that is a point) are stacked and
evaluated as one vmapped program; the others compile their own. Every entry gets the same budget.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from discovery.engine import Engine
from discovery.figures import plot_fitness, plot_loss_shape
from discovery.streams import HELDOUT_STREAM, stream_key
from search_spaces.mpo import MPOParams, mpo_loss
from search_spaces.points import mpo_point, point_names
from search_spaces.registry import get_loss

COLUMNS = ("fitness", "return", "kl", "length", "heldout_accuracy")
Entry = tuple[str, Callable, Any]  # (label, loss_fn, loss params)


def zoo_entry(name: str) -> Entry:
    """A zoo loss with its defaults: as an MPO point when it is one (so it shares the stacked program)."""
    if name in point_names():
        return (name, mpo_loss, mpo_point(name))
    spec = get_loss(name)
    return (name, spec.fn, spec.params())


def evaluate_entries(engine: Engine, entries: Sequence[Entry], seeds: int, episodes: int,
                     key: jax.Array) -> dict[str, dict[str, np.ndarray]]:
    """label -> metric -> [n_datasets, seeds]; all entries see the same seeds."""
    keys = jax.random.split(key, seeds)
    out: dict[str, dict[str, np.ndarray]] = {}
    mpo_entries = [e for e in entries if isinstance(e[2], MPOParams)]
    if mpo_entries:
        stacked = jax.tree.map(lambda *x: jnp.stack(x), *[e[2] for e in mpo_entries])
        runs = engine.runs(mpo_loss, episodes)
        per_ds = [jax.jit(jax.vmap(jax.vmap(run, (None, 0)), (0, None)))(stacked, keys) for run in runs]
        for i, (label, _, _) in enumerate(mpo_entries):
            out[label] = {k: np.stack([np.asarray(m[k][i]) for m in per_ds]) for k in per_ds[0]}
    for label, fn, params in entries:
        if isinstance(params, MPOParams):
            continue
        per_ds = [jax.jit(jax.vmap(run, (None, 0)))(params, keys) for run in engine.runs(fn, episodes)]
        out[label] = {k: np.stack([np.asarray(m[k]) for m in per_ds]) for k in per_ds[0]}
    return {label: out[label] for label, _, _ in entries}


def evaluate_reference(engine: Engine, seeds: int, episodes: int | None, key: jax.Array) -> dict[str, np.ndarray]:
    """The reference policy itself (no fine-tuning), on the same evaluation seeds."""
    keys = jax.random.split(key, seeds)
    rows = []
    for dom in engine.domains(episodes):
        # The run's key is split into (train, eval); use the same eval keys as the fine-tuned policies.
        ev = jax.jit(jax.vmap(lambda k, dom=dom: dom.evaluate(dom.init_params, jax.random.split(k)[1])))(keys)
        rows.append({"fitness": np.asarray(ev["score"]), "return": np.asarray(ev["return"]),
                     "length": np.asarray(ev["length"]), "kl": np.zeros(seeds), "heldout_accuracy": np.full(seeds, np.nan)})
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95% t-interval half-width over seeds (values: [n_datasets, seeds], datasets averaged)."""
    per_seed = np.mean(values, axis=0)
    n = per_seed.size
    mean = float(np.mean(per_seed))
    half = float(stats.t.ppf(0.975, n - 1) * np.std(per_seed, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return mean, half


def table(results: dict[str, dict[str, np.ndarray]]) -> tuple[list[dict[str, Any]], str]:
    rows, lines = [], []
    lines.append("| loss | normalized return (95% CI) | raw return | KL(pi \\|\\| ref) | episode length | held-out acc | NaN runs |")
    lines.append("|---|---|---|---|---|---|---|")
    for label, m in results.items():
        nan_runs = int(np.sum(m["nan"])) if "nan" in m else 0
        row = {"loss": label, "nan_runs": nan_runs}
        for col in COLUMNS:
            finite = np.where(np.isfinite(m[col]), m[col], np.nan)
            row[col], row[col + "_ci95"] = interval(finite)
        rows.append(row)
        lines.append(
            f"| {label} | {row['fitness']:.2f} ± {row['fitness_ci95']:.2f} | {row['return']:.2f} | {row['kl']:.4f} | "
            f"{row['length']:.1f} | {row['heldout_accuracy']:.3f} | {nan_runs} |"
        )
    return rows, "\n".join(lines)


def score_note(cfg: dict[str, Any], datasets: Sequence[Any]) -> str:
    """What the fitness column means for the datasets' domains."""
    notes = []
    mujoco = [ds for ds in datasets if ds.domain == "mujoco"]
    if mujoco:
        lengths = [ds.manifest["properties"]["episode_length"] for ds in mujoco]
        notes.append(
            "MuJoCo: normalized return 100 * (R - R_random) / (R_expert - R_random), with R_random and R_expert "
            f"measured over {', '.join(sorted({str(x) for x in lengths}))}-step episodes"
            + (f"; this search evaluated {cfg['eval']['episode_length']}-step episodes, so its scores are not on "
               "that 0-100 scale" if cfg["eval"]["episode_length"] not in (None, *lengths) else "") + ".")
    if len(mujoco) < len(datasets):
        notes.append("Text: score 100 * (R - R_sft) / (R_opt - R_sft) of the mean true reward R of sampled "
                     "responses on held-out prompts (0 = the SFT policy, 100 = the best achievable); "
                     "'raw return' is R, 'episode length' the mean response length in tokens, KL is estimated "
                     "from the samples.")
    return " ".join(notes)


def write_report(out: Path, engine: Engine, result: dict[str, Any], quiet: bool = False) -> str:
    """Re-evaluate the discovered loss on held-out seeds next to the reference and the baselines."""
    cfg = engine.cfg
    rep = cfg["report"]
    entries: list[Entry] = [("discovered (best)", mpo_loss, result["best_params"]),
                            ("discovered (ES mean)", mpo_loss, result["mean_params"])]
    entries += [zoo_entry(name) for name in rep["baselines"]]
    key = stream_key(cfg["seed"], HELDOUT_STREAM)
    if not quiet:
        print(f"report: re-evaluating {len(entries)} losses + the reference on {rep['seeds']} held-out seeds")
    results = {"reference policy (no fine-tuning)": evaluate_reference(engine, rep["seeds"], rep["episodes"], key)}
    results.update(evaluate_entries(engine, entries, rep["seeds"], rep["episodes"], key))
    rows, md_table = table(results)
    log = result["log"]
    plot_fitness([out], out / "fitness.png")
    plot_loss_shape(result["best_params"], out / "loss_shape.png")
    text = "\n".join([
        f"# Search report: {cfg['name']}",
        "",
        f"- datasets: {', '.join(cfg['datasets'])}",
        f"- strategy: {cfg['strategy']['name']}, population {cfg['strategy']['population']}, "
        f"{cfg['generations']} generations, {cfg['seeds']} inner seeds, search vector {engine.space.size} coords",
        f"- inner run: {cfg['inner']['steps']} steps x {cfg['inner']['batch_size']} pairs, lr {cfg['inner']['learning_rate']}",
        f"- fitness (normalized return, best of generation): first {log[0]['best']:.2f} -> last {log[-1]['best']:.2f}; "
        f"best so far {result['best_fitness']:.2f} (generation {result['best_generation']})",
        f"- NaN candidates during the search: {sum(line['nan_count'] for line in log)}",
        f"- compile {log[0]['compile_s']:.1f} s; search wall time {sum(line['wall_s'] for line in log):.1f} s",
        "",
        f"## Held-out evaluation ({rep['seeds']} fresh seeds x {rep['episodes']} episodes, same budget for every loss)",
        "",
        md_table,
        "",
        score_note(cfg, engine.datasets) + " Intervals: 95% t over seeds.",
        "",
        "![fitness](fitness.png)",
        "",
        "![loss shape](loss_shape.png)",
        "",
    ])
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps(rows, indent=2) + "\n")
    if not quiet:
        print(md_table)
    return text
