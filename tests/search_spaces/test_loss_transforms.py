"""Every registered loss (zoo and MPO) under jit, vmap and grad, in float32 and float64."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_spaces.batch import PrefBatch, validate_batch
from search_spaces.mpo import MPOParams
from search_spaces.points import mpo_point
from search_spaces.registry import get_loss, loss_names
from search_spaces.search_space import SearchSpace
from tests.helpers import random_arrays, to_batch


def loss_and_params(name, dtype):
    spec = get_loss(name)
    if name == "mpo":  # a temporal point away from every zoo loss
        space = SearchSpace(fixed=mpo_point("sigmoid"))
        vec = jnp.asarray(np.random.default_rng(0).uniform(*space.bounds()), dtype)
        return spec.fn, space.from_vector(vec)
    return spec.fn, jax.tree.map(lambda v: jnp.asarray(v, dtype), spec.params())


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("name", loss_names())
def test_jit_vmap_grad_and_dtype(name, dtype):
    with jax.enable_x64(dtype == jnp.float64):
        fn, params = loss_and_params(name, dtype)
        stacked = [to_batch(random_arrays(s, batch=4, length=6), dtype) for s in range(3)]
        batches = jax.tree.map(lambda *x: jnp.stack(x), *stacked)

        single = jax.jit(fn)
        jitted = single(params, stacked[0], 0.5)
        assert jitted.shape == (4,) and jitted.dtype == dtype

        # vmap over batches and over training progress, as an inner run's scan does
        taus = jnp.asarray([0.0, 0.5, 1.0], dtype)
        vmapped = jax.jit(jax.vmap(fn, in_axes=(None, 0, 0)))(params, batches, taus)
        looped = jnp.stack([single(params, b, t) for b, t in zip(stacked, taus)])
        np.testing.assert_allclose(vmapped, looped, rtol=1e-5 if dtype == jnp.float32 else 1e-12)

        # vmap over parameters (a population of losses / a hyperparameter grid)
        pop = jax.tree.map(lambda x: jnp.stack([x, x * 0.5 if name != "mpo" else x]), params)
        assert jax.vmap(fn, in_axes=(0, None, None))(pop, stacked[0], 0.1).shape == (2, 4)

        grad = jax.jit(jax.grad(lambda pw: fn(params, stacked[0]._replace(policy_w=pw), 0.3).mean()))(
            stacked[0].policy_w)
        assert grad.dtype == dtype and bool(jnp.all(jnp.isfinite(grad)))
        assert float(jnp.abs(grad).sum()) > 0, "the chosen response's log-probs must get a gradient"


@pytest.mark.parametrize("name", loss_names())
def test_extreme_margins_stay_finite(name):
    """rho = +-200 must give finite values and gradients (exp terms capped at search_spaces.primitives.EXP_CAP)."""
    fn, params = loss_and_params(name, jnp.float32)
    for rho in (-200.0, 200.0):
        ones = jnp.ones((2, 1), jnp.float32)
        batch = PrefBatch(-1.0 * ones + rho, -1.0 * ones, -1.0 * ones, -1.0 * ones, ones, ones)
        batch = batch._replace(policy_w=jnp.minimum(batch.policy_w, -1e-3))
        value, grad = jax.jit(jax.value_and_grad(lambda pl: fn(params, batch._replace(policy_l=pl), 0.0).mean()))(
            batch.policy_l - (rho if rho > 0 else 0.0))
        assert bool(jnp.isfinite(value)) and bool(jnp.all(jnp.isfinite(grad))), (name, rho)


def test_discopop_validation_bar():
    """DiscoPOP's own validation: N(0,1) inputs of shape (10,), finite per-example output and gradients."""
    key = jax.random.key(0)
    pw, pl, rw, rl = -jnp.abs(jax.random.normal(key, (4, 10, 1)))
    ones = jnp.ones((10, 1))
    for name in loss_names():
        fn, params = loss_and_params(name, jnp.float32)
        batch = PrefBatch(pw, pl, rw, rl, ones, ones)
        out = jax.jit(fn)(params, batch, 0.0)
        assert out.shape == (10,) and bool(jnp.all(jnp.isfinite(out))), name
        g = jax.jit(jax.grad(lambda p: fn(params, batch._replace(policy_w=p), 0.0).mean()))(pw)
        assert bool(jnp.all(jnp.isfinite(g))), name


@pytest.mark.parametrize(
    "field,mutate,message",
    [
        ("policy_l", lambda a: a._replace(policy_l=a.policy_l[:, :3]), "batch.policy_l"),
        ("mask_w", lambda a: a._replace(mask_w=a.mask_w * 0.5), "batch.mask_w: values must be 0 or 1"),
        ("mask_l", lambda a: a._replace(mask_l=a.mask_l.at[0].set(0.0)), "batch.mask_l: every response"),
        ("ref_w", lambda a: a._replace(ref_w=jnp.abs(a.ref_w)), "batch.ref_w: token log-probs"),
        ("policy_w", lambda a: a._replace(policy_w=a.policy_w[0]), "batch.policy_w: expected shape"),
        ("ref_l", lambda a: a._replace(ref_l=a.ref_l.astype(jnp.int32)), "batch.ref_l: expected a floating"),
    ],
)
def test_validate_batch_names_the_field(field, mutate, message):
    good = to_batch(random_arrays(0, pad_value=0.0), jnp.float32)
    assert validate_batch(good) is good
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        validate_batch(mutate(good))


def test_unknown_loss_and_bad_hyperparameters_are_clear():
    with pytest.raises(ValueError, match="unknown loss 'dpoo'; known losses: .*sigmoid"):
        get_loss("dpoo")
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['betta'\]; allowed: beta"):
        get_loss("sigmoid").params(betta=0.1)
    with pytest.raises(ValueError, match=r"eps=0.5 out of range; allowed \[0.0, 0.5\)"):
        get_loss("robust").params(eps=0.5)
    with pytest.raises(ValueError, match="beta=0.0 out of range"):
        get_loss("sigmoid").params(beta=0.0)
    assert isinstance(mpo_point("orpo"), MPOParams)


def test_mismatched_shapes_fail_at_trace_time():
    batch = to_batch(random_arrays(0), jnp.float32)
    bad = batch._replace(ref_l=batch.ref_l[:, :-1])
    for name in ("sigmoid", "mpo"):
        fn, params = loss_and_params(name, jnp.float32)
        with pytest.raises(AssertionError):
            jax.jit(fn)(params, bad, 0.0)
