"""The text domain of the inner run: the SFT transformer fine-tuned on a text preference dataset, then
scored by sampling on held-out prompts.

Metrics of `evaluate`: mean true reward r* ("return"), normalized so that 0 = the SFT policy and 100 = the
best achievable response ("score"); mean content length; KL(pi || pi_sft) estimated from the samples
("kl", which the inner run prefers over `Domain.kl` because it needs the evaluation key).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from envs.dataset_io import PreferenceDataset
from envs.domain import Domain, heldout_split
from envs.text import policy as tpol
from envs.text import task as tt

EVAL_PROMPT_STREAM = 1_000_003  # eval prompts come from their own stream, never the dataset's


@dataclasses.dataclass(frozen=True)
class TextEvalConfig:
    prompts: int = 256  # held-out prompts per evaluation (a fixed set: every candidate sees the same ones)
    samples: int = 1  # sampled responses per prompt (the config's eval.episodes)
    heldout_fraction: float = 0.125  # pairs kept out of training for accuracy / margins
    temperature: float = 1.0

    def __post_init__(self) -> None:
        for name, value, ok, allowed in (
            ("eval.prompts", self.prompts, self.prompts >= 1, ">= 1"),
            ("eval.episodes", self.samples, self.samples >= 1, ">= 1 (text: sampled responses per prompt)"),
            ("eval.heldout_fraction", self.heldout_fraction, 0.0 < self.heldout_fraction < 1.0, "(0, 1)"),
            ("eval.temperature", self.temperature, self.temperature > 0, "> 0"),
        ):
            if not ok:
                raise ValueError(f"{name}: got {value!r}; allowed: {allowed}")

    @staticmethod
    def from_eval(cfg: dict[str, Any]) -> "TextEvalConfig":
        """From the search config's `eval` block; MuJoCo-only fields must stay at their neutral values."""
        if cfg.get("episode_length") is not None:
            raise ValueError(f"eval.episode_length: got {cfg['episode_length']!r}; text datasets have no episodes "
                             "(responses end at EOS): allowed: null")
        if cfg.get("greedy"):
            raise ValueError("eval.greedy: got True; text evaluation samples from the policy (the KL estimate "
                             "needs its samples): allowed: false")
        return TextEvalConfig(prompts=cfg.get("prompts", 256), samples=cfg.get("episodes", 1),
                              heldout_fraction=cfg.get("heldout_fraction", 0.125))


def _side_arrays(pairs: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, jax.Array]:
    out = {"prompt": jnp.asarray(pairs["prompt_tokens"][idx])}
    for side, short in (("chosen", "w"), ("rejected", "l")):
        out[f"{short}_tokens"] = jnp.asarray(pairs[f"{side}_tokens"][idx])
        out[f"{short}_mask"] = jnp.asarray(pairs[f"{side}_mask"][idx])
    return out


def make_text_domain(dataset: PreferenceDataset, cfg: TextEvalConfig = TextEvalConfig()) -> Domain:
    if dataset.domain != "text":
        raise ValueError(f"text domain: {dataset.path} is a {dataset.domain} dataset")
    spec: tpol.TextPolicySpec = dataset.reference_spec
    task = tt.TextTask.from_json(dataset.manifest["task"])
    apply = tpol.make_apply(spec)
    sft_r, opt_r = float(dataset.manifest["task"]["sft_reward"]), float(dataset.manifest["task"]["optimal_reward"])
    train_idx, heldout_idx = heldout_split(int(dataset.sizes["n_pairs"]), cfg.heldout_fraction)
    train, heldout = _side_arrays(dataset.pairs, train_idx), _side_arrays(dataset.pairs, heldout_idx)
    ref_params = jax.tree.map(jnp.asarray, dataset.reference_params)
    key = jax.random.fold_in(jax.random.PRNGKey(int(dataset.manifest["seed"])), EVAL_PROMPT_STREAM)
    prompts = jnp.repeat(tt.sample_prompts(task, key, cfg.prompts), cfg.samples, axis=0)

    def logps(params: Any, pairs: dict):
        mw, ml = pairs["w_mask"], pairs["l_mask"]
        lw = tpol.token_log_probs(apply, spec, params, pairs["prompt"], pairs["w_tokens"], mw)
        ll = tpol.token_log_probs(apply, spec, params, pairs["prompt"], pairs["l_tokens"], ml)
        return lw, ll, mw.astype(jnp.float32), ml.astype(jnp.float32)

    def evaluate(params: Any, key: jax.Array) -> dict:
        toks, mask = tpol.sample(apply, spec, params, prompts, key, cfg.temperature)
        ret = tt.true_reward(task, prompts, toks).mean()
        kl = tpol.sequence_kl(apply, spec, params, ref_params, prompts, toks, mask).mean()
        return {"score": 100.0 * (ret - sft_r) / (opt_r - sft_r), "return": ret,
                "length": tt.content_length(toks).mean().astype(jnp.float32), "kl": kl}

    return Domain(ref_params, train, heldout, logps, evaluate)
