"""Property tests of the MPO search space: any vector is a valid, finite loss; the map round-trips."""
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from search_spaces.mirror_maps import mirror_map
from search_spaces.mpo import MPOParams, mpo_loss, resolve
from search_spaces.points import mpo_point, point_names
from search_spaces.search_space import SearchSpace
from tests.helpers import random_arrays, to_batch

SPACE = SearchSpace()
D = SPACE.size
# Vectors well outside the box too: from_vector must clip them into a valid loss.
any_vector = arrays(np.float64, D, elements=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False))
LOW, HIGH = SPACE.bounds()
in_box = arrays(np.float64, D, elements=st.floats(0.0, 1.0, allow_subnormal=False)).map(lambda x: np.clip(LOW + x * (HIGH - LOW), LOW, HIGH))
progress = st.floats(0.0, 1.0)

# Compiled once: hypothesis calls these many times.
_loss_and_grad = jax.jit(
    lambda vec, batch, tau: jax.value_and_grad(lambda pw: mpo_loss(SPACE.from_vector(vec), batch._replace(policy_w=pw), tau).mean())(batch.policy_w)
)
_losses = jax.jit(lambda vec, batch, tau: mpo_loss(SPACE.from_vector(vec), batch, tau))
U_GRID = -np.geomspace(1e-4, 300.0, 400)[::-1]  # log-probs from -300 (sequence sums) to near 0


@jax.jit
def _mirror_slopes(vec, tau):
    c = resolve(SPACE.from_vector(vec), tau)
    m = lambda u: mirror_map(u, c.mirror_w, c.mirror_pl)
    u = jnp.asarray(U_GRID, vec.dtype)
    return m(u), jax.vmap(jax.grad(m))(u)


@settings(max_examples=60, deadline=None)
@given(vec=any_vector, tau=progress, seed=st.integers(0, 3))
def test_any_vector_gives_finite_loss_and_gradient_float32(vec, tau, seed):
    batch = to_batch(random_arrays(seed, batch=5, length=40), jnp.float32)
    losses = _losses(jnp.asarray(vec, jnp.float32), batch, tau)
    assert losses.dtype == jnp.float32 and losses.shape == (5,)
    assert bool(jnp.all(jnp.isfinite(losses)))
    value, grad = _loss_and_grad(jnp.asarray(vec, jnp.float32), batch, tau)
    assert bool(jnp.isfinite(value)) and bool(jnp.all(jnp.isfinite(grad)))


@settings(max_examples=60, deadline=None)
@given(vec=any_vector, tau=progress)
def test_any_vector_gives_strictly_increasing_mirror_map(vec, tau):
    # float64: a q-log's slope e^{(q-1)u} is positive but underflows float32 below u ~ -200.
    with jax.enable_x64(True):
        values, slopes = _mirror_slopes(jnp.asarray(vec, jnp.float64), tau)
    values, slopes = np.asarray(values), np.asarray(slopes)  # stay float64 outside the x64 context
    bad = np.flatnonzero(~(slopes > 0))
    assert bad.size == 0, f"mirror map derivative must be positive everywhere; not at u={U_GRID[bad]}: {slopes[bad]}"
    assert np.all(np.diff(values) >= 0) and np.all(np.isfinite(values))


@settings(max_examples=100, deadline=None)
@given(vec=in_box)
def test_vector_params_vector_round_trip(vec):
    with jax.enable_x64(True):
        space = SearchSpace(fixed=mpo_point("sigmoid", dtype=jnp.float64))
        params = space.from_vector(jnp.asarray(vec))
        np.testing.assert_array_equal(space.to_vector(params), vec)
        again = space.from_vector(space.to_vector(params))
        jax.tree.map(np.testing.assert_array_equal, again, params)


@settings(max_examples=40, deadline=None)
@given(vec=any_vector)
def test_out_of_box_vectors_are_clipped_to_the_box(vec):
    lo, hi = SPACE.bounds()
    clipped = SPACE.to_vector(SPACE.from_vector(jnp.asarray(vec, jnp.float32)))
    np.testing.assert_allclose(clipped, np.clip(vec, lo, hi), rtol=1e-6, atol=1e-6)


def test_every_zoo_point_survives_the_vector_round_trip():
    with jax.enable_x64(True):
        batch = to_batch(random_arrays(5))
        for name in point_names():
            point = mpo_point(name, dtype=jnp.float64)
            space = SearchSpace(fixed=point)
            back = space.from_vector(space.to_vector(point))
            np.testing.assert_allclose(mpo_loss(back, batch, 0.5), mpo_loss(point, batch, 0.5), rtol=1e-12, err_msg=name)


def test_temporal_coefficients_move_linearly_with_tau():
    point = mpo_point("sigmoid")
    slope = point.slope._replace(w_sft=jnp.asarray(2.0), log_beta=jnp.asarray(-1.0))
    params = MPOParams(point.base, slope)
    for tau in (0.0, 0.25, 1.0):
        c = resolve(params, tau)
        np.testing.assert_allclose(c.w_sft, 2.0 * tau, rtol=1e-6)
        np.testing.assert_allclose(c.beta, 0.1 * np.exp(-tau), rtol=1e-6)
    batch = to_batch(random_arrays(6), jnp.float32)
    assert not np.allclose(mpo_loss(params, batch, 0.0), mpo_loss(params, batch, 1.0))


def test_search_space_rejects_unknown_fields_and_out_of_box_points():
    import pytest

    with pytest.raises(ValueError, match="unknown field"):
        SearchSpace(fields=("lam", "nope"))
    bad = mpo_point("sigmoid")
    bad = bad._replace(base=bad.base._replace(gamma=jnp.asarray(50.0)))
    with pytest.raises(ValueError, match=r"base.gamma = 50"):
        SearchSpace().to_vector(bad)


def test_default_search_vector_size():
    assert SPACE.size == len(SPACE.names()) == 53
    assert SearchSpace(temporal=()).size == 44
