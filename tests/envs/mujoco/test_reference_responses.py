"""Responses sampled from the reference policy itself (response_levels = ("reference",)): the actor samples
the reference's tokens (a peaked reference gives its peak token, in the action and in the stored pairs),
the stored level is one past the experts', and a config that mixes the reference with experts, or pairs
asked for without the reference, is one clear error. Generating pairs compiles an MJX program (about 100 s
cold on 2 cores), so that test is slow; the rest is cheap."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.mujoco import experts, preferences, settings
from envs.mujoco import token_policy as tp

PEAK = 3


def _peaked(obs_dim: int, act_dim: int, n_bins: int = 5) -> tuple[tp.TokenPolicySpec, dict]:
    """A reference whose every action dimension samples token PEAK (its last bias dominates)."""
    spec = tp.TokenPolicySpec(obs_dim=obs_dim, act_dim=act_dim, n_bins=n_bins, hidden=(8,), action_low=-1.0,
                              action_high=1.0, obs_mean=(0.0,) * obs_dim, obs_std=(1.0,) * obs_dim)
    params = tp.init_params(spec, jax.random.PRNGKey(0))
    bias = jnp.zeros((act_dim, n_bins)).at[:, PEAK].set(50.0).reshape(-1)
    params["params"]["Dense_1"]["bias"] = bias
    return spec, params


def test_action_fn_samples_the_reference_tokens():
    spec, params = _peaked(obs_dim=3, act_dim=2)
    act = tp.action_fn(spec)
    assert tp.action_fn(spec) is act  # one function per spec: the pairs program is traced once
    obs = jax.random.normal(jax.random.PRNGKey(1), (64, 3))
    a = jax.vmap(lambda o, k: act(params, o, k))(obs, jax.random.split(jax.random.PRNGKey(2), 64))
    np.testing.assert_array_equal(tp.action_to_token(a, 5, -1.0, 1.0), PEAK)
    # a freshly initialized (near-uniform) reference gives every token: the actor samples, it is not greedy
    fresh = tp.init_params(spec, jax.random.PRNGKey(0))
    one_obs = jnp.broadcast_to(obs[0], obs.shape)  # one state, 64 keys: a greedy actor would give one token
    a_u = jax.vmap(lambda o, k: act(fresh, o, k))(one_obs, jax.random.split(jax.random.PRNGKey(2), 64))
    assert len(np.unique(np.asarray(tp.action_to_token(a_u, 5, -1.0, 1.0)))) == 5


def test_reference_alone_and_needed():
    with pytest.raises(ValueError, match="response_levels.*'reference' alone"):
        settings.DatasetConfig(response_levels=("q50", settings.REFERENCE))
    assert settings.DatasetConfig(response_levels=(settings.REFERENCE,)).response_levels == ("reference",)
    cfg = settings.DatasetConfig(task="hopper", response_levels=(settings.REFERENCE,), n_pairs=4, horizon=2)
    ex = experts.untrained_experts("hopper", jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="response_levels: 'reference' needs the reference policy"):
        preferences.generate_pairs(cfg, ex, jax.random.PRNGKey(3))


def test_walker2d_settings_sample_the_reference_and_hopper_keeps_its_experts():
    """walker2d's v2 recipe (settings.TASK_RECIPES) on every setting whose responses are V2's; mixed-quality
    keeps its q10 / q100 experts, and hopper (whose data ships) keeps q50 responses everywhere."""
    for name in settings.V2_RESPONSES:
        assert settings.make_config("walker2d", name).response_levels == (settings.REFERENCE,), name
        assert settings.make_config("hopper", name).response_levels == ("q50",), name
    assert settings.make_config("walker2d", "mixed-quality").response_levels == ("q10", "q100")
    assert settings.make_config("walker2d", "noisy-0.3").flip_eps == 0.3  # the recipe adds, it replaces nothing
    # an explicit override still wins over the task's recipe
    assert settings.make_config("walker2d", "clean", response_levels=("q50",)).response_levels == ("q50",)


@pytest.mark.slow
def test_pairs_are_the_reference_samples():
    ex = experts.untrained_experts("hopper", jax.random.PRNGKey(0))
    spec, params = _peaked(obs_dim=ex.obs_size, act_dim=ex.action_size, n_bins=15)
    cfg = settings.DatasetConfig(task="hopper", n_pairs=32, horizon=4, prompt_max_step=3, episode_length=16,
                                 n_bins=15, response_levels=(settings.REFERENCE,))
    p = preferences.generate_pairs(cfg, ex, jax.random.PRNGKey(3), reference=(spec, params))
    for side in ("chosen", "rejected"):
        valid = p[f"{side}_mask"]
        assert valid.any()
        np.testing.assert_array_equal(p[f"{side}_tokens"][valid], PEAK)
        np.testing.assert_array_equal(p[f"{side}_level"], ex.n_levels)
    assert np.all(p["chosen_return"] >= p["rejected_return"])  # T = 0, segment labels
