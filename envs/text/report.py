"""Human-readable summary of a text dataset (text and a PNG): what `mpo data show` prints for domain text."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from envs.dataset_io import PreferenceDataset


def summary_text(ds: PreferenceDataset) -> str:
    m, p, s = ds.manifest, ds.pairs, ds.sizes
    props, ref, task = m["properties"], m["reference"], m["task"]
    rc, rr = p["chosen_reward"], p["rejected_reward"]
    bc, br = p["chosen_biased_reward"], p["rejected_biased_reward"]
    lc, lr = p["chosen_length"], p["rejected_length"]
    agree = float(np.mean(rc > rr) + 0.5 * np.mean(rc == rr))
    agree_b = float(np.mean(bc > br) + 0.5 * np.mean(bc == br))
    lines = [
        f"dataset      {ds.path}",
        f"task         text (vocab {s['vocab']}, prompts of {s['prompt_len']} tokens, responses <= {s['max_len']} "
        f"tokens; extra-token cost {task['extra_cost']}); true reward: random {task['random_reward']:.3f}, "
        f"SFT {task['sft_reward']:.3f}, optimum {task['optimal_reward']:.3f}",
        f"setting      {props['setting']}: length_bias {props['length_bias']}, bt_temperature {props['bt_temperature']}, "
        f"flip_eps {props['flip_eps']}, response temperatures {props['response_temperatures']}, seed {m['seed']}",
        f"sizes        {s['n_pairs']} pairs, SFT split {s['n_sft']} demonstrations",
        f"labels       agreement with true reward {100 * agree:.1f}%, with the labeller's biased reward "
        f"{100 * agree_b:.1f}%, flipped {100 * np.mean(p['flipped']):.1f}%, mean BT p(chosen) {np.mean(p['p_chosen']):.3f}",
        f"chosen r*    mean {rc.mean():.3f}   rejected r* mean {rr.mean():.3f}",
        f"lengths      chosen mean {lc.mean():.2f}, rejected mean {lr.mean():.2f}; chosen is longer in "
        f"{100 * np.mean(lc > lr):.1f}% of pairs, shorter in {100 * np.mean(lc < lr):.1f}%",
        f"reference    SFT transformer (d={ref['spec']['d_model']}, {ref['spec']['n_layers']} layers): reward "
        f"{ref['reward']:.3f}, length {ref['length']:.2f} ({ref['eval_prompts']} samples); NLL/token "
        f"{ref['sft']['nll_per_token_full_split']:.3f}",
    ]
    return "\n".join(lines)


def save_png(ds: PreferenceDataset, path: Path | str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, T = ds.pairs, ds.sizes["max_len"]
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    bins = np.linspace(min(p["chosen_reward"].min(), p["rejected_reward"].min()), 1.0, 30)
    ax[0].hist(p["chosen_reward"], bins=bins, alpha=0.6, label="chosen")
    ax[0].hist(p["rejected_reward"], bins=bins, alpha=0.6, label="rejected")
    ax[0].set_xlabel("true reward r*")
    ax[0].set_title("true rewards")
    ax[0].legend()
    lb = np.arange(0, T + 2) - 0.5
    ax[1].hist(p["chosen_length"], bins=lb, alpha=0.6, label="chosen")
    ax[1].hist(p["rejected_length"], bins=lb, alpha=0.6, label="rejected")
    ax[1].set_xlabel("response length (content tokens)")
    ax[1].set_title("lengths")
    ax[1].legend()
    d_len = p["chosen_length"] - p["rejected_length"]
    d_r = p["chosen_reward"] - p["rejected_reward"]
    ax[2].scatter(d_len + np.random.default_rng(0).uniform(-0.2, 0.2, d_len.shape), d_r, s=4,
                  c=np.where(p["flipped"], "tab:red", "tab:blue"))
    ax[2].axhline(0, color="k", lw=0.8)
    ax[2].set_xlabel("len(chosen) - len(rejected)")
    ax[2].set_ylabel("r*(chosen) - r*(rejected)")
    ax[2].set_title("pairs (red = flipped label)")
    m = ds.manifest
    fig.suptitle(f"text / {m['properties']['setting']}: SFT reward {m['task']['sft_reward']:.3f}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
