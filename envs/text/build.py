"""One call from a text config to a saved dataset: demonstrations, SFT policy, sampled pairs, labels, manifest.

Same file format and manifest as the MuJoCo datasets (envs/dataset_io.py, manifest "domain": "text").
Every random draw derives from cfg.seed through independent streams, so reruns are identical and the named
settings (same seed) share prompts, demonstrations and the SFT policy.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from envs import dataset_io
from envs.labels import bradley_terry_labels
from envs.runtime import versions
from envs.text import policy as tpol
from envs.text import task as tt
from envs.text.settings import DEMONSTRATORS, TextDatasetConfig


def stream_keys(seed: int) -> dict[str, jax.Array]:
    names = ("demos", "sft", "prompts", "levels", "responses", "labels", "eval")
    return dict(zip(names, jax.random.split(jax.random.PRNGKey(seed), len(names))))


def policy_spec(cfg: TextDatasetConfig) -> tpol.TextPolicySpec:
    return tpol.TextPolicySpec(cfg.vocab, cfg.prompt_len, cfg.max_len, cfg.d_model, cfg.n_layers, cfg.n_heads,
                               cfg.d_mlp)


def generate_demonstrations(cfg: TextDatasetConfig, key: jax.Array) -> dict[str, np.ndarray]:
    """The SFT split: n_sft demonstrations, as evenly as possible from each demonstrator (sft_level = its index)."""
    task = cfg.text_task()
    k_p, k_d = jax.random.split(key)
    prompts = tt.sample_prompts(task, k_p, cfg.n_sft)
    level = np.arange(cfg.n_sft, dtype=np.int32) % len(DEMONSTRATORS)
    per_demo = [tt.demonstrations(task, d, prompts, jax.random.fold_in(k_d, i)) for i, d in enumerate(DEMONSTRATORS)]
    tokens = jnp.stack(per_demo)[jnp.asarray(level), jnp.arange(cfg.n_sft)]
    return {"sft_prompt_tokens": np.asarray(prompts, np.int32), "sft_tokens": np.asarray(tokens, np.int32),
            "sft_level": level}


def label_pairs(key: jax.Array, rb_a: jax.Array, rb_b: jax.Array, temperature: float,
                flip_eps: float) -> dict[str, jax.Array]:
    """The labeller: Bradley-Terry on its (biased) rewards, then flips: the MuJoCo labelling function itself."""
    return bradley_terry_labels(key, rb_a, rb_b, temperature, flip_eps)


def biased_reward(true_r: jax.Array, length: jax.Array, length_bias: float) -> jax.Array:
    """What the labeller sees: r*(x, y) + b * len(y) (verbosity bias)."""
    return true_r + length_bias * length.astype(jnp.float32)


def generate_pairs(cfg: TextDatasetConfig, spec: tpol.TextPolicySpec, params: Any,
                   keys: dict[str, jax.Array]) -> dict[str, np.ndarray]:
    """All pairs.npz arrays (see dataset_io text schema): two SFT samples per prompt, labelled."""
    task = cfg.text_task()
    P = cfg.n_pairs
    apply = tpol.make_apply(spec)
    temps = jnp.asarray(cfg.response_temperatures, jnp.float32)

    @jax.jit
    def run(params, flip_eps):
        prompts = tt.sample_prompts(task, keys["prompts"], P)
        levels = jax.random.randint(keys["levels"], (2 * P,), 0, temps.shape[0])
        both = jnp.concatenate([prompts, prompts])  # row i and row P + i answer prompt i
        toks, mask = tpol.sample(apply, spec, params, both, keys["responses"], temps[levels])
        r = tt.true_reward(task, both, toks)
        n = tt.content_length(toks)
        rb = biased_reward(r, n, cfg.length_bias)
        lab = label_pairs(keys["labels"], rb[:P], rb[P:], float(cfg.bt_temperature), flip_eps)
        return prompts, levels, toks, mask, r, n, rb, lab

    prompts, levels, toks, mask, r, n, rb, lab = run(params, cfg.flip_eps)
    a = np.asarray(lab["a_chosen"])
    out: dict[str, np.ndarray] = {
        "prompt_tokens": np.asarray(prompts, np.int32),
        "p_chosen": np.asarray(np.where(a, lab["p_a"], 1.0 - np.asarray(lab["p_a"])), np.float32),
        "flipped": np.asarray(lab["flipped"], bool),
    }
    fields = {"tokens": (toks, np.int32), "mask": (mask, bool), "length": (n, np.int32), "reward": (r, np.float32),
              "biased_reward": (rb, np.float32), "level": (levels, np.int32)}
    for side, pick_a in (("chosen", a), ("rejected", ~a)):
        for name, (x, dt) in fields.items():
            x = np.asarray(x)
            sel = pick_a.reshape((P,) + (1,) * (x.ndim - 1))
            out[f"{side}_{name}"] = np.where(sel, x[:P], x[P:]).astype(dt)
    return out


def policy_reward(cfg: TextDatasetConfig, spec: tpol.TextPolicySpec, params: Any, key: jax.Array) -> dict[str, float]:
    """Mean true reward and content length of the policy's samples (temperature 1) on fresh prompts."""
    task = cfg.text_task()
    apply = tpol.make_apply(spec)
    k_p, k_s = jax.random.split(key)
    prompts = tt.sample_prompts(task, k_p, cfg.eval_prompts)
    toks, _ = jax.jit(lambda p: tpol.sample(apply, spec, p, prompts, k_s))(params)
    return {"reward": float(tt.true_reward(task, prompts, toks).mean()),
            "length": float(tt.content_length(toks).mean())}


def random_reward(cfg: TextDatasetConfig, key: jax.Array) -> float:
    task = cfg.text_task()
    k_p, k_s = jax.random.split(key)
    prompts = tt.sample_prompts(task, k_p, cfg.eval_prompts)
    return float(tt.true_reward(task, prompts, tt.random_responses(task, k_s, cfg.eval_prompts)).mean())


def summary_stats(pairs: dict[str, np.ndarray]) -> dict[str, float]:
    rc, rr = pairs["chosen_reward"], pairs["rejected_reward"]
    bc, br = pairs["chosen_biased_reward"], pairs["rejected_biased_reward"]
    lc, lr = pairs["chosen_length"], pairs["rejected_length"]
    return {
        "agreement_with_true_reward": float(np.mean(rc > rr) + 0.5 * np.mean(rc == rr)),
        "agreement_with_biased_reward": float(np.mean(bc > br) + 0.5 * np.mean(bc == br)),
        "flip_rate": float(np.mean(pairs["flipped"])),
        "chosen_reward_mean": float(rc.mean()),
        "rejected_reward_mean": float(rr.mean()),
        "chosen_length_mean": float(lc.mean()),
        "rejected_length_mean": float(lr.mean()),
        "chosen_longer_rate": float(np.mean(lc > lr)),
    }


def build_text_dataset(cfg: TextDatasetConfig, out: Path | str, overwrite: bool = False,
                       log: Callable[[str], None] | None = None,
                       provenance: dict[str, Any] | None = None) -> dataset_io.PreferenceDataset:
    """Generate and save a text dataset; returns it loaded (and so validated) from disk."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out} already exists and is not empty; choose another --out or pass --overwrite")
    say = log or (lambda s: None)
    t_start = time.time()
    task = cfg.text_task()
    keys = stream_keys(cfg.seed)
    spec = policy_spec(cfg)
    timings: dict[str, float] = {}

    t = time.time()
    say(f"demonstrations: {cfg.n_sft} from {', '.join(d.name for d in DEMONSTRATORS)}")
    sft = generate_demonstrations(cfg, keys["demos"])
    say(f"SFT: {cfg.sft_steps} steps of next-token prediction (transformer d={cfg.d_model}, {cfg.n_layers} layers)")
    params, sft_metrics = tpol.train_sft(spec, sft["sft_prompt_tokens"], sft["sft_tokens"], keys["sft"],
                                         cfg.sft_steps, cfg.sft_batch, cfg.sft_learning_rate)
    timings["sft_s"] = time.time() - t

    t = time.time()
    say(f"pairs: {cfg.n_pairs} prompts x 2 SFT samples (temperatures {list(cfg.response_temperatures)})")
    pairs = generate_pairs(cfg, spec, params, keys)
    timings["pairs_s"] = time.time() - t

    t = time.time()
    k_sft_eval, k_rand = jax.random.split(keys["eval"])
    ref = policy_reward(cfg, spec, params, k_sft_eval)
    rand = random_reward(cfg, k_rand)
    opt = tt.optimal_reward(task)
    timings["eval_s"] = time.time() - t

    manifest = {
        "kind": "mpo-preference-dataset",
        "domain": "text",
        "task": {**task.to_json(), "random_reward": rand, "sft_reward": ref["reward"], "optimal_reward": opt,
                 "sft_length": ref["length"]},
        "sizes": {"n_pairs": cfg.n_pairs, "prompt_len": cfg.prompt_len, "max_len": cfg.max_len, "vocab": cfg.vocab,
                  "n_sft": cfg.n_sft},
        "properties": cfg.to_json(),
        "seed": cfg.seed,
        "versions": versions(),
        "reference": {
            "spec": spec.to_json(),
            "reward": ref["reward"],
            "length": ref["length"],
            "random_normalized_score": 100.0 * (rand - ref["reward"]) / (opt - ref["reward"]),
            "eval_prompts": cfg.eval_prompts,
            "sft": sft_metrics,
        },
        "token_layout": "token 0 = EOS, 1 = SEP, 2.. = content; a response ends at its first EOS (included in "
                        "the mask); length = content tokens before EOS; score = 100 * (R - R_sft) / (R_opt - R_sft)",
        "stats": summary_stats(pairs),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    manifest.update(provenance or {})
    dataset_io.save_dataset(out, manifest, pairs, sft, params, overwrite=overwrite)
    dataset_io.update_manifest(out, {"generation_wall_time_s": round(time.time() - t_start, 1)})
    return dataset_io.load_dataset(out)
