"""Does an inner run with a zoo loss raise the true return over the reference policy?

Paired comparison on the same evaluation keys (the reference is rolled out with exactly the key the
fine-tuned policy's evaluation uses), so episode-to-episode noise largely cancels:
    python -m experiments.dpo_return_check --dataset envs/data/hopper/clean --seeds 16 --episodes 16
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import jax
import numpy as np

from discovery.config import make_config
from discovery.engine import build_engine
from discovery.report import evaluate_reference
from envs.mujoco import tasks
from envs.runtime import enable_compilation_cache
from search_spaces.registry import get_loss


def run_record(args: dict, manifest: dict) -> dict:
    """The arguments as a committed report may hold them: no machine paths (the --json target is left out; a
    dataset outside the repository is named by its manifest's command and checksum instead of its path)."""
    rec = {k: v for k, v in args.items() if k != "json"}
    inside = tasks.repo_relative(args["dataset"])
    outside = Path(inside).is_absolute()
    rec["dataset"] = None if outside else inside
    command = manifest.get("command") or ""
    if outside:  # the command's --out is that same machine path, or its parent (experiments/flip_realizations.py)
        command = command.replace(str(args["dataset"]), "DIR").replace(str(Path(args["dataset"]).parent), "PARENT")
    return {**rec, "dataset_checksum": manifest["checksum"], "dataset_command": command}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="envs/data/hopper/clean")
    p.add_argument("--loss", default="sigmoid")
    p.add_argument("--beta", type=float, default=None, help="override the loss's beta")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seeds", type=int, default=16)
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--json", default=None, help="also write per-seed reference and fine-tuned scores to this file")
    args = p.parse_args(argv)
    enable_compilation_cache()
    engine = build_engine(make_config({
        "datasets": [args.dataset],
        "inner": {"steps": args.steps, "batch_size": args.batch_size, "learning_rate": args.lr},
        "eval": {"episodes": args.episodes, "greedy": args.greedy},
    }))
    spec = get_loss(args.loss)
    params = spec.params(**({"beta": args.beta} if args.beta is not None else {}))
    key = jax.random.key(args.seed)
    ref = evaluate_reference(engine, args.seeds, None, key)["fitness"][0]
    run = engine.runs(spec.fn)[0]
    m = jax.jit(jax.vmap(run, (None, 0)))(params, jax.random.split(key, args.seeds))
    tuned = np.asarray(m["fitness"])
    diff = tuned - ref
    se = diff.std(ddof=1) / math.sqrt(diff.size)
    print(f"{args.loss} {params} on {args.dataset}: {args.steps} steps x {args.batch_size} pairs, lr {args.lr}; "
          f"{args.seeds} seeds x {args.episodes} {'greedy' if args.greedy else 'sampled'} episodes")
    print(f"reference {ref.mean():.2f}  fine-tuned {tuned.mean():.2f}  paired difference {diff.mean():+.2f} +- {se:.2f} (s.e.)  "
          f"KL {float(np.mean(m['kl'])):.3f}  held-out acc {float(np.mean(m['heldout_accuracy'])):.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**run_record(vars(args), engine.datasets[0].manifest), "params": {k: float(v) for k, v in params.items()},
                       "reference": ref.tolist(), "tuned": tuned.tolist(), "diff_mean": float(diff.mean()),
                       "diff_se": float(se), "kl": float(np.mean(m["kl"])),
                       "heldout_accuracy": float(np.mean(m["heldout_accuracy"]))}, f, indent=1)


if __name__ == "__main__":
    main()
