"""Human-readable summary of a MuJoCo dataset (text and a PNG): what `mpo data show` prints."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from envs.dataset_io import PreferenceDataset
from envs.mujoco.settings import REFERENCE


def _quantiles(x: np.ndarray) -> str:
    q = np.quantile(x, [0.0, 0.25, 0.5, 0.75, 1.0])
    return "min {:.1f} | q25 {:.1f} | median {:.1f} | q75 {:.1f} | max {:.1f}".format(*q)


def summary_text(ds: PreferenceDataset) -> str:
    m, p, s = ds.manifest, ds.pairs, ds.sizes
    props, ref, task = m["properties"], m["reference"], m["task"]
    rc, rr = p["chosen_return"], p["rejected_return"]
    lc, lr = p["chosen_length"], p["rejected_length"]
    H = s["horizon"]
    agree = float(np.mean(rc > rr) + 0.5 * np.mean(rc == rr))
    levels = [lv["name"] for lv in m.get("experts", {}).get("levels", [])]
    levels += [REFERENCE] if levels else []  # the reference policy's responses: level len(experts.levels)
    lines = [
        f"dataset      {ds.path}",
        f"task         {task['name']} (backend {task['backend']}, episode_length {task['episode_length']}, "
        f"obs {s['obs_dim']}, act {s['act_dim']}; random return {task['random_return']:.1f}, "
        f"expert return {task['expert_return']:.1f})",
        f"setting      {props['setting']}: bt_temperature {props['bt_temperature']}, flip_eps {props['flip_eps']}, "
        f"response_levels {','.join(props['response_levels'])}, prompt_level {props['prompt_level']}, "
        f"seed {m['seed']}",
        f"sizes        {s['n_pairs']} pairs, horizon {H} steps, K={s['n_bins']} bins, up to {H * s['act_dim']} "
        f"tokens/response, SFT split {s['n_sft']} steps",
        f"labels       agreement with true returns {100 * agree:.1f}%, flipped {100 * np.mean(p['flipped']):.1f}%, "
        f"mean BT p(chosen) {np.mean(p['p_chosen']):.3f}",
        f"chosen R     mean {rc.mean():.2f}  {_quantiles(rc)}",
        f"rejected R   mean {rr.mean():.2f}  {_quantiles(rr)}",
        f"gap R_c-R_r  mean {np.mean(rc - rr):.2f}, median |gap| {np.median(np.abs(rc - rr)):.2f}",
        f"lengths      chosen mean {lc.mean():.1f}, rejected mean {lr.mean():.1f}, "
        f"ended early {100 * np.mean(np.concatenate([lc, lr]) < H):.1f}% of responses (min {min(lc.min(), lr.min())})",
    ]
    if levels:
        cl = np.bincount(p["chosen_level"], minlength=len(levels))
        rl = np.bincount(p["rejected_level"], minlength=len(levels))
        used = [i for i in range(len(levels)) if cl[i] + rl[i] > 0]
        lines.append("levels       " + ", ".join(f"{levels[i]}: chosen {cl[i]} / rejected {rl[i]}" for i in used))
    lines.append(
        f"reference    return {ref['return']:.1f}, normalized score {ref['normalized_score']:.1f} "
        f"({ref['eval_episodes']} episodes, {ref['eval_mode']}); BC nll/step {ref['bc']['nll_per_step_full_split']:.3f}")
    return "\n".join(lines)


def save_png(ds: PreferenceDataset, path: Path | str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, H = ds.pairs, ds.sizes["horizon"]
    rc, rr = p["chosen_return"], p["rejected_return"]
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    bins = np.linspace(min(rc.min(), rr.min()), max(rc.max(), rr.max()), 40)
    ax[0].hist(rc, bins=bins, alpha=0.6, label="chosen")
    ax[0].hist(rr, bins=bins, alpha=0.6, label="rejected")
    ax[0].set_xlabel("segment return")
    ax[0].set_title("returns")
    ax[0].legend()
    ax[1].scatter(rr, rc, s=5, c=np.where(p["flipped"], "tab:red", "tab:blue"))
    lo, hi = bins[0], bins[-1]
    ax[1].plot([lo, hi], [lo, hi], "k--", lw=1)
    ax[1].set_xlabel("rejected return")
    ax[1].set_ylabel("chosen return")
    ax[1].set_title("pairs (red = flipped label)")
    lb = np.arange(0, H + 2) - 0.5
    ax[2].hist(p["chosen_length"], bins=lb, alpha=0.6, label="chosen")
    ax[2].hist(p["rejected_length"], bins=lb, alpha=0.6, label="rejected")
    ax[2].set_xlabel("response length (steps)")
    ax[2].set_yscale("log")
    ax[2].set_title("lengths")
    ax[2].legend()
    m = ds.manifest
    fig.suptitle(f"{m['task']['name']} / {m['properties']['setting']}: reference normalized score "
                 f"{m['reference']['normalized_score']:.1f}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
