"""A tiny generation run end to end on CPU (untrained experts, few pairs, short horizon)."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import runtime
from envs.mujoco import build, experts, rollout, settings, tasks
from envs.mujoco import token_policy as tp

runtime.enable_compilation_cache()

TINY = dict(n_pairs=8, horizon=6, prompt_max_step=5, sft_episodes=2, episode_length=20, bc_steps=20,
            bc_batch=16, eval_episodes=2)


def _save_untrained(directory):
    ex = experts.untrained_experts("hopper", jax.random.PRNGKey(0))
    meta = {"task": "hopper", "levels": ex.levels, "obs_size": ex.obs_size, "action_size": ex.action_size,
            "policy_hidden": list(ex.policy_hidden)}
    experts.save_experts(directory, meta, [ex.level_params(i) for i in range(ex.n_levels)])
    return ex


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    _save_untrained(root / "experts")
    tj = root / "tasks.json"
    tj.write_text(json.dumps({"hopper": {"random_return": 5.0, "expert_return": 25.0}}))
    cfg = settings.make_config("hopper", "h48-clean", **TINY)  # the segment-label generator (v1 recipe)
    ds = build.build_dataset(cfg, root / "clean", experts_dir=root / "experts", tasks_json=tj)
    return root, cfg, ds


def test_tiny_run_is_valid_and_sized(tiny):
    root, cfg, ds = tiny
    s = ds.sizes
    assert (s["n_pairs"], s["horizon"], s["obs_dim"], s["act_dim"], s["n_bins"]) == (8, 6, 11, 3, cfg.n_bins)
    assert ds.pairs["chosen_tokens"].shape == (8, 6, 3)
    assert ds.manifest["properties"] == cfg.to_json()
    assert s["n_sft"] == ds.sft["sft_obs"].shape[0] > 0
    assert np.isfinite(ds.manifest["reference"]["normalized_score"])
    # the stored prompt observation is the first observation of both responses (same copied state)
    np.testing.assert_array_equal(ds.pairs["chosen_obs"][:, 0], ds.pairs["prompt_obs"])
    np.testing.assert_array_equal(ds.pairs["rejected_obs"][:, 0], ds.pairs["prompt_obs"])


def test_temperature_zero_eps_zero_chosen_not_worse(tiny):
    _, _, ds = tiny
    assert np.all(ds.pairs["chosen_return"] >= ds.pairs["rejected_return"])
    assert not np.any(ds.pairs["flipped"])


def test_same_config_and_seed_same_numbers(tiny, tmp_path):
    root, cfg, ds = tiny
    again = build.build_dataset(cfg, tmp_path / "again", experts_dir=root / "experts",
                                        tasks_json=root / "tasks.json")
    assert again.manifest["checksum"] == ds.manifest["checksum"]


def test_existing_output_is_refused_before_any_work(tiny):
    root, cfg, _ = tiny
    with pytest.raises(FileExistsError, match="already exists"):
        build.build_dataset(cfg, root / "clean", experts_dir=root / "experts", tasks_json=root / "tasks.json")


def test_tokens_replay_the_response_from_the_prompt_state(tiny):
    """Re-simulating the stored tokens from the stored prompt qpos/qvel reproduces the stored rewards."""
    _, cfg, ds = tiny
    env = tasks.make_env("hopper")
    spec = ds.reference_spec
    toks = jnp.asarray(ds.pairs["chosen_tokens"])

    def replay(q, qd, tk):
        st = env.reset(jax.random.PRNGKey(0))
        ps = env.pipeline_init(q, qd)
        st = st.replace(pipeline_state=ps, obs=env._get_obs(ps))
        acts = tp.token_to_action(tk, spec.n_bins, spec.action_low, spec.action_high)

        def step(s, a):
            n = env.step(s, a)
            return n, (s.obs, n.reward)

        return jax.lax.scan(step, st, acts)[1]

    obs, r = jax.jit(jax.vmap(replay))(jnp.asarray(ds.pairs["prompt_qpos"]), jnp.asarray(ds.pairs["prompt_qvel"]),
                                       toks)
    m = ds.pairs["chosen_mask"]
    np.testing.assert_allclose(np.asarray(obs[:, 0]), ds.pairs["prompt_obs"], atol=1e-2)
    # brax measures forward velocity from body positions, which lag qpos by one physics substep in the
    # stored state; re-initializing from (qpos, qvel) recomputes them, so only step 0's reward moves a bit.
    np.testing.assert_allclose(np.asarray(r)[:, 1:] * m[:, 1:], ds.pairs["chosen_reward"][:, 1:], atol=2e-3)
    np.testing.assert_allclose(np.asarray(r)[:, 0], ds.pairs["chosen_reward"][:, 0], atol=0.2)


def test_evaluate_is_jittable_and_vmaps_over_policies(tiny):
    """vmap over a population of policies; row 0 (the reference, with the generator's evaluation key)
    reproduces the reference return recorded in the manifest."""
    _, cfg, ds = tiny
    spec = ds.reference_spec
    evaluate = rollout.make_evaluate("hopper", spec)
    pop = jax.vmap(lambda k: tp.init_params(spec, k))(jax.random.split(jax.random.PRNGKey(1), 3))
    pop = jax.tree.map(lambda a, r: a.at[0].set(r), pop, ds.reference_params)
    k_eval = build.stream_keys(cfg.seed)[3]
    keys = jnp.stack([k_eval, jax.random.PRNGKey(5), jax.random.PRNGKey(6)])
    n, T = cfg.eval_episodes, cfg.episode_length
    out = jax.jit(jax.vmap(lambda p, k: evaluate(p, k, n, T)))(pop, keys)
    assert out.shape == (3,) and np.all(np.isfinite(np.asarray(out)))
    np.testing.assert_allclose(float(out[0]), ds.manifest["reference"]["return"], rtol=1e-4, atol=1e-3)


def test_cli_show_prints_summary_and_png(tiny, capsys):
    from discovery import cli

    root, _, _ = tiny
    png = root / "show.png"
    assert cli.main(["data", "show", str(root / "clean"), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "agreement with true returns 100.0%" in out
    assert "reference    return" in out
    assert png.stat().st_size > 1000


def test_cli_make_refuses_existing_dir(tiny, capsys):
    from discovery import cli

    root, _, _ = tiny
    rc = cli.main(["data", "make", "--task", "hopper", "--setting", "clean", "--out", str(root / "clean")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "is not empty" in err and "--force" in err
