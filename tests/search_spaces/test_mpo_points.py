"""Zoo losses recovered exactly by documented MPO parameter settings (values and gradients)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_spaces.mpo import mpo_loss
from search_spaces.points import mpo_point, point_names
from search_spaces.registry import get_loss
from tests.helpers import random_arrays, random_hparams, to_batch

REQUIRED_POINTS = ["sigmoid", "cdpo", "robust", "ipo", "hinge", "nca_pair", "bco_pair", "sppo_hard", "apo_zero",
                   "apo_down", "orpo", "cpo", "simpo", "rdpo_length", "ln_dpo", "discopop"]


def test_required_points_exist():
    assert set(REQUIRED_POINTS) <= set(point_names())


def _grads(fn, params, batch, tau):
    def mean_loss(lp):
        b = batch._replace(policy_w=lp[0], policy_l=lp[1])
        return fn(params, b, tau).mean()

    return jax.grad(mean_loss)((batch.policy_w, batch.policy_l))


# Every point shares one pytree structure, so these compile once per dtype for all points.
_mpo_value = jax.jit(mpo_loss)
_mpo_grads = jax.jit(lambda p, b, t: _grads(mpo_loss, p, b, t))


@pytest.mark.parametrize("setting", ["defaults", "random"])
@pytest.mark.parametrize("name", point_names())
def test_mpo_point_equals_zoo_loss(name, setting):
    with jax.enable_x64(True):
        spec = get_loss(name)
        hp = spec.params() if setting == "defaults" else random_hparams(name, seed=len(name))
        point = mpo_point(name, dtype=jnp.float64, **hp)
        for seed, tau in ((3, 0.0), (4, 0.8)):
            batch = to_batch(random_arrays(seed, batch=7, length=11))
            np.testing.assert_allclose(_mpo_value(point, batch, tau), spec.fn(hp, batch, tau), rtol=1e-6, atol=1e-6)
            for g_mpo, g_zoo in zip(_mpo_grads(point, batch, tau), _grads(spec.fn, hp, batch, tau)):
                np.testing.assert_allclose(g_mpo, g_zoo, rtol=1e-6, atol=1e-6)


def test_non_points_refuse_clearly():
    for name in ("exo_pair", "kto_pair", "aot"):
        with pytest.raises(ValueError, match="not a point of the MPO family"):
            mpo_point(name)


def test_point_outside_search_box_is_rejected_with_field_name():
    with pytest.raises(ValueError, match="beta"):
        mpo_point("sigmoid", beta=1e-6)
