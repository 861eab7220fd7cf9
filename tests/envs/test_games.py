"""Preference games: generators, LP Nash equilibria, duality gap, regularized NE."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax, softmax

from envs.games import (
    GAME_FAMILIES,
    duality_gap,
    make_games,
    nash_lp,
    regularized_nash,
    validate_game,
)


def rps() -> np.ndarray:
    return make_games("cyclic", 1, 3)[0].astype(np.float64)


def test_rps_nash_is_uniform_with_zero_gap() -> None:
    P = rps()
    np.testing.assert_allclose(P[0], [[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    ne = nash_lp(P)
    np.testing.assert_allclose(ne, np.full((1, 3), 1 / 3), atol=1e-9)
    assert abs(duality_gap(P, ne)) < 1e-12


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3).filter(lambda w: sum(w) > 1e-3))
def test_rps_gap_positive_off_the_nash(w: list[float]) -> None:
    pi = np.asarray(w)[None] / sum(w)
    gap = duality_gap(rps(), pi)
    # For RPS with certain wins, DG(pi) = max_y (pi_{y+1} - pi_{y-1}) >= |pi - uniform|_inf.
    assert gap >= np.abs(pi - 1 / 3).max() - 1e-12
    assert gap >= 0.0


@pytest.mark.parametrize("family,n", [("skew", 6), ("annotators", 5), ("cyclic", 6), ("transitive", 4)])
def test_gap_zero_at_lp_nash_and_positive_after_perturbation(family: str, n: int) -> None:
    games = make_games(family, 4, n, contexts=2, seed=3).astype(np.float64)
    rng = np.random.default_rng(0)
    for P in games:
        ne = nash_lp(P)
        assert duality_gap(P, ne) < 1e-7
        # The value of a symmetric constant-sum game is 1/2: no response beats the NE.
        assert (np.einsum("cij,cj->ci", P, ne) <= 0.5 + 1e-7).all()
        for _ in range(5):
            other = 0.9 * ne + 0.1 * rng.dirichlet(np.ones(n), size=ne.shape[0])
            assert duality_gap(P, other) > 1e-4


def test_gap_identity_and_backends_agree() -> None:
    P = make_games("skew", 3, 5, contexts=4, seed=1).astype(np.float64)
    pi = softmax(np.random.default_rng(2).normal(size=(3, 4, 5)), axis=-1)
    gap = duality_gap(P, pi)
    assert gap.shape == (3,)
    # With P + P^T = 1 the gap reduces to 2 max_y P(y > pi) - 1, per context, averaged.
    np.testing.assert_allclose(gap, (2 * np.einsum("gcij,gcj->gci", P, pi).max(-1) - 1).mean(-1), atol=1e-12)
    np.testing.assert_allclose(np.asarray(duality_gap(jnp.asarray(P, jnp.float32), jnp.asarray(pi, jnp.float32))),
                               gap, atol=1e-6)


@pytest.mark.parametrize("family", GAME_FAMILIES)
def test_generators_are_valid_and_deterministic(family: str) -> None:
    params = {"spread": 0.5} if family == "cyclic" else {}  # without spread the cyclic game has no noise
    a = make_games(family, 3, 5, contexts=2, seed=7, **params)
    assert a.shape == (3, 2, 5, 5) and a.dtype == np.float32
    validate_game(a.reshape(6, 5, 5))
    np.testing.assert_array_equal(a, make_games(family, 3, 5, contexts=2, seed=7, **params))
    assert not np.array_equal(a, make_games(family, 3, 5, contexts=2, seed=8, **params))


def test_transitive_nash_is_the_condorcet_winner() -> None:
    for P in make_games("transitive", 5, 6, contexts=3, seed=0).astype(np.float64):
        winner = (P > 0.5).sum(-1).argmax(-1)
        np.testing.assert_allclose(nash_lp(P), np.eye(6)[winner], atol=1e-8)


def test_annotator_mixture_is_cyclic_though_each_annotator_is_transitive() -> None:
    # Condorcet: three sharp annotators with shifted rankings of 3 responses give a majority cycle.
    P = make_games("annotators", 1, 3, seed=0, scale=20.0, noise=0.0)[0, 0]
    beats = P > 0.5
    assert beats[2, 1] and beats[1, 0] and beats[0, 2]
    assert (nash_lp(P[None].astype(np.float64)) > 0.2).all()


@pytest.mark.parametrize("n", [4, 5, 7])
def test_cyclic_without_spread_has_uniform_nash_value(n: int) -> None:
    P = make_games("cyclic", 1, n, margin=0.3)[0].astype(np.float64)
    assert duality_gap(P, np.full((1, n), 1 / n)) < 1e-12
    assert duality_gap(P, nash_lp(P)) < 1e-8


def test_regularized_nash_solves_the_logit_fixed_point() -> None:
    P = make_games("skew", 1, 5, contexts=2, seed=4)[0].astype(np.float64)
    mu = softmax(np.random.default_rng(1).normal(size=(2, 5)), axis=-1)
    for tau, near_mu in [(0.2, False), (1e3, True)]:
        pi = regularized_nash(P, mu, tau)
        np.testing.assert_allclose(log_softmax(np.log(mu) + np.einsum("cij,cj->ci", P, pi) / tau, axis=-1),
                                   np.log(pi), atol=1e-9)
        assert np.allclose(pi, mu, atol=1e-3) == near_mu


@pytest.mark.parametrize("bad,field", [
    (np.full((1, 3, 3), 0.7), "P + P^T = 1"),
    (np.zeros((3, 3)), "shape"),
    (np.full((1, 2, 2), 1.5), "[0, 1]"),
])
def test_validate_game_names_the_problem(bad: np.ndarray, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("+", r"\+").replace("^", r"\^")):
        validate_game(bad)


def test_make_games_rejects_unknown_family_and_bad_params() -> None:
    with pytest.raises(ValueError, match="game must be one of transitive, cyclic, skew, annotators"):
        make_games("poker", 1, 3)
    with pytest.raises(ValueError, match="margin"):
        make_games("cyclic", 1, 3, margin=0.9)
