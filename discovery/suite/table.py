"""The suite's numbers from the per-setting results: paired differences with 95% intervals, the claimed
properties of each setting checked in numbers, a markdown table and a figure."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from discovery.report import interval

REFERENCE = "reference"
FLIP_RATES = (0.0, 0.1, 0.2, 0.3, 0.4)  # the noise claim is checked over all of them


def paired(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> tuple[float, float]:
    """Mean and 95% t-interval half-width of the per-seed difference a - b (same evaluation keys)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return interval(d[None])


def fitness(result: dict[str, Any], name: str) -> np.ndarray:
    return np.asarray(result["test"][name]["fitness"], np.float64)


def best_by_validation(result: dict[str, Any]) -> str:
    """The panel loss with the best tuned validation score: chosen without looking at the test seeds."""
    return max(result["tuned"], key=lambda n: result["tuned"][n]["validation"])


def separated_pairs(result: dict[str, Any]) -> list[tuple[str, str, float, float]]:
    """Every pair of tuned losses whose paired test interval excludes 0: (better, worse, mean, half)."""
    names = list(result["tuned"])
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            m, h = paired(fitness(result, a), fitness(result, b))
            if np.isfinite(h) and abs(m) > h:
                out.append((a, b, m, h) if m > 0 else (b, a, -m, h))
    return sorted(out, key=lambda r: -r[2])


def setting_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    ref = np.asarray(result["test"][REFERENCE]["fitness"], np.float64)
    base = result["plan"]["baseline"]
    rows = [{"loss": REFERENCE, "score": interval(ref[None]), "vs_reference": (0.0, 0.0), "vs_baseline": None}]
    for name, t in result["tuned"].items():
        f = fitness(result, name)
        rows.append({"loss": name, "beta": t["beta"], "lr": t["lr"], "validation": t["validation"],
                     "score": interval(f[None]), "vs_reference": paired(f, ref),
                     "vs_baseline": None if name == base else paired(f, fitness(result, base)),
                     "kl": float(np.nanmean(result["test"][name]["kl"])),
                     "nan": int(np.sum(result["test"][name]["nan"]))})
    return rows


def ci_text(mh: tuple[float, float] | None) -> str:
    """A paired difference as the tables print it: mean ± half-width, * where the interval excludes 0."""
    if mh is None:
        return "—"
    m, h = mh
    return f"{m:+.1f} ± {h:.1f}" + (" *" if np.isfinite(h) and abs(m) > h else "")


def _confirmed(result: dict[str, Any]) -> str:
    """How the second look chose, where the plan had one."""
    if "confirm" not in result:
        return ""
    plan = result["plan"]
    return (f", each loss's {plan['confirm_cells']} best cells then scored again on "
            f"{plan['confirm_seeds'] - plan['validation_seeds']} more ({result['seeds']['confirm']}) and chosen by "
            f"the mean of all {plan['confirm_seeds']} (the validation column)")


def setting_markdown(task: str, setting: str, result: dict[str, Any]) -> str:
    base = result["plan"]["baseline"]
    lines = [f"### {task} / {setting}", "",
             f"dataset `{result['dataset']}`; tuned on {result['plan']['validation_seeds']} validation seeds "
             f"({result['seeds']['validation']})" + _confirmed(result)
             + f", scored on {result['plan']['test_seeds']} test seeds "
             f"({result['seeds']['test']}) x {result['plan']['episodes']} episodes; inner runs of "
             f"{result['plan']['steps']} steps x {result['plan']['batch_size']} pairs"
             + (f", each flipping each training label with probability {result['label_flip']} (its own realization, "
                "the same for every loss at a seed)" if result.get("label_flip", 0.0) else "")
             + f"; {result['seconds']['total']:.0f} s"
             + (f" on {result['versions'].get('cpu', '?')}" if "versions" in result else ""),
             "", f"| loss | tuned beta | tuned lr | validation | test score | vs reference | vs tuned {base} | KL | NaN |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in setting_rows(result):
        if r["loss"] == REFERENCE:
            lines.append(f"| reference policy | | | | {r['score'][0]:.1f} ± {r['score'][1]:.1f} | | | | |")
            continue
        lines.append(f"| {r['loss']} | {r['beta']:.3g} | {r['lr']:.0e} | {r['validation']:.1f} | "
                     f"{r['score'][0]:.1f} ± {r['score'][1]:.1f} | {ci_text(r['vs_reference'])} | {ci_text(r['vs_baseline'])} | "
                     f"{r['kl']:.3f} | {r['nan']} |")
    lines.append("")
    return "\n".join(lines)


def noise_claim(task: str, results: dict[str, dict[str, Any]], curve: dict[float, str],
                how: str = "") -> dict[str, Any] | None:
    """The noise claim on one curve (flip rate -> setting); `how` names the curve in the claim. None when the
    curve has no clean point or nothing beside it."""
    base = next(iter(results.values()))["plan"]["baseline"] if results else "sigmoid"
    gains = {}
    for eps, s in sorted(curve.items()):
        if s in results:
            gains[eps] = paired(fitness(results[s], base), results[s]["test"][REFERENCE]["fitness"])
    if 0.0 not in gains or len(gains) < 2:
        return None
    rates = sorted(gains)
    seq = [gains[e][0] for e in rates]
    falls = all(b <= a for a, b in zip(seq, seq[1:]))
    drop = gains[0.0][0] - gains[0.3][0] if 0.3 in gains else float("nan")
    missing = [e for e in FLIP_RATES if e not in gains]
    # Every setting scores on the same test seeds' keys, so the change from one flip rate to the next is a
    # paired difference too: its interval says whether a step of the curve is measured at all.
    steps = [f"{a} -> {b}: {m:+.1f} ± {h:.1f}" for a, b in zip(rates, rates[1:])
             for m, h in [paired(fitness(results[curve[b]], base), fitness(results[curve[a]], base))]]
    return {"task": task, "claim": f"noise matters{how}: tuned {base}'s gain over the reference falls as the flip "
            "rate grows 0 -> 0.4, and at 0.3 it is >= 10 points below its clean gain",
            "measured": ", ".join(f"eps {e}: {g[0]:+.1f} ± {g[1]:.1f}" for e, g in sorted(gains.items()))
            + f"; clean - 0.3 = {drop:.1f}; paired steps {', '.join(steps)}"
            + (f"; not checked: eps {', '.join(map(str, missing))} not run" if missing else ""),
            "holds": bool(falls and drop >= 10 and not missing)}


def criteria(task: str, results: dict[str, dict[str, Any]], flip_settings: dict[float, str],
             separating: list[str], resampled: dict[float, str] | None = None) -> list[dict[str, Any]]:
    """The suite issue's claims for one task, each with what was measured and whether it holds. The noise
    claim is checked on the noisy datasets (one flip realization per rate) and, where run, on the RESAMPLED
    settings (every inner run its own realization, so the interval covers the draw)."""
    out = []
    clean = flip_settings.get(0.0)
    if clean in results:
        r = results[clean]
        best = best_by_validation(r)
        m, h = paired(fitness(r, best), r["test"][REFERENCE]["fitness"])
        out.append({"task": task, "claim": "clean: the best tuned zoo loss (chosen on validation) beats the "
                    "reference by >= 10 points, paired interval above 0",
                    "measured": f"{best}: {m:+.1f} ± {h:.1f}", "holds": bool(m >= 10 and m - h > 0)})
    for curve, how in ((flip_settings, ""), (resampled or {}, ", a fresh flip realization per inner run")):
        claim = noise_claim(task, results, curve, how)
        if claim is not None:
            out.append(claim)
    for s in separating:
        if s in results and len(results[s]["tuned"]) >= 2:  # a panel of one loss has no pair to separate
            pairs = separated_pairs(results[s])
            top = f"{pairs[0][0]} > {pairs[0][1]} by {pairs[0][2]:.1f} ± {pairs[0][3]:.1f}" if pairs else "none"
            out.append({"task": task, "claim": f"{s} separates the panel: >= 2 tuned losses differ, paired interval "
                        "excluding 0", "measured": f"{len(pairs)} separated pairs; largest: {top}",
                        "holds": bool(pairs)})
    return out


def plot_suite(results: dict[str, dict[str, dict[str, Any]]], out: Path) -> Path:
    """One panel per task: each tuned loss's paired difference to the reference, per setting, with 95%
    intervals (the reference is the zero line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(results)
    fig, axes = plt.subplots(len(tasks), 1, figsize=(13, 3.6 * len(tasks)), squeeze=False)
    for ax, task in zip(axes[:, 0], tasks):
        settings = list(results[task])
        panel = list(next(iter(results[task].values()))["tuned"]) if settings else []
        width = 0.8 / max(len(panel), 1)
        for j, name in enumerate(panel):
            ms, hs = zip(*[paired(fitness(results[task][s], name), results[task][s]["test"][REFERENCE]["fitness"])
                           for s in settings])
            x = np.arange(len(settings)) + (j - (len(panel) - 1) / 2) * width
            ax.errorbar(x, ms, yerr=hs, fmt="o", ms=4, capsize=2, label=name, color=f"C{j % 10}")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(np.arange(len(settings)), settings, fontsize=8)
        ax.set(ylabel="test score - reference (paired)", title=f"{task}: tuned losses vs the reference policy")
        ax.grid(alpha=0.3, axis="y")
        # outside the axes: inside, "best" placement still covered points (walker2d noisy-0.3 discopop)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
