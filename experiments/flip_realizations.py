"""Copies of a dataset with extra label flips drawn from a fresh seed: how much does a loss's gain depend on which
pairs a given flip rate happens to flip (the dataset-level variance a single noisy dataset per rate cannot show)?

    python -m experiments.flip_realizations --dataset envs/data/walker2d/clean --eps 0.3 --seeds 1,2,3 --out runs/flips
    python -m experiments.dpo_return_check --dataset runs/flips/eps0.3-seed1 ...   # one check per copy

Each copy swaps chosen and rejected (every `chosen_*` / `rejected_*` array, p_chosen -> 1 - p_chosen, `flipped`
toggled) on pairs drawn with probability eps, re-hashes its arrays and records where it came from in its manifest
(`derived_from`). Prompts, responses, the SFT split and the reference policy are the source's, byte for byte.
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
from pathlib import Path

import numpy as np

from envs.dataset_io import array_sha256, combined_checksum, load_dataset
from envs.mujoco import tasks


def flipped_copy(src: Path, out: Path, eps: float, seed: int) -> dict:
    """Write the copy to `out` (must not exist); returns its manifest."""
    if not 0.0 < eps <= 1.0:
        raise ValueError(f"eps: got {eps}; allowed: 0 < eps <= 1")
    if out.exists():
        raise FileExistsError(f"--out: {out} exists; remove it or pick another directory")
    source = load_dataset(src)  # one clear error for a corrupt source, before anything is written
    manifest, pairs = copy.deepcopy(source.manifest), dict(source.pairs)
    swap = np.random.default_rng(seed).random(pairs["p_chosen"].shape[0]) < eps
    for name in [k for k in pairs if k.startswith("chosen_")]:
        other = "rejected_" + name[len("chosen_"):]
        c, r = pairs[name], pairs[other]
        mask = swap.reshape((-1,) + (1,) * (c.ndim - 1))
        pairs[name], pairs[other] = np.where(mask, r, c), np.where(mask, c, r)
    pairs["p_chosen"] = np.where(swap, 1.0 - pairs["p_chosen"], pairs["p_chosen"]).astype(pairs["p_chosen"].dtype)
    pairs["flipped"] = np.logical_xor(pairs["flipped"], swap)
    shutil.copytree(src, out)
    np.savez(out / "pairs.npz", **pairs)
    for name, a in pairs.items():
        manifest["arrays"][f"pairs.npz:{name}"]["sha256"] = array_sha256(a)
    manifest["checksum"] = combined_checksum({k: v["sha256"] for k, v in manifest["arrays"].items()})
    manifest["command"] = (f"python -m experiments.flip_realizations --dataset {tasks.repo_relative(src)} --eps {eps} "
                           f"--seeds {seed} --out {tasks.repo_relative(out.parent)}")
    manifest["derived_from"] = {"checksum": source.manifest["checksum"],
                                "extra_flip_eps": eps, "flip_seed": seed, "pairs_swapped": int(swap.sum())}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    load_dataset(out)  # the copy passes the same validation as a made dataset
    return manifest


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--eps", type=float, required=True, help="probability that a pair's label is swapped")
    p.add_argument("--seeds", default="1,2,3", help="comma-separated flip seeds, one copy each")
    p.add_argument("--out", type=Path, required=True, help="parent directory of the copies")
    args = p.parse_args(argv)
    for seed in (int(s) for s in args.seeds.split(",")):
        m = flipped_copy(args.dataset, args.out / f"eps{args.eps}-seed{seed}", args.eps, seed)
        print(f"{args.out / f'eps{args.eps}-seed{seed}'}: {m['derived_from']['pairs_swapped']} pairs swapped, "
              f"checksum {m['checksum'][:12]}")


if __name__ == "__main__":
    main()
