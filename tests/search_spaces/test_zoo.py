"""Every zoo loss against an independent NumPy implementation of its published formula."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_spaces.registry import get_loss, zoo_names
from tests.helpers import random_arrays, random_hparams, to_batch
from tests.reference_losses import REFERENCE, fd_grad, reference_loss

ZOO = zoo_names()
REQUIRED = ["sigmoid", "cdpo", "robust", "ipo", "hinge", "exo_pair", "nca_pair", "bco_pair", "sppo_hard",
            "apo_zero", "apo_down", "kto_pair", "orpo", "cpo", "simpo", "rdpo_length", "ln_dpo", "discopop", "aot"]


def test_zoo_covers_the_issue_list_and_every_loss_has_a_reference():
    assert set(REQUIRED) <= set(ZOO)
    assert set(ZOO) == set(REFERENCE), "every registered zoo loss needs an independent reference"


@pytest.mark.parametrize("setting", ["defaults", "random"])
@pytest.mark.parametrize("name", ZOO)
def test_value_and_gradient_match_reference(name, setting):
    with jax.enable_x64(True):
        spec = get_loss(name)
        params = spec.params() if setting == "defaults" else random_hparams(name, seed=hash(name) % 1000)
        for seed in (1, 2):
            arrays = random_arrays(seed)
            batch = to_batch(arrays)
            value = spec.fn(params, batch, 0.3)
            assert value.shape == (arrays[0].shape[0],) and value.dtype == jnp.float64
            np.testing.assert_allclose(value, reference_loss(name, params, arrays), rtol=1e-6, atol=1e-6)

            grads = jax.grad(lambda lp: spec.fn(params, batch._replace(
                policy_w=lp[0], policy_l=lp[1], ref_w=lp[2], ref_l=lp[3]), 0.3).mean())(
                (batch.policy_w, batch.policy_l, batch.ref_w, batch.ref_l))
            for g, ref_g in zip(grads, fd_grad(name, params, arrays)):
                np.testing.assert_allclose(g, ref_g, rtol=1e-6, atol=1e-6)


# Each paper's formula evaluated at a_w=-12, a_l=-15, r_w=-13, r_l=-14, n_w=10, n_l=15, beta=0.1.
ANCHORS = {
    "sigmoid": ({}, 0.598139),
    "cdpo": ({"eps": 0.1}, 0.618139),
    "robust": ({"eps": 0.1}, 0.573139),
    "ipo": ({}, 23.361111),
    "ipo_sum": ({}, 9.0),
    "hinge": ({}, 0.8),
    "exo_pair": ({"eps": 1e-3}, 2.422015),
    "nca_pair": ({"beta": 0.1}, 1.338793),
    "bco_pair": ({}, 1.288793),
    "sppo_hard": ({"beta": 0.1}, 32.0),
    "apo_zero": ({}, 0.950042),
    "apo_down": ({}, 0.975145),
    "discopop": ({"beta": 0.1, "discopop_tau": 0.05}, 0.814763),
    "ln_dpo": ({}, 0.684849),
    "rdpo_length": ({"alpha": 0.01}, 0.620957),
    "simpo": ({"beta": 2.0, "gamma": 0.5}, 1.241154),
}


def anchor_arrays():
    pad = lambda v, n: np.where(np.arange(15) < n, v, np.nan)[None, :]
    mask = lambda n: (np.arange(15) < n).astype(float)[None, :]
    return (pad(-1.2, 10), pad(-1.0, 15), pad(-1.3, 10), pad(-14 / 15, 15), mask(10), mask(15))


@pytest.mark.parametrize("name", sorted(ANCHORS))
def test_anchor_values_from_the_catalogue(name):
    overrides, expected = ANCHORS[name]
    with jax.enable_x64(True):
        spec = get_loss(name)
        value = spec.fn(spec.params(**overrides), to_batch(anchor_arrays()), 0.0)
        np.testing.assert_allclose(float(value[0]), expected, atol=1e-6)


def test_orpo_and_cpo_preference_terms_at_anchor():
    with jax.enable_x64(True):
        batch = to_batch(anchor_arrays())
        nll = 1.2  # token-mean NLL of the chosen response
        orpo = get_loss("orpo")
        np.testing.assert_allclose(float(orpo.fn(orpo.params(), batch, 0.0)[0]) - nll, 0.085452, atol=1e-6)
        cpo = get_loss("cpo")
        np.testing.assert_allclose(float(cpo.fn(cpo.params(alpha=0.0), batch, 0.0)[0]), 0.554355, atol=1e-6)


def test_discopop_shape_matches_the_paper():
    """At beta = tau = 0.05: f(0) = 1/2 log 2 + 1/2, positive slope at 0, local min at rho = -2.3714."""
    with jax.enable_x64(True):
        spec = get_loss("discopop")
        params = spec.params()

        def loss_at(rho):
            arr = (jnp.full((1, 1), -1.0) + rho, jnp.full((1, 1), -1.0), jnp.full((1, 1), -1.0),
                   jnp.full((1, 1), -1.0), jnp.ones((1, 1)), jnp.ones((1, 1)))
            from search_spaces.batch import PrefBatch
            return spec.fn(params, PrefBatch(*arr), 0.0)[0]

        np.testing.assert_allclose(loss_at(0.0), 0.5 * math.log(2) + 0.5, atol=1e-6)
        np.testing.assert_allclose(jax.grad(loss_at)(0.0), 0.0392, atol=1e-4)
        np.testing.assert_allclose(jax.grad(loss_at)(-2.3714), 0.0, atol=1e-4)
        np.testing.assert_allclose(loss_at(-2.3714), 0.78592, atol=1e-5)
