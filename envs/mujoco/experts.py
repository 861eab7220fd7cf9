"""Expert policies trained with brax.training's PPO, kept at several quality levels.

We do not write a PPO: `brax.training.agents.ppo.train` does the training. Its callbacks hand us the
policy parameters at every evaluation; after training each checkpoint is re-measured with our own MJX
evaluation (same env, same episode length as the rest of the suite) and the checkpoints nearest to
fixed fractions of the best score become the quality levels that generate prompts and responses.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np

from envs import pytree_io
from envs.mujoco import rollout, tasks
from envs.mujoco.quiet_mjx import import_mjx
from envs.runtime import versions

EXPERTS_NPZ = "experts.npz"
EXPERTS_JSON = "experts.json"
# Target fractions of the best measured score (0 = random, 100 = best checkpoint) for the levels.
DEFAULT_LEVEL_TARGETS: tuple[float, ...] = (10.0, 25.0, 50.0, 75.0, 100.0)


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """brax PPO hyperparameters, sized so hopper trains in roughly 15 minutes on a 2-core CPU."""

    num_timesteps: int = 4_000_000
    num_evals: int = 21
    num_envs: int = 128
    batch_size: int = 256
    unroll_length: int = 16
    num_minibatches: int = 8
    num_updates_per_batch: int = 4
    learning_rate: float = 3e-4
    entropy_cost: float = 1e-3
    discounting: float = 0.97
    reward_scaling: float = 1.0
    normalize_observations: bool = True
    policy_hidden: tuple[int, ...] = (64, 64)
    value_hidden: tuple[int, ...] = (128, 128)
    num_eval_envs: int = 32
    seed: int = 0


def _networks(obs_size: int, action_size: int, policy_hidden: tuple[int, ...], value_hidden: tuple[int, ...]):
    import_mjx()
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo import networks as ppo_networks

    return ppo_networks.make_ppo_networks(
        obs_size,
        action_size,
        preprocess_observations_fn=running_statistics.normalize,
        policy_hidden_layer_sizes=tuple(policy_hidden),
        value_hidden_layer_sizes=tuple(value_hidden),
    )


def _template(obs_size: int, action_size: int, policy_hidden: tuple[int, ...]) -> tuple[Any, Any]:
    """(normalizer, policy) parameter pytree with the right structure, used to restore checkpoints."""
    import_mjx()
    from brax.training.acme import running_statistics, specs

    nets = _networks(obs_size, action_size, policy_hidden, (1,))
    norm = running_statistics.init_state(specs.Array((obs_size,), jnp.dtype("float32")))
    pol = nets.policy_network.init(jax.random.PRNGKey(0))
    return (norm, pol)


def _flatten(tree: Any) -> dict[str, np.ndarray]:
    return pytree_io.flatten(tree)


def _unflatten(template: Any, flat: dict[str, np.ndarray]) -> Any:
    # brax keeps a Python float (std_eps) among the normalizer leaves: cast rather than insist on dtypes.
    return pytree_io.unflatten(template, flat, "expert checkpoint", cast_dtype=True)


@dataclasses.dataclass
class Experts:
    """Quality-graded expert policies of one task: `params` is stacked on a leading level axis."""

    task: str
    levels: list[dict[str, Any]]  # per level: name, target, checkpoint step, return, normalized
    params: Any  # (normalizer, policy) pytree, leaves [n_levels, ...]
    obs_size: int
    action_size: int
    policy_hidden: tuple[int, ...]
    meta: dict[str, Any]

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def level_index(self, name: str) -> int:
        names = [lv["name"] for lv in self.levels]
        if name not in names:
            raise ValueError(f"expert level: unknown level {name!r}; allowed values: {', '.join(names)}")
        return names.index(name)

    def action_fn(self, deterministic: bool = False) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
        """Pure `act(level_params, obs, key) -> action` (tanh-squashed, in [-1, 1]); level_params is one
        slice of `params`, so a different level per environment is a plain vmap."""
        return expert_action_fn(self.obs_size, self.action_size, tuple(self.policy_hidden), deterministic)

    def level_params(self, index: int | jax.Array) -> Any:
        return jax.tree.map(lambda x: x[index], self.params)


@functools.lru_cache(maxsize=None)
def expert_action_fn(obs_size: int, action_size: int, policy_hidden: tuple[int, ...],
                     deterministic: bool) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """Cached so that programs built from it are traced once per process (tracing MJX code is slow)."""
    import_mjx()
    from brax.training.agents.ppo import networks as ppo_networks

    nets = _networks(obs_size, action_size, policy_hidden, (1,))
    make_policy = ppo_networks.make_inference_fn(nets)

    def act(level_params: Any, obs: jax.Array, key: jax.Array) -> jax.Array:
        return make_policy(level_params, deterministic=deterministic)(obs, key)[0]

    return act


def measure_checkpoints(
    task_name: str,
    params_list: list[Any],
    obs_size: int,
    action_size: int,
    policy_hidden: tuple[int, ...],
    key: jax.Array,
    n_episodes: int,
    episode_length: int,
    deterministic: bool,
) -> np.ndarray:
    """Mean return of each checkpoint under our MJX evaluation (vmapped over checkpoints)."""
    env = tasks.make_env(task_name)
    tmp = Experts(task_name, [], None, obs_size, action_size, policy_hidden, {})
    act = tmp.action_fn(deterministic)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *params_list)

    def one(p):
        return rollout.mean_return(env, functools.partial(lambda p_, o, k: (act(p_, o, k), o), p), key,
                                   n_episodes, episode_length)

    return np.asarray(jax.jit(jax.vmap(one))(stacked))


def select_levels(returns: np.ndarray, random_return: float, targets: tuple[float, ...]) -> list[int]:
    """Checkpoint index nearest to each target percentage of the best measured score."""
    best = float(np.max(returns))
    scale = max(best - random_return, 1e-8)
    pct = 100.0 * (returns - random_return) / scale
    return [int(np.argmin(np.abs(pct - t))) for t in targets]


def train_experts(
    task_name: str,
    out_dir: Path,
    cfg: PPOConfig = PPOConfig(),
    episode_length: int = tasks.DEFAULT_EPISODE_LENGTH,
    level_targets: tuple[float, ...] = DEFAULT_LEVEL_TARGETS,
    eval_episodes: int = 32,
    progress: Callable[[int, float, float], None] | None = None,
    overwrite: bool = False,
    record_measured: bool = False,
) -> dict[str, Any]:
    """Train PPO experts, measure every checkpoint, save the graded levels to `out_dir`.

    progress(step, eval_return, elapsed_s) is called at each brax evaluation. With record_measured the
    best checkpoint's return becomes the task's expert return in the registry (tasks.json); off by
    default so that trial runs never move the normalized-score scale.
    """
    import_mjx()
    from brax.training.agents.ppo import train as ppo

    out_dir = Path(out_dir)
    if (out_dir / EXPERTS_NPZ).exists() and not overwrite:
        raise FileExistsError(f"{out_dir / EXPERTS_NPZ} exists; pass --overwrite to replace it")
    spec = tasks.get_task(task_name, episode_length)
    env = tasks.make_env(task_name)
    checkpoints: list[tuple[int, Any]] = []
    brax_evals: list[tuple[int, float]] = []
    t0 = time.time()

    def on_params(step: int, make_policy: Any, params: Any) -> None:
        del make_policy
        checkpoints.append((int(step), jax.tree.map(np.asarray, (params[0], params[1]))))

    def on_progress(step: int, metrics: dict[str, Any]) -> None:
        r = float(metrics.get("eval/episode_reward", float("nan")))
        brax_evals.append((int(step), r))
        if progress is not None:
            progress(int(step), r, time.time() - t0)

    network_factory = functools.partial(
        _networks_factory, policy_hidden=cfg.policy_hidden, value_hidden=cfg.value_hidden
    )
    ppo.train(
        environment=env,
        num_timesteps=cfg.num_timesteps,
        num_evals=cfg.num_evals,
        episode_length=episode_length,
        num_envs=cfg.num_envs,
        batch_size=cfg.batch_size,
        unroll_length=cfg.unroll_length,
        num_minibatches=cfg.num_minibatches,
        num_updates_per_batch=cfg.num_updates_per_batch,
        learning_rate=cfg.learning_rate,
        entropy_cost=cfg.entropy_cost,
        discounting=cfg.discounting,
        reward_scaling=cfg.reward_scaling,
        normalize_observations=cfg.normalize_observations,
        num_eval_envs=cfg.num_eval_envs,
        network_factory=network_factory,
        seed=cfg.seed,
        progress_fn=on_progress,
        policy_params_fn=on_params,
    )
    train_wall = time.time() - t0

    key = jax.random.PRNGKey(cfg.seed + 1)
    params_list = [p for _, p in checkpoints]
    det = measure_checkpoints(task_name, params_list, spec.obs_size, spec.action_size, cfg.policy_hidden,
                              key, eval_episodes, episode_length, deterministic=True)
    sto = measure_checkpoints(task_name, params_list, spec.obs_size, spec.action_size, cfg.policy_hidden,
                              key, eval_episodes, episode_length, deterministic=False)
    random_ret = tasks.load_measured().get(task_name, {}).get("random_return")
    if random_ret is None:
        random_ret = rollout.measure_random_return(task_name, jax.random.PRNGKey(12345), eval_episodes,
                                                   episode_length)
    # Levels are graded on the stochastic policy: data generation samples from the experts.
    idx = select_levels(sto, float(random_ret), level_targets)
    best = float(np.max(sto))
    levels = []
    for t, i in zip(level_targets, idx):
        levels.append({
            "name": f"q{int(round(t))}",
            "target_pct": t,
            "checkpoint": i,
            "step": checkpoints[i][0],
            "return_stochastic": float(sto[i]),
            "return_deterministic": float(det[i]),
            "pct_of_best": 100.0 * (float(sto[i]) - random_ret) / max(best - random_ret, 1e-8),
        })
    meta = {
        "task": task_name,
        "backend": tasks.BACKEND,
        "episode_length": episode_length,
        "ppo_config": dataclasses.asdict(cfg),
        "train_wall_time_s": train_wall,
        "eval_episodes": eval_episodes,
        "random_return": float(random_ret),
        "checkpoints": [
            {"step": s, "return_stochastic": float(a), "return_deterministic": float(b)}
            for (s, _), a, b in zip(checkpoints, sto, det)
        ],
        "brax_evals": brax_evals,
        "levels": levels,
        "obs_size": spec.obs_size,
        "action_size": spec.action_size,
        "policy_hidden": list(cfg.policy_hidden),
        "versions": versions(),
    }
    save_experts(out_dir, meta, [checkpoints[i][1] for i in idx], overwrite=overwrite)
    best_i = int(np.argmax(sto))
    if not record_measured:
        return meta
    tasks.update_measured(task_name, {
        "random_return": float(random_ret),
        "expert_return": float(sto[best_i]),
        "expert_return_deterministic": float(det[best_i]),
        "expert_source": f"brax PPO checkpoint at step {checkpoints[best_i][0]} (stochastic policy)",
        "episode_length": episode_length,
        "eval_episodes": eval_episodes,
    })
    return meta


def _networks_factory(obs_size, action_size, preprocess_observations_fn, policy_hidden, value_hidden):
    import_mjx()
    from brax.training.agents.ppo import networks as ppo_networks

    return ppo_networks.make_ppo_networks(
        obs_size,
        action_size,
        preprocess_observations_fn=preprocess_observations_fn,
        policy_hidden_layer_sizes=tuple(policy_hidden),
        value_hidden_layer_sizes=tuple(value_hidden),
    )


def save_experts(out_dir: Path, meta: dict[str, Any], level_params: list[Any], overwrite: bool = False) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    npz, js = out_dir / EXPERTS_NPZ, out_dir / EXPERTS_JSON
    if (npz.exists() or js.exists()) and not overwrite:
        raise FileExistsError(f"{out_dir}: experts already saved; pass --overwrite to replace them")
    arrays = {}
    for i, p in enumerate(level_params):
        for k, v in _flatten(p).items():
            arrays[f"level{i}{k}"] = v
    tmp_npz = out_dir / (EXPERTS_NPZ + ".tmp.npz")
    np.savez(tmp_npz, **arrays)
    tmp_js = out_dir / (EXPERTS_JSON + ".tmp")
    with open(tmp_js, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    os.replace(tmp_npz, npz)
    os.replace(tmp_js, js)


def load_experts(directory: Path) -> Experts:
    directory = Path(directory)
    for name in (EXPERTS_NPZ, EXPERTS_JSON):
        if not (directory / name).exists():
            raise FileNotFoundError(
                f"{directory / name} not found; train experts with `mpo data experts --task TASK --out {directory}`"
            )
    with open(directory / EXPERTS_JSON) as f:
        meta = json.load(f)
    hidden = tuple(meta["policy_hidden"])
    template = _template(meta["obs_size"], meta["action_size"], hidden)
    with np.load(directory / EXPERTS_NPZ) as z:
        flat = dict(z)
    per_level = []
    for i in range(len(meta["levels"])):
        prefix = f"level{i}"
        sub = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix + "[") or k.startswith(prefix + ".")}
        per_level.append(_unflatten(template, sub))
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *per_level)
    chex.assert_tree_shape_prefix(stacked, (len(per_level),))
    return Experts(meta["task"], meta["levels"], stacked, meta["obs_size"], meta["action_size"], hidden, meta)


def annotate(directory: Path, fields: dict[str, Any]) -> None:
    """Add provenance fields (command line, wall time) to a saved experts.json."""
    js = Path(directory) / EXPERTS_JSON
    with open(js) as f:
        meta = json.load(f)
    meta.update(fields)
    tmp = js.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    os.replace(tmp, js)


def untrained_experts(task_name: str, key: jax.Array, level_names: tuple[str, ...] = ("q10", "q25", "q50", "q75", "q100"),
                      policy_hidden: tuple[int, ...] = (16,)) -> Experts:
    """Freshly initialized (untrained) PPO policies under the level names: the same code path as real
    experts with no training, for smoke tests of generation. Returns are near random by construction."""
    spec = tasks.get_task(task_name)
    nets = _networks(spec.obs_size, spec.action_size, policy_hidden, (1,))
    norm, _ = _template(spec.obs_size, spec.action_size, policy_hidden)
    keys = jax.random.split(key, len(level_names))
    per = [(norm, nets.policy_network.init(k)) for k in keys]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *per)
    levels = [{"name": n, "checkpoint": i, "step": 0} for i, n in enumerate(level_names)]
    return Experts(task_name, levels, stacked, spec.obs_size, spec.action_size, tuple(policy_hidden),
                   {"untrained": True})
