"""Duality-gap summaries shared by `mpo games run` and experiments/magnetic.py: intervals, rates, plots."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

# float32 duality gaps bottom out near 1e-7; plotting below this floor would only show rounding.
DG_FLOOR = 1e-8


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval over all entries of x."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < 2:
        return float(x.mean()), float("nan")
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(x.mean()), float(half)


def fit_linear_rate(dg: np.ndarray, lo: float = 1e-6, hi: float = 1e-1) -> np.ndarray:
    """Per-run rate r of DG_t ~ c exp(-r t), least squares on log DG over the points with lo < DG < hi.

    dg has shape (..., T); returns shape (...), NaN where fewer than 10 points fall in the window (a run
    that never enters it has no linear phase to measure).
    """
    flat = dg.reshape(-1, dg.shape[-1]).astype(np.float64)
    t = np.arange(dg.shape[-1], dtype=np.float64)
    rates = np.full(flat.shape[0], np.nan)
    for i, row in enumerate(flat):
        ok = (row > lo) & (row < hi)
        if ok.sum() >= 10:
            rates[i] = -np.polyfit(t[ok], np.log(row[ok]), 1)[0]
    return rates.reshape(dg.shape[:-1])


def checkpoints_for(steps: int) -> list[int]:
    """Default table columns: 1, 3, 10, 30, ... up to and including `steps`."""
    marks = sorted({m for e in range(7) for m in (10 ** e, 3 * 10 ** e) if m < steps} | {steps})
    return marks


def dg_table(curves: dict[str, np.ndarray], checkpoints: list[int], x_label: str = "iteration") -> str:
    """Markdown table: per algorithm, mean last-iterate DG and 95% interval over games x seeds."""
    head = "| algorithm | " + " | ".join(f"{x_label} {c}" for c in checkpoints) + " |"
    lines = [head, "|" + "---|" * (len(checkpoints) + 1)]
    for name, dg in curves.items():
        cells = []
        for c in checkpoints:
            m, h = mean_ci(dg[..., c])
            cells.append(f"{m:.2e} ± {h:.1e}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_dg_curves(curves: dict[str, np.ndarray], path: Path, title: str, x_label: str = "iteration",
                   x_scale: float = 1.0) -> None:
    """Log-scale DG against iterations: median over games x seeds with the 25-75% band.

    The median, not the mean: on a log scale the mean of runs converging at different linear rates
    tracks only the slowest run, hiding the rate the tables report.
    """
    fig, ax = plt.subplots(figsize=(7, 4.2))
    lowest = 1.0
    for name, dg in curves.items():
        runs = np.maximum(dg.reshape(-1, dg.shape[-1]).astype(np.float64), DG_FLOOR)
        q25, med, q75 = np.percentile(runs, [25, 50, 75], axis=0)
        x = np.arange(runs.shape[1]) * x_scale
        line, = ax.plot(x, med, label=name, lw=1.4)
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.15, lw=0)
        lowest = min(lowest, float(q25.min()))
    ax.set_yscale("log")
    ax.set_ylim(bottom=max(DG_FLOOR, 0.5 * lowest))
    ax.set_xlabel(x_label)
    ax.set_ylabel("duality gap (median, 25-75% band)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
