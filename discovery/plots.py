"""Run figures: fitness curves of one or several runs, and a discovered loss's shape against DPO's."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from discovery import run_dir as rd  # noqa: E402
from discovery.loss_plots import plot_losses  # noqa: E402
from search_spaces.mpo import MPOParams, mpo_loss  # noqa: E402
from search_spaces.points import mpo_point  # noqa: E402
from search_spaces.registry import get_loss  # noqa: E402


def plot_fitness(run_dirs: Sequence[Path], out: Path) -> Path:
    """Best-of-generation, population mean and best-so-far fitness per generation, one color per run."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, d in enumerate(run_dirs):
        log = rd.read_log(Path(d))
        if not log:
            raise ValueError(f"plot: {d} has no {rd.LOG} (not a run directory, or no generation finished)")
        gens = [line["generation"] for line in log]
        color = f"C{i}"
        name = Path(d).name
        ax.plot(gens, [line["best_so_far"] for line in log], color=color, lw=2, label=f"{name}: best so far")
        ax.plot(gens, [line["best"] if line["best"] is not None else float("nan") for line in log], color=color,
                ls="--", lw=1, label=f"{name}: best of generation")
        ax.plot(gens, [line["mean"] if line["mean"] is not None else float("nan") for line in log], color=color,
                ls=":", lw=1, label=f"{name}: population mean")
    ax.set(xlabel="generation", ylabel="fitness (normalized return)", title="Search fitness")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_loss_shape(params: MPOParams, out: Path, label: str = "discovered") -> Path:
    """The discovered loss at tau = 0 and tau = 1 against DPO (sigmoid, beta 0.1), with mirror maps."""
    dpo = get_loss("sigmoid")
    curves = [(f"{label} (tau=0)", lambda p, b, t: mpo_loss(p, b, 0.0), params),
              (f"{label} (tau=1)", lambda p, b, t: mpo_loss(p, b, 1.0), params),
              ("sigmoid (DPO)", dpo.fn, dpo.params())]
    return plot_losses(curves, out, [(label, params), ("sigmoid (DPO)", mpo_point("sigmoid"))])
