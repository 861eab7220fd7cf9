"""experiments/reports/discovery.md from the study's cached pieces: the variant table, per target the test
table (paired differences against the best tuned zoo loss, tuned DPO and the reference), the transfer
matrix, each discovered loss's moved coefficients, closed form and ablations, and the figures."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from discovery.config import REPO  # noqa: E402
from discovery.figures import plot_loss_shape  # noqa: E402
from discovery.report import interval  # noqa: E402
from discovery.select import MEAN, START  # noqa: E402
from discovery.study.plan import BEST, DPO, VARIANTS, StudyPlan  # noqa: E402
from discovery.study.run import found_params, piece_name, transfer_specs  # noqa: E402
from discovery.suite.plan import SuitePlan  # noqa: E402
from discovery.suite.table import paired  # noqa: E402
from envs.runtime import versions  # noqa: E402
from search_spaces.mpo import describe  # noqa: E402
from search_spaces.points import mpo_point  # noqa: E402

Log = Callable[[str], None]


def fmt(m: float, h: float, star: bool = True) -> str:
    sig = star and np.isfinite(h) and abs(m) > h
    return f"{m:+.1f} ± {h:.1f}{'*' if sig else ''}"


def score(values: list[float]) -> str:
    m, h = interval(np.asarray(values, np.float64)[None])
    return f"{m:.1f} ± {h:.1f}"


def candidate(best: dict[str, Any], label: str) -> dict[str, Any] | None:
    return next((c for c in best["selection"]["candidates"] if c["label"] == label), None)


def variant_row(r: dict[str, Any]) -> dict[str, Any]:
    """What the variant table shows, from one target's result."""
    log, best = r["log"], r["best"]
    v = lambda label: (candidate(best, label) or {}).get("validation_fitness")  # noqa: E731
    disc = np.asarray(r["test"]["discovered"]["fitness"])
    start = np.asarray(r["test"][f"tuned {DPO}"]["fitness"])
    return {
        "variant": r["variant"], "dim": len(best["vector"]),
        "control": float(np.mean([line["control"] for line in log])),
        "gen0_mean": log[0]["mean"], "gen0_vs_control": log[0]["mean"] - log[0]["control"],
        "last_mean": log[-1]["mean"], "last_vs_control": log[-1]["mean"] - log[-1]["control"],
        "start_val": v(START), "mean_val": v(MEAN), "chosen": best["chosen"], "chosen_val": best["validation_fitness"],
        "best_top_val": max((c["validation_fitness"] for c in best["selection"]["candidates"]
                             if c["label"].startswith("top") and c["validation_fitness"] is not None), default=None),
        "test_vs_start": paired(disc, start),
    }


def closed_form(params, tau: float) -> str:
    """The loss at training progress tau in words of its active terms (zero terms left out)."""
    d = describe(params, tau, compact=True)
    def terms(weights: dict[str, float], arg: str) -> str:
        # the "log" mirror basis is the identity on log-probs (phi^-1 = log of e^u): written as u
        parts = [(w, arg if (name, arg) == ("log", "u") else f"{name}({arg})") for name, w in weights.items()]
        text = " ".join(f"{'−' if w < 0 else '+'} {abs(w):.3g}·{t}" for w, t in parts).removeprefix("+ ")
        return text or "0"
    score_s = "Σ_t log p" if d["lam"] == 0 else f"n^(-{d['lam']:.3g}) Σ_t log p"
    mirror = terms(d.get("mirror_w", {}), "u") + (" + PL(u)" if any(d.get("mirror_pl", []) or []) else "")
    margin = "r_w − r_l"
    if d.get("gamma"):
        margin += f" {'−' if d['gamma'] > 0 else '+'} {abs(d['gamma']):.3g}"
    if d.get("alpha"):
        margin += f" {'+' if d['alpha'] > 0 else '−'} {abs(d['alpha']):.3g}·(n_w − n_l)"
    pref = terms(d.get("link_w", {}), "z")
    if d.get("link_corr"):
        pref += " + correction(z)"
    if d.get("side_w"):
        pref += " + " + terms(d["side_w"], "r_w")
    if d.get("side_l"):
        pref += " + " + terms(d["side_l"], "r_l")
    sft = f" + {d['w_sft']:.3g}·NLL(y_w)" if d.get("w_sft") else ""
    return (f"s(y) = {score_s}; m(u) = {mirror}; r(y) = {d['beta']:.3g}·(m(s_π) − {d['c_ref']:.3g}·m(s_ref)); "
            f"z = {margin}; L = {d['scale']:.3g}·[{pref}]{sft}")


def moved(start, found, tol: float = 1e-3) -> list[str]:
    """The coefficients (natural units, tau = 0 and tau = 1) that differ between the start and the found loss."""
    out: list[str] = []
    seen: set[str] = set()  # at tau = 1, only what differs from its tau = 0 entry (a temporal slope)
    for tau in (0.0, 1.0):
        a, b = describe(start, tau), describe(found, tau)
        for k in b:
            if k == "temporal":
                continue
            va, vb = a[k], b[k]
            if isinstance(vb, dict):
                for lab in vb:
                    if abs(vb[lab] - va.get(lab, 0.0)) > tol:
                        _add(out, seen, f"{k}[{lab}] {va.get(lab, 0.0):.3g} → {vb[lab]:.3g}", tau)
            elif isinstance(vb, list):
                for i, (x, y) in enumerate(zip(va, vb)):
                    if abs(y - x) > tol:
                        _add(out, seen, f"{k}[{i}] {x:.3g} → {y:.3g}", tau)
            elif abs(vb - va) > tol * max(1.0, abs(va)):
                _add(out, seen, f"{k} {va:.3g} → {vb:.3g}", tau)
    return out


def _add(out: list[str], seen: set[str], entry: str, tau: float) -> None:
    if tau == 0.0:
        seen.add(entry)
        out.append(f"{entry} (tau=0)")
    elif entry not in seen:
        out.append(f"{entry} (tau=1)")


def plot_curves(results: dict[str, dict[str, Any]], out: Path) -> Path:
    """Per target: the population's mean and best per generation, the start on the same keys (control), and
    the best tuned zoo loss's validation score as a line."""
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(4.0 * n, 3.6), squeeze=False)
    for ax, (name, r) in zip(axes[0], results.items()):
        g = [line["generation"] for line in r["log"]]
        ax.plot(g, [line["mean"] for line in r["log"]], "C0-", label="population mean")
        ax.plot(g, [line["best"] for line in r["log"]], "C0--", lw=1, label="best of generation")
        ax.plot(g, [line["control"] for line in r["log"]], "C2-o", ms=3, label=f"start ({r['start']['loss']}), same keys")
        bz = r["best_zoo"]
        ax.axhline(r["tuned"][bz]["validation"], color="C3", ls=":", label=f"best tuned zoo ({bz}), validation")
        ax.set(title=name, xlabel="generation", ylabel="fitness (normalized)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_scores(results: dict[str, dict[str, Any]], out: Path) -> Path:
    """Test scores with 95% intervals per target: reference, tuned start, best tuned zoo, discovered."""
    fig, ax = plt.subplots(figsize=(1.9 * len(results) + 2, 3.8))
    kinds = ["reference", "tuned DPO", "best tuned zoo", "discovered"]
    for j, (name, r) in enumerate(results.items()):
        vals = [r["panel_test"]["reference"]["fitness"], r["test"][f"tuned {DPO}"]["fitness"],
                r["test"][f"tuned {r['best_zoo']}"]["fitness"], r["test"]["discovered"]["fitness"]]
        for i, v in enumerate(vals):
            m, h = interval(np.asarray(v, np.float64)[None])
            ax.errorbar(j + (i - 1.5) * 0.18, m, yerr=h, fmt="o", color=f"C{i}", capsize=3,
                        label=kinds[i] if j == 0 else None)
    ax.set_xticks(range(len(results)), list(results), fontsize=8)
    ax.set(ylabel="test score (normalized), mean ± 95%", title="Test seeds, paired keys")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def transfer_matrix(cells: dict[str, dict[str, Any]], origins: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """[origins, settings] paired mean and half-width of discovered - tuned start loss on each setting."""
    m = np.full((len(origins), len(cells)), np.nan)
    h = np.full_like(m, np.nan)
    for j, cell in enumerate(cells.values()):
        base = cell["panel_test"][cell["baseline"]]["fitness"]
        for i, o in enumerate(origins):
            if f"from {o}" in cell["test"]:
                m[i, j], h[i, j] = paired(cell["test"][f"from {o}"]["fitness"], base)
    return m, h


def plot_transfer(m: np.ndarray, h: np.ndarray, origins: list[str], settings: list[str], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(1.1 * len(settings) + 3, 0.6 * len(origins) + 2.5))
    lim = np.nanmax(np.abs(m)) if np.isfinite(m).any() else 1.0
    im = ax.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:+.0f}\n±{h[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        fontweight="bold" if abs(m[i, j]) > h[i, j] else "normal")
    ax.set_xticks(range(len(settings)), settings, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(origins)), [f"found on {o}" for o in origins], fontsize=8)
    fig.colorbar(im, label="test score: discovered − tuned DPO (paired)")
    ax.set_title("Transfer (no re-tuning); bold: interval excludes 0", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def load_pieces(plan: StudyPlan, out: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    def read(path: Path) -> dict[str, Any] | None:
        return json.loads(path.read_text()) if path.exists() else None

    def find(setting: str, variant: str, start: str) -> dict[str, Any] | None:
        if start != BEST:
            return read(out / "results" / f"{piece_name(plan.task, setting, variant, start)}.json")
        # the best panel loss of the setting: the one result of this setting and protocol started at it
        for path in sorted((out / "results").glob(f"{plan.task}__{setting}__{variant}__from-*.json")):
            r = read(path)
            if r and r["start"]["loss"] == r["best_zoo"]:
                return r
        return None

    variants = {v: find(plan.variant_setting, v, plan.variant_start) for v in plan.variants}
    targets = {s: find(s, plan.variant, plan.start) for s in plan.targets}
    transfer = {f"{t}/{s}": read(out / "transfer" / f"{t}__{s}.json") for t, s in transfer_specs(plan)}
    return ({k: v for k, v in variants.items() if v}, {k: v for k, v in targets.items() if v},
            {k: v for k, v in transfer.items() if v})


CURVES, SCORES, TRANSFER = "curves.png", "scores.png", "transfer.png"


def figure_dir(report: Path) -> Path:
    """A report's figures: a folder named after it (discovery.md -> discovery/), so reports keep their own."""
    return report.parent / report.stem


def shape_png(report: Path, setting: str) -> Path:
    return figure_dir(report) / f"shape_{setting}.png"


def report_outputs(plan: StudyPlan, report: Path) -> list[Path]:
    """Every file `write_study_report` may write for `plan` (checked before a study starts)."""
    figures = figure_dir(report)
    return [report, report.with_suffix(".json"), *(figures / f for f in (CURVES, SCORES, TRANSFER)),
            *(shape_png(report, s) for s in plan.targets)]


def write_study_report(plan: StudyPlan, suite: SuitePlan, out: Path, suite_cache: Path, report: Path,
                       log: Log = print, command: str = "mpo study", intro: str = "") -> dict[str, Any]:
    variants, targets, transfer = load_pieces(plan, out)
    if not (variants or targets or transfer):
        raise FileNotFoundError(f"--out {out}: no finished study piece (results/*.json, transfer/*.json) of this plan "
                                "to report; run `mpo study --stage targets` (or all) first")
    fig_dir = figure_dir(report)
    fig_dir.mkdir(parents=True, exist_ok=True)
    where = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    L = ["# Discovery study", "", f"Produced by `{command}` (resumable; pieces under `{where}/`).", ""]
    if intro:
        L += [intro.strip(), ""]
    first = "the best tuned panel loss of its setting (by validation)" if plan.start == "best" else f"tuned {plan.start}"
    L += [f"Protocol: on {plan.task}, every target's search starts at {first} (its tuned beta, and its tuned "
          f"learning rate for every inner run; the variant table starts at tuned {plan.variant_start}), CMA-ES population {plan.population} + the start as a control on "
          f"the same keys, {plan.generations} generations x {plan.seeds} inner seeds x {plan.episodes} episodes "
          f"({suite.steps} steps x {suite.batch_size} pairs). Final selection: the top {plan.top_k} of the run, "
          f"the ES mean and the start re-scored on {plan.select_seeds} validation seeds x {plan.select_episodes} "
          f"episodes. Test: {suite.test_seeds} test seeds x {suite.episodes} episodes, the suite's own test keys, "
          "so every difference is paired (mean ± 95% t-interval over seeds; * excludes 0). Baselines are the "
          "suite's panel tuned on validation seeds (`experiments/reports/suite.md`); the best tuned zoo loss is the "
          "one with the best validation score (chosen without the test seeds).", ""]
    summary: dict[str, Any] = {"plan": plan.to_json(), "suite_plan": suite.to_json(), "variants": {},
                               "targets": {}, "transfer": {}}
    if variants:
        L += [f"## Search protocols, compared on {plan.task}/{plan.variant_setting}", "",
              "Search-time numbers are means over the generation's keys; 'vs start' is paired with the start "
              "evaluated on the same keys. Validation numbers are the final selection's (8 seeds x 8 episodes, "
              "the same keys for every candidate).", "",
              "| variant | dims | start (search-time, mean of gens) | gen-0 mean | gen-0 vs start | last-gen mean | "
              "last vs start | start (val) | ES mean (val) | best top-k (val) | chosen (val) | chosen − tuned DPO, test |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, r in variants.items():
            row = variant_row(r)
            summary["variants"][name] = row
            f = lambda x: "—" if x is None else f"{x:.1f}"  # noqa: E731
            L.append(f"| {name} ({_variant_words(name)}) | {row['dim']} | {row['control']:.1f} | {row['gen0_mean']:.1f} | "
                     f"{row['gen0_vs_control']:+.1f} | {row['last_mean']:.1f} | {row['last_vs_control']:+.1f} | "
                     f"{f(row['start_val'])} | {f(row['mean_val'])} | {f(row['best_top_val'])} | "
                     f"{row['chosen']} {f(row['chosen_val'])} | {fmt(*row['test_vs_start'])} |")
        L.append("")
    radius_file = out / "radius.jsonl"
    if radius_file.exists():
        rows = [json.loads(x) for x in radius_file.read_text().splitlines() if x.strip()]
        L += [f"### Generation 0 against the trust-region radius ({plan.task}/{plan.variant_setting}, from tuned "
              f"{plan.variant_start}; `python -m experiments.study_radius R...`)", "",
              "One generation, population 8, the same keys for every candidate and the start (control); the std "
              "is over the 8 candidates.", "",
              "| radius | gen-0 mean | vs start | best | std over candidates | start (same keys) |", "|---|---|---|---|---|---|"]
        for row in sorted(rows, key=lambda x: x["radius"]):
            L.append(f"| {row['radius']:g} | {row['mean']:.1f} | {row['mean'] - row['control']:+.1f} | "
                     f"{row['best']:.1f} | {row['std']:.1f} | {row['control']:.1f} |")
        summary["radius"] = rows
        L.append("")
    if variants:
        L += noise_lines(variants, radius_file)
    if targets:
        L += ["## Targets: the discovered loss against the tuned panel, on test seeds", "",
              "| setting | reference | tuned DPO | best tuned zoo (val) | discovered (chosen) | discovered − best zoo | "
              "discovered − DPO | discovered − reference | beats best zoo |",
              "|---|---|---|---|---|---|---|---|---|"]
        wins = 0
        for s, r in targets.items():
            disc = r["test"]["discovered"]["fitness"]
            dpo = r["test"][f"tuned {DPO}"]["fitness"]
            bz = r["test"][f"tuned {r['best_zoo']}"]["fitness"]
            ref = r["panel_test"]["reference"]["fitness"]
            vs_bz, vs_dpo, vs_ref = paired(disc, bz), paired(disc, dpo), paired(disc, ref)
            win = vs_bz[0] - vs_bz[1] > 0
            wins += win
            summary["targets"][s] = {"vs_best_zoo": vs_bz, "vs_dpo": vs_dpo, "vs_reference": vs_ref,
                                     "best_zoo": r["best_zoo"], "chosen": r["best"]["chosen"], "beats": bool(win)}
            L.append(f"| {s} | {score(ref)} | {score(dpo)} | {r['best_zoo']}: {score(bz)} | {score(disc)} "
                     f"({r['best']['chosen']}) | {fmt(*vs_bz)} | {fmt(*vs_dpo)} | {fmt(*vs_ref)} | "
                     f"{'yes' if win else 'no'} |")
        L += ["", f"**Goal (discovered beats the best tuned zoo loss, paired interval above 0, on >= 3 of 5 targets): "
              f"{wins} of {len(targets)} → {'met' if wins >= 3 else 'not met'}.**", "",
              f"![fitness curves]({fig_dir.name}/{plot_curves(targets, fig_dir / CURVES).name})", "",
              f"![test scores]({fig_dir.name}/{plot_scores(targets, fig_dir / SCORES).name})", ""]
        summary["wins"] = wins
    if transfer and targets:
        origins = list(targets)
        m, h = transfer_matrix(transfer, origins)
        png = plot_transfer(m, h, origins, list(transfer), fig_dir / TRANSFER)
        L += ["## Transfer: each discovered loss on every setting, no re-tuning, against tuned DPO there", "",
              "| found on \\ scored on | " + " | ".join(transfer) + " |", "|---|" + "---|" * len(transfer)]
        for i, o in enumerate(origins):
            L.append(f"| {o} | " + " | ".join("—" if not np.isfinite(m[i, j]) else
                                                ("(own) " if list(transfer)[j] == f"{plan.task}/{o}" else "")
                                                + fmt(m[i, j], h[i, j]) for j in range(m.shape[1])) + " |")
        held = [(i, j) for i, o in enumerate(origins) for j, k in enumerate(transfer)
                if k != f"{plan.task}/{o}" and np.isfinite(m[i, j])]
        worse = [(origins[i], list(transfer)[j]) for i, j in held if m[i, j] + h[i, j] < 0]
        L += ["", f"Held-out cells: {len(held)}; significantly worse than tuned DPO there: {len(worse)}"
              + (" (" + "; ".join(f"{a} → {b}" for a, b in worse) + ")" if worse else "") + ".", "",
              f"![transfer]({fig_dir.name}/{png.name})", ""]
        summary["transfer"] = {"settings": list(transfer), "origins": origins, "mean": m.tolist(), "half": h.tolist(),
                               "worse": worse}
    for s, r in targets.items():
        start = mpo_point(r["start"]["loss"], beta=r["start"]["beta"])
        found = found_params(r["config"], r["best"])
        png = plot_loss_shape(found, shape_png(report, s), label=f"found on {s}")
        L += [f"## The loss found on {plan.task}/{s}", "",
              f"Chosen: {r['best']['chosen']} (validation {r['best']['validation_fitness']:.1f}; search-time "
              f"{'—' if r['best']['fitness_during_search'] is None else format(r['best']['fitness_during_search'], '.1f')}). "
              f"Start: tuned {r['start']['loss']} (beta {r['start']['beta']:.3g}, lr {r['start']['lr']:g}).", "",
              "- closed form, tau = 0: " + closed_form(found, 0.0),
              "- closed form, tau = 1: " + closed_form(found, 1.0),
              "- coefficients moved from the start: " + ("; ".join(moved(start, found)) or "none (the start was chosen)"),
              "- ablations on test seeds (paired with the discovered loss):"]
        disc = r["test"]["discovered"]["fitness"]
        for a in ("no temporal", "no SFT"):
            L.append(f"  - {a}: {score(r['test'][a]['fitness'])}; discovered − {a}: {fmt(*paired(disc, r['test'][a]['fitness']))}")
        L += [f"- pairing check: the tuned losses re-scored in the study's program differ from the suite's numbers by at "
              f"most {max(r['rescored_max_abs_diff'].values()):.2g} points per seed", "",
              f"![shape]({fig_dir.name}/{png.name})", ""]
    L += ["## Environment", "", "```", json.dumps(versions(), indent=1), "```", ""]
    report.write_text("\n".join(L))
    report.with_suffix(".json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    log(f"wrote {report}")
    return summary


def noise_lines(variants: dict[str, dict[str, Any]], radius_file: Path) -> list[str]:
    """How noisy one fitness evaluation is, against the differences the search must resolve."""
    r = next(iter(variants.values()))
    start = np.asarray(r["test"][f"tuned {DPO}"]["fitness"], np.float64)
    bz = np.asarray(r["test"][f"tuned {r['best_zoo']}"]["fitness"], np.float64)
    ctrl = np.asarray([line["control"] for line in r["log"]], np.float64)
    gap = float(np.mean(bz - start))
    lines = ["### Fitness noise against the differences to resolve", "",
             f"- one test seed ({r['suite_plan']['episodes']} episodes) of tuned {DPO}: std {start.std(ddof=1):.1f} "
             f"points across seeds; the start's search-time fitness ({r['config']['seeds']} seeds x "
             f"{r['config']['eval']['episodes']} episodes) across generations: std {ctrl.std(ddof=1):.1f}",
             f"- the gap the search must close on this setting (best tuned zoo {r['best_zoo']} − tuned {DPO}, test): "
             f"{gap:+.1f}"]
    if radius_file.exists():
        rows = sorted((json.loads(x) for x in radius_file.read_text().splitlines() if x.strip()), key=lambda x: x["radius"])
        small = rows[0]
        lines.append(f"- candidates within radius {small['radius']:g} of the start, on the very same keys, still spread "
                     f"with std {small['std']:.1f}: a loss that moves the gradient direction by "
                     f"{small['radius']:g} gives another fine-tuned policy and other episodes, so common random "
                     "numbers do not make nearby candidates comparable; resolving a 10-point difference at 2 "
                     f"standard errors takes about {(2 * small['std'] / 10) ** 2:.0f} such evaluations per candidate")
    return lines + [""]


def _variant_words(name: str) -> str:
    v = VARIANTS[name]
    tr = "isotropic sigma" if v["trust_region"] is None else f"trust region r={v['trust_region']}"
    after = f", from the {v['after']} search's loss" if "after" in v else ""
    return f"{tr}, {'full vector' if v['fields'] is None else 'subspace'}{after}"
