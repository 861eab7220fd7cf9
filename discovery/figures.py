"""Figures: fitness curves of one or several runs; a loss's shape (loss and its push -dL/drho along the
margin, and the mirror maps), alone or against DPO's."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from discovery import run_dir as rd  # noqa: E402
from search_spaces.batch import PrefBatch  # noqa: E402
from search_spaces.mirror_maps import effective_weights, mirror_map  # noqa: E402
from search_spaces.mpo import MPOParams, mpo_loss, resolve  # noqa: E402
from search_spaces.points import mpo_point  # noqa: E402
from search_spaces.registry import get_loss  # noqa: E402

# The canonical sweep: both responses 10 tokens, reference per-token log-prob -1, and the policy moves
# the chosen up and the rejected down by rho/2 in total, so rho = Delta_w - Delta_l exactly.
SWEEP_TOKENS = 10
REF_TOKEN_LOGP = -1.0
RHO_MAX = 2 * SWEEP_TOKENS * (-REF_TOKEN_LOGP) * 0.99  # keeps every token log-prob below 0


def margin_batch(rho: jax.Array) -> PrefBatch:
    """A batch of len(rho) pairs whose margin rho = Delta_w - Delta_l takes the given values."""
    n = SWEEP_TOKENS
    shift = (rho / (2 * n))[:, None] * jnp.ones((1, n))
    ref = jnp.full((rho.shape[0], n), REF_TOKEN_LOGP)
    ones = jnp.ones_like(ref)
    return PrefBatch(ref + shift, ref - shift, ref, ref, ones, ones)


def loss_curve(fn: Callable, params, rho: jax.Array, tau: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair loss along rho and its derivative dL/drho."""

    def one(r):
        return fn(params, margin_batch(r[None]), tau)[0]

    values = jax.jit(jax.vmap(one))(rho)
    slopes = jax.jit(jax.vmap(jax.grad(one)))(rho)
    return np.asarray(values), np.asarray(slopes)


def plot_losses(
    curves: Sequence[tuple[str, Callable, object]],
    out: Path,
    mirror_points: Sequence[tuple[str, MPOParams]] = (),
    tau: float = 0.0,
) -> Path:
    """Draw loss(rho), -dL/drho and the mirror maps of `mirror_points`; write a PNG to `out`."""
    rho = jnp.linspace(-RHO_MAX, RHO_MAX, 401)
    ncols = 3 if mirror_points else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 4.2))
    for label, fn, params in curves:
        values, slopes = loss_curve(fn, params, rho, tau)
        axes[0].plot(rho, values, label=label)
        axes[1].plot(rho, -slopes, label=label)
    axes[0].set(xlabel="margin rho = Delta_w - Delta_l (nats)", ylabel="per-pair loss", title="Loss along the margin")
    axes[1].set(xlabel="margin rho (nats)", ylabel="-dL/drho", title="Push on the margin (> 0 widens it)")
    axes[1].axhline(0.0, color="0.6", lw=0.8)
    for ax in axes[:2]:
        # Losses span orders of magnitude (exp and squared terms): symlog keeps every curve readable.
        ax.set_yscale("symlog", linthresh=1.0)
    if mirror_points:
        u = jnp.linspace(-6.0, -0.02, 300)
        for label, params in mirror_points:
            c = resolve(params, tau)
            m = mirror_map(u, c.mirror_w, c.mirror_pl)
            # Mirror maps are compared up to an additive constant: anchor each at u = -1.
            m0 = mirror_map(jnp.asarray([-1.0]), c.mirror_w, c.mirror_pl)[0]
            w = ", ".join(f"{x:.2f}" for x in np.asarray(effective_weights(c.mirror_w), float))
            axes[2].plot(u, m - m0, label=f"{label} (w=[{w}])")
        axes[2].set(xlabel="score u (log-prob; per token when lam = 1)", ylabel="m(u) - m(-1)",
                    title="Mirror maps")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{SWEEP_TOKENS}-token responses, reference log-prob {REF_TOKEN_LOGP}/token, tau = {tau}", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out



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
