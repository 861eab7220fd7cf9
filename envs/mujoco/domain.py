"""The MuJoCo domain of the inner run: token policies fine-tuned on a preference dataset, scored in MJX."""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from envs.dataset_io import PreferenceDataset
from envs.domain import Domain, heldout_split
from envs.mujoco import rollout, tasks
from envs.mujoco import token_policy as tp


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    episodes: int = 4  # E evaluation episodes per inner run
    episode_length: int | None = None  # None: the dataset's episode length
    heldout_fraction: float = 0.125  # pairs kept out of training for accuracy / margins
    greedy: bool = False  # sample action tokens (False) or take the argmax

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"eval.episodes: got {self.episodes}; allowed: >= 1")
        if self.episode_length is not None and self.episode_length < 1:
            raise ValueError(f"eval.episode_length: got {self.episode_length}; allowed: >= 1 or null")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ValueError(f"eval.heldout_fraction: got {self.heldout_fraction}; allowed: (0, 1)")


def _side_arrays(pairs: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, jax.Array]:
    """Chosen and rejected stacked on axis 1 ([n, 2, H, ...]): one policy pass covers both sides."""
    out = {name: jnp.asarray(np.stack([pairs[f"chosen_{name}"][idx], pairs[f"rejected_{name}"][idx]], axis=1))
           for name in ("obs", "tokens", "mask")}
    out["prompt_obs"] = jnp.asarray(pairs["prompt_obs"][idx])
    return out


def categorical_kl(logits_p: jax.Array, logits_q: jax.Array) -> jax.Array:
    """KL(p || q) of factorized categoricals [..., act_dim, K], summed over action dims."""
    lp, lq = jax.nn.log_softmax(logits_p, -1), jax.nn.log_softmax(logits_q, -1)
    return (jnp.exp(lp) * (lp - lq)).sum((-1, -2))


def make_mujoco_domain(dataset: PreferenceDataset, cfg: EvalConfig = EvalConfig()) -> Domain:
    spec = dataset.reference_spec
    apply = tp.make_apply(spec)
    log_probs = tp.make_token_log_probs(spec)
    task = dataset.manifest["task"]
    random_ret, expert_ret = float(task["random_return"]), float(task["expert_return"])
    length = cfg.episode_length or int(dataset.manifest["properties"]["episode_length"])
    train_idx, heldout_idx = heldout_split(int(dataset.sizes["n_pairs"]), cfg.heldout_fraction)
    train, heldout = _side_arrays(dataset.pairs, train_idx), _side_arrays(dataset.pairs, heldout_idx)
    env = tasks.make_env(dataset.task)
    ref_params = jax.tree.map(jnp.asarray, dataset.reference_params)
    prompts = jnp.asarray(dataset.pairs["prompt_obs"])
    ref_logits = apply(ref_params, prompts)

    def logps(params: Any, pairs: dict):
        lp, m = tp.sequence_token_log_probs(log_probs, params, pairs["obs"], pairs["tokens"], pairs["mask"])
        return lp[:, 0], lp[:, 1], m[:, 0], m[:, 1]

    def evaluate(params: Any, key: jax.Array) -> dict:
        act = rollout.token_act_fn(apply, params, spec.n_bins, spec.action_low, spec.action_high, cfg.greedy)

        def episode(k):
            k_reset, k_roll = jax.random.split(k)
            _, traj = rollout.rollout(env, act, env.reset(k_reset), k_roll, length)
            return traj["reward"].sum(), traj["valid"].sum()

        rets, lens = jax.vmap(episode)(jax.random.split(key, cfg.episodes))
        ret = rets.mean()
        return {"score": tasks.normalized_score(ret, random_ret, expert_ret), "return": ret,
                "length": lens.mean().astype(jnp.float32)}

    def kl(params: Any) -> jax.Array:
        return categorical_kl(apply(params, prompts), ref_logits).mean()

    return Domain(ref_params, train, heldout, logps, evaluate, kl)
