"""Bradley-Terry labels with temperature and label flips, on synthetic returns (no physics needed)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from envs.mujoco.preferences import bradley_terry_labels

N = 20000


def _interval(p, n, conf=0.99):
    lo, hi = stats.binom.interval(conf, n, p)
    return lo / n, hi / n


def test_temperature_zero_picks_higher_return():
    ra = jax.random.normal(jax.random.PRNGKey(0), (N,))
    rb = jax.random.normal(jax.random.PRNGKey(1), (N,))
    lab = bradley_terry_labels(jax.random.PRNGKey(2), ra, rb, 0.0, 0.0)
    assert np.all(np.asarray(lab["a_chosen"]) == np.asarray(ra > rb))
    assert not np.any(np.asarray(lab["flipped"]))


def test_temperature_zero_ties_are_fair_coin():
    r = jnp.zeros((N,))
    lab = bradley_terry_labels(jax.random.PRNGKey(3), r, r, 0.0, 0.0)
    rate = float(np.mean(np.asarray(lab["a_chosen"])))
    lo, hi = _interval(0.5, N)
    assert lo <= rate <= hi
    np.testing.assert_allclose(np.asarray(lab["p_a"]), 0.5)


@pytest.mark.parametrize("temperature", [0.5, 2.0, 10.0])
@pytest.mark.parametrize("gap_over_t", [-2.0, -0.5, 0.0, 1.0, 3.0])
def test_bt_choice_rate_matches_sigmoid(temperature, gap_over_t):
    gap = gap_over_t * temperature
    ra = jnp.full((N,), 1.0 + gap)
    rb = jnp.full((N,), 1.0)
    lab = bradley_terry_labels(jax.random.PRNGKey(4), ra, rb, temperature, 0.0)
    p = 1.0 / (1.0 + np.exp(-gap_over_t))
    np.testing.assert_allclose(np.asarray(lab["p_a"]), p, rtol=1e-5)
    rate = float(np.mean(np.asarray(lab["a_chosen"])))
    lo, hi = _interval(p, N)
    assert lo <= rate <= hi, (rate, lo, hi)


def test_high_temperature_approaches_coin_and_low_approaches_argmax():
    ra = jax.random.normal(jax.random.PRNGKey(5), (N,))
    rb = jax.random.normal(jax.random.PRNGKey(6), (N,))
    agree = lambda T: float(np.mean(np.asarray(  # noqa: E731
        bradley_terry_labels(jax.random.PRNGKey(7), ra, rb, T, 0.0)["a_chosen"]) == np.asarray(ra > rb)))
    rates = [agree(T) for T in (1e-4, 0.3, 1.0, 3.0, 1e4)]
    assert rates[0] > 0.995
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert abs(rates[-1] - 0.5) < 0.02


@pytest.mark.parametrize("eps", [0.1, 0.2, 0.3])
def test_flip_rate_within_binomial_interval(eps):
    ra = jax.random.normal(jax.random.PRNGKey(8), (N,))
    rb = jax.random.normal(jax.random.PRNGKey(9), (N,))
    lab = bradley_terry_labels(jax.random.PRNGKey(10), ra, rb, 0.0, eps)
    flipped = np.asarray(lab["flipped"])
    lo, hi = _interval(eps, N)
    assert lo <= flipped.mean() <= hi
    # a flip is exactly a disagreement with the noiseless label
    assert np.all((np.asarray(lab["a_chosen"]) != np.asarray(ra > rb)) == flipped)
