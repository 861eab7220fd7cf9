"""Action-token head: bins, apply shapes, log-probs, and vmap over parameter pytrees."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.mujoco import token_policy as tp


def _spec(K=7, obs=5, act=3):
    return tp.TokenPolicySpec(obs_dim=obs, act_dim=act, n_bins=K, hidden=(8,), action_low=-1.0, action_high=1.0,
                              obs_mean=(0.0,) * obs, obs_std=(1.0,) * obs)


@given(K=st.integers(2, 64))
@settings(max_examples=25, deadline=None)
def test_token_action_round_trip(K):
    toks = jnp.arange(K)
    acts = tp.token_to_action(toks, K, -1.0, 1.0)
    assert np.all(np.asarray(tp.action_to_token(acts, K, -1.0, 1.0)) == np.arange(K))
    # centers are strictly inside the range and equally spaced
    a = np.asarray(acts)
    assert a[0] > -1.0 and a[-1] < 1.0
    np.testing.assert_allclose(np.diff(a), 2.0 / K, rtol=1e-5)


def test_action_to_token_clips_and_bins():
    t = np.asarray(tp.action_to_token(jnp.array([-5.0, -1.0, -0.01, 0.01, 0.999, 1.0, 7.0]), 4, -1.0, 1.0))
    assert t.tolist() == [0, 0, 1, 2, 3, 3, 3]


def test_apply_shapes_and_probabilities():
    spec = _spec()
    params = tp.init_params(spec, jax.random.PRNGKey(0))
    apply = tp.make_apply(spec)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 6, spec.obs_dim))
    logits = apply(params, obs)
    assert logits.shape == (4, 6, spec.act_dim, spec.n_bins)
    probs = jax.nn.softmax(logits, -1)
    np.testing.assert_allclose(np.asarray(probs.sum(-1)), 1.0, rtol=1e-5)
    assert np.all(np.asarray(probs) > 0)


def test_sequence_log_probs_flatten_and_mask():
    spec = _spec()
    apply = tp.make_apply(spec)
    params = tp.init_params(spec, jax.random.PRNGKey(0))
    H = 5
    obs = jax.random.normal(jax.random.PRNGKey(1), (H, spec.obs_dim))
    toks = jax.random.randint(jax.random.PRNGKey(2), (H, spec.act_dim), 0, spec.n_bins)
    mask = jnp.arange(H) < 3
    lp, m = tp.sequence_token_log_probs(tp.make_token_log_probs(spec), params, obs, toks, mask)
    assert lp.shape == (H * spec.act_dim,) and m.shape == (H * spec.act_dim,)
    assert float(m.sum()) == 3 * spec.act_dim
    # token t = step * act_dim + dim
    logp = jax.nn.log_softmax(apply(params, obs), -1)
    step, dim = 1, 2
    assert np.isclose(float(lp[step * spec.act_dim + dim]), float(logp[step, dim, toks[step, dim]]))
    assert np.all(np.asarray(lp[3 * spec.act_dim:]) == 0.0)


@pytest.mark.parametrize("hidden", [(), (8,), (16, 8)])
def test_token_log_probs_fast_path_matches_apply(hidden):
    """The rows-minor fine-tuning path equals log_softmax(apply(...)) picked at the tokens: values and
    gradients, for one policy and vmapped over a population of policies."""
    spec = dataclasses.replace(_spec(K=15), hidden=hidden)
    apply, fast = tp.make_apply(spec), tp.make_token_log_probs(spec)
    params = tp.init_params(spec, jax.random.PRNGKey(0))
    # a trained head is far from uniform: scale the parameters so logits spread over several nats
    params = jax.tree.map(lambda x: 8.0 * x + 0.1, params)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 6, spec.obs_dim))
    toks = jax.random.randint(jax.random.PRNGKey(2), (4, 6, spec.act_dim), 0, spec.n_bins)
    weights = jax.random.normal(jax.random.PRNGKey(3), (4, 6, spec.act_dim))

    def reference(p):
        return jnp.take_along_axis(jax.nn.log_softmax(apply(p, obs), -1), toks[..., None], -1)[..., 0]

    np.testing.assert_allclose(np.asarray(fast(params, obs, toks)), np.asarray(reference(params)), rtol=1e-5, atol=1e-5)
    g_ref = jax.grad(lambda p: jnp.sum(weights * reference(p)))(params)
    g_fast = jax.grad(lambda p: jnp.sum(weights * fast(p, obs, toks)))(params)
    for a, b in zip(jax.tree.leaves(g_ref), jax.tree.leaves(g_fast)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-5)
    pop = jax.vmap(lambda k: tp.init_params(spec, k))(jax.random.split(jax.random.PRNGKey(4), 3))
    batched = jax.jit(jax.vmap(jax.grad(lambda p: jnp.sum(weights * fast(p, obs, toks)))))(pop)
    one = jax.grad(lambda p: jnp.sum(weights * reference(p)))(jax.tree.map(lambda x: x[1], pop))
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(batched)):
        np.testing.assert_allclose(np.asarray(b[1]), np.asarray(a), rtol=1e-4, atol=1e-5)


def test_apply_vmaps_over_parameter_population():
    spec = _spec()
    apply = tp.make_apply(spec)
    pop = jax.vmap(lambda k: tp.init_params(spec, k))(jax.random.split(jax.random.PRNGKey(0), 16))
    obs = jnp.ones((spec.obs_dim,))
    out = jax.jit(jax.vmap(apply, in_axes=(0, None)))(pop, obs)
    assert out.shape == (16, spec.act_dim, spec.n_bins)
    one = apply(jax.tree.map(lambda x: x[3], pop), obs)
    np.testing.assert_allclose(np.asarray(out[3]), np.asarray(one), rtol=1e-5, atol=1e-6)


def test_flatten_unflatten_round_trip_and_errors():
    spec = _spec()
    params = tp.init_params(spec, jax.random.PRNGKey(0))
    flat = tp.flatten_params(params)
    back = tp.unflatten_params(spec, flat)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(back)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    k = next(iter(flat))
    with pytest.raises(ValueError, match="missing array"):
        tp.unflatten_params(spec, {kk: v for kk, v in flat.items() if kk != k})


def test_spec_rejects_bad_bins():
    with pytest.raises(ValueError, match="n_bins"):
        _spec(K=1)
