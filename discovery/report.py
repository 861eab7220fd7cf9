"""Held-out comparison: losses re-evaluated on fresh seeds next to the reference policy and zoo losses.

Losses that are MPO points (the discovered loss, and every zoo loss that is a point) are stacked and
evaluated as one vmapped program; the others compile their own. Every entry gets the same budget.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from discovery import strict_json
from discovery.engine import Engine
from discovery.figures import plot_fitness, plot_loss_shape
from discovery.streams import TEST_STREAM, stream_key
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


def table(results: dict[str, dict[str, np.ndarray]], paired_with: Sequence[str] = ()) -> tuple[list[dict[str, Any]], str]:
    """Markdown table of the entries; for each label in `paired_with`, a column of every entry's paired
    difference to it (mean and 95% interval over seeds of the per-seed difference: the entries share their
    evaluation keys)."""
    rows, lines = [], []
    pair_cols = "".join(f" vs {p} (paired) |" for p in paired_with)
    lines.append("| loss | normalized return (95% CI) |" + pair_cols
                 + " raw return | KL(pi \\|\\| ref) | episode length | held-out acc | NaN runs |")
    lines.append("|---|---|" + "---|" * len(paired_with) + "---|---|---|---|---|")
    for label, m in results.items():
        nan_runs = int(np.sum(m["nan"])) if "nan" in m else 0
        row = {"loss": label, "nan_runs": nan_runs}
        for col in COLUMNS:
            finite = np.where(np.isfinite(m[col]), m[col], np.nan)
            row[col], row[col + "_ci95"] = interval(finite)
        cells = ""
        for p in paired_with:
            if p == label:
                cells += " — |"
                continue
            d, h = interval(np.where(np.isfinite(m["fitness"]), m["fitness"], np.nan) - results[p]["fitness"])
            row[f"vs {p}"], row[f"vs {p}_ci95"] = d, h
            cells += f" {d:+.2f} ± {h:.2f}{' *' if np.isfinite(h) and abs(d) > h else ''} |"
        rows.append(row)
        lines.append(
            f"| {label} | {row['fitness']:.2f} ± {row['fitness_ci95']:.2f} |{cells} {row['return']:.2f} | "
            f"{row['kl']:.4f} | {row['length']:.1f} | {row['heldout_accuracy']:.3f} | {nan_runs} |"
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


def start_note(cfg: dict[str, Any]) -> str:
    """Which known loss the 'vs start' column is paired against (the quick search's start is DPO, named
    `sigmoid` in the zoo as in TRL)."""
    if cfg["loss"].get("start_from"):
        return f" The 'vs start' column is paired against the final loss of {cfg['loss']['start_from']}."
    spec = get_loss(cfg["loss"]["init"])
    return f" The 'vs start' column is paired against the search's start, {spec.name}: {spec.citation}."


def selection_lines(sel: dict[str, Any] | None) -> list[str]:
    """The final selection as a markdown section: every candidate's search-time and validation score."""
    if sel is None:
        return []
    lines = [f"## Final selection ({sel['seeds']} validation seeds x {sel['episodes']} episodes: {sel['keys']})", "",
             "The search-time score of a candidate is the max of noisy evaluations; the final loss is chosen by the "
             "validation score instead.", "", "| candidate | generation | search-time fitness | validation fitness | chosen |",
             "|---|---|---|---|---|"]
    fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
    for i, c in enumerate(sel["candidates"]):
        lines.append(f"| {c['label']} | {'—' if c['generation'] is None else c['generation']} | "
                     f"{fmt(c['search_fitness'])} | {fmt(c['validation_fitness'])} | {'**yes**' if i == sel['chosen'] else ''} |")
    return lines + [""]


def _num(v: float | None) -> str:
    """A log number for the report; None is a generation in which every candidate failed (NaN)."""
    return "none finite" if v is None else f"{v:.2f}"


def write_report(out: Path, engine: Engine, result: dict[str, Any], quiet: bool = False) -> str:
    """Score the final loss on test seeds next to the reference, the search's start and the baselines,
    paired on evaluation keys."""
    cfg = engine.cfg
    rep = cfg["report"]
    sel = result.get("selection")
    start = (f"start (the final loss of {cfg['loss']['start_from']})" if cfg["loss"].get("start_from") else
             f"start ({cfg['loss']['init']}{''.join(f':{k}={v}' for k, v in cfg['loss']['init_hparams'].items())})")
    if sel is None:
        final = result["best_params"]
        entries: list[Entry] = [("discovered (best)", mpo_loss, final)]
    else:
        final = result["selected_params"]
        entries = [(f"discovered (selected: {sel['candidates'][sel['chosen']]['label']})", mpo_loss, final),
                   ("discovered (best search-time)", mpo_loss, result["best_params"])]
    entries += [("discovered (ES mean)", mpo_loss, result["mean_params"]), (start, mpo_loss, engine.init_point)]
    # A baseline that is the start itself (DPO at its defaults, the quick search's start) is the same loss on
    # the same keys: its row would repeat the start's to the digit (measured: 93.01 both) at 1/7 of the cost.
    same_as_start = (None if cfg["loss"].get("start_from") or cfg["loss"]["init_hparams"] else cfg["loss"]["init"])
    entries += [zoo_entry(name) for name in rep["baselines"] if name != same_as_start]
    key = stream_key(cfg["seed"], TEST_STREAM)
    reference = "reference policy (no fine-tuning)"
    if not quiet:
        print(f"report: scoring {len(entries)} losses + the reference on {rep['seeds']} test seeds")
    results = {reference: evaluate_reference(engine, rep["seeds"], rep["episodes"], key)}
    results.update(evaluate_entries(engine, entries, rep["seeds"], rep["episodes"], key))
    rows, md_table = table(results, paired_with=(reference, start))
    log = result["log"]
    plot_fitness([out], out / "fitness.png")
    plot_loss_shape(final, out / "loss_shape.png")
    text = "\n".join([
        f"# Search report: {cfg['name']}",
        "",
        f"- datasets: {', '.join(cfg['datasets'])}",
        f"- strategy: {cfg['strategy']['name']}, population {cfg['strategy']['population']}, "
        f"{cfg['generations']} generations, {cfg['seeds']} inner seeds, search vector {engine.space.size} coords",
        f"- inner run: {cfg['inner']['steps']} steps x {cfg['inner']['batch_size']} pairs, lr {cfg['inner']['learning_rate']}",
        f"- fitness (normalized return, best of generation): first {_num(log[0]['best'])} -> last "
        f"{_num(log[-1]['best'])}; "
        f"best so far {result['best_fitness']:.2f} (generation {result['best_generation']})",
        f"- NaN candidates during the search: {sum(line['nan_count'] for line in log)}",
        f"- compile {log[0]['compile_s']:.1f} s; search wall time {sum(line['wall_s'] for line in log):.1f} s",
        "",
        *selection_lines(sel),
        f"## Test evaluation ({rep['seeds']} test seeds x {rep['episodes']} episodes, same budget for every loss)",
        "",
        f"Test seeds: split(fold_in(key({cfg['seed']}), TEST_STREAM={TEST_STREAM}), {rep['seeds']}), disjoint from the "
        "search's generation keys and from the validation seeds of the selection. Every loss and the reference share "
        "the evaluation keys, so the 'vs' columns are paired differences (* : the 95% interval excludes 0).",
        "",
        md_table,
        "",
        score_note(cfg, engine.datasets) + " Intervals: 95% t over seeds." + start_note(cfg),
        "",
        "![fitness](fitness.png)",
        "",
        "![loss shape](loss_shape.png)",
        "",
    ])
    (out / "report.md").write_text(text)
    strict_json.write(out / "report.json", rows)  # a failed loss's NaN fitness as null
    if not quiet:
        print(md_table)
    return text
