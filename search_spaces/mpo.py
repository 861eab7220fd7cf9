"""Mirror Preference Optimization (MPO): the parameterized loss family (Alfano et al.
2025, arXiv 2411.06568; this project's parameterization, README 'Mirror Preference Optimization family').

Per pair, with token log-probs of the policy and of pi_ref:
  1. score       s(y) = n^(-lam) * sum_t log p(y_t)
  2. mirror map  m(u) = sum_i w_i b_i(u) + PL(u)                    (search_spaces.mirror_maps)
  3. reward      r(y) = beta * (m(s_pi(y)) - c_ref * m(s_ref(y)))
  4. margin      z = r_w - r_l - gamma + alpha * (n_w - n_l)
  5. loss        scale * [g(z) + h_w(r_w) + h_l(r_l)] + w_sft * psi(y_w),  psi = token-mean NLL
     with g = sum_k link_w[k] * g_k(z) + sum_j corr[j] * sig(z - c_j) and h = sum side_w * h_k(r)
  6. TA-MPO      every coefficient is base + tau * slope (tau = training progress in [0, 1]).

Parameters live in unconstrained coordinates (log for positive scalars) with a box per coordinate;
`resolve` applies tau, clips into the box and maps to natural values, so every parameter vector and
every tau gives a valid loss with a strictly increasing mirror map.
"""
from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from search_spaces.batch import PrefBatch, check_shapes, mean_logp, seq_len, seq_logp
from search_spaces.links import (
    CORRECTION_CENTERS,
    LINK_BASIS,
    SIDE_BASIS,
    link_basis,
    link_correction,
    side_basis,
)
from search_spaces.mirror_maps import MIRROR_BASIS, N_PL, mirror_map


class FieldSpec(NamedTuple):
    size: int  # 0 = scalar
    low: float  # box in unconstrained coordinates
    high: float
    transform: str  # "identity" | "exp": natural value = transform(coordinate)
    labels: tuple[str, ...] = ()  # names of the vector entries
    doc: str = ""


FIELDS: dict[str, FieldSpec] = {
    "lam": FieldSpec(0, 0.0, 1.0, "identity", doc="length normalization: 0 = sequence log-prob, 1 = token mean"),
    "mirror_w": FieldSpec(len(MIRROR_BASIS), 0.0, 5.0, "identity", MIRROR_BASIS, "mirror-map basis weights (>= 0)"),
    "mirror_pl": FieldSpec(N_PL, 0.0, 5.0, "identity", tuple(f"pl{i}" for i in range(N_PL)),
                           "slopes of the learned monotone piecewise-linear mirror part (>= 0)"),
    "c_ref": FieldSpec(0, 0.0, 1.0, "identity", doc="weight of the reference in the reward (0 = reference-free)"),
    "log_beta": FieldSpec(0, math.log(1e-4), math.log(100.0), "exp", doc="beta, the reward scale"),
    "gamma": FieldSpec(0, -10.0, 10.0, "identity", doc="target margin (SimPO)"),
    "alpha": FieldSpec(0, -1.0, 1.0, "identity", doc="length term alpha * (n_w - n_l) in the margin (R-DPO)"),
    "log_scale": FieldSpec(0, math.log(1e-3), math.log(1e7), "exp", doc="overall scale of the preference terms"),
    "link_w": FieldSpec(len(LINK_BASIS), -10.0, 10.0, "identity", LINK_BASIS, "weights of the link basis g_k(z)"),
    "log_discopop_tau": FieldSpec(0, math.log(1e-3), math.log(10.0), "exp", doc="temperature of the DiscoPOP link"),
    "link_corr": FieldSpec(len(CORRECTION_CENTERS), -2.0, 2.0, "identity",
                           tuple(f"step@{c:g}" for c in CORRECTION_CENTERS), "learned correction of g (sigmoid steps)"),
    "side_w": FieldSpec(len(SIDE_BASIS), -10.0, 10.0, "identity", SIDE_BASIS, "one-sided terms h_w(r_w)"),
    "side_l": FieldSpec(len(SIDE_BASIS), -10.0, 10.0, "identity", SIDE_BASIS, "one-sided terms h_l(r_l)"),
    "w_sft": FieldSpec(0, 0.0, 5.0, "identity", doc="weight of the SFT term psi on the chosen response"),
}

MPOCoeffs = NamedTuple("MPOCoeffs", [(name, chex.Array) for name in FIELDS])


class MPOParams(NamedTuple):
    """A point of the family: coefficients at tau = 0 and their slope in tau (TA-MPO)."""

    base: MPOCoeffs
    slope: MPOCoeffs


class Resolved(NamedTuple):
    """Natural coefficient values at one tau."""

    lam: chex.Array
    mirror_w: chex.Array
    mirror_pl: chex.Array
    c_ref: chex.Array
    beta: chex.Array
    gamma: chex.Array
    alpha: chex.Array
    scale: chex.Array
    link_w: chex.Array
    discopop_tau: chex.Array
    link_corr: chex.Array
    side_w: chex.Array
    side_l: chex.Array
    w_sft: chex.Array


def field_shape(name: str) -> tuple[int, ...]:
    size = FIELDS[name].size
    return (size,) if size else ()


def resolve(params: MPOParams, tau: chex.Numeric) -> Resolved:
    """Coefficients at training progress tau, clipped into their box, in natural units."""
    tau = jnp.clip(tau, 0.0, 1.0)
    out = {}
    for name, spec in FIELDS.items():
        u = jnp.clip(getattr(params.base, name) + tau * getattr(params.slope, name), spec.low, spec.high)
        natural = jnp.exp(u) if spec.transform == "exp" else u
        out[name.removeprefix("log_")] = natural
    return Resolved(**out)


def sequence_score(logp: chex.Array, mask: chex.Array, lam: chex.Numeric) -> chex.Array:
    """s(y) = n^(-lam) * sum_t log p(y_t): [B]."""
    n = seq_len(mask).astype(logp.dtype)
    return jnp.exp(-lam * jnp.log(n)) * seq_logp(logp, mask)


def rewards(c: Resolved, batch: PrefBatch) -> tuple[chex.Array, chex.Array]:
    """Implicit rewards r(y_w), r(y_l): [B] each."""

    def reward(policy, ref, mask):
        m_pi = mirror_map(sequence_score(policy, mask, c.lam), c.mirror_w, c.mirror_pl)
        m_ref = mirror_map(sequence_score(ref, mask, c.lam), c.mirror_w, c.mirror_pl)
        return c.beta * (m_pi - c.c_ref * m_ref)

    return reward(batch.policy_w, batch.ref_w, batch.mask_w), reward(batch.policy_l, batch.ref_l, batch.mask_l)


def mpo_loss(params: MPOParams, batch: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    """Per-pair MPO loss [B] for parameters `params` at training progress `tau`."""
    check_shapes(batch)
    dtype = jnp.result_type(batch.policy_w, batch.policy_l)
    c = jax.tree.map(lambda x: jnp.asarray(x, dtype), resolve(params, tau))
    r_w, r_l = rewards(c, batch)
    n_w, n_l = seq_len(batch.mask_w).astype(dtype), seq_len(batch.mask_l).astype(dtype)
    z = r_w - r_l - c.gamma + c.alpha * (n_w - n_l)
    pref = (
        link_basis(z, c.discopop_tau) @ c.link_w
        + link_correction(z, c.link_corr)
        + side_basis(r_w) @ c.side_w
        + side_basis(r_l) @ c.side_l
    )
    return c.scale * pref - c.w_sft * mean_logp(batch.policy_w, batch.mask_w)


# --- building points from natural values --------------------------------------------------------

def _named_vector(name: str, values: Mapping[str, float] | None) -> np.ndarray:
    labels = FIELDS[name].labels
    vec = np.zeros(len(labels))
    for key, value in (values or {}).items():
        if key not in labels:
            raise ValueError(f"MPO field '{name}': unknown entry '{key}'; allowed: {', '.join(labels)}")
        vec[labels.index(key)] = value
    return vec


def _check_box(name: str, value: np.ndarray, natural: object) -> None:
    spec = FIELDS[name]
    if np.any(value < spec.low - 1e-12) or np.any(value > spec.high + 1e-12):
        lo, hi = (math.exp(spec.low), math.exp(spec.high)) if spec.transform == "exp" else (spec.low, spec.high)
        raise ValueError(f"MPO field '{name.removeprefix('log_')}' = {natural} outside the allowed range [{lo:g}, {hi:g}]")


def mpo_params(
    lam: float = 0.0,
    mirror: Mapping[str, float] | None = None,
    mirror_pl: np.ndarray | None = None,
    c_ref: float = 1.0,
    beta: float = 0.1,
    gamma: float = 0.0,
    alpha: float = 0.0,
    scale: float = 1.0,
    link: Mapping[str, float] | None = None,
    discopop_tau: float = 0.05,
    link_corr: np.ndarray | None = None,
    side_w: Mapping[str, float] | None = None,
    side_l: Mapping[str, float] | None = None,
    w_sft: float = 0.0,
    slope: MPOCoeffs | None = None,
    dtype=jnp.float32,
) -> MPOParams:
    """A static MPO point from natural values; the defaults are DPO with beta = 0.1.

    `mirror`, `link`, `side_w`, `side_l` map basis names (MIRROR_BASIS, LINK_BASIS, SIDE_BASIS) to
    weights; names left out weigh 0. Values outside the search box raise ValueError.
    """
    for key, value in (("beta", beta), ("scale", scale), ("discopop_tau", discopop_tau)):
        if not value > 0:
            raise ValueError(f"MPO field '{key}' = {value} must be > 0")
    raw = {
        "lam": np.asarray(lam, float),
        "mirror_w": _named_vector("mirror_w", {"log": 1.0} if mirror is None else mirror),
        "mirror_pl": np.zeros(N_PL) if mirror_pl is None else np.asarray(mirror_pl, float),
        "c_ref": np.asarray(c_ref, float),
        "log_beta": np.log(beta),
        "gamma": np.asarray(gamma, float),
        "alpha": np.asarray(alpha, float),
        "log_scale": np.log(scale),
        "link_w": _named_vector("link_w", {"logistic": 1.0} if link is None else link),
        "log_discopop_tau": np.log(discopop_tau),
        "link_corr": np.zeros(len(CORRECTION_CENTERS)) if link_corr is None else np.asarray(link_corr, float),
        "side_w": _named_vector("side_w", side_w),
        "side_l": _named_vector("side_l", side_l),
        "w_sft": np.asarray(w_sft, float),
    }
    naturals = {"log_beta": beta, "log_scale": scale, "log_discopop_tau": discopop_tau}
    for name, value in raw.items():
        if value.shape != field_shape(name):
            raise ValueError(f"MPO field '{name}': expected shape {field_shape(name)}, got {value.shape}")
        _check_box(name, value, naturals.get(name, value))
    if raw["mirror_w"].sum() <= 0:
        raise ValueError(f"MPO field 'mirror': at least one weight must be > 0 (basis: {', '.join(MIRROR_BASIS)})")
    base = MPOCoeffs(**{k: jnp.asarray(v, dtype) for k, v in raw.items()})
    if slope is None:
        slope = zero_coeffs(dtype)
    return MPOParams(base=base, slope=slope)


def zero_coeffs(dtype=jnp.float32) -> MPOCoeffs:
    return MPOCoeffs(**{name: jnp.zeros(field_shape(name), dtype) for name in FIELDS})


def _sig(x: float) -> float:
    return float(f"{x:.6g}")  # float32 storage shows 100.000008 for 100; 6 digits is what it holds


def describe(params: MPOParams, tau: float = 0.0, compact: bool = False) -> dict[str, object]:
    """Natural coefficient values at tau, basis weights by name: for humans and logs.

    compact drops what does not act on the loss: zero weights, zero vectors, zero shifts, and the
    DiscoPOP temperature when the DiscoPOP link is off.
    """
    c = resolve(params, tau)
    out: dict[str, object] = {}
    for name, value in c._asdict().items():
        arr = np.asarray(value, dtype=float)
        if name in ("mirror_w", "link_w", "side_w", "side_l"):
            out[name] = {lab: _sig(v) for lab, v in zip(FIELDS[name].labels, arr) if v != 0 or not compact}
        elif arr.ndim:
            out[name] = [_sig(v) for v in arr]
        else:
            out[name] = _sig(arr)
    out["temporal"] = any(bool(np.any(np.asarray(v) != 0)) for v in params.slope)
    if compact:
        dead = {"gamma": 0.0, "alpha": 0.0, "w_sft": 0.0, "temporal": False}
        out = {k: v for k, v in out.items()
               if v != {} and not (isinstance(v, list) and not any(v)) and not (k in dead and v == dead[k])}
        if "discopop" not in out.get("link_w", {}):
            out.pop("discopop_tau", None)
    return out
