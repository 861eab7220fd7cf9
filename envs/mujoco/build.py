"""One call from a config to a saved dataset: pairs, SFT split, BC reference policy, manifest."""
from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from envs import dataset_io
from envs.mujoco import bc, preferences, rollout, tasks
from envs.mujoco import experts as experts_mod
from envs.mujoco.settings import DatasetConfig
from envs.runtime import versions


def default_experts_dir(task: str) -> Path:
    return tasks.DATA_DIR / task / "experts"


def stream_keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Independent keys for pairs, SFT split, BC and reference evaluation, all from the one seed."""
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    return k[0], k[1], k[2], k[3]


@functools.lru_cache(maxsize=None)
def _jitted_evaluate(task: str, spec: Any) -> Any:
    return jax.jit(rollout.make_evaluate(task, spec, greedy=False), static_argnums=(2, 3))


def build_dataset(
    cfg: DatasetConfig,
    out: Path | str,
    experts_dir: Path | str | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
    provenance: dict[str, Any] | None = None,
    tasks_json: Path | str | None = None,
) -> dataset_io.PreferenceDataset:
    """Generate and save a dataset; every random draw derives from cfg.seed, so reruns are identical."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        # Checked before any work: generation takes minutes.
        raise FileExistsError(f"{out} already exists and is not empty; choose another --out or pass --overwrite")
    say = log or (lambda s: None)
    t_start = time.time()
    edir = Path(experts_dir) if experts_dir is not None else default_experts_dir(cfg.task)
    ex = experts_mod.load_experts(edir)
    if ex.task != cfg.task:
        raise ValueError(f"experts: {edir} holds experts for {ex.task!r}, not for task {cfg.task!r}")
    spec = tasks.get_task(cfg.task, cfg.episode_length)
    random_ret, expert_ret = tasks.reference_returns(cfg.task, Path(tasks_json) if tasks_json else None)
    k_pairs, k_sft, k_bc, k_eval = stream_keys(cfg.seed)
    timings: dict[str, float] = {}

    t = time.time()
    say(f"sft split: {cfg.sft_episodes} episodes of level {cfg.sft_level}")
    sft = preferences.generate_sft(cfg, ex, k_sft)
    timings["sft_s"] = time.time() - t

    t = time.time()
    say(f"behaviour cloning: {cfg.bc_steps} steps on {sft['sft_obs'].shape[0]} SFT steps")
    pspec = bc.make_spec(sft["sft_obs"], spec.action_size, cfg.n_bins, cfg.bc_hidden, spec.action_low,
                         spec.action_high)
    params, bc_metrics = bc.train_bc(pspec, sft["sft_obs"], sft["sft_tokens"], k_bc, cfg.bc_steps, cfg.bc_batch,
                                     cfg.bc_learning_rate)
    timings["bc_s"] = time.time() - t

    t = time.time()
    say(f"pairs: {cfg.n_pairs} prompts x 2 responses of {cfg.horizon} steps, labels on {cfg.label_value}"
        + (f" (continuation: {cfg.value_level}, {preferences.value_length(cfg)} steps max, "
           f"{cfg.value_samples} sample(s))" if cfg.label_value != "segment" else ""))
    # After the reference is trained: a dataset on the reference's own samples needs it (every stream has
    # its own key, so the order changes no number of any dataset).
    pairs = preferences.generate_pairs(cfg, ex, k_pairs, reference=(pspec, params))
    timings["pairs_s"] = time.time() - t

    t = time.time()
    say(f"reference evaluation: {cfg.eval_episodes} episodes of {cfg.episode_length} steps")
    ref_return = float(_jitted_evaluate(cfg.task, pspec)(params, k_eval, cfg.eval_episodes, cfg.episode_length))
    timings["eval_s"] = time.time() - t

    manifest = {
        "kind": "mpo-preference-dataset",
        "task": {**spec.to_json(), "random_return": random_ret, "expert_return": expert_ret},
        "sizes": {
            "n_pairs": cfg.n_pairs, "horizon": cfg.horizon, "obs_dim": spec.obs_size,
            "act_dim": spec.action_size, "n_bins": cfg.n_bins, "nq": spec.nq, "nv": spec.nv,
            "n_sft": int(sft["sft_obs"].shape[0]),
            "tokens_per_response_max": cfg.horizon * spec.action_size,
        },
        "properties": cfg.to_json(),
        "seed": cfg.seed,
        "versions": versions(),
        "experts": {"dir": tasks.repo_relative(edir), "levels": ex.levels},
        "reference": {
            "spec": pspec.to_json(),
            "return": ref_return,
            "normalized_score": float(tasks.normalized_score(ref_return, random_ret, expert_ret)),
            "eval_episodes": cfg.eval_episodes,
            "eval_mode": "sampled tokens",
            "bc": bc_metrics,
        },
        "token_layout": "token t of a response = step * act_dim + action dim; a response of n steps has "
                        "n * act_dim tokens; action = bin center low + (k + 0.5) * (high - low) / n_bins",
        "stats": summary_stats(pairs),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    manifest.update(provenance or {})
    dataset_io.save_dataset(out, manifest, pairs, sft, params, overwrite=overwrite)
    dataset_io.update_manifest(out, {"generation_wall_time_s": round(time.time() - t_start, 1)})
    return dataset_io.load_dataset(out)


def summary_stats(pairs: dict[str, np.ndarray]) -> dict[str, float]:
    """Label quality and response statistics (also shown by `mpo data show`)."""
    rc, rr = pairs["chosen_return"], pairs["rejected_return"]
    lc, lr = pairs["chosen_length"], pairs["rejected_length"]
    extra: dict[str, float] = {}
    if "chosen_value" in pairs:
        vc, vr = pairs["chosen_value"], pairs["rejected_value"]
        extra = {
            "agreement_with_label_values": float(np.mean(vc > vr) + 0.5 * np.mean(vc == vr)),
            "chosen_value_mean": float(vc.mean()),
            "rejected_value_mean": float(vr.mean()),
        }
    return {
        "agreement_with_true_returns": float(np.mean(rc > rr) + 0.5 * np.mean(rc == rr)),
        "flip_rate": float(np.mean(pairs["flipped"])),
        "chosen_return_mean": float(rc.mean()),
        "rejected_return_mean": float(rr.mean()),
        "return_gap_mean": float(np.mean(rc - rr)),
        "abs_return_gap_median": float(np.median(np.abs(rc - rr))),
        "chosen_length_mean": float(lc.mean()),
        "rejected_length_mean": float(lr.mean()),
        "early_termination_rate": float(np.mean(np.concatenate([lc, lr]) < pairs["chosen_mask"].shape[1])),
        **extra,
    }
