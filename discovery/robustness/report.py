"""The robustness study's outputs: markdown report, a score heat map per loss, a length-vs-quality scatter."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np


def _fmt_lr(lr: float) -> str:
    return f"{lr:.0e}".replace("e-0", "e-")


def plot_heatmaps(grids: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One PNG per loss: mean score per (beta, lr) cell, annotated with score and response length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for g in grids:
        score, length = g["fitness"].mean(-1), g["length"].mean(-1)
        fig, ax = plt.subplots(figsize=(1.3 * len(g["learning_rates"]) + 2.5, 0.7 * len(g["betas"]) + 1.8))
        im = ax.imshow(np.where(np.isfinite(score), score, np.nan), cmap="viridis", aspect="auto")
        for i in range(score.shape[0]):
            for j in range(score.shape[1]):
                ax.text(j, i, f"{score[i, j]:.0f}\nlen {length[i, j]:.1f}", ha="center", va="center", fontsize=7,
                        color="w")
        ax.set_xticks(range(len(g["learning_rates"])), [_fmt_lr(x) for x in g["learning_rates"]])
        ax.set_yticks(range(len(g["betas"])), [f"{b:.3g}" for b in g["betas"]])
        ax.set_xlabel("learning rate")
        ax.set_ylabel("beta")
        ax.set_title(f"{g['loss']}: score (0 = SFT, 100 = optimum)")
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        path = out_dir / f"heatmap_{g['loss']}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_length_quality(grids: Sequence[dict[str, Any]], reference: dict[str, float], path: Path) -> Path:
    """Every grid cell of every loss: mean response length vs mean true reward; the SFT policy as a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for g in grids:
        ax.scatter(g["length"].mean(-1).ravel(), g["return"].mean(-1).ravel(), s=18, alpha=0.75, label=g["loss"])
    ax.scatter([reference["length"]], [reference["return"]], marker="*", s=200, c="k", label="SFT policy")
    ax.set_xlabel("mean response length (content tokens)")
    ax.set_ylabel("mean true reward r* (optimum 1)")
    ax.set_title("length vs quality over each loss's beta x lr grid")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| loss | best | median | worst | within 90% of best | above SFT | cell s.e. | NaN cells | "
             "best at (beta, lr) | length at best | KL at best | mean length over grid | median KL over grid |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['loss']} | {r['best']:.1f} | {r['median']:.1f} | {r['worst']:.1f} | "
                     f"{100 * r['frac_within_90pct']:.0f}% | {100 * r['frac_above_sft']:.0f}% | {r['cell_se']:.1f} | "
                     f"{r['nan_cells']} | ({r['best_beta']:.3g}, "
                     f"{_fmt_lr(r['best_lr'])}) | {r['length_at_best']:.2f} | {r['kl_at_best']:.2f} | "
                     f"{r['length_mean']:.2f} | {r['kl_median']:.2f} |")
    return "\n".join(lines)


def grid_table(g: dict[str, Any]) -> str:
    """Every grid point of one loss: score / length / KL (seed means)."""
    score, length, kl = (g[k].mean(-1) for k in ("fitness", "length", "kl"))
    head = "| beta \\ lr | " + " | ".join(_fmt_lr(x) for x in g["learning_rates"]) + " |"
    lines = [head, "|---" * (len(g["learning_rates"]) + 1) + "|"]
    for i, b in enumerate(g["betas"]):
        cells = [f"{score[i, j]:.1f} / {length[i, j]:.2f} / {kl[i, j]:.2f}" for j in range(score.shape[1])]
        lines.append(f"| {b:.3g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def findings(result: dict[str, Any]) -> list[str]:
    """The questions of the study, answered from the numbers (whichever way they come out)."""
    rows = {r["loss"]: r for r in result["summaries"]}
    grids = {g["loss"]: g for g in result["grids"]}
    ref = result["reference"]
    out = []
    if "sigmoid" in rows and "ln_dpo" in rows:
        d, ln = rows["sigmoid"], rows["ln_dpo"]
        longer = "longer" if d["length_at_best"] > ln["length_at_best"] else "shorter"
        out.append(
            f"- Length, DPO vs LN-DPO: at each loss's best grid point DPO's responses are {longer} than "
            f"LN-DPO's ({d['length_at_best']:.2f} vs {ln['length_at_best']:.2f} tokens; the SFT policy writes "
            f"{ref['length']:.2f}); averaged over the whole grid, {d['length_mean']:.2f} (DPO) vs "
            f"{ln['length_mean']:.2f} (LN-DPO).")
        gd, gl = grids["sigmoid"], grids["ln_dpo"]
        if np.allclose(gd["betas"], gl["betas"]) and np.allclose(gd["learning_rates"], gl["learning_rates"]):
            diff = gd["length"].mean(-1) - gl["length"].mean(-1)  # same (beta, lr) cell, same seeds
            out.append(f"- Same (beta, lr) cell, same seeds: DPO's responses are longer than LN-DPO's in "
                       f"{int(np.sum(diff > 0))} of {diff.size} cells (mean difference {diff.mean():+.2f} tokens, "
                       f"range {diff.min():+.2f} to {diff.max():+.2f}).")
    n_cells = result["grids"][0]["fitness"][..., 0].size
    share = max(r["frac_within_90pct"] for r in rows.values())
    tops = [r["loss"] for r in rows.values() if r["frac_within_90pct"] == share]
    out.append(
        "- Share of the grid within 90% of the loss's own best: "
        + ", ".join(f"{r['loss']} {round(r['frac_within_90pct'] * n_cells)}/{n_cells}" for r in rows.values())
        + (f"; largest: {tops[0]}." if len(tops) == 1 else f"; {', '.join(tops)} tie for the largest share."))
    by_median = sorted(rows.values(), key=lambda r: r["median"], reverse=True)
    out.append("- Median cell score (the score a user gets from an untuned grid point): "
               + ", ".join(f"{r['loss']} {r['median']:.1f}" for r in by_median) + "; share of cells above the "
               "SFT policy: " + ", ".join(f"{r['loss']} {100 * r['frac_above_sft']:.0f}%" for r in by_median) + ".")
    if "discopop" in rows:
        import jax

        from search_spaces.primitives import discopop_blend
        from search_spaces.registry import get_loss

        tau = get_loss("discopop").params()["discopop_tau"]
        slope = float(jax.grad(lambda z: discopop_blend(z, tau))(0.0))
        out.append(f"- DiscoPOP (discopop_tau {tau}) has slope d loss / d (beta * margin) = {slope:+.2f} at margin 0, "
                   "where every run starts (the policy is the reference): its first steps push the margin toward "
                   "the *rejected* response until beta * margin clears the bump, so small betas spend the budget "
                   "learning the anti-preference.")
    best = max(rows.values(), key=lambda r: r["best"])
    out.append(f"- Best single grid point: {best['loss']} ({best['best']:.1f} at beta {best['best_beta']:.3g}, "
               f"lr {_fmt_lr(best['best_lr'])}; length {best['length_at_best']:.2f}, KL {best['kl_at_best']:.2f}).")
    return out


def write_report(result: dict[str, Any], md_path: Path, command: str, wall_s: float,
                 notes: Sequence[str] = ()) -> Path:
    """Markdown report, PNGs and a JSON of every number next to it (PNG names are per-report)."""
    from discovery import strict_json

    md_path = Path(md_path)
    fig_dir = md_path.with_suffix("")
    fig_dir.mkdir(parents=True, exist_ok=True)
    grids = result["grids"]
    heat = plot_heatmaps(grids, fig_dir)
    scatter = plot_length_quality(grids, result["reference"], fig_dir / "length_vs_quality.png")
    plan, ref = result["plan"], result["reference"]
    rel = lambda p: p.relative_to(md_path.parent).as_posix()  # noqa: E731
    lines = [
        "# Hyperparameter robustness of preference losses",
        "",
        f"- dataset: `{result['dataset']}` ({result['domain']})",
        f"- grid per loss: beta = default x {list(plan['beta_scales'])}, learning rate in "
        f"{[_fmt_lr(x) for x in plan['learning_rates']]}, {plan['seeds']} seeds; every cell is a fine-tuning run of "
        f"{plan['steps']} Adam steps x {plan['batch_size']} pairs from the SFT policy; the whole grid of a loss is one "
        "vmapped, jitted program",
        f"- evaluation: {result['prompts']} held-out prompts x {result['samples']} sampled response(s) per run; "
        "score = 100 * (R - R_sft) / (R_opt - R_sft) of the mean true reward R (0 = SFT policy, 100 = optimum)",
        f"- SFT policy on the same evaluation keys: score {ref['fitness']:.1f}, true reward {ref['return']:.3f}, "
        f"length {ref['length']:.2f}",
        f"- command: `{command}`; wall time {wall_s:.0f} s on this machine "
        f"(per loss: {', '.join(f'{k} {v} s' for k, v in result['seconds'].items())})",
        "",
        "## Summary (scores are seed means per grid cell)",
        "",
        summary_table(result["summaries"]),
        "",
        "## Findings (computed from the numbers above)",
        "",
        *findings(result),
        "",
        *notes,
        "",
        f"![length vs quality]({rel(scatter)})",
        "",
        "## Every grid point: score / length / KL(pi || pi_sft)",
        "",
    ]
    for g, path in zip(grids, heat):
        lines += [f"### {g['loss']}", "", grid_table(g), "", f"![{g['loss']}]({rel(path)})", ""]
    md_path.write_text("\n".join(lines))
    dump = {k: v for k, v in result.items() if k != "grids"}
    dump["grids"] = [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in g.items()} for g in grids]
    strict_json.write(md_path.with_suffix(".json"), dump, indent=1)  # NaN cells as null
    return md_path
