"""How often does a dataset's label pick the response whose true remainder of the episode is better?

For each pair, the "remainder return" of a response is its segment return plus an independent Monte-Carlo
estimate (fresh keys, --samples rollouts) of continuing from the segment's end state with one expert level
(default q50, the reference level) to the episode end; 0 after a fall. The datasets' own config (from the
manifest) regenerates the same prompts and responses, so the estimate is made once and applied to every
listed dataset of that seed (e.g. the clean and flipped variants):
    python -m experiments.label_agreement runs/labels/hopper-opl-e0.0 runs/labels/hopper-opl-e0.2
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import numpy as np

from envs.dataset_io import load_dataset
from envs.mujoco import build, preferences
from envs.mujoco import experts as experts_mod
from envs.mujoco.settings import DatasetConfig
from envs.mujoco.token_policy import TokenPolicySpec
from envs.runtime import enable_compilation_cache


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("datasets", nargs="+", help="dataset dirs made from one config and seed (labels may differ)")
    p.add_argument("--level", default="q50", help="expert level that continues after the segment")
    p.add_argument("--samples", type=int, default=4, help="MC continuation rollouts per response")
    p.add_argument("--experts", default=None, help="experts directory (default envs/data/TASK/experts)")
    p.add_argument("--key", type=int, default=777, help="seed of the continuation stream (independent of labels)")
    args = p.parse_args(argv)
    enable_compilation_cache()
    t0 = time.time()
    first = load_dataset(args.datasets[0])
    cfg = DatasetConfig.from_json(first.manifest["properties"])
    audit_cfg = dataclasses.replace(cfg, label_value="return-to-go", value_level=args.level, value_horizon=0,
                                    value_samples=args.samples, flip_eps=0.0, bt_temperature=0.0)
    ex = experts_mod.load_experts(args.experts or build.default_experts_dir(cfg.task))
    k_pairs = build.stream_keys(cfg.seed)[0]
    reference = (TokenPolicySpec.from_json(first.manifest["reference"]["spec"]), first.reference_params)
    audit = preferences.generate_pairs(audit_cfg, ex, k_pairs, value_key=jax.random.PRNGKey(args.key),
                                       reference=reference)  # used by datasets of the reference's own samples
    for d in args.datasets:
        ds = load_dataset(d)
        pr = ds.pairs
        if DatasetConfig.from_json(ds.manifest["properties"]).seed != cfg.seed:
            raise ValueError(f"{d}: seed differs from {args.datasets[0]}")
        same = np.all(pr["chosen_tokens"] == audit["chosen_tokens"], axis=(1, 2))
        other = np.all(pr["chosen_tokens"] == audit["rejected_tokens"], axis=(1, 2))
        if not np.all(same | other):
            raise ValueError(f"{d}: responses differ from the regenerated ones (pair {int(np.argmin(same | other))})")
        # audit chosen/rejected are ordered by the independent remainder estimate
        vc = np.where(same, audit["chosen_value"], audit["rejected_value"])
        vr = np.where(same, audit["rejected_value"], audit["chosen_value"])
        agree = float(np.mean(vc > vr) + 0.5 * np.mean(vc == vr))
        print(json.dumps({"dataset": d, "label_value": ds.manifest["properties"].get("label_value", "segment"),
                          "flip_rate": float(np.mean(pr["flipped"])),
                          "agreement_with_remainder_return": round(agree, 4),
                          "agreement_with_segment_return": round(ds.manifest["stats"]["agreement_with_true_returns"], 4),
                          "remainder_gap_mean": round(float(np.mean(vc - vr)), 2),
                          "continuation": f"{args.level}, to the episode end, {args.samples} samples, key {args.key}"}))
    print(f"wall {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
