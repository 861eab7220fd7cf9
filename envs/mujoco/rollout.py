"""MJX rollouts: fixed-horizon scans with termination masks, and jittable policy evaluation.

Everything here is a pure function of (params, key, state) built from `lax.scan`, so callers can jit
it and vmap it over environments, prompts or whole populations of policies.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp

from envs.mujoco import tasks
from envs.mujoco import token_policy as tp

# act_fn(obs, key) -> (env_action [act_dim] float, record pytree stored per step)
ActFn = Callable[[jax.Array, jax.Array], tuple[jax.Array, Any]]


def rollout(env: Any, act_fn: ActFn, state: Any, key: jax.Array, horizon: int) -> tuple[Any, dict[str, Any]]:
    """Roll one environment `horizon` steps from `state` (a brax State holding the MJX data).

    Step t is valid when the episode had not terminated before step t; the terminating step itself is
    valid (its reward counts, as in brax's EpisodeWrapper). After termination the physics keeps running
    but is masked out, so lengths vary while shapes stay static. Invalid steps' obs/records are zeroed so
    stored arrays do not depend on post-termination physics.

    Returns (final state, {"obs": [H, obs], "record": [H, ...], "reward": [H], "valid": [H] bool}).
    """

    def step(carry, k):
        st, alive = carry
        action, record = act_fn(st.obs, k)
        nxt = env.step(st, action)
        valid = alive
        out = {
            "obs": jnp.where(valid, st.obs, 0.0),
            "record": jax.tree.map(lambda r: jnp.where(valid, r, jnp.zeros_like(r)), record),
            "reward": jnp.where(valid, nxt.reward, 0.0),
            "valid": valid,
        }
        alive = jnp.logical_and(alive, nxt.done < 0.5)
        return (nxt, alive), out

    keys = jax.random.split(key, horizon)
    (final, _), traj = jax.lax.scan(step, (state, jnp.asarray(True)), keys)
    return final, traj


def episode_return(env: Any, act_fn: ActFn, key: jax.Array, episode_length: int) -> jax.Array:
    """Undiscounted return of one episode from a fresh reset (ends at termination or episode_length)."""
    k_reset, k_roll = jax.random.split(key)
    state = env.reset(k_reset)
    _, traj = rollout(env, act_fn, state, k_roll, episode_length)
    return jnp.sum(traj["reward"])


def mean_return(env: Any, act_fn: ActFn, key: jax.Array, n_episodes: int, episode_length: int) -> jax.Array:
    """Mean return over `n_episodes` independent episodes (vmapped)."""
    keys = jax.random.split(key, n_episodes)
    rets = jax.vmap(lambda k: episode_return(env, act_fn, k, episode_length))(keys)
    chex.assert_shape(rets, (n_episodes,))
    return jnp.mean(rets)


def random_act_fn(action_size: int, low: float, high: float) -> ActFn:
    """Uniform random actions: the policy that defines 0 on the normalized-score scale."""

    def act(obs: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        del obs
        a = jax.random.uniform(key, (action_size,), minval=low, maxval=high)
        return a, a

    return act


def measure_random_return(task_name: str, key: jax.Array, n_episodes: int, episode_length: int) -> float:
    """Measured mean return of the uniform random policy on a task."""
    spec = tasks.get_task(task_name, episode_length)
    env = tasks.make_env(task_name)
    act = random_act_fn(spec.action_size, spec.action_low, spec.action_high)
    fn = jax.jit(lambda k: mean_return(env, act, k, n_episodes, episode_length))
    return float(fn(key))


def token_act_fn(
    apply: Callable[[Any, jax.Array], jax.Array], params: Any, n_bins: int, low: float, high: float, greedy: bool
) -> ActFn:
    """Token policy as an ActFn: sample (or argmax) a token per action dim, step with its bin center."""
    def act(obs: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits = apply(params, obs)
        tok = tp.greedy_tokens(logits) if greedy else tp.sample_tokens(logits, key)
        return tp.token_to_action(tok, n_bins, low, high), tok

    return act


@functools.lru_cache(maxsize=None)
def make_evaluate(task_name: str, spec: Any, greedy: bool = False) -> Callable[..., jax.Array]:
    """`evaluate(params, key, n_episodes, episode_length) -> mean return` for token policies of `spec`.

    Pure and jittable (n_episodes and episode_length are Python ints, i.e. static), and vmappable over
    the parameter pytree: `jax.vmap(lambda p, k: evaluate(p, k, 8, 400))(population, keys)`.
    Actions are sampled from the policy's token distribution unless greedy=True. Cached per (task, spec,
    greedy): the same function object lets jax reuse its traces across calls.
    """
    env = tasks.make_env(task_name)
    apply = tp.make_apply(spec)

    def evaluate(params: Any, key: jax.Array, n_episodes: int, episode_length: int) -> jax.Array:
        act = token_act_fn(apply, params, spec.n_bins, spec.action_low, spec.action_high, greedy)
        return mean_return(env, act, key, n_episodes, episode_length)

    return evaluate
