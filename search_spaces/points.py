"""Known losses as exact points of the MPO family.

`mpo_point(name, **hparams)` returns the MPOParams whose loss equals the zoo loss `name` with those
hyperparameters (values and gradients; tests/search_spaces/test_mpo_points.py proves it). Squared losses carry a
factor: IPO's (rho_bar - 1/(2 beta))^2 = (beta*rho_bar - 1/2)^2 / beta^2, hence scale = 1/beta^2.
exo_pair, kto_pair and aot are not points (a KL-to-Bernoulli link; batch-coupled statistics).
"""
from __future__ import annotations

from typing import Callable, Mapping

from search_spaces.mpo import MPOParams, mpo_params
from search_spaces.registry import get_loss

# name -> natural MPO coefficients as a function of the zoo hyperparameters.
_POINTS: dict[str, Callable[[Mapping[str, float]], dict]] = {
    "sigmoid": lambda p: dict(beta=p["beta"]),
    "cdpo": lambda p: dict(beta=p["beta"], link={"logistic": 1 - p["eps"], "logistic_neg": p["eps"]}),
    "robust": lambda p: dict(
        beta=p["beta"],
        link={"logistic": (1 - p["eps"]) / (1 - 2 * p["eps"]), "logistic_neg": -p["eps"] / (1 - 2 * p["eps"])},
    ),
    "ipo": lambda p: dict(lam=1.0, beta=p["beta"], link={"squared": 1.0}, scale=1.0 / p["beta"] ** 2),
    "ipo_sum": lambda p: dict(beta=p["beta"], link={"squared": 1.0}, scale=1.0 / p["beta"] ** 2),
    "hinge": lambda p: dict(beta=p["beta"], link={"hinge": 1.0}),
    "nca_pair": lambda p: dict(
        beta=p["beta"], link={}, side_w={"logistic": 1.0, "logistic_neg": 0.5}, side_l={"logistic_neg": 0.5}
    ),
    "bco_pair": lambda p: dict(beta=p["beta"], link={}, side_w={"logistic": 1.0}, side_l={"logistic_neg": 1.0}),
    "sppo_hard": lambda p: dict(
        beta=p["beta"], link={}, side_w={"squared_minus": 1.0}, side_l={"squared_plus": 1.0}, scale=1.0 / p["beta"] ** 2
    ),
    "apo_zero": lambda p: dict(beta=p["beta"], link={}, side_w={"sigmoid_neg": 1.0}, side_l={"sigmoid": 1.0}),
    "apo_down": lambda p: dict(beta=p["beta"], link={"sigmoid_neg": 1.0}, side_w={"sigmoid": 1.0}),
    "discopop": lambda p: dict(beta=p["beta"], link={"discopop": 1.0}, discopop_tau=p["discopop_tau"]),
    "ln_dpo": lambda p: dict(lam=1.0, beta=p["beta"]),
    "rdpo_length": lambda p: dict(beta=p["beta"], alpha=p["alpha"]),
    "orpo": lambda p: dict(lam=1.0, mirror={"logit": 1.0}, c_ref=0.0, beta=1.0, link={"logistic": p["beta"]}, w_sft=1.0),
    "cpo": lambda p: dict(
        c_ref=0.0, beta=p["beta"], link={"logistic": 1 - p["eps"], "logistic_neg": p["eps"]}, w_sft=p["alpha"]
    ),
    "simpo": lambda p: dict(lam=1.0, c_ref=0.0, beta=p["beta"], gamma=p["gamma"]),
}


def point_names() -> list[str]:
    """Zoo losses that are exact MPO points."""
    return list(_POINTS)


def point_coefficients(name: str, **hparams: float) -> dict:
    """The natural MPO coefficients of zoo loss `name` (defaults overridden by hparams)."""
    spec = get_loss(name)
    if name not in _POINTS:
        raise ValueError(f"loss '{name}' is not a point of the MPO family; points: {', '.join(_POINTS)}")
    return _POINTS[name](spec.params(**hparams))


def mpo_point(name: str, dtype=None, **hparams: float) -> MPOParams:
    """MPOParams equal to zoo loss `name` with its defaults overridden by `hparams`."""
    kwargs = {} if dtype is None else {"dtype": dtype}
    return mpo_params(**point_coefficients(name, **hparams), **kwargs)
