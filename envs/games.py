"""Preference games: finite response sets per context, exact Nash equilibria and the duality gap.

A game is an array P of shape (contexts, n, n) with P[x, y, y'] = P(y > y' | x) and P + P^T = 1, so
J(pi, pi') = E_x pi_x^T P_x pi'_x is a two-player constant-sum game with value 1/2. Contexts are weighted
uniformly; the duality gap of a multi-context policy is the mean of the per-context gaps, because the
best response decomposes over contexts.
"""
from __future__ import annotations

import inspect
from typing import Callable, TypeVar

import numpy as np
from scipy.optimize import linprog, root
from scipy.special import expit, log_softmax, softmax

ArrayLike = TypeVar("ArrayLike")  # numpy or jax array; the result has the same kind

GAME_FAMILIES: tuple[str, ...] = ("transitive", "cyclic", "skew", "annotators")


def validate_game(P: np.ndarray) -> np.ndarray:
    """Check shape (contexts, n, n), entries in [0, 1] and P + P^T = 1; return P as float64."""
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 3 or P.shape[1] != P.shape[2] or P.shape[1] < 2:
        raise ValueError(f"game P must have shape (contexts, n, n) with n >= 2, got {P.shape}")
    if not np.all(np.isfinite(P)) or P.min() < 0.0 or P.max() > 1.0:
        raise ValueError("game P must have finite entries in [0, 1]")
    err = np.abs(P + np.swapaxes(P, 1, 2) - 1.0).max()
    if err > 1e-6:
        raise ValueError(f"game P must satisfy P + P^T = 1 (max deviation {err:.2e})")
    return P


def transitive(rng: np.random.Generator, n: int, contexts: int, scale: float = 2.0) -> np.ndarray:
    """Bradley-Terry preferences from Gaussian scores: a Condorcet winner exists, the NE is pure."""
    s = scale * rng.standard_normal((contexts, n))
    return expit(s[:, :, None] - s[:, None, :])


def cyclic(rng: np.random.Generator, n: int, contexts: int, margin: float = 0.5,
           spread: float = 0.0) -> np.ndarray:
    """Rock-paper-scissors generalized to n: y beats the next floor((n-1)/2) responses around a circle.

    Each win has probability 1/2 + margin_ij; spread > 0 draws margin_ij in [margin*(1-spread), margin]
    per context so the NE moves off uniform. With spread = 0 the NE is uniform (circulant symmetry).
    """
    if not 0.0 < margin <= 0.5:
        raise ValueError(f"cyclic margin must be in (0, 0.5], got {margin}")
    if not 0.0 <= spread < 1.0:
        raise ValueError(f"cyclic spread must be in [0, 1), got {spread}")
    gap = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n
    sign = np.where((gap >= 1) & (2 * gap < n), 1.0, 0.0) - np.where((gap > 0) & (2 * gap > n), 1.0, 0.0)
    u = np.triu(rng.uniform(size=(contexts, n, n)), 1)
    m = margin * (1.0 - spread * (u + np.swapaxes(u, 1, 2)))
    return 0.5 + m * sign[None]


def skew(rng: np.random.Generator, n: int, contexts: int, scale: float = 2.0) -> np.ndarray:
    """Random skew-symmetric logits: P = sigmoid(scale * (G - G^T) / sqrt 2), G standard normal."""
    g = rng.standard_normal((contexts, n, n))
    return expit(scale * (g - np.swapaxes(g, 1, 2)) / np.sqrt(2.0))


def annotators(rng: np.random.Generator, n: int, contexts: int, num_annotators: int = 3,
               scale: float = 8.0, noise: float = 0.5) -> np.ndarray:
    """Mixture of BT annotators whose rankings are cyclic shifts of one another (Condorcet's construction).

    Each annotator is transitive; their average is not: with 3 annotators and n = 3 it is exactly the
    Condorcet paradox. Gaussian noise on the scores varies the games.
    """
    base = scale * np.linspace(0.0, 1.0, n)
    num_annotators = int(num_annotators)
    idx = (np.arange(n)[None, :] + (np.arange(num_annotators) * n // num_annotators)[:, None]) % n
    s = base[idx][None] + noise * rng.standard_normal((contexts, num_annotators, n))
    return expit(s[..., :, None] - s[..., None, :]).mean(axis=1)


GAME_BUILDERS: dict[str, Callable[..., np.ndarray]] = {
    "transitive": transitive, "cyclic": cyclic, "skew": skew, "annotators": annotators,
}


def make_games(family: str, num_games: int, n: int, contexts: int = 1, seed: int = 0,
               **params: float) -> np.ndarray:
    """A batch of games of one family, shape (num_games, contexts, n, n), float32; deterministic in seed."""
    if family not in GAME_BUILDERS:
        raise ValueError(f"game must be one of {', '.join(GAME_FAMILIES)}; got {family!r}")
    if n < 2 or contexts < 1 or num_games < 1:
        raise ValueError(f"need n >= 2, contexts >= 1, games >= 1; got n={n}, contexts={contexts}, "
                         f"games={num_games}")
    allowed = [p for p in inspect.signature(GAME_BUILDERS[family]).parameters if p not in ("rng", "n", "contexts")]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for game {family}; allowed: {', '.join(allowed)}")
    rng = np.random.default_rng([seed, GAME_FAMILIES.index(family)])
    games = [validate_game(GAME_BUILDERS[family](rng, n, contexts, **params)) for _ in range(num_games)]
    return np.stack(games).astype(np.float32)


def nash_lp(P: np.ndarray) -> np.ndarray:
    """An exact NE per context by linear programming: max v s.t. (P^T pi)_y >= v, pi in the simplex."""
    P = validate_game(P)
    _, n, _ = P.shape
    out = []
    for Px in P:
        c = np.zeros(n + 1)
        c[-1] = -1.0
        a_ub = np.hstack([-Px.T, np.ones((n, 1))])
        a_eq = np.hstack([np.ones((1, n)), np.zeros((1, 1))])
        res = linprog(c, A_ub=a_ub, b_ub=np.zeros(n), A_eq=a_eq, b_eq=[1.0],
                      bounds=[(0.0, None)] * n + [(None, None)], method="highs")
        if not res.success:
            raise RuntimeError(f"Nash LP failed: {res.message}")
        pi = np.clip(res.x[:n], 0.0, None)
        out.append(pi / pi.sum())
    return np.stack(out)


def regularized_nash(P: np.ndarray, magnet: np.ndarray, tau: float) -> np.ndarray:
    """Symmetric NE of J(pi1,pi2) - tau KL(pi1||mu) + tau KL(pi2||mu): pi = softmax(log mu + P pi / tau).

    Solved per context with scipy's root finder on the logit fixed-point equations, independently of
    the mirror-descent code it is used to check. Small tau makes the equations stiff, so the solve
    follows a continuation path from tau = 10 (where pi is close to mu) down to the requested tau.
    """
    P = validate_game(P)
    log_mu = np.log(np.asarray(magnet, dtype=np.float64))
    path = np.geomspace(max(10.0, tau), tau, 40)
    out = []
    for Px, lm in zip(P, log_mu):
        def residual(z: np.ndarray, t: float, Px: np.ndarray = Px, lm: np.ndarray = lm) -> np.ndarray:
            return log_softmax(lm + Px @ softmax(z) / t) - log_softmax(z)
        z = lm
        for t in path:
            sol = root(residual, z, args=(t,), method="hybr", tol=1e-13)
            z = sol.x
        if np.abs(residual(z, tau)).max() > 1e-9:
            raise RuntimeError(f"regularized NE solve failed at tau={tau}: {sol.message}")
        out.append(softmax(z))
    return np.stack(out)


def duality_gap(P: ArrayLike, pi: ArrayLike) -> ArrayLike:
    """DG(pi) = max_pi' J(pi', pi) - min_pi' J(pi, pi'), averaged over contexts; batched over leading axes.

    Written in the general form rather than 2 max(P pi) - 1 so that it stays exact for games whose
    P + P^T = 1 holds only to float rounding. Accepts numpy or jax arrays.
    """
    best_vs_pi = (P * pi[..., None, :]).sum(-1).max(-1)
    worst_for_pi = (P * pi[..., :, None]).sum(-2).min(-1)
    return (best_vs_pi - worst_for_pi).mean(-1)
