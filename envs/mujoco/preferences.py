"""Preference pairs: prompts along policy trajectories, token responses from copied MJX states, labels.

A prompt is the full brax/MJX state after t steps of the prompt policy (t drawn per prompt). Both
responses start from that exact state (the state pytree is copied by broadcasting, nothing is re-simulated)
and run H steps of a quality-level expert whose every action is snapped to its action token: the env is
stepped with the token's bin center, so the stored tokens reproduce the response exactly. Responses stop
counting at termination, so lengths vary. Labels are Bradley-Terry on the true segment returns (or, with
label_value="return-to-go", on segment return plus a Monte-Carlo continuation value of the segment's end
state), then flipped with probability eps.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np

from envs.labels import bradley_terry_labels
from envs.mujoco import rollout, tasks
from envs.mujoco import token_policy as tp
from envs.mujoco.experts import Experts
from envs.mujoco.settings import REFERENCE, DatasetConfig


def _select(pred: jax.Array, a: Any, b: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


def sample_prompts(
    env: Any, act: Any, level_params: Any, key: jax.Array, n: int, min_step: int, max_step: int
) -> tuple[Any, jax.Array]:
    """n prompt states: run the prompt policy from a reset and keep the state after t ~ U{min..max} steps
    (or the last state before termination, if the episode ended earlier). Returns (states, steps)."""
    k_reset, k_t, k_roll = jax.random.split(key, 3)
    target = jax.random.randint(k_t, (n,), min_step, max_step + 1)

    def one(kr, kroll, t):
        s0 = env.reset(kr)

        def body(carry, inp):
            i, k = inp
            st, alive, saved, saved_i = carry
            keep = jnp.logical_and(alive, i <= t)
            saved = _select(keep, st, saved)
            saved_i = jnp.where(keep, i, saved_i)
            a = act(level_params, st.obs, k)
            nxt = env.step(st, a)
            alive = jnp.logical_and(alive, nxt.done < 0.5)
            return (nxt, alive, saved, saved_i), None

        ks = jax.random.split(kroll, max_step + 1)
        init = (s0, jnp.asarray(True), s0, jnp.asarray(0, jnp.int32))
        (_, _, saved, saved_i), _ = jax.lax.scan(body, init, (jnp.arange(max_step + 1), ks))
        return saved, saved_i

    return jax.vmap(one)(jax.random.split(k_reset, n), jax.random.split(k_roll, n), target)


def token_responses(
    env: Any, act: Any, params: Any, levels: jax.Array, states: Any, key: jax.Array, horizon: int,
    n_bins: int, low: float, high: float, with_final: bool = False
) -> Any:
    """One H-step response per (state, level): expert actions snapped to tokens, env stepped with bin centers.
    Returns the trajectories, or (final states, trajectories) when with_final."""

    def one(state, level, k):
        lp = jax.tree.map(lambda x: x[level], params)

        def token_act(obs, kk):
            tok = tp.action_to_token(act(lp, obs, kk), n_bins, low, high)
            return tp.token_to_action(tok, n_bins, low, high), tok

        # Reset the per-episode done flag: the copied prompt state is alive by construction.
        return rollout.rollout(env, token_act, state.replace(done=jnp.zeros_like(state.done)), k, horizon)

    n = levels.shape[0]
    final, traj = jax.vmap(one)(states, levels, jax.random.split(key, n))
    return (final, traj) if with_final else traj


def continuation_values(
    env: Any, act: Any, level_params: Any, states: Any, alive: jax.Array, remaining: jax.Array, key: jax.Array,
    length: int, samples: int
) -> jax.Array:
    """Monte-Carlo value of continuing from each state with one expert level (raw expert actions).

    Row i is rolled `length` steps (static) `samples` times; only its first remaining[i] steps count, and
    rewards stop at termination (rollout's mask). Rows with alive[i] False (the segment terminated) get 0.
    Returns the mean continuation return per row, [n] float32.
    """
    n = alive.shape[0]
    if length <= 0:
        return jnp.zeros((n,), jnp.float32)

    def one(state, k):
        def value_act(obs, kk):
            a = act(level_params, obs, kk)
            return a, jnp.zeros((), jnp.int32)

        _, traj = rollout.rollout(env, value_act, state.replace(done=jnp.zeros_like(state.done)), k, length)
        return traj["reward"]

    keys = jax.random.split(key, samples * n)
    keys = keys.reshape((samples, n) + keys.shape[1:])
    rewards = jax.vmap(lambda ks: jax.vmap(one)(states, ks))(keys)  # [samples, n, length]
    counted = jnp.arange(length)[None, None, :] < remaining[None, :, None]
    ret = jnp.sum(jnp.where(counted, rewards, 0.0), axis=-1).mean(axis=0)
    return jnp.where(alive, ret, 0.0).astype(jnp.float32)


def value_length(cfg: DatasetConfig) -> int:
    """Static continuation length: the longest remainder of any prompt (episode_length - prompt_min_step -
    horizon), capped by value_horizon when that is > 0."""
    longest = max(0, cfg.episode_length - cfg.prompt_min_step - cfg.horizon)
    return min(longest, cfg.value_horizon) if cfg.value_horizon > 0 else longest


@functools.lru_cache(maxsize=None)
def _pairs_program(task: str, act: Any, P: int, H: int, n_bins: int, min_step: int, max_step: int,
                   temperature: float, episode_length: int, value_len: int = -1,
                   value_samples: int = 1, resp_act: Any = None) -> Callable[..., Any]:
    """The jitted pair generator for one static configuration; cached because tracing MJX is slow.

    value_len < 0: labels compare segment returns (no continuation). value_len >= 0: labels compare
    segment return + continuation_values(value_len steps, value_samples rollouts, capped per prompt at
    the episode end), and run also returns the values of the 2P responses. resp_act (with run's
    resp_params, a stack of one parameter set): the responses' policy when it is not the experts (the
    reference)."""
    env = tasks.make_env(task)
    spec = tasks.get_task(task, episode_length)

    @jax.jit
    def run(params, prompt_idx, resp_idx, flip_eps, k_prompt, k_levels, k_resp, k_label, value_idx=0,
            k_value=None, resp_params=None):
        lp = jax.tree.map(lambda x: x[prompt_idx], params)
        states, steps = sample_prompts(env, act, lp, k_prompt, P, min_step, max_step)
        levels = resp_idx[jax.random.randint(k_levels, (2 * P,), 0, resp_idx.shape[0])]
        # Row i of the first half and row i of the second half answer prompt i.
        both = jax.tree.map(lambda x: jnp.concatenate([x, x], axis=0), states)
        r_act, r_params = (act, params) if resp_act is None else (resp_act, resp_params)
        final, traj = token_responses(env, r_act, r_params, levels, both, k_resp, H, n_bins, spec.action_low,
                                      spec.action_high, with_final=True)
        ret = jnp.sum(traj["reward"], axis=-1)
        value = ret
        if value_len >= 0:
            # alive at the segment's end: the last step was valid and did not terminate
            alive = jnp.logical_and(traj["valid"][:, -1], final.done < 0.5)
            remaining = jnp.clip(episode_length - jnp.concatenate([steps, steps]) - H, 0, value_len)
            vp = jax.tree.map(lambda x: x[value_idx], params)
            value = ret + continuation_values(env, act, vp, final, alive, remaining, k_value, value_len,
                                              value_samples)
        lab = bradley_terry_labels(k_label, value[:P], value[P:], temperature, flip_eps)
        ps = states.pipeline_state
        return states.obs, ps.q, ps.qd, steps, levels, traj, lab, value

    return run


def generate_pairs(cfg: DatasetConfig, experts: Experts, key: jax.Array,
                   value_key: jax.Array | None = None,
                   reference: tuple[tp.TokenPolicySpec, Any] | None = None) -> dict[str, np.ndarray]:
    """All pairs.npz arrays for a config (see dataset_io.pair_schema).

    Prompts, responses and labels use the same key streams whatever label_value is, so a segment and a
    return-to-go dataset of one seed hold the same prompts and responses. The continuation stream is
    fold_in(key, 1) unless value_key is given (an independent re-estimate of the same responses' values).
    reference: (spec, params) of the reference policy, needed when cfg.response_levels is (REFERENCE,);
    its responses' stored level is len(experts.levels)."""
    spec = tasks.get_task(cfg.task, cfg.episode_length)
    prompt_idx = experts.level_index(cfg.prompt_level)
    on_reference = cfg.response_levels == (REFERENCE,)
    if on_reference and reference is None:
        raise ValueError(f"response_levels: {REFERENCE!r} needs the reference policy (build_dataset trains it)")
    resp_idx = jnp.asarray([0] if on_reference else [experts.level_index(n) for n in cfg.response_levels],
                           jnp.int32)
    k_prompt, k_levels, k_resp, k_label = jax.random.split(key, 4)
    P, H = cfg.n_pairs, cfg.horizon
    rtg = cfg.label_value == "return-to-go"
    vlen = value_length(cfg) if rtg else -1
    run = _pairs_program(cfg.task, experts.action_fn(deterministic=False), P, H, cfg.n_bins, cfg.prompt_min_step,
                         cfg.prompt_max_step, float(cfg.bt_temperature), cfg.episode_length, vlen,
                         cfg.value_samples if rtg else 1,
                         tp.action_fn(reference[0]) if on_reference else None)
    kw: dict[str, Any] = {}
    if rtg:
        kw.update(value_idx=experts.level_index(cfg.value_level),
                  k_value=value_key if value_key is not None else jax.random.fold_in(key, 1))
    if on_reference:
        kw.update(resp_params=jax.tree.map(lambda x: jnp.asarray(x)[None], reference[1]))
    obs, q, qd, steps, levels, traj, lab, value = run(experts.params, prompt_idx, resp_idx, cfg.flip_eps,
                                                      k_prompt, k_levels, k_resp, k_label, **kw)
    if on_reference:  # every response is the reference's: stored as the level after the experts'
        levels = jnp.full_like(levels, experts.n_levels)
    a_chosen = lab["a_chosen"]
    out: dict[str, np.ndarray] = {
        "prompt_obs": np.asarray(obs, np.float32),
        "prompt_qpos": np.asarray(q, np.float32),
        "prompt_qvel": np.asarray(qd, np.float32),
        "prompt_step": np.asarray(steps, np.int32),
        "p_chosen": np.asarray(jnp.where(a_chosen, lab["p_a"], 1.0 - lab["p_a"]), np.float32),
        "flipped": np.asarray(lab["flipped"], bool),
    }
    fields = {"obs": ("obs", np.float32), "tokens": ("record", np.int32), "mask": ("valid", bool),
              "reward": ("reward", np.float32)}
    for side, pick_a in (("chosen", a_chosen), ("rejected", ~a_chosen)):
        sel = lambda x: jnp.where(pick_a.reshape((P,) + (1,) * (x.ndim - 1)), x[:P], x[P:])  # noqa: E731
        for name, (src, dt) in fields.items():
            out[f"{side}_{name}"] = np.asarray(sel(traj[src]), dt)
        out[f"{side}_length"] = out[f"{side}_mask"].sum(-1).astype(np.int32)
        out[f"{side}_return"] = out[f"{side}_reward"].sum(-1).astype(np.float32)
        out[f"{side}_level"] = np.asarray(sel(levels), np.int32)
        if rtg:
            out[f"{side}_value"] = np.asarray(sel(value), np.float32)
    chex.assert_shape(out["chosen_tokens"], (P, H, spec.action_size))
    return out


@functools.lru_cache(maxsize=None)
def _sft_program(task: str, act: Any, n: int, n_bins: int, episode_length: int) -> Callable[..., Any]:
    env = tasks.make_env(task)
    spec = tasks.get_task(task, episode_length)

    @jax.jit
    def run(params, idx, key):
        k_reset, k_roll = jax.random.split(key)
        states = jax.vmap(env.reset)(jax.random.split(k_reset, n))
        levels = jnp.full((n,), idx, jnp.int32)
        return token_responses(env, act, params, levels, states, k_roll, episode_length, n_bins,
                               spec.action_low, spec.action_high)

    return run


def generate_sft(cfg: DatasetConfig, experts: Experts, key: jax.Array) -> dict[str, np.ndarray]:
    """SFT split: tokenized steps of full episodes by the sft_level expert (fresh resets, own key)."""
    spec = tasks.get_task(cfg.task, cfg.episode_length)
    run = _sft_program(cfg.task, experts.action_fn(deterministic=False), cfg.sft_episodes, cfg.n_bins,
                       cfg.episode_length)
    traj = run(experts.params, experts.level_index(cfg.sft_level), key)
    valid = np.asarray(traj["valid"]).reshape(-1)
    return {
        "sft_obs": np.asarray(traj["obs"], np.float32).reshape(-1, spec.obs_size)[valid],
        "sft_tokens": np.asarray(traj["record"], np.int32).reshape(-1, spec.action_size)[valid],
    }
