"""Does capping MJX's line search change the physics? Speed and bit-identity against the model's own cap.

For each task, the same batch of episodes (same keys, random actions; `--reference DATASET` adds that
dataset's reference policy on its task) is rolled out with brax's line-search cap and with each cap in
`--caps`; a cap passes when every observation and reward of every episode is bit-identical:
    python -m experiments.mjx_solver --tasks hopper,walker2d,halfcheetah,ant --caps 4,8,16,24 \\
        --episodes 64 --steps 400 --reference envs/data/hopper/clean
`envs.mujoco.tasks.LS_ITERATIONS` holds the caps chosen from this table (experiments/reports/mjx_solver.md).
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from envs.mujoco import rollout, tasks
from envs.mujoco import token_policy as tp
from envs.runtime import enable_compilation_cache


def roll(env: Any, act: Callable, episodes: int, steps: int, seed: int) -> tuple[dict[str, np.ndarray], float]:
    """(trajectories, physics steps per second of the timed second call) of `episodes` x `steps`."""

    def episode(k):
        k_reset, k_roll = jax.random.split(k)
        _, traj = rollout.rollout(env, act, env.reset(k_reset), k_roll, steps)
        return {"obs": traj["obs"], "reward": traj["reward"]}

    fn = jax.jit(jax.vmap(episode))
    keys = jax.random.split(jax.random.key(seed), episodes)
    jax.block_until_ready(fn(keys))
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(keys))
    rate = episodes * steps * int(env._n_frames) / (time.perf_counter() - t0)
    return jax.tree.map(np.asarray, out), rate


def check(task: str, caps: list[int], episodes: int, steps: int, seed: int, reference: Any = None
          ) -> list[dict[str, Any]]:
    """One row per cap (the first row is the model's own cap); random actions, or the reference policy of
    the loaded dataset `reference`."""
    base = tasks.build_env(task)
    policy = "random" if reference is None else "reference"
    if reference is None:
        act = rollout.random_act_fn(base.action_size, -1.0, 1.0)
    else:
        spec = reference.reference_spec
        params = jax.tree.map(jnp.asarray, reference.reference_params)
        act = rollout.token_act_fn(tp.make_apply(spec), params, spec.n_bins, spec.action_low, spec.action_high, False)
    own = int(base.sys.opt.ls_iterations)
    ref, ref_rate = roll(base, act, episodes, steps, seed)
    rows = [{"task": task, "policy": policy, "cap": own, "physics_steps_per_s": ref_rate, "speedup": 1.0,
             "identical": True, "max_obs_diff": 0.0, "mean_return": float(ref["reward"].sum(-1).mean())}]
    for cap in caps:
        if cap >= own:
            continue
        out, rate = roll(tasks.build_env(task, cap), act, episodes, steps, seed)
        rows.append({
            "task": task, "policy": policy, "cap": cap, "physics_steps_per_s": rate, "speedup": rate / ref_rate,
            "identical": all(np.array_equal(out[k], ref[k]) for k in ref),
            "max_obs_diff": float(np.abs(out["obs"] - ref["obs"]).max()),
            "mean_return": float(out["reward"].sum(-1).mean()),
        })
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default=",".join(tasks.task_names()))
    p.add_argument("--caps", default="4,8,16,24")
    p.add_argument("--episodes", type=int, default=64)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--reference", default=None, help="also roll out this dataset's reference policy")
    args = p.parse_args(argv)
    names = [t for t in args.tasks.split(",") if t]
    for t in names:
        tasks._check_name(t)
    try:
        caps = sorted({int(c) for c in args.caps.split(",") if c})
    except ValueError:
        p.error(f"--caps: expected comma-separated integers, got {args.caps!r}")
    if not caps or min(caps) < 1:
        p.error(f"--caps: every cap must be >= 1, got {args.caps!r}")
    enable_compilation_cache()
    runs = [(t, None) for t in names]
    if args.reference:
        from envs.dataset_io import load_dataset

        ds = load_dataset(args.reference)
        runs.append((ds.task, ds))
    print("| task | policy | line-search cap | physics steps/s | speedup | bit-identical | max obs diff | mean return |")
    print("|---|---|---|---|---|---|---|---|")
    for task, ds in runs:
        for r in check(task, caps, args.episodes, args.steps, args.seed, ds):
            print(f"| {r['task']} | {r['policy']} | {r['cap']} | {r['physics_steps_per_s']:,.0f} | {r['speedup']:.2f}x | "
                  f"{'yes' if r['identical'] else 'no'} | {r['max_obs_diff']:.3g} | {r['mean_return']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
