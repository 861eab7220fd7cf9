"""`mpo bench`: how fast the population engine is on this machine, measured side by side in one run.

For each config: inner runs per second of the vmapped population at several P against a plain Python loop
calling the same jitted single run P times; compile time; the split of a run between training and
evaluation; training FLOP/s against a dense matmul of the training's own GEMM shape; MJX physics steps/s
against MuJoCo's C engine (one thread and all threads) on the same model; and XLA's peak-memory estimate as
P grows, with and without chunking. Absolute times on a shared CPU mean little: read the ratios.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from discovery.config import load_config
from discovery.engine import build_engine
from discovery.inner import InnerConfig
from discovery.population import make_population_eval
from envs.runtime import cpu_info, versions
from search_spaces.mpo import mpo_loss
from search_spaces.search_space import params_to_unit, unit_to_params

# "probe": the probe measured before the performance issue (hopper, 100 DPO steps of 32 pairs x 25 steps,
# 2 x 200-step evaluations); "mid": the same on the default 48-step responses (twice the training work).
_MID = ["inner.steps=100", "inner.batch_size=32", "eval.episodes=2", "eval.episode_length=200"]
CONFIGS: dict[str, list[str]] = {
    "quick": [],
    "probe": ['datasets=["envs/data/hopper/clean-h25"]', *_MID],
    "mid": _MID,
}


@dataclasses.dataclass
class BenchPlan:
    configs: tuple[str, ...] = tuple(CONFIGS)
    sizes: tuple[int, ...] = (1, 8, 32, 64, 128)
    chunk: int = 8  # the chunked variant (candidates trained at a time); the plain one trains all at once
    repeats: int = 2  # timed calls per measurement (the minimum is kept)
    loop_max: int = 128  # beyond this P the loop time is extrapolated linearly (and marked so)
    seed: int = 0
    cpu_devices: int = 1  # > 1: also time the population sharded over this many CPU devices (own process)


def _time(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def _compile(fn: Callable, *args) -> tuple[Any, float]:
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - t0


def _flops(compiled) -> float:
    ca = compiled.cost_analysis()
    ca = ca[0] if isinstance(ca, (list, tuple)) else ca
    return float(ca.get("flops", float("nan")))


def _peak_bytes(compiled) -> int:
    m = compiled.memory_analysis()
    return int(m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes)


def matmul_rate(rows: int, inner: int, cols: int, repeats: int = 20) -> float:
    """FLOP/s of one jitted float32 matmul [rows, inner] x [inner, cols] on this machine."""
    a = jax.random.normal(jax.random.key(0), (rows, inner))
    b = jax.random.normal(jax.random.key(1), (inner, cols))
    mm = jax.jit(lambda a, b: a @ b)
    jax.block_until_ready(mm(a, b))
    t = _time(lambda: [mm(a, b) for _ in range(repeats)][-1], 3) / repeats
    return 2.0 * rows * inner * cols / t


def mujoco_c_rate(mj_model, n_envs: int, n_steps: int, nthread: int, seed: int = 0) -> float:
    """Physics steps/s of MuJoCo's C engine rolling out n_envs x n_steps with random controls."""
    import mujoco
    from mujoco import rollout

    rng = np.random.default_rng(seed)
    data = [mujoco.MjData(mj_model) for _ in range(nthread)]
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state0 = np.empty(mujoco.mj_stateSize(mj_model, spec))
    mujoco.mj_getState(mj_model, data[0], state0, spec)
    init = np.tile(state0, (n_envs, 1))
    ctrl = rng.uniform(-1, 1, (n_envs, n_steps, mj_model.nu))
    models = [mj_model] * n_envs
    t0 = time.perf_counter()
    rollout.rollout(models, data, init, ctrl)
    return n_envs * n_steps / (time.perf_counter() - t0)


def setup(name: str, plan: BenchPlan) -> dict[str, Any]:
    """What every measurement of config `name` needs; `population(p)` draws the same candidates in every
    process that calls it in the same order."""
    cfg = load_config("quick", CONFIGS[name])
    engine = build_engine(cfg)
    inner_cfg = InnerConfig(**cfg["inner"])
    u0 = np.asarray(params_to_unit(engine.space, engine.init_point))
    rng = np.random.default_rng(plan.seed)

    def population(p: int) -> jax.Array:
        return jnp.asarray(np.clip(u0 + 0.05 * rng.standard_normal((p, u0.size)), 0, 1), jnp.float32)

    return {"cfg": cfg, "engine": engine, "inner_cfg": inner_cfg, "u0": u0,
            "population": population, "stages": engine.stages(mpo_loss)[0],
            "key": jax.random.key(plan.seed)}


def sharded_times(name: str, plan: BenchPlan, devices: int) -> dict[int, dict[str, float]]:
    """{P: {"s", "compile_s"}} of the population sharded over `devices` CPU devices, for every P they
    divide. Timed in a child process: jax fixes the device count when it starts, and the loop baseline
    must keep its 1-device process (a CPU split into devices runs one program slower)."""
    cmd = [sys.executable, "-m", "discovery.bench.sharded", "--config", name, "--devices", str(devices),
           "--sizes", ",".join(map(str, plan.sizes)), "--chunk", str(plan.chunk), "--repeats", str(plan.repeats),
           "--seed", str(plan.seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bench: the {devices}-device worker failed:\n{proc.stderr[-3000:]}")
    return {int(p): v for p, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}


def time_population(stages, space, xs: jax.Array, key: jax.Array, chunk: int, repeats: int, mesh=None) -> dict:
    pop = make_population_eval([stages], space, 1, chunk=chunk, mesh=mesh)
    compiled, compile_s = _compile(pop, xs, key)
    return {"s": _time(lambda: compiled(xs, key), repeats), "compile_s": compile_s,
            "peak_mb": _peak_bytes(compiled) / 2**20}


def bench_config(name: str, plan: BenchPlan, log: Callable[[str], None]) -> dict[str, Any]:
    sharded = sharded_times(name, plan, plan.cpu_devices) if plan.cpu_devices > 1 else {}
    st = setup(name, plan)
    cfg, engine, inner_cfg, stages, key = (st[k] for k in ("cfg", "engine", "inner_cfg", "stages", "key"))
    population, u0 = st["population"], st["u0"]
    run = jax.jit(engine.runs(mpo_loss)[0])
    to_params = jax.jit(unit_to_params(engine.space))

    out: dict[str, Any] = {"config": name, "overrides": CONFIGS[name], "inner": cfg["inner"], "eval": cfg["eval"],
                           "dataset": cfg["datasets"][0], "cpu_devices": plan.cpu_devices, "rows": []}
    jax.block_until_ready(run(to_params(jnp.asarray(u0)), key))  # compile the single run
    for p in plan.sizes:
        xs = population(p)
        row: dict[str, Any] = {"P": p}
        n_loop = min(p, plan.loop_max)
        params = [to_params(xs[i]) for i in range(n_loop)]
        row["loop_s"] = _time(lambda: [run(q, key) for q in params][-1], 1) * p / n_loop
        row["loop_extrapolated"] = n_loop < p
        for label, chunk in (("vmap", 0), ("chunked", plan.chunk)):
            if label == "chunked" and plan.chunk >= p:
                continue
            t = time_population(stages, engine.space, xs, key, chunk, plan.repeats)
            row.update({f"{label}_s": t["s"], f"{label}_compile_s": t["compile_s"], f"{label}_peak_mb": t["peak_mb"]})
        if p in sharded:
            row["sharded_s"], row["sharded_compile_s"] = sharded[p]["s"], sharded[p]["compile_s"]
        best = min(row.get(k, np.inf) for k in ("vmap_s", "chunked_s", "sharded_s"))
        row["runs_per_s"] = p / best
        row["loop_runs_per_s"] = p / row["loop_s"]
        row["speedup"] = row["loop_s"] / best
        out["rows"].append(row)
        log(f"  {name} P={p}: loop {row['loop_s']:.2f}s, vmap {row.get('vmap_s', float('nan')):.2f}s, "
            f"chunked {row.get('chunked_s', float('nan')):.2f}s, sharded {row.get('sharded_s', float('nan')):.2f}s "
            f"-> {row['speedup']:.2f}x")

    # Split of one population's time between training and evaluation, at the middle size.
    p = plan.sizes[min(2, len(plan.sizes) - 1)]
    xs = population(p)
    keys = jax.random.split(key, 2)
    train_pop = lambda xs: jax.lax.map(lambda x: stages.train(unit_to_params(engine.space)(x), keys[0]), xs,  # noqa: E731
                                       batch_size=min(plan.chunk, p))
    train_c, _ = _compile(train_pop, xs)
    train_s = _time(lambda: train_c(xs), plan.repeats)
    trained, losses = train_c(xs)
    finish_c, _ = _compile(jax.vmap(stages.finish, (0, 0, None)), trained, losses, keys[1])
    eval_s = _time(lambda: finish_c(trained, losses, keys[1]), plan.repeats)
    one_step = engine.with_inner(steps=1).stages(mpo_loss)[0]
    step_c, _ = _compile(lambda x: one_step.train(unit_to_params(engine.space)(x), keys[0]), xs[0])
    step_flops = _flops(step_c)
    spec = engine.datasets[0].reference_spec
    horizon = int(engine.datasets[0].sizes["horizon"])
    gemm_rows = 2 * inner_cfg.batch_size * horizon
    hidden = int(spec.hidden[-1])
    mm = matmul_rate(gemm_rows, hidden, hidden)
    mm_big = matmul_rate(1024, 1024, 1024, repeats=5)
    train_rate = p * inner_cfg.steps * step_flops / train_s
    env = domain_env(engine)
    episodes = int(cfg["eval"]["episodes"])
    length = int(cfg["eval"]["episode_length"] or engine.datasets[0].manifest["properties"]["episode_length"])
    n_frames = int(env._n_frames)
    physics_steps = p * episodes * length * n_frames
    mj_model = env.sys.mj_model
    c1 = mujoco_c_rate(mj_model, p * episodes, length * n_frames, 1)
    call = mujoco_c_rate(mj_model, p * episodes, length * n_frames, os.cpu_count() or 1)
    out["split"] = {
        "P": p, "train_s": train_s, "eval_s": eval_s, "train_fraction": train_s / (train_s + eval_s),
        "train_step_flops": step_flops, "train_flops_per_s": train_rate,
        "gemm_shape": [gemm_rows, hidden, hidden], "matmul_flops_per_s": mm, "matmul_1024_flops_per_s": mm_big,
        "train_fraction_of_matmul": train_rate / mm,
        "mjx_physics_steps_per_s": physics_steps / eval_s, "mujoco_c_steps_per_s_1thread": c1,
        "mujoco_c_steps_per_s_all_threads": call, "threads": os.cpu_count(), "n_frames": n_frames, "horizon": horizon,
        "episodes": episodes, "episode_length": length,
    }
    s = out["split"]
    log(f"  {name} split at P={p}: train {train_s:.2f}s / eval {eval_s:.2f}s; train {train_rate / 1e9:.1f} GFLOP/s "
        f"= {s['train_fraction_of_matmul']:.0%} of matmul {mm / 1e9:.1f}; MJX {s['mjx_physics_steps_per_s']:.0f} "
        f"vs C {c1:.0f} (1 thread) / {call:.0f} physics steps/s")
    return out


def domain_env(engine):
    from envs.mujoco import tasks

    return tasks.make_env(engine.datasets[0].task)


def run_bench(plan: BenchPlan, log: Callable[[str], None] = print) -> dict[str, Any]:
    results = {"versions": versions(), "plan": dataclasses.asdict(plan), "machine": machine(), "configs": []}
    for name in plan.configs:
        if name not in CONFIGS:
            raise ValueError(f"--configs: unknown config {name!r}; allowed: {', '.join(CONFIGS)}")
    for name in plan.configs:
        log(f"bench {name} ...")
        results["configs"].append(bench_config(name, plan, log))
    return results


def machine() -> dict[str, Any]:
    import platform

    return {"cpu": cpu_info()[0] or "unknown", "cores": os.cpu_count(), "platform": platform.platform(),
            "devices": [str(d) for d in jax.devices()], "backend": jax.default_backend()}
